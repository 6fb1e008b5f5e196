"""Rooms: creation, membership, aliases."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field, StrictBool, StrictStr

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.core.room_creation import ROOM_VERSION, RoomPlan
from tumar.core.rooms import NewEvent
from tumar.errors import MatrixError, not_found
from tumar.ids import RoomAlias, RoomId, UserId
from tumar.store import rooms as room_store

router = APIRouter()


class StateEventIn(RequestBody):
    type: StrictStr
    state_key: StrictStr = ""
    content: dict[str, Any]


class CreateRoomBody(RequestBody):
    visibility: Literal["public", "private"] = "private"
    room_alias_name: StrictStr | None = None
    name: StrictStr | None = None
    topic: StrictStr | None = None
    invite: list[StrictStr] = Field(default_factory=list, max_length=1000)
    invite_3pid: list[dict[str, Any]] = Field(default_factory=list)
    room_version: StrictStr = ROOM_VERSION
    creation_content: dict[str, Any] = Field(default_factory=dict)
    initial_state: list[StateEventIn] = Field(default_factory=list, max_length=100)
    preset: Literal["private_chat", "public_chat", "trusted_private_chat"] | None = None
    is_direct: StrictBool = False
    power_level_content_override: dict[str, Any] | None = None


class Reason(RequestBody):
    reason: StrictStr | None = None


class Target(RequestBody):
    user_id: StrictStr
    reason: StrictStr | None = None


@router.post("/createRoom")
async def create_room(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(CreateRoomBody, body)
    if req.invite_3pid:
        raise MatrixError(400, "M_UNKNOWN", "Third-party invites are not supported.")
    for user in req.invite:
        UserId.parse(user)
    alias = None
    if req.room_alias_name is not None:
        if not req.room_alias_name or ":" in req.room_alias_name or " " in req.room_alias_name:
            raise MatrixError(400, "M_INVALID_PARAM", "room_alias_name is not a valid local part.")
        alias = str(RoomAlias.parse(f"#{req.room_alias_name}:{svc.settings.server_name}"))
    preset = req.preset or ("public_chat" if req.visibility == "public" else "private_chat")
    plan = RoomPlan(
        creator=requester.user_id,
        preset=preset,
        name=req.name,
        topic=req.topic,
        alias=alias,
        invite=tuple(dict.fromkeys(u for u in req.invite if u != requester.user_id)),
        is_direct=req.is_direct,
        creation_content=req.creation_content,
        initial_state=tuple(NewEvent(s.type, s.content, s.state_key) for s in req.initial_state),
        power_level_override=req.power_level_content_override,
        room_version=req.room_version,
    )
    room_id = await svc.creator.do_create_room(requester, plan, req.visibility)
    body_out: dict[str, Any] = {"room_id": room_id}
    if alias is not None:
        body_out["room_alias"] = alias
    return ok(body_out)


@router.post("/join/{room_id_or_alias}")
async def join_by_id_or_alias(svc: Svc, requester: Auth, room_id_or_alias: str, body: Body) -> Any:
    req = parse(Reason, body)
    room_id = await svc.membership.resolve_room(room_id_or_alias)
    await svc.membership.do_membership(requester, room_id, "join", reason=req.reason)
    return ok({"room_id": room_id})


@router.post("/rooms/{room_id}/join")
async def join(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    req = parse(Reason, body)
    RoomId.parse(room_id)
    await svc.membership.do_membership(requester, room_id, "join", reason=req.reason)
    return ok({"room_id": room_id})


@router.post("/rooms/{room_id}/leave")
async def leave(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    req = parse(Reason, body)
    await svc.membership.do_membership(requester, room_id, "leave", reason=req.reason)
    return ok()


@router.post("/rooms/{room_id}/forget")
async def forget(svc: Svc, requester: Auth, room_id: str) -> Any:
    await svc.membership.do_forget(requester, room_id)
    return ok()


async def _targeted(
    svc: Any, requester: Any, room_id: str, body: dict[str, Any], membership: str
) -> Any:
    req = parse(Target, body)
    UserId.parse(req.user_id)
    await svc.membership.do_membership(
        requester, room_id, membership, target=req.user_id, reason=req.reason
    )
    return ok()


@router.post("/rooms/{room_id}/invite")
async def invite(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    if "user_id" not in body and "id_server" in body:
        raise MatrixError(400, "M_UNKNOWN", "Third-party invites are not supported.")
    return await _targeted(svc, requester, room_id, body, "invite")


@router.post("/rooms/{room_id}/kick")
async def kick(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    return await _targeted(svc, requester, room_id, body, "leave")


@router.post("/rooms/{room_id}/ban")
async def ban(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    return await _targeted(svc, requester, room_id, body, "ban")


@router.post("/rooms/{room_id}/unban")
async def unban(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    return await _targeted(svc, requester, room_id, body, "leave")


@router.get("/joined_rooms")
async def joined_rooms(svc: Svc, requester: Auth) -> Any:
    return ok({"joined_rooms": await svc.reader.joined_rooms(requester)})


@router.get("/directory/room/{alias}")
async def resolve_alias(svc: Svc, alias: str) -> Any:
    RoomAlias.parse(alias)
    async with svc.db.read() as conn:
        room_id = await room_store.alias_room(conn, alias)
    if room_id is None:
        raise not_found(f"The room alias {alias} is unknown.")
    return ok({"room_id": room_id, "servers": [svc.settings.server_name]})
