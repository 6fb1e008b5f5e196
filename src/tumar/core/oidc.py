"""The relying-party side of OpenID Connect: discovery, the authorization code flow with PKCE,
and ID-token validation (signature against the provider's JWKS, issuer, audience, expiry,
nonce). No database here; ``core/sso.py`` keeps the state of each login.

Dependencies: httpx (async HTTP to the provider) and PyJWT with ``cryptography`` (JWS
signature checks and JWK parsing). PyJWT is small, typed and does only JOSE; a full OAuth
framework (authlib) would bring a second HTTP stack and far more than the relying party needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt

from tumar.clock import Clock
from tumar.sso_settings import OidcProvider, secure_url

log = logging.getLogger("tumar.oidc")

# Asymmetric algorithms only: never "none", never HMAC with the client secret.
ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
METADATA_TTL_S = 3600.0
JWKS_TTL_S = 3600.0
JWKS_REFETCH_S = 30.0  # an unknown key id refetches the key set at most this often
LEEWAY_S = 60  # clock skew allowed on exp, iat, nbf
HTTP_TIMEOUT_S = 10.0


class OidcError(Exception):
    """A login through the provider failed; ``reason`` is short, safe to audit and log (it
    never holds a token or a code)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("="))


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class OidcClient:
    """Talks to the configured providers; caches their discovery documents and key sets."""

    def __init__(self, clock: Clock, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clock = clock
        self._transport = transport
        self._metadata: dict[str, tuple[float, Metadata]] = {}
        self._jwks: dict[str, tuple[float, list[jwt.PyJWK]]] = {}

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=HTTP_TIMEOUT_S, transport=self._transport, follow_redirects=False
        )

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with self._http() as http:
                resp = await http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise OidcError(f"provider unreachable ({type(exc).__name__})") from None
        return _json_object(resp)

    # ---- discovery --------------------------------------------------------------------------

    async def metadata(self, provider: OidcProvider) -> Metadata:
        cached = self._metadata.get(provider.id)
        if cached is not None and self._clock.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url)
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != provider.issuer.rstrip("/"):
            raise OidcError("discovery document names another issuer")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(name)
            if not isinstance(value, str) or not secure_url(value):
                raise OidcError(f"discovery document lacks a usable {name}")
            endpoints[name] = value
        userinfo = doc.get("userinfo_endpoint")
        if not isinstance(userinfo, str) or not secure_url(userinfo):
            userinfo = None
        advertised = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algs = frozenset(a for a in advertised if isinstance(a, str)) & ASYMMETRIC_ALGS
        if not algs:
            raise OidcError("provider signs ID tokens with no algorithm tumar accepts")
        meta = Metadata(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            userinfo_endpoint=userinfo,
            algorithms=algs,
        )
        self._metadata[provider.id] = (self._clock.monotonic(), meta)
        return meta

    async def _keys(self, provider: OidcProvider, meta: Metadata, *, fresh: bool) -> list[Any]:
        cached = self._jwks.get(provider.id)
        if cached is not None:
            age = self._clock.monotonic() - cached[0]
            if age < JWKS_TTL_S and not (fresh and age >= JWKS_REFETCH_S):
                return cached[1]
        doc = await self._get_json(meta.jwks_uri)
        keys: list[Any] = []
        for entry in doc.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys.append(jwt.PyJWK.from_dict(entry))
            except jwt.PyJWTError:
                continue  # a key type or curve we do not use
        self._jwks[provider.id] = (self._clock.monotonic(), keys)
        return keys

    # ---- the flow ---------------------------------------------------------------------------

    async def authorize_url(
        self, provider: OidcProvider, redirect_uri: str, state: str, nonce: str, pkce: Pkce
    ) -> str:
        meta = await self.metadata(provider)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(provider.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce.challenge,
                "code_challenge_method": "S256",
            }
        )
        sep = "&" if "?" in meta.authorization_endpoint else "?"
        return meta.authorization_endpoint + sep + query

    async def login(
        self, provider: OidcProvider, redirect_uri: str, code: str, verifier: str, nonce: str
    ) -> dict[str, Any]:
        """Exchange the code, validate the ID token; the verified claims (with userinfo claims
        added when the mapped claim is not in the ID token)."""
        meta = await self.metadata(provider)
        tokens = await self._exchange(provider, meta, redirect_uri, code, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("token response has no ID token")
        claims = await self.validate_id_token(provider, id_token, nonce)
        access = tokens.get("access_token")
        if (
            provider.user_mapping.claim not in claims
            and meta.userinfo_endpoint is not None
            and isinstance(access, str)
        ):
            info = await self._get_json(
                meta.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"}
            )
            if info.get("sub") != claims["sub"]:
                raise OidcError("userinfo is about another subject")
            claims = {**info, **claims}
        return claims

    async def _exchange(
        self, provider: OidcProvider, meta: Metadata, redirect_uri: str, code: str, verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        secret = provider.client_secret.get_secret_value()
        headers = {"Accept": "application/json"}
        if provider.client_auth_method == "client_secret_post":
            form.update(client_id=provider.client_id, client_secret=secret)
        else:  # RFC 6749 2.3.1: form-encode both before Basic
            pair = f"{quote_plus(provider.client_id)}:{quote_plus(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self._http() as http:
                resp = await http.post(meta.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise OidcError(f"token endpoint unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OidcError(f"token endpoint refused the code (HTTP {resp.status_code})")
        return _json_object(resp)

    async def validate_id_token(
        self, provider: OidcProvider, id_token: str, nonce: str
    ) -> dict[str, Any]:
        meta = await self.metadata(provider)
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("ID token is not a JWS") from None
        alg = header.get("alg")
        if alg not in meta.algorithms:
            raise OidcError(f"ID token algorithm {str(alg)[:20]!r} is not accepted")
        key = await self._key_for(provider, meta, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                audience=provider.client_id,
                issuer=meta.issuer,
                options={
                    "require": ["iss", "sub", "aud", "exp", "iat"],
                    "verify_exp": False,  # checked below against the injectable clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise OidcError("ID token signature does not verify") from None
        except jwt.InvalidAudienceError:
            raise OidcError("ID token is for another client (aud)") from None
        except jwt.InvalidIssuerError:
            raise OidcError("ID token is from another issuer (iss)") from None
        except jwt.PyJWTError as exc:
            raise OidcError(f"ID token is invalid ({type(exc).__name__})") from None
        self._check_times(claims)
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
            raise OidcError("ID token nonce does not match this login")
        aud = claims["aud"]
        azp = claims.get("azp")
        several = isinstance(aud, list) and len(aud) > 1
        if (several or azp is not None) and azp != provider.client_id:
            raise OidcError("ID token was issued to another party (azp)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("ID token has no subject")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock.now_ms() / 1000
        for name in ("exp", "iat", "nbf"):
            if name in claims and not isinstance(claims[name], int | float):
                raise OidcError(f"ID token {name} is not a number")
        if claims["exp"] <= now - LEEWAY_S:
            raise OidcError("ID token has expired")
        if claims["iat"] > now + LEEWAY_S:
            raise OidcError("ID token was issued in the future")
        if "nbf" in claims and claims["nbf"] > now + LEEWAY_S:
            raise OidcError("ID token is not valid yet")

    async def _key_for(self, provider: OidcProvider, meta: Metadata, kid: Any) -> Any:
        for fresh in (False, True):
            keys = await self._keys(provider, meta, fresh=fresh)
            if kid is not None:
                found = [k for k in keys if k.key_id == kid]
            else:  # no key id: only an unambiguous key set will do
                found = keys if len(keys) == 1 else []
            if found:
                return found[0].key
        raise OidcError("ID token is signed with a key the provider does not publish")


def _json_object(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        raise OidcError(f"provider answered HTTP {resp.status_code}")
    try:
        value = resp.json()
    except ValueError:
        raise OidcError("provider answered with something other than JSON") from None
    if not isinstance(value, dict):
        raise OidcError("provider answered with JSON that is not an object")
    return value
