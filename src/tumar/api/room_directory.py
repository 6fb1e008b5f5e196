"""Room discovery and aliases: ``/publicRooms``, ``/directory/list/room``, ``/directory/room``
(create and delete; resolving lives with the rooms), ``/rooms/{roomId}/aliases``; and room
upgrades."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field, StrictBool, StrictInt, StrictStr

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse

router = APIRouter()


class VisibilityBody(RequestBody):
    visibility: Literal["public", "private"] = "public"


class AliasBody(RequestBody):
    room_id: StrictStr


class DirectoryFilter(RequestBody):
    generic_search_term: StrictStr | None = None
    room_types: list[StrictStr | None] | None = None


class PublicRoomsQuery(RequestBody):
    limit: StrictInt | None = Field(None, ge=0)
    since: StrictStr | None = None
    filter: DirectoryFilter | None = None
    include_all_networks: StrictBool = False
    third_party_instance_id: StrictStr | None = None


class UpgradeBody(RequestBody):
    new_version: StrictStr


@router.get("/publicRooms")
async def public_rooms(
    svc: Svc,
    requester: Auth,  # the directory is for signed-in users only
    limit: int | None = Query(None, ge=0),
    since: str | None = None,
    server: str | None = None,
) -> Any:
    return ok(await svc.room_directory.public_rooms(limit=limit, since=since, server=server))


@router.post("/publicRooms")
async def query_public_rooms(
    svc: Svc, requester: Auth, body: Body, server: str | None = None
) -> Any:
    req = parse(PublicRoomsQuery, body)
    flt = req.filter or DirectoryFilter()
    return ok(
        await svc.room_directory.public_rooms(
            limit=req.limit,
            since=req.since,
            search_term=flt.generic_search_term,
            room_types=flt.room_types,
            server=server,
        )
    )


@router.get("/directory/list/room/{room_id}")
async def get_visibility(svc: Svc, room_id: str) -> Any:
    return ok({"visibility": await svc.room_directory.get_visibility(room_id)})


@router.put("/directory/list/room/{room_id}")
async def set_visibility(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    req = parse(VisibilityBody, body)
    await svc.room_directory.do_set_visibility(requester, room_id, req.visibility)
    return ok()


@router.put("/directory/room/{alias}")
async def create_alias(svc: Svc, requester: Auth, alias: str, body: Body) -> Any:
    req = parse(AliasBody, body)
    await svc.room_directory.do_create_alias(requester, alias, req.room_id)
    return ok()


@router.delete("/directory/room/{alias}")
async def delete_alias(svc: Svc, requester: Auth, alias: str) -> Any:
    await svc.room_directory.do_delete_alias(requester, alias)
    return ok()


@router.get("/rooms/{room_id}/aliases")
async def local_aliases(svc: Svc, requester: Auth, room_id: str) -> Any:
    return ok({"aliases": await svc.room_directory.local_aliases(requester, room_id)})


@router.post("/rooms/{room_id}/upgrade")
async def upgrade(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    req = parse(UpgradeBody, body)
    new_room = await svc.room_upgrader.do_upgrade(requester, room_id, req.new_version)
    return ok({"replacement_room": new_room})
