"""Auditing refused admin requests (``denied.admin``): who, which operation, why."""

from __future__ import annotations

import logging

from starlette.requests import Request

from tumar.core.audit import Who, record_denial
from tumar.core.requester import Requester
from tumar.core.services import Services
from tumar.errors import MatrixError

log = logging.getLogger(__name__)


async def record_admin_denial(
    request: Request, requester: Requester, svc: Services, exc: MatrixError
) -> None:
    from tumar.api.admin.base import PREFIX

    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path  # the template: no ids in it
    if not path.startswith(PREFIX):
        path = PREFIX + path
    try:
        await record_denial(
            svc.db, Who(requester.user_id, requester.ip), svc.clock.now_ms(), "denied.admin",
            "admin_api", f"{request.method} {path}", errcode=exc.errcode, reason=exc.error,
        )  # fmt: skip
    except Exception:  # the refusal stands even if its record cannot be written
        log.exception("could not audit a refused admin request")
