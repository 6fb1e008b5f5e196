"""Presence: ``/presence/{userId}/status``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, Body, Svc, ok
from tumar.errors import MatrixError

router = APIRouter()


@router.put("/presence/{user_id}/status")
async def set_presence(svc: Svc, requester: Auth, user_id: str, body: Body) -> Any:
    if "presence" not in body:
        raise MatrixError(400, "M_MISSING_PARAM", "The body needs `presence`.")
    await svc.presence.do_set(requester, user_id, body["presence"], body.get("status_msg"))
    return ok()


@router.get("/presence/{user_id}/status")
async def get_presence(svc: Svc, requester: Auth, user_id: str) -> Any:
    return ok(await svc.presence.get(requester, user_id))
