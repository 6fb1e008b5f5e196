"""Account data, receipts, read markers, typing and profiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import StrictBool, StrictInt, StrictStr

from tumar.api.http import Auth, Body, MaybeAuth, RequestBody, Svc, ok, parse
from tumar.errors import MatrixError, forbidden
from tumar.ids import RoomId, UserId, valid_event_id
from tumar.store import events as event_store

router = APIRouter()


class ReceiptBody(RequestBody):
    thread_id: StrictStr | None = None


class TypingBody(RequestBody):
    typing: StrictBool
    timeout: StrictInt | None = None


def _own(requester_user: str, user_id: str) -> None:
    UserId.parse(user_id)
    if requester_user != user_id:
        raise forbidden("You can only access your own account data.")


@router.put("/user/{user_id}/account_data/{data_type}")
async def put_account_data(
    svc: Svc, requester: Auth, user_id: str, data_type: str, body: Body
) -> Any:
    _own(requester.user_id, user_id)
    await svc.userdata.do_put_account_data(requester, data_type, body)
    return ok()


@router.get("/user/{user_id}/account_data/{data_type}")
async def get_account_data(svc: Svc, requester: Auth, user_id: str, data_type: str) -> Any:
    _own(requester.user_id, user_id)
    return ok(dict(await svc.userdata.get_account_data(requester, data_type)))


@router.put("/user/{user_id}/rooms/{room_id}/account_data/{data_type}")
async def put_room_account_data(
    svc: Svc, requester: Auth, user_id: str, room_id: str, data_type: str, body: Body
) -> Any:
    _own(requester.user_id, user_id)
    RoomId.parse(room_id)
    await svc.userdata.do_put_account_data(requester, data_type, body, room_id)
    return ok()


@router.get("/user/{user_id}/rooms/{room_id}/account_data/{data_type}")
async def get_room_account_data(
    svc: Svc, requester: Auth, user_id: str, room_id: str, data_type: str
) -> Any:
    _own(requester.user_id, user_id)
    RoomId.parse(room_id)
    return ok(dict(await svc.userdata.get_account_data(requester, data_type, room_id)))


@router.post("/rooms/{room_id}/receipt/{receipt_type}/{event_id}")
async def receipt(
    svc: Svc, requester: Auth, room_id: str, receipt_type: str, event_id: str, body: Body
) -> Any:
    req = parse(ReceiptBody, body)
    RoomId.parse(room_id)
    if req.thread_id == "":
        raise MatrixError(400, "M_INVALID_PARAM", "`thread_id` must be a non-empty string.")
    if not valid_event_id(event_id):
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid event id.")
    await svc.userdata.do_receipt(requester, room_id, receipt_type, event_id, req.thread_id or "")
    return ok()


@router.post("/rooms/{room_id}/read_markers")
async def read_markers(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    RoomId.parse(room_id)
    markers: dict[str, str] = {}
    for marker_type in ("m.fully_read", "m.read", "m.read.private"):
        event_id = body.get(marker_type)
        if event_id is None:
            continue
        if not (isinstance(event_id, str) and valid_event_id(event_id)):
            raise MatrixError(400, "M_BAD_JSON", f"`{marker_type}` must be an event id.")
        markers[marker_type] = event_id
    await svc.userdata.do_read_markers(requester, room_id, markers)
    return ok()


@router.put("/rooms/{room_id}/typing/{user_id}")
async def typing(svc: Svc, requester: Auth, room_id: str, user_id: str, body: Body) -> Any:
    req = parse(TypingBody, body)
    RoomId.parse(room_id)
    if user_id != requester.user_id:
        raise forbidden("You can only set your own typing state.")
    async with svc.db.read() as conn:
        members = await event_store.room_members(conn, room_id, ("join",))
    if requester.user_id not in members:
        raise forbidden("You are not in this room.")
    timeout = req.timeout if req.timeout is not None and req.timeout > 0 else 30_000
    await svc.typing.set_typing(room_id, requester.user_id, req.typing, timeout, members)
    return ok()


@router.get("/profile/{user_id}")
async def get_profile(svc: Svc, user_id: str, viewer: MaybeAuth) -> Any:
    UserId.parse(user_id)
    return ok(await svc.profile.get_profile(user_id, viewer.user_id if viewer else None))


@router.get("/profile/{user_id}/{field}")
async def get_profile_field(svc: Svc, user_id: str, field: str) -> Any:
    UserId.parse(user_id)
    profile = await svc.profile.get_profile(user_id)
    if field not in ("displayname", "avatar_url"):
        raise MatrixError(404, "M_NOT_FOUND", "Unknown profile field.")
    if field not in profile:
        raise MatrixError(404, "M_NOT_FOUND", f"The user has no {field}.")
    return ok({field: profile[field]})


@router.put("/profile/{user_id}/{field}")
async def set_profile_field(svc: Svc, requester: Auth, user_id: str, field: str, body: Body) -> Any:
    UserId.parse(user_id)
    if user_id != requester.user_id:
        raise forbidden("You can only change your own profile.")
    if field not in ("displayname", "avatar_url"):
        raise MatrixError(400, "M_UNRECOGNIZED", "Only displayname and avatar_url can be set.")
    if field not in body:
        raise MatrixError(400, "M_MISSING_PARAM", f"The body needs `{field}`.")
    await svc.profile.do_set_field(requester, field, body[field])
    return ok()
