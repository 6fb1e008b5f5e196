"""Single sign-on: ``/login/sso/redirect[/{idpId}]`` (Client-Server API) and tumar's login
pages under ``/_tumar/sso`` (HTML forms: password, one-time code or enrolment, identity
provider buttons, the OpenID Connect callback). The flow itself is ``core/sso.py``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from tumar.api import sso_pages as pages
from tumar.api.http import Svc, ok
from tumar.config import Settings
from tumar.core.services import Services
from tumar.core.sso import (
    COOKIE,
    PAGE_PATH,
    PAGES,
    Finished,
    Outcome,
    SsoError,
    SsoService,
)
from tumar.core.totp import qr_svg
from tumar.errors import MatrixError
from tumar.policy.sso import LOCAL_IDP, Stage

client = APIRouter()  # mounted under /_matrix/client/v3 and /r0
page_router = APIRouter(prefix=PAGES)
MAX_FORM_BYTES = 16 * 1024


def _lang(request: Request, form: dict[str, str] | None = None) -> str:
    requested = (form or {}).get("lang") or request.query_params.get("lang")
    return pages.pick_lang(requested, request.headers.get("accept-language"))


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _cookie(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def _secure(svc_baseurl: str) -> bool:
    return svc_baseurl.startswith("https://")


def _redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=pages.SECURITY_HEADERS)


def _error(request: Request, exc: SsoError, lang: str | None = None) -> Response:
    lang = lang or _lang(request)
    message = pages.error_message(exc.key, lang, exc.detail)
    return pages.error_page(lang, PAGE_PATH, message, restart=exc.restart, status=exc.status)


# ---- Client-Server API ----------------------------------------------------------------------


def login_flows(settings: Settings) -> list[dict[str, Any]]:
    """``GET /login``: passwords (for users who need no second factor), the SSO page, and the
    token it mints. With upstream providers, each is an identity provider, and so is tumar's
    own page (``local``), so that people without an upstream account can still sign in."""
    sso: dict[str, Any] = {"type": "m.login.sso"}
    if settings.oidc_providers:
        sso["identity_providers"] = [
            {"id": LOCAL_IDP, "name": "tumar"},
            *({"id": p.id, "name": p.name} for p in settings.oidc_providers),
        ]
    return [{"type": "m.login.password"}, sso, {"type": "m.login.token"}]


async def token_login(
    request: Request,
    svc: Services,
    token: str | None,
    device_id: str | None,
    display_name: str | None,
) -> Response:
    """``POST /login`` with ``m.login.token``: exchange the SSO page's one-time token."""
    if not token:
        raise MatrixError(400, "M_BAD_JSON", "A token is required for m.login.token.")
    user_id = await svc.sso.do_exchange_login_token(token, _ip(request))
    session = await svc.accounts.do_open_session(user_id, device_id, display_name)
    return ok(
        {
            "user_id": session.user_id,
            "access_token": session.access_token,
            "device_id": session.device_id,
            "home_server": svc.settings.server_name,
            "well_known": {"m.homeserver": {"base_url": svc.settings.effective_public_baseurl}},
        }
    )


async def _start(request: Request, svc: Svc, idp: str | None) -> Response:
    redirect_url = request.query_params.get("redirectUrl", "")
    try:
        started = await svc.sso.do_start(redirect_url, idp)
    except SsoError as exc:
        return _error(request, exc)
    location = started.location
    if location == PAGE_PATH:
        location = pages.page_url(PAGE_PATH, _lang(request))
    response = RedirectResponse(location, status_code=302, headers=pages.SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        started.cookie,
        max_age=svc.settings.sso_session_lifetime_s,
        path=PAGES,
        httponly=True,
        samesite="lax",  # the identity provider sends the browser back with a top-level GET
        secure=_secure(svc.settings.effective_public_baseurl),
    )
    return response


@client.get("/login/sso/redirect")
async def sso_redirect(request: Request, svc: Svc) -> Response:
    return await _start(request, svc, None)


@client.get("/login/sso/redirect/{idp_id}")
async def sso_redirect_idp(request: Request, svc: Svc, idp_id: str) -> Response:
    return await _start(request, svc, idp_id)


