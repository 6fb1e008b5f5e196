"""``/sync`` and stored filters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tumar.api.http import Auth, Body, Svc, ok
from tumar.core.sync import SyncRequest
from tumar.core.tokens import SyncToken
from tumar.errors import forbidden
from tumar.ids import UserId

router = APIRouter()


@router.get("/sync")
async def sync(
    svc: Svc,
    requester: Auth,
    since: str | None = None,
    filter: str | None = None,
    timeout: int = Query(0, ge=0),
    full_state: bool = False,
    set_presence: str | None = None,
) -> Any:
    flt = await svc.userdata.resolve_filter(requester, filter)
    token = SyncToken.parse(since) if since else None
    timeout_ms = min(timeout, svc.settings.sync_max_timeout_ms)
    body = await svc.sync.sync(SyncRequest(requester, token, flt, timeout_ms, full_state))
    return ok(body)


def _own(requester_user: str, user_id: str) -> None:
    UserId.parse(user_id)
    if requester_user != user_id:
        raise forbidden("You can only manage your own filters.")


@router.post("/user/{user_id}/filter")
async def create_filter(svc: Svc, requester: Auth, user_id: str, body: Body) -> Any:
    _own(requester.user_id, user_id)
    return ok({"filter_id": await svc.userdata.do_create_filter(requester, body)})


@router.get("/user/{user_id}/filter/{filter_id}")
async def get_filter(svc: Svc, requester: Auth, user_id: str, filter_id: str) -> Any:
    _own(requester.user_id, user_id)
    return ok(await svc.userdata.get_filter_json(user_id, filter_id))
