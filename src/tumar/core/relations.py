"""Reading relations: the child events of an event (``/relations``) and a room's threads
(``/threads``), with the same visibility as every other read (``RoomReader.view``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.reading import RoomReader, View
from tumar.core.requester import Requester
from tumar.core.serialize import client_events
from tumar.core.tokens import pagination_token, parse_position
from tumar.errors import not_found
from tumar.store import events as event_store
from tumar.store import relations as relation_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent

MAX_LIMIT = 1000
RECURSION_DEPTH = 3  # the spec asks for at least 3 levels with `recurse`
MAX_RECURSIVE = 5000  # children gathered over all levels before paging


@dataclass(frozen=True, slots=True)
class RelationsQuery:
    room_id: str
    event_id: str
    rel_type: str | None = None
    event_type: str | None = None
    from_token: str | None = None
    to_token: str | None = None
    limit: int = 50
    backwards: bool = True
    recurse: bool | None = None  # None: not asked (no `recursion_depth` in the answer)


class RelationReader:
    def __init__(self, db: Database, clock: Clock, reader: RoomReader) -> None:
        self._db = db
        self._clock = clock
        self._reader = reader

    async def _serialise(
        self, conn: AsyncConnection, requester: Requester, events: list[StoredEvent], view: View
    ) -> list[dict[str, Any]]:
        return await client_events(
            conn,
            events,
            now_ms=self._clock.now_ms(),
            viewer_user=requester.user_id,
            viewer_device=requester.device_id,
            aggregate=True,
            visible_upto=view.upto,
        )

    async def relations(self, requester: Requester, q: RelationsQuery) -> dict[str, Any]:
        limit = max(0, min(q.limit, MAX_LIMIT))
        async with self._db.read() as conn:
            view = await self._reader.checked_view(conn, requester, q.room_id)
            parent = await event_store.get_event(conn, q.event_id)
            if (
                parent is None
                or parent.room_id != q.room_id
                or (view.upto is not None and parent.stream_pos > view.upto)
            ):
                raise not_found("Event not found.")
            ceiling = await self._db.current_position(conn) if view.upto is None else view.upto
            start = parse_position(q.from_token) if q.from_token is not None else None
            bound = parse_position(q.to_token) if q.to_token is not None else None
            if q.backwards:
                after, upto = bound, ceiling if start is None else min(start, ceiling)
            else:
                after, upto = start, ceiling if bound is None else min(bound, ceiling)
            if q.recurse:
                found = await self._descendants(conn, q, after, upto)
            else:
                found = await relation_store.children(
                    conn,
                    [q.event_id],
                    rel_type=q.rel_type,
                    event_type=q.event_type,
                    after=after,
                    upto=upto,
                    backwards=q.backwards,
                    limit=limit + 1,
                )
            page = found[:limit]
            body: dict[str, Any] = {"chunk": await self._serialise(conn, requester, page, view)}
        if len(found) > limit and page:
            last = page[-1].stream_pos
            body["next_batch"] = pagination_token(last - 1 if q.backwards else last)
        if q.from_token is not None:
            body["prev_batch"] = q.from_token
        if q.recurse is not None:
            body["recursion_depth"] = RECURSION_DEPTH if q.recurse else 1
        return body

    async def _descendants(
        self, conn: AsyncConnection, q: RelationsQuery, after: int | None, upto: int
    ) -> list[StoredEvent]:
        """Children, their children and so on (``RECURSION_DEPTH`` levels), following only
        relations that match the filters, as the spec asks."""
        seen: dict[str, StoredEvent] = {}
        frontier = [q.event_id]
        for _level in range(RECURSION_DEPTH):
            level = await relation_store.children(
                conn,
                frontier,
                rel_type=q.rel_type,
                event_type=q.event_type,
                upto=upto,
                limit=MAX_RECURSIVE,
            )
            frontier = [e.event_id for e in level if e.event_id not in seen]
            seen.update((e.event_id, e) for e in level)
            if not frontier or len(seen) >= MAX_RECURSIVE:
                break
        found = [e for e in seen.values() if after is None or e.stream_pos > after]
        return sorted(found, key=lambda e: e.stream_pos, reverse=q.backwards)

    async def threads(
        self,
        requester: Requester,
        room_id: str,
        *,
        include: Literal["all", "participated"],
        limit: int,
        from_token: str | None,
    ) -> dict[str, Any]:
        limit = max(1, min(limit, MAX_LIMIT))
        before = parse_position(from_token) if from_token is not None else None
        async with self._db.read() as conn:
            view = await self._reader.checked_view(conn, requester, room_id)
            rows = await relation_store.threads(
                conn,
                room_id,
                before=before,
                upto=view.upto,
                limit=limit + 1,
                participant=requester.user_id if include == "participated" else None,
            )
            page = rows[:limit]
            roots = await event_store.get_events(conn, (r.thread_id for r in page))
            events = [roots[r.thread_id] for r in page if r.thread_id in roots]
            body: dict[str, Any] = {"chunk": await self._serialise(conn, requester, events, view)}
        if len(rows) > limit and page:
            body["next_batch"] = pagination_token(page[-1].latest_pos)
        return body