# ---- the pages ------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body (first value of each field); anything else is an empty form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise SsoError("bad_form", 413)
        chunks.append(chunk)
    try:
        parsed = parse_qs(b"".join(chunks).decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise SsoError("bad_form", 400) from None
    return {k: v[0] for k, v in parsed.items() if v}


async def _show(
    request: Request,
    sso: SsoService,
    lang: str,
    *,
    error: SsoError | None = None,
    username: str = "",
) -> Response:
    """The page of the login's current stage, with ``error`` on it if there is one."""
    try:
        view = await sso.view(_cookie(request))
    except SsoError as exc:
        return _error(request, exc, lang)
    message = pages.error_message(error.key, lang, error.detail) if error else None
    status = error.status if error else 200
    if view.stage == Stage.PASSWORD:
        return pages.password_page(
            lang, PAGE_PATH, view.csrf, view.providers,
            error=message, username=username, status=status,
        )  # fmt: skip
    assert view.user_id is not None
    if view.stage == Stage.ENROL and view.enrolment is not None:
        enrol = view.enrolment
        return pages.enrol_page(
            lang, PAGE_PATH, view.csrf, view.user_id, enrol.secret, enrol.uri,
            qr_svg(enrol.uri), error=message, status=status,
        )  # fmt: skip
    return pages.code_page(lang, PAGE_PATH, view.csrf, view.user_id, error=message, status=status)


def _outcome(request: Request, svc: Svc, outcome: Outcome, lang: str) -> Response:
    if isinstance(outcome, Finished):
        if outcome.confirm:
            response: Response = pages.confirm_page(
                lang, PAGE_PATH, outcome.location, outcome.client
            )
        else:
            response = _redirect(outcome.location)
        response.delete_cookie(COOKIE, path=PAGES)
        return response
    return _redirect(pages.page_url(PAGE_PATH, lang))


@page_router.get("/login")
async def login_page(request: Request, svc: Svc) -> Response:
    return await _show(request, svc.sso, _lang(request))


@page_router.post("/login/password")
async def submit_password(request: Request, svc: Svc) -> Response:
    lang = _lang(request)
    username = ""
    try:
        form = await _form(request)
        lang = _lang(request, form)
        username = form.get("username", "").strip()[:255]
        password = form.get("password", "")
        if not username or not password:
            raise SsoError("bad_credentials", 400)
        outcome = await svc.sso.do_password(
            _cookie(request), form.get("csrf", ""), username, password, _ip(request)
        )
    except SsoError as exc:
        if exc.restart or exc.key == "bad_csrf":
            return _error(request, exc, lang)
        return await _show(request, svc.sso, lang, error=exc, username=username)
    return _outcome(request, svc, outcome, lang)


@page_router.post("/login/code")
async def submit_code(request: Request, svc: Svc) -> Response:
    lang = _lang(request)
    try:
        form = await _form(request)
        lang = _lang(request, form)
        outcome = await svc.sso.do_code(
            _cookie(request), form.get("csrf", ""), form.get("code", "")[:20], _ip(request)
        )
    except SsoError as exc:
        if exc.restart or exc.key == "bad_csrf":
            return _error(request, exc, lang)
        return await _show(request, svc.sso, lang, error=exc)
    return _outcome(request, svc, outcome, lang)


@page_router.post("/login/provider")
async def choose_provider(request: Request, svc: Svc) -> Response:
    lang = _lang(request)
    try:
        form = await _form(request)
        lang = _lang(request, form)
        location = await svc.sso.do_choose_provider(
            _cookie(request), form.get("csrf", ""), form.get("idp", "")
        )
    except SsoError as exc:
        return _error(request, exc, lang)
    return _redirect(location)


@page_router.get("/oidc/callback")
async def oidc_callback(request: Request, svc: Svc) -> Response:
    lang = _lang(request)
    params = request.query_params
    try:
        outcome = await svc.sso.do_oidc_callback(
            _cookie(request),
            params.get("state", ""),
            params.get("code"),
            params.get("error"),
            _ip(request),
        )
    except SsoError as exc:
        return _error(request, exc, lang)
    return _outcome(request, svc, outcome, lang)
