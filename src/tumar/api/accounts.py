"""Login, logout, registration, whoami and devices."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from pydantic import StrictBool, StrictStr

from tumar.api import sso
from tumar.api.activation import register_with_code
from tumar.api.http import Auth, AuthEvenSuspended, Body, RequestBody, Svc, ok, parse
from tumar.core.requester import Requester
from tumar.core.services import Services
from tumar.errors import AuthRequired, MatrixError, forbidden

router = APIRouter()
v1 = APIRouter()  # mounted under /_matrix/client/v1: endpoints the spec added there


class Identifier(RequestBody):
    type: StrictStr
    user: StrictStr | None = None


class LoginBody(RequestBody):
    type: StrictStr
    identifier: Identifier | None = None
    user: StrictStr | None = None
    password: StrictStr | None = None
    token: StrictStr | None = None  # m.login.token, minted by the SSO page
    device_id: StrictStr | None = None
    initial_device_display_name: StrictStr | None = None
    refresh_token: StrictBool | None = None


class AuthDict(RequestBody):
    type: StrictStr | None = None
    session: StrictStr | None = None
    token: StrictStr | None = None
    password: StrictStr | None = None
    identifier: Identifier | None = None
    user: StrictStr | None = None


class RegisterBody(RequestBody):
    username: StrictStr | None = None
    password: StrictStr | None = None
    device_id: StrictStr | None = None
    initial_device_display_name: StrictStr | None = None
    inhibit_login: StrictBool = False
    refresh_token: StrictBool | None = None
    auth: AuthDict | None = None


class DeviceUpdate(RequestBody):
    display_name: StrictStr | None = None


class DeleteDevices(RequestBody):
    devices: list[StrictStr]
    auth: AuthDict | None = None


class DeleteDevice(RequestBody):
    auth: AuthDict | None = None


def uia_required(flows: list[list[str]], error: str | None = None) -> AuthRequired:
    return AuthRequired(flows, secrets.token_urlsafe(12), error)


@router.get("/login")
async def login_flows(svc: Svc) -> Any:
    return ok({"flows": sso.login_flows(svc.settings)})


@router.post("/login")
async def login(request: Request, svc: Svc, body: Body) -> Any:
    req = parse(LoginBody, body)
    if req.type == "m.login.token":  # minted by the SSO page (core/sso.py)
        return await sso.token_login(request, svc, req.token, req.device_id,
                                     req.initial_device_display_name)  # fmt: skip
    if req.type != "m.login.password":
        raise MatrixError(400, "M_UNKNOWN", f"Unsupported login type {req.type!r}.")
    user = req.identifier.user if req.identifier and req.identifier.type == "m.id.user" else None
    user = user or req.user
    if req.identifier is not None and req.identifier.type != "m.id.user":
        raise MatrixError(400, "M_UNKNOWN", "Only the m.id.user identifier is supported.")
    if not user or req.password is None:
        raise MatrixError(400, "M_BAD_JSON", "A user and a password are required.")
    ip = request.client.host if request.client else None
    user_id = await svc.accounts.check_password_login(user, req.password, ip)
    await svc.sso.check_password_login_allowed(user_id, ip)  # TUMAR_MFA_REQUIRED: use SSO
    session = await svc.accounts.do_open_session(
        user_id, req.device_id, req.initial_device_display_name, ip=ip, login_method="password"
    )
    return ok(
        {
            "user_id": session.user_id,
            "access_token": session.access_token,
            "device_id": session.device_id,
            "home_server": svc.settings.server_name,
            "well_known": {"m.homeserver": {"base_url": svc.settings.effective_public_baseurl}},
        }
    )


@router.post("/logout")
async def logout(svc: Svc, requester: AuthEvenSuspended) -> Any:
    await svc.accounts.do_logout(requester)
    return ok()


@router.post("/logout/all")
async def logout_all(svc: Svc, requester: AuthEvenSuspended) -> Any:
    await svc.accounts.do_logout_all(requester)
    return ok()


@router.get("/account/whoami")
async def whoami(requester: Auth) -> Any:
    return ok({"user_id": requester.user_id, "device_id": requester.device_id, "is_guest": False})


def _registration_flows(svc: Services) -> list[list[str]]:
    mode = svc.settings.registration
    if mode == "open":
        return [["m.login.dummy"], ["m.login.registration_token"]]
    return [["m.login.registration_token"]]


@router.post("/register")
async def register(request: Request, svc: Svc, body: Body, kind: str = "user") -> Any:
    if kind == "guest":
        raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled.")
    if kind != "user":
        raise MatrixError(400, "M_INVALID_PARAM", "kind must be 'user' or 'guest'.")
    req = parse(RegisterBody, body)
    ip = request.client.host if request.client else None
    auth = req.auth
    flows = _registration_flows(svc)
    code = auth.token if auth and auth.type == "m.login.registration_token" else None
    if code and await svc.activation.is_code(code):  # a personal activation code, any mode
        return await register_with_code(
            svc, code, req.password, flows=flows, device_id=req.device_id,
            device_name=req.initial_device_display_name, inhibit_login=req.inhibit_login, ip=ip,
        )  # fmt: skip
    if svc.settings.registration == "closed":  # only activation codes create accounts
        if auth is None or auth.type is None:
            raise uia_required(flows)
        if auth.type == "m.login.registration_token":
            raise uia_required(flows, "The activation code is not valid; check your letter.")
        raise forbidden(
            "Registration is closed on this server; only a personal activation code can "
            "create an account."
        )
    if req.username is not None:
        await svc.accounts.check_username(req.username.lower())
    if auth is None or auth.type is None:
        raise uia_required(flows)
    token: str | None = None
    if auth.type == "m.login.registration_token":
        if not auth.token or not await svc.accounts.registration_token_valid(auth.token):
            raise uia_required(flows, "The registration token is not valid.")
        token = auth.token
    elif not (auth.type == "m.login.dummy" and ["m.login.dummy"] in flows):
        raise uia_required(flows, f"Authentication type {auth.type!r} is not offered.")
    if req.password is None:
        raise MatrixError(400, "M_MISSING_PARAM", "A password is required.")
    localpart = (req.username or "user" + secrets.token_hex(5)).lower()
    svc.accounts.check_password(req.password, localpart)
    user_id = await svc.accounts.do_create_user(localpart, req.password, registration_token=token)
    if req.inhibit_login:
        return ok({"user_id": user_id})
    session = await svc.accounts.do_open_session(
        user_id, req.device_id, req.initial_device_display_name, ip=ip
    )
    return ok(
        {
            "user_id": user_id,
            "access_token": session.access_token,
            "device_id": session.device_id,
            "home_server": svc.settings.server_name,
        }
    )


@router.get("/register/available")
async def register_available(svc: Svc, username: str) -> Any:
    if svc.settings.registration == "closed":
        raise forbidden("Registration is closed on this server.")
    await svc.accounts.check_username(username.lower())
    return ok({"available": True})


@v1.get("/register/m.login.registration_token/validity")
@router.get("/register/m.login.registration_token/validity")
async def token_validity(svc: Svc, token: str) -> Any:
    if await svc.activation.is_code(token):
        return ok({"valid": await svc.activation.code_valid(token)})
    if svc.settings.registration == "closed":  # only activation codes are accepted
        return ok({"valid": False})
    return ok({"valid": await svc.accounts.registration_token_valid(token)})


# ---- devices ------------------------------------------------------------------------------


def _device_json(device: Any) -> dict[str, Any]:
    out = {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_ip": device.last_seen_ip,
    }
    # The spec has these fields absent, never null, when unknown.
    return {k: v for k, v in out.items() if v is not None}


@router.get("/devices")
async def list_devices(svc: Svc, requester: Auth) -> Any:
    devices = await svc.accounts.list_devices(requester.user_id)
    return ok({"devices": [_device_json(d) for d in devices]})


@router.get("/devices/{device_id}")
async def get_device(svc: Svc, requester: Auth, device_id: str) -> Any:
    return ok(_device_json(await svc.accounts.get_device(requester.user_id, device_id)))


@router.put("/devices/{device_id}")
async def rename_device(svc: Svc, requester: Auth, device_id: str, body: Body) -> Any:
    req = parse(DeviceUpdate, body)
    await svc.accounts.do_rename_device(requester.user_id, device_id, req.display_name)
    return ok()


async def _check_password_uia(
    svc: Services, requester: Requester, auth: AuthDict | None, ip: str | None
) -> None:
    flows = [["m.login.password"]]
    if auth is None or auth.type is None:
        raise uia_required(flows)
    if auth.type != "m.login.password" or auth.password is None:
        raise uia_required(flows, "Confirm with your password.")
    user = auth.identifier.user if auth.identifier else auth.user
    user = user or requester.user_id
    try:
        user_id = await svc.accounts.check_password_login(user, auth.password, ip)
    except MatrixError as exc:
        if exc.errcode == "M_LIMIT_EXCEEDED":
            raise
        raise uia_required(flows, "Invalid password.") from None
    if user_id != requester.user_id:
        raise forbidden("You can only confirm with your own password.")


@router.delete("/devices/{device_id}")
async def delete_device(svc: Svc, requester: Auth, device_id: str, body: Body) -> Any:
    req = parse(DeleteDevice, body)
    await svc.accounts.get_device(requester.user_id, device_id)
    await _check_password_uia(svc, requester, req.auth, requester.ip)
    await svc.accounts.do_delete_devices(requester.user_id, [device_id])
    return ok()


@router.post("/delete_devices")
async def delete_devices(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(DeleteDevices, body)
    await _check_password_uia(svc, requester, req.auth, requester.ip)
    await svc.accounts.do_delete_devices(requester.user_id, list(req.devices))
    return ok()


# ---- password -----------------------------------------------------------------------------


class PasswordChange(RequestBody):
    new_password: StrictStr
    logout_devices: StrictBool = True
    auth: AuthDict | None = None


@router.post("/account/password")
async def change_password(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(PasswordChange, body)
    await _check_password_uia(svc, requester, req.auth, requester.ip)
    await svc.account_admin.do_change_password(
        requester, req.new_password, logout_devices=req.logout_devices
    )
    return ok()
