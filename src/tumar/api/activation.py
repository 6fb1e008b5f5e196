"""Registration with a personal activation code (``m.login.registration_token``): the code
names the person, so the account's user name, display name and directory link come from
there; the ``username`` a client sends is ignored. Accepted in every registration mode,
``closed`` included, since activation is how officials get their accounts."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from tumar.api.http import ok
from tumar.core.activation import ActivationRefused
from tumar.core.services import Services
from tumar.errors import AuthRequired

FLOWS = [["m.login.registration_token"]]


async def register_with_code(
    svc: Services,
    code: str,
    password: str | None,
    *,
    flows: list[list[str]],
    device_id: str | None,
    device_name: str | None,
    inhibit_login: bool,
    ip: str | None,
) -> Response:
    try:
        activated = await svc.activation.do_activate(code, password, ip)
    except ActivationRefused as exc:  # a failed stage: the client shows why and may retry
        raise AuthRequired(flows, secrets.token_urlsafe(12), exc.error) from None
    body: dict[str, Any] = {"user_id": activated.user_id}
    if not inhibit_login:
        session = await svc.accounts.do_open_session(
            activated.user_id, device_id, device_name, ip=ip
        )
        body.update(
            access_token=session.access_token,
            device_id=session.device_id,
            home_server=svc.settings.server_name,
        )
    return ok(body)
