"""``/sync`` and stored filters."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
    work = svc.sync.sync(SyncRequest(requester, token, flt, timeout_ms, full_state))
    # A long-poll whose client went away stops waiting at once instead of at its timeout.
    result = await work if timeout_ms == 0 else await _unless_client_leaves(request, work)
    if result is None:
        return ok({})  # the client is gone; nobody reads this answer
    svc.read_audit.note_sync(requester.user_id, result)  # audited reads, docs/audit.md
    return ok(result)


async def _unless_client_leaves(
    request: Request, work: Coroutine[Any, Any, dict[str, Any]]
) -> dict[str, Any] | None:
    """``work``'s result, or ``None`` if the client disconnects first (``work`` is then
    cancelled). ``work`` runs in this task, and only the watcher is a task of its own: a
    woken long-poll then takes one task step to answer, not two."""
    me = asyncio.current_task()
    assert me is not None
    left = finished = False

    def stop(done: asyncio.Future[None]) -> None:
        nonlocal left
        # The watcher may finish in the same loop turn as `work`; its callback then runs after
        # this function has returned, and must not cancel whatever the task does next.
        if not finished and not done.cancelled():
            left = True
            me.cancel()  # delivered inside `work`: this task is suspended in it

    watcher = asyncio.ensure_future(_disconnected(request))
    watcher.add_done_callback(stop)
    try:
        result = await work
    except asyncio.CancelledError:
        if left and me.uncancel() == 0:  # ours alone, not a shutdown's
            return None
        raise
    finally:
        finished = True
        watcher.cancel()
    if left:  # `work` swallowed our cancellation (3.11's wait_for can): the client is gone
        me.uncancel()
        return None
    return result


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
