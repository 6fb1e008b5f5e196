"""``/sync`` and stored filters."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tumar.api.http import (
    Auth,
    Body,
    Svc,
    get_requester,
    ok,
    query_bool,
    query_choice,
    query_int,
    services_of,
)
from tumar.core.sync import SyncRequest
from tumar.core.tokens import SyncToken
from tumar.errors import forbidden
from tumar.ids import UserId

router = APIRouter()
PRESENCE_STATES = ("online", "offline", "unavailable")


async def _disconnected(request: Request) -> None:
    """Return when the client goes away (the request body has already been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def sync(request: Request) -> Response:
    """``GET /sync``: a hot route (``api/hot_routes.py``), outside FastAPI's routing and
    dependency solving; its parameters are read and checked here."""
    svc = services_of(request)
    requester = await get_requester(request)
    since = request.query_params.get("since")
    filter_ref = request.query_params.get("filter")
    timeout = query_int(request, "timeout", 0, minimum=0)
    full_state = query_bool(request, "full_state", False)
    set_presence = query_choice(request, "set_presence", PRESENCE_STATES)
    flt = await svc.userdata.resolve_filter(requester, filter_ref)
    token = SyncToken.parse(since) if since else None
    timeout_ms = min(timeout, svc.settings.sync_max_timeout_ms)
    await svc.presence.do_sync_presence(requester, set_presence)  # once the request is valid
    work = asyncio.ensure_future(
        svc.sync.sync(SyncRequest(requester, token, flt, timeout_ms, full_state))
    )
    if timeout_ms == 0:
        result = await work
        svc.read_audit.note_sync(requester.user_id, result)  # audited reads, docs/audit.md
        return ok(result)
    # A long-poll whose client went away stops waiting at once instead of at its timeout.
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done():
        work.cancel()  # the client is gone; nobody reads this answer
        return ok({})
    svc.read_audit.note_sync(requester.user_id, work.result())
    return ok(work.result())


HOT = {"/sync": ("GET", sync)}
"""This module's hot routes (path under the client prefixes -> method, handler)."""


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
