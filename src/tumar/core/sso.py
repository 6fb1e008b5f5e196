"""Single sign-on through a login page that tumar serves: the first factor (password, or an
upstream OpenID Connect provider), then a one-time code when the user has an authenticator or
their organisation requires one (enrolling it on the spot), then a one-time login token sent
back to the client, which exchanges it at ``POST /login`` (``m.login.token``).

The browser holds a random cookie; the database keeps only its hash (``sso_sessions``). Form
CSRF tokens and the OpenID ``state`` are derived from the cookie, so a page or a provider
redirect works only in the browser that started the login.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.accounts import AccountService, hash_token
from tumar.core.audit import Who
from tumar.core.login_guard import ANONYMOUS
from tumar.core.oidc import OidcClient, OidcError, new_pkce
from tumar.core.ratelimit import RateLimiter, SharedBuckets
from tumar.core.totp import MfaState, TotpService, mfa_state
from tumar.errors import MatrixError, forbidden, user_locked
from tumar.policy import sso as rules
from tumar.policy.sso import LOCAL_IDP, Stage
from tumar.sso_settings import OidcProvider
from tumar.store import accounts as account_store
from tumar.store import directory as directory_store
from tumar.store import sso as store
from tumar.store.db import Database

log = logging.getLogger("tumar.sso")

PAGES = "/_tumar/sso"
PAGE_PATH = PAGES + "/login"
CALLBACK_PATH = PAGES + "/oidc/callback"
COOKIE = "tumar_sso"
MAX_CODE_FAILURES = 5  # wrong codes in one login before it must start again (password first)
MAX_COOKIE = 100


class SsoError(Exception):
    """A problem shown to the person on the login page (HTML, never JSON). ``key`` names the
    message (translated by the page); ``restart``: the login is over, start again from the app.
    """

    def __init__(
        self, key: str, status: int = 400, *, restart: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.restart = restart
        self.detail = detail  # the server's own words, when no translated message fits


@dataclass(frozen=True, slots=True)
class Started:
    cookie: str  # the browser's secret for this login
    location: str  # where to send the browser


@dataclass(frozen=True, slots=True)
class Next:
    """Show the login page again: it is now at another stage."""


@dataclass(frozen=True, slots=True)
class Finished:
    location: str  # the client's redirect URL with ``loginToken``
    confirm: bool  # ask the person before sending the token there
    client: str  # the client's host (or scheme), to name it on the confirmation page


Outcome = Next | Finished


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str  # otpauth://


@dataclass(frozen=True, slots=True)
class PageView:
    stage: Stage
    csrf: str
    user_id: str | None
    providers: tuple[tuple[str, str], ...]  # (id, name) of upstream identity providers
    enrolment: Enrolment | None


def _derive(purpose: str, cookie: str) -> str:
    return hashlib.sha256(f"tumar-sso-{purpose}\0{cookie}".encode()).hexdigest()[:32]


def csrf_for(cookie: str) -> str:
    return _derive("csrf", cookie)


def state_for(cookie: str) -> str:
    return _derive("state", cookie)


def client_name(url: str) -> str:
    """How the confirmation page names a client: its host (and port), or its URL scheme."""
    parts = urlsplit(url)
    if parts.hostname:
        return parts.hostname + (f":{parts.port}" if parts.port else "")
    return parts.scheme


class SsoService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        accounts: AccountService,
        totp: TotpService,
        oidc: OidcClient,
        shared_buckets: SharedBuckets | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._accounts = accounts
        self._totp = totp
        self._oidc = oidc
        # Codes per user across logins: with the password needed for each new login, this
        # keeps guessing six digits far slower than their 30-second lifetime allows.
        self._code_limiter = RateLimiter(
            clock,
            per_second=1 / 30,
            burst=10,
            enabled=settings.rate_limit_enabled,
            shared=shared_buckets,
            name="totp",
        )

    # ---- what clients see ---------------------------------------------------------------------

    def providers(self) -> list[OidcProvider]:
        return list(self._settings.oidc_providers)

    def provider(self, idp: str) -> OidcProvider | None:
        return next((p for p in self._settings.oidc_providers if p.id == idp), None)

    @property
    def callback_url(self) -> str:
        return self._settings.effective_public_baseurl.rstrip("/") + CALLBACK_PATH

    # ---- starting -----------------------------------------------------------------------------

    async def do_start(self, redirect_url: str, idp: str | None) -> Started:
        """``/login/sso/redirect[/{idp}]``: remember where to return, then send the browser to
        tumar's page or straight to the chosen identity provider."""
        decision = rules.check_redirect_url(redirect_url, self._settings.sso_client_allowlist)
        if not decision.decision:
            raise SsoError("bad_redirect", 400, restart=True)
        provider = None
        if idp is not None and idp != LOCAL_IDP:
            provider = self.provider(idp)
            if provider is None:
                raise SsoError("unknown_idp", 404, restart=True)
        cookie = secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        session = store.SsoSession(
            session_id=hash_token(cookie),
            redirect_url=redirect_url,
            idp=LOCAL_IDP,
            nonce=None,
            code_verifier=None,
            user_id=None,
            stage=Stage.PASSWORD,
            expiry_ts=now + self._settings.sso_session_lifetime_s * 1000,
            failures=0,
        )
        location = PAGE_PATH
        if provider is not None:
            session, location = await self._to_provider(session, cookie, provider)
        async with self._db.write() as conn:
            await store.delete_expired(conn, now)
            await store.insert_session(conn, session)
        return Started(cookie, location)

    async def _to_provider(
        self, session: store.SsoSession, cookie: str, provider: OidcProvider
    ) -> tuple[store.SsoSession, str]:
        nonce = secrets.token_urlsafe(24)
        pkce = new_pkce()
        try:
            url = await self._oidc.authorize_url(
                provider, self.callback_url, state_for(cookie), nonce, pkce
            )
        except OidcError as exc:
            log.warning("identity provider %s unusable: %s", provider.id, exc.reason)
            raise SsoError("idp_unavailable", 502) from None
        moved = replace(
            session, idp=provider.id, nonce=nonce, code_verifier=pkce.verifier, stage=Stage.OIDC
        )
        return moved, url

    async def do_choose_provider(self, cookie: str | None, csrf: str, idp: str) -> str:
        """The login page's button for an identity provider: where to send the browser."""
        provider = self.provider(idp)
        if provider is None:
            raise SsoError("unknown_idp", 404)
        async with self._db.read() as conn:
            session = await self._session(conn, cookie, csrf)
        if session.stage != Stage.PASSWORD:
            raise SsoError("stale_page", 409)
        assert cookie is not None
        moved, url = await self._to_provider(session, cookie, provider)
        async with self._db.write() as conn:
            if not await store.update_session(
                conn, moved.session_id, Stage.PASSWORD, idp=moved.idp, nonce=moved.nonce,
                code_verifier=moved.code_verifier, stage=moved.stage,
            ):  # fmt: skip
                raise SsoError("stale_page", 409)
        return url

    # ---- the page -----------------------------------------------------------------------------

    async def view(self, cookie: str | None) -> PageView:
        async with self._db.read() as conn:
            session = await self._session(conn, cookie, None)
            enrolment = None
            if session.stage == Stage.ENROL and session.user_id is not None:
                found = await store.get_totp(conn, session.user_id)
                if found is None or found.confirmed:
                    raise SsoError("session_expired", restart=True)
                uri = self._totp.otpauth_uri(found.secret, session.user_id)
                enrolment = Enrolment(found.secret, uri)
        if session.stage == Stage.OIDC:
            raise SsoError("oidc_pending", restart=True)
        assert cookie is not None
        return PageView(
            stage=Stage(session.stage),
            csrf=csrf_for(cookie),
            user_id=session.user_id,
            providers=tuple((p.id, p.name) for p in self._settings.oidc_providers),
            enrolment=enrolment,
        )

    async def do_password(
        self, cookie: str | None, csrf: str, username: str, password: str, ip: str | None
    ) -> Outcome:
        async with self._db.read() as conn:
            session = await self._session(conn, cookie, csrf)
        if session.stage != Stage.PASSWORD:
            return Next()  # a second submit of the same form: show where the login is now
        try:
            user_id = await self._accounts.check_password_login(username, password, ip)
        except MatrixError as exc:
            if exc.errcode == "M_LIMIT_EXCEEDED":
                raise SsoError("rate_limited", 429) from None
            if exc.errcode != "M_FORBIDDEN":  # e.g. a suspended account
                raise SsoError("refused", exc.status, detail=exc.error) from None
            # check_password_login has audited the failure (core/login_guard.py).
            raise SsoError("bad_credentials", 403) from None
        return await self._first_factor_done(session, user_id, ip, trust_mfa=False)

    async def _first_factor_done(
        self, session: store.SsoSession, user_id: str, ip: str | None, *, trust_mfa: bool
    ) -> Outcome:
        async with self._db.write() as conn:
            state = await mfa_state(conn, user_id)
            stage = rules.stage_after_first_factor(
                state.org_requires, state.has_confirmed_totp, trust_mfa
            )
            if stage is None:
                return await self._finish(conn, session, user_id)
            if stage == Stage.ENROL:
                await self._totp.start_enrolment(conn, user_id)
            if not await store.update_session(
                conn, session.session_id, session.stage, user_id=user_id, stage=stage, failures=0
            ):
                raise SsoError("stale_page", 409)
        return Next()

    async def do_code(self, cookie: str | None, csrf: str, code: str, ip: str | None) -> Outcome:
        """The one-time code, at the TOTP stage or confirming an enrolment."""
        error: SsoError | None = None
        async with self._db.write() as conn:
            session = await self._session(conn, cookie, csrf)
            if session.stage not in (Stage.TOTP, Stage.ENROL) or session.user_id is None:
                return Next()
            user_id = session.user_id
            enrolling = session.stage == Stage.ENROL
            try:
                await self._code_limiter.check(f"totp:{user_id}")
            except MatrixError:
                raise SsoError("rate_limited", 429) from None
            result = await self._totp.check_code(conn, user_id, code, enrolling=enrolling)
            state = await mfa_state(conn, user_id)
            if result.ok:
                if enrolling:
                    await audit.record(
                        conn, Who(user_id, ip), self._clock.now_ms(), "totp.enrol", "user",
                        user_id, org_code=state.org_code, after={"method": "totp"},
                    )  # fmt: skip
                return await self._finish(conn, session, user_id)
            if result.reason == "missing":  # reset by an administrator meanwhile
                await store.delete_session(conn, session.session_id)
                error = SsoError("session_expired", restart=True)
            else:
                failures = await store.add_failure(conn, session.session_id)
                await self._audit_login(
                    conn, user_id, ip, False,
                    {**_method_details(session), "reason": f"totp_{result.reason}"},
                    state,
                )  # fmt: skip
                if failures >= MAX_CODE_FAILURES:
                    await store.delete_session(conn, session.session_id)
                    error = SsoError("too_many_codes", 403, restart=True)
                else:
                    key = "replayed_code" if result.reason == "replayed" else "wrong_code"
                    error = SsoError(key, 403)
        raise error

    # ---- upstream OpenID Connect --------------------------------------------------------------

    async def do_oidc_callback(
        self,
        cookie: str | None,
        state: str,
        code: str | None,
        error: str | None,
        ip: str | None,
    ) -> Outcome:
        async with self._db.read() as conn:
            session = await self._session(conn, cookie, None)
        assert cookie is not None
        if session.stage != Stage.OIDC or not hmac.compare_digest(state, state_for(cookie)):
            raise SsoError("bad_state", 403, restart=True)
        provider = self.provider(session.idp)
        if provider is None or session.nonce is None or session.code_verifier is None:
            raise SsoError("unknown_idp", 404, restart=True)
        failure: dict[str, Any] | None = None
        claims: dict[str, Any] = {}
        if error is not None or not code:
            failure = {"reason": "provider_error", "error": (error or "no code")[:100]}
        else:
            try:
                claims = await self._oidc.login(
                    provider, self.callback_url, code, session.code_verifier, session.nonce
                )
            except OidcError as exc:
                log.warning("OpenID login via %s refused: %s", provider.id, exc.reason)
                failure = {"reason": "id_token", "detail": exc.reason}
        user_id = None
        if failure is None:
            user_id, failure = await self._map_user(provider, claims)
        if failure is not None or user_id is None:
            async with self._db.write() as conn:
                await store.delete_session(conn, session.session_id)
                await audit.record(
                    conn, Who(ANONYMOUS, ip), self._clock.now_ms(), "login.failure",
                    "idp", provider.id,
                    after={"method": "oidc", "idp": provider.id, **(failure or {})},
                )  # fmt: skip
            unknown = failure is not None and failure["reason"] in ("unknown_user", "inactive")
            raise SsoError("oidc_unknown_user" if unknown else "oidc_failed", 403, restart=True)
        return await self._first_factor_done(session, user_id, ip, trust_mfa=provider.trust_mfa)

    async def _map_user(
        self, provider: OidcProvider, claims: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The account the verified claims name, or why none (unknown people are refused)."""
        mapping = provider.user_mapping
        raw = claims.get(mapping.claim)
        value = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
        subject = {"sub": str(claims.get("sub"))[:255], "claim": mapping.claim}
        if not value or len(value) > 255:
            return None, {"reason": "unknown_user", **subject, "detail": "claim missing"}
        subject["value"] = value
        if mapping.match == "email" and claims.get("email_verified") is not True:
            return None, {"reason": "unverified_email", **subject}
        async with self._db.read() as conn:
            user_id: str | None = None
            if mapping.match == "personnel_number":
                person = await directory_store.person_by_number(conn, value)
                people = [person] if person is not None else []
            elif mapping.match == "email":
                people = await store.people_by_email(conn, value)
            else:
                people = []
                user_id = self._accounts.user_id_for(value.lower())
            if len(people) > 1:
                return None, {"reason": "ambiguous_email", **subject}
            if people:
                if people[0].status != "active":
                    return None, {"reason": "inactive", **subject}
                user_id = people[0].user_id
            account = await account_store.get_user(conn, user_id) if user_id else None
        if account is None:
            return None, {"reason": "unknown_user", **subject}
        if account.deactivated or account.suspended:
            return None, {"reason": "inactive", **subject}
        return account.user_id, None

    # ---- finishing ----------------------------------------------------------------------------

    async def _finish(
        self, conn: AsyncConnection, session: store.SsoSession, user_id: str
    ) -> Finished:
        token = secrets.token_urlsafe(32)
        expiry = self._clock.now_ms() + self._settings.login_token_lifetime_s * 1000
        await store.insert_login_token(
            conn, hash_token(token), user_id, expiry, self._method(session)
        )
        if not await store.delete_session(conn, session.session_id):
            raise SsoError("stale_page", 409)  # a concurrent request finished it first
        check = rules.check_redirect_url(session.redirect_url, self._settings.sso_client_allowlist)
        if not check.decision:
            raise SsoError("bad_redirect", 400, restart=True)
        return Finished(
            rules.with_login_token(session.redirect_url, token),
            check.confirm,
            client_name(session.redirect_url),
        )

    @staticmethod
    def _method(session: store.SsoSession) -> str:
        return "sso" if session.idp == LOCAL_IDP else f"oidc:{session.idp}"

    # ---- POST /login --------------------------------------------------------------------------

    async def do_exchange_login_token(self, token: str, ip: str | None) -> str:
        """``m.login.token``: the token's user, once; the token is gone afterwards."""
        now = self._clock.now_ms()
        refused: MatrixError | None = None
        async with self._db.write() as conn:
            found = await store.take_login_token(conn, hash_token(token))
            if found is None:
                refused = forbidden("The login token is invalid or was already used.")
            else:
                method, _, idp = found.auth_method.partition(":")
                state = await mfa_state(conn, found.user_id)
                account = await account_store.get_user(conn, found.user_id)
                details: dict[str, Any] = {"method": method, **({"idp": idp} if idp else {})}
                if found.expiry_ts <= now:
                    refused = forbidden("The login token has expired; sign in again.")
                    details["reason"] = "token_expired"
                elif account is None or account.deactivated:
                    refused = MatrixError(
                        403, "M_USER_DEACTIVATED", "This account has been deactivated."
                    )
                    details["reason"] = "deactivated"
                elif account.suspended:
                    refused = user_locked()
                    details["reason"] = "suspended"
                await self._audit_login(conn, found.user_id, ip, refused is None, details, state)
        if refused is not None:
            raise refused
        assert found is not None
        return found.user_id

    async def check_password_login_allowed(self, user_id: str, ip: str | None) -> None:
        """Refuse a plain ``m.login.password`` login to a user who needs a second factor."""
        async with self._db.read() as conn:
            state = await mfa_state(conn, user_id)
        decision = rules.mfa_required(state.org_requires, state.has_confirmed_totp)
        if decision:
            return
        async with self._db.write() as conn:
            await self._audit_login(
                conn, user_id, ip, False, {"method": "password", "reason": "mfa_required"}, state
            )
        raise MatrixError(
            403,
            "TUMAR_MFA_REQUIRED",
            f"{decision.reason} Sign in with single sign-on (SSO) in your app, which asks for "
            "the code.",
        )

    # ---- helpers ------------------------------------------------------------------------------

    async def _session(
        self, conn: AsyncConnection, cookie: str | None, csrf: str | None
    ) -> store.SsoSession:
        if not cookie or len(cookie) > MAX_COOKIE:
            raise SsoError("session_expired", restart=True)
        session = await store.get_session(conn, hash_token(cookie), self._clock.now_ms())
        if session is None:
            raise SsoError("session_expired", restart=True)
        if csrf is not None and not hmac.compare_digest(csrf.encode(), csrf_for(cookie).encode()):
            raise SsoError("bad_csrf", 403)
        return session

    async def _audit_login(
        self,
        conn: AsyncConnection,
        user_id: str,
        ip: str | None,
        success: bool,
        details: dict[str, Any],
        state: MfaState | None = None,
    ) -> None:
        if state is None:
            org = await store.org_of_user(conn, user_id)
            org_code = org[0] if org else None
        else:
            org_code = state.org_code
        await audit.record(
            conn, Who(user_id if success else ANONYMOUS, ip), self._clock.now_ms(),
            "login.success" if success else "login.failure", "user", user_id,
            org_code=org_code, after=details,
        )  # fmt: skip


def _method_details(session: store.SsoSession) -> dict[str, str]:
    if session.idp == LOCAL_IDP:
        return {"method": "sso"}
    return {"method": "oidc", "idp": session.idp}
