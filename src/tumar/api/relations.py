"""Event relationships: the children of an event (``/relations``) and a room's threads
(``/threads``). Both live under ``/_matrix/client/v1``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from tumar.api.http import Auth, Svc, ok
from tumar.core.relations import RelationsQuery
from tumar.core.requester import Requester
from tumar.core.services import Services
from tumar.errors import MatrixError, invalid_param
from tumar.ids import RoomId, valid_event_id

v1 = APIRouter()  # mounted under /_matrix/client/v1

DEFAULT_LIMIT = 50


def _check(room_id: str, event_id: str, *names: str | None) -> None:
    RoomId.parse(room_id)
    if not valid_event_id(event_id):
        raise MatrixError(404, "M_NOT_FOUND", "Event not found.")
    for name in names:
        if name is not None and (not name or len(name) > 255):
            raise invalid_param("Relation and event types must be 1 to 255 characters.")


@dataclass(frozen=True, slots=True)
class Paging:
    """The query parameters shared by the three ``/relations`` forms."""

    from_: str | None
    to: str | None
    limit: int
    dir: Literal["b", "f"]
    recurse: bool | None


def paging(
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=0),
    dir: Literal["b", "f"] = "b",
    recurse: bool | None = None,
) -> Paging:
    return Paging(from_, to, limit, dir, recurse)


Page = Annotated[Paging, Depends(paging)]


async def _relations(
    svc: Services,
    requester: Requester,
    room_id: str,
    event_id: str,
    rel_type: str | None,
    event_type: str | None,
    page: Paging,
) -> Any:
    _check(room_id, event_id, rel_type, event_type)
    query = RelationsQuery(
        room_id=room_id,
        event_id=event_id,
        rel_type=rel_type,
        event_type=event_type,
        from_token=page.from_,
        to_token=page.to,
        limit=page.limit,
        backwards=page.dir == "b",
        recurse=page.recurse,
    )
    return ok(await svc.relations.relations(requester, query))


@v1.get("/rooms/{room_id}/relations/{event_id}")
async def relations(svc: Svc, requester: Auth, room_id: str, event_id: str, page: Page) -> Any:
    return await _relations(svc, requester, room_id, event_id, None, None, page)


@v1.get("/rooms/{room_id}/relations/{event_id}/{rel_type}")
async def relations_of_type(
    svc: Svc, requester: Auth, room_id: str, event_id: str, rel_type: str, page: Page
) -> Any:
    return await _relations(svc, requester, room_id, event_id, rel_type, None, page)


@v1.get("/rooms/{room_id}/relations/{event_id}/{rel_type}/{event_type}")
async def relations_of_type_and_event_type(
    svc: Svc,
    requester: Auth,
    room_id: str,
    event_id: str,
    rel_type: str,
    event_type: str,
    page: Page,
) -> Any:
    return await _relations(svc, requester, room_id, event_id, rel_type, event_type, page)


@v1.get("/rooms/{room_id}/threads")
async def threads(
    svc: Svc,
    requester: Auth,
    room_id: str,
    include: Literal["all", "participated"] = "all",
    limit: int = Query(DEFAULT_LIMIT, ge=1),
    from_: str | None = Query(None, alias="from"),
) -> Any:
    RoomId.parse(room_id)
    return ok(
        await svc.relations.threads(
            requester, room_id, include=include, limit=limit, from_token=from_
        )
    )
