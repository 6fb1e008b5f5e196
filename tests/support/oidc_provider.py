"""A tiny OpenID Connect provider for tests, on a loopback port in a background thread.

It serves discovery, a JWKS, an authorization endpoint that approves the configured user at
once (no login page), a token endpoint (authorization code with PKCE, client secret by Basic
or in the form) and userinfo. Its RSA key is generated when it starts. Knobs let a test make it
misbehave: change ID-token claims (``tamper``), sign with a key it does not publish
(``sign_with_unpublished_key``), or refuse the login (``deny``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass
class _Grant:
    redirect_uri: str
    nonce: str | None
    challenge: str
    claims: dict[str, Any]


@dataclass
class IdentityProvider:
    client_id: str = "tumar"
    client_secret: str = "provider-secret"
    now: Callable[[], float] = time.time
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "u-1"})
    tamper: dict[str, Any] = field(default_factory=dict)  # ID-token claims to override
    drop: tuple[str, ...] = ()  # ID-token claims to leave out
    userinfo_only: tuple[str, ...] = ()  # user claims given by userinfo, not the ID token
    sign_with_unpublished_key: bool = False
    deny: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = "key-" + secrets.token_hex(4)
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> IdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def settings(self, idp_id: str = "test", **extra: Any) -> dict[str, Any]:
        """The ``oidc_providers`` entry that points tumar at this provider."""
        return {
            "id": idp_id,
            "name": "Test ID",
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            **extra,
        }

    # ---- endpoints ----------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self._kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str]]:
        self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if (
            params.get("client_id") != self.client_id
            or params.get("response_type") != "code"
            or params.get("code_challenge_method") != "S256"
            or not params.get("code_challenge")
            or not redirect_uri
        ):
            return 400, {}
        state = params.get("state", "")
        if self.deny:
            query = urlencode({"error": "access_denied", "state": state})
            return 302, {"Location": f"{redirect_uri}?{query}"}
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            redirect_uri, params.get("nonce"), params["code_challenge"], dict(self.user)
        )
        return 302, {"Location": f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"}

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = (unquote_plus(p) for p in pair.partition(":"))
        if client_id != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **{k: v for k, v in grant.claims.items() if k not in self.userinfo_only},
            **self.tamper,
        }
        for name in self.drop:
            claims.pop(name, None)
        key = self._other_key if self.sign_with_unpublished_key else self._key
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self._kid})
        access = secrets.token_urlsafe(16)
        self._access[access] = dict(grant.claims)
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def userinfo(self, authorization: str | None) -> tuple[int, Any]:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in self._access:
            return 401, {"error": "invalid_token"}
        return 200, self._access[token]


def _handler(provider: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(
            self, status: int, body: Any = None, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._reply(200, provider.discovery())
            elif parts.path == "/jwks":
                self._reply(200, provider.jwks())
            elif parts.path == "/authorize":
                status, headers = provider.authorize(params)
                self._reply(status, None, headers)
            elif parts.path == "/userinfo":
                self._reply(*provider.userinfo(self.headers.get("Authorization")))
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            if urlsplit(self.path).path == "/token":
                self._reply(*provider.token(form, self.headers.get("Authorization")))
            else:
                self._reply(404, {"error": "not_found"})

    return Handler
