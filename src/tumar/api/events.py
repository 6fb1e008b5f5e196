"""Sending and reading room events: send, state, redact, messages, members, single events."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query

from tumar.api.http import Auth, Body, Svc, ok
from tumar.errors import MatrixError, bad_json, invalid_param
from tumar.ids import RoomId, valid_event_id
from tumar.policy.filters import FilterError, RoomEventFilter, parse_filter

router = APIRouter()

MAX_TXN_ID = 255


def _check_txn(txn_id: str) -> None:
    if not txn_id or len(txn_id) > MAX_TXN_ID:
        raise invalid_param("The transaction id must be 1 to 255 characters.")


def _check_event_type(event_type: str) -> None:
    if not event_type or len(event_type) > 255:
        raise invalid_param("The event type must be 1 to 255 characters.")


@router.put("/rooms/{room_id}/send/{event_type}/{txn_id}")
async def send(
    svc: Svc, requester: Auth, room_id: str, event_type: str, txn_id: str, body: Body
) -> Any:
    RoomId.parse(room_id)
    _check_event_type(event_type)
    _check_txn(txn_id)
    event_id = await svc.rooms.do_send(requester, room_id, event_type, body, txn_id=txn_id)
    return ok({"event_id": event_id})


async def _put_state(
    svc: Any, requester: Any, room_id: str, event_type: str, state_key: str, body: dict[str, Any]
) -> Any:
    RoomId.parse(room_id)
    _check_event_type(event_type)
    if len(state_key) > 255:
        raise invalid_param("The state key is longer than 255 characters.")
    event_id = await svc.rooms.do_send(requester, room_id, event_type, body, state_key=state_key)
    return ok({"event_id": event_id})


@router.put("/rooms/{room_id}/state/{event_type}")
async def put_state_empty_key(
    svc: Svc, requester: Auth, room_id: str, event_type: str, body: Body
) -> Any:
    return await _put_state(svc, requester, room_id, event_type, "", body)


@router.put("/rooms/{room_id}/state/{event_type}/{state_key:path}")
async def put_state(
    svc: Svc, requester: Auth, room_id: str, event_type: str, state_key: str, body: Body
) -> Any:
    return await _put_state(svc, requester, room_id, event_type, state_key, body)


async def _get_state(svc: Any, requester: Any, room_id: str, event_type: str, key: str) -> Any:
    event = await svc.reader.state_event(requester, room_id, event_type, key)
    return ok(dict(event.content))


@router.get("/rooms/{room_id}/state/{event_type}")
async def get_state_empty_key(svc: Svc, requester: Auth, room_id: str, event_type: str) -> Any:
    return await _get_state(svc, requester, room_id, event_type, "")


@router.get("/rooms/{room_id}/state/{event_type}/{state_key:path}")
async def get_state_event(
    svc: Svc, requester: Auth, room_id: str, event_type: str, state_key: str
) -> Any:
    return await _get_state(svc, requester, room_id, event_type, state_key)


@router.get("/rooms/{room_id}/state")
async def get_state(svc: Svc, requester: Auth, room_id: str) -> Any:
    return ok(await svc.reader.state(requester, room_id))


@router.put("/rooms/{room_id}/redact/{event_id}/{txn_id}")
async def redact(
    svc: Svc, requester: Auth, room_id: str, event_id: str, txn_id: str, body: Body
) -> Any:
    RoomId.parse(room_id)
    if not valid_event_id(event_id):
        raise invalid_param("Invalid event id.")
    _check_txn(txn_id)
    redaction_id = await svc.rooms.do_redact(
        requester, room_id, event_id, body.get("reason"), txn_id=txn_id
    )
    return ok({"event_id": redaction_id})


def _room_event_filter(raw: str | None) -> RoomEventFilter:
    if raw is None:
        return RoomEventFilter()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_json("The filter is not valid JSON.") from None
    try:
        return parse_filter({"room": {"timeline": value}}).room.timeline
    except FilterError as exc:
        raise bad_json(str(exc)) from None


@router.get("/rooms/{room_id}/messages")
async def messages(
    svc: Svc,
    requester: Auth,
    room_id: str,
    dir: Literal["b", "f"] = "b",
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    limit: int = Query(10, ge=0),
    filter: str | None = None,
) -> Any:
    flt = _room_event_filter(filter)
    if flt.limit is not None:
        limit = min(limit, flt.limit)
    page = await svc.reader.messages(
        requester,
        room_id,
        from_token=from_,
        to_token=to,
        backwards=dir == "b",
        limit=limit,
        flt=flt,
    )
    svc.read_audit.note(requester.user_id, {room_id: len(page.get("chunk", ()))})  # audit.md
    return ok(page)


@router.get("/rooms/{room_id}/members")
async def members(
    svc: Svc,
    requester: Auth,
    room_id: str,
    at: str | None = None,
    membership: str | None = None,
    not_membership: str | None = None,
) -> Any:
    chunk = await svc.reader.members(
        requester, room_id, at=at, membership=membership, not_membership=not_membership
    )
    return ok({"chunk": chunk})


@router.get("/rooms/{room_id}/joined_members")
async def joined_members(svc: Svc, requester: Auth, room_id: str) -> Any:
    return ok({"joined": await svc.reader.joined_members(requester, room_id)})


@router.get("/rooms/{room_id}/event/{event_id}")
async def get_event(svc: Svc, requester: Auth, room_id: str, event_id: str) -> Any:
    if not valid_event_id(event_id):
        raise MatrixError(404, "M_NOT_FOUND", "Event not found.")
    event = await svc.reader.event(requester, room_id, event_id)
    svc.read_audit.note(requester.user_id, {room_id: 1})  # audited reads, see docs/audit.md
    return ok(event)


@router.get("/rooms/{room_id}/context/{event_id}")
async def context(
    svc: Svc,
    requester: Auth,
    room_id: str,
    event_id: str,
    limit: int = Query(10, ge=0),
    filter: str | None = None,
) -> Any:
    RoomId.parse(room_id)
    if not valid_event_id(event_id):
        raise MatrixError(404, "M_NOT_FOUND", "Event not found.")
    flt = _room_event_filter(filter)
    if flt.limit is not None:
        limit = min(limit, flt.limit)
    found = await svc.reader.context(requester, room_id, event_id, limit=limit, flt=flt)
    shown = 1 + len(found.get("events_before", ())) + len(found.get("events_after", ()))
    svc.read_audit.note(requester.user_id, {room_id: shown})  # audited reads, docs/audit.md
    return ok(found)
