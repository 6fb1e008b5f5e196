"""Reads of room content with visibility checks: history, state, members, single events.

Visibility (history_visibility ``shared``, the default of every preset): a joined member
reads the whole room; a member who left or was banned reads up to the end of their last stay;
anyone else (also a user who was invited but never joined) reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.device_gate import DeviceGate
from tumar.core.requester import Requester
from tumar.core.serialize import client_events
from tumar.core.tokens import pagination_token, parse_position
from tumar.errors import forbidden, not_found
from tumar.ids import RoomId
from tumar.policy.filters import RoomEventFilter, event_matches
from tumar.store import events as event_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class View:
    """What a user may read of a room: events at or below ``upto`` (None: everything)."""

    room_id: str
    upto: int | None
    joined: bool


class RoomReader:
    def __init__(self, db: Database, clock: Clock, gate: DeviceGate | None = None) -> None:
        self._db = db
        self._clock = clock
        self._gate = gate  # conditional access by device (core/device_gate.py)

    async def view(self, conn: AsyncConnection, user_id: str, room_id: str) -> View:
        RoomId.parse(room_id)
        state = await event_store.current_state_map(conn, room_id, [("m.room.member", user_id)])
        member = state.get(("m.room.member", user_id))
        if member is None or member.membership in ("invite", "knock"):
            raise forbidden("You are not a member of this room.")
        if member.membership == "join":
            return View(room_id, None, True)
        stay = await event_store.last_stay(conn, room_id, user_id, member.stream_pos)
        if stay is None:
            raise forbidden("You are not a member of this room.")
        return View(room_id, stay[1], False)

    async def checked_view(self, conn: AsyncConnection, requester: Requester, room_id: str) -> View:
        """:meth:`view`, then conditional access: 403 ``TUMAR_DEVICE_NOT_COMPLIANT`` when the
        room's label needs a compliant device that this session does not have."""
        view = await self.view(conn, requester.user_id, room_id)
        if self._gate is not None:
            await self._gate.check_room(conn, requester, room_id)
        return view

    async def _serialise(
        self,
        conn: AsyncConnection,
        requester: Requester,
        events: list[StoredEvent],
        upto: int | None = None,
    ) -> list[dict[str, Any]]:
        """Client events with their bundled aggregations, counting children at or below
        ``upto`` (the end of what the requester may see; None: everything)."""
        return await client_events(
            conn,
            events,
            now_ms=self._clock.now_ms(),
            viewer_user=requester.user_id,
            viewer_device=requester.device_id,
            aggregate=True,
            visible_upto=upto,
        )

    async def messages(
        self,
        requester: Requester,
        room_id: str,
        *,
        from_token: str | None,
        to_token: str | None,
        backwards: bool,
        limit: int,
        flt: RoomEventFilter,
    ) -> dict[str, Any]:
        limit = max(0, min(limit, MAX_PAGE))
        async with self._db.read(quick=True) as conn:
            view = await self.checked_view(conn, requester, room_id)
            current = await self._db.current_position(conn)
            ceiling = current if view.upto is None else view.upto
            if from_token is not None:
                start = parse_position(from_token)
            else:
                start = ceiling if backwards else 0
            bound = parse_position(to_token) if to_token is not None else None
            if backwards:
                upto = min(start, ceiling)
                after = bound
            else:
                after = start
                upto = ceiling if bound is None else min(bound, ceiling)
            events = await event_store.room_timeline(
                conn, room_id, after=after, upto=upto, backwards=backwards, limit=limit
            )
            chunk = [e for e in events if _matches(flt, e)]
            body: dict[str, Any] = {
                "start": from_token or pagination_token(start),
                "chunk": await self._serialise(conn, requester, chunk, view.upto),
            }
            if len(events) == limit and limit > 0:
                last = events[-1].stream_pos
                body["end"] = pagination_token(last - 1 if backwards else last)
            if flt.lazy_load_members and chunk:
                senders = {e.sender for e in chunk}
                members = await event_store.current_state_events(
                    conn, room_id, keys=[("m.room.member", s) for s in senders]
                )
                body["state"] = await self._serialise(conn, requester, members)
        return body

    async def state(self, requester: Requester, room_id: str) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            view = await self.checked_view(conn, requester, room_id)
            events = await self._state_events(conn, view)
            return await self._serialise(conn, requester, events)

    async def _state_events(self, conn: AsyncConnection, view: View) -> list[StoredEvent]:
        if view.upto is None:
            return await event_store.current_state_events(conn, view.room_id)
        return await event_store.state_before(conn, view.room_id, view.upto + 1)

    async def state_event(
        self, requester: Requester, room_id: str, event_type: str, state_key: str
    ) -> StoredEvent:
        async with self._db.read(quick=True) as conn:
            view = await self.checked_view(conn, requester, room_id)
            if view.upto is None:
                found = await event_store.current_state_map(
                    conn, room_id, [(event_type, state_key)]
                )
                event = found.get((event_type, state_key))
            else:
                event = next(
                    (
                        e
                        for e in await self._state_events(conn, view)
                        if e.type == event_type and e.state_key == state_key
                    ),
                    None,
                )
        if event is None:
            raise not_found("The room has no state event of that type and key.")
        return event

    async def members(
        self,
        requester: Requester,
        room_id: str,
        *,
        at: str | None = None,
        membership: str | None = None,
        not_membership: str | None = None,
    ) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            view = await self.checked_view(conn, requester, room_id)
            limit_pos = view.upto
            if at is not None:
                at_pos = parse_position(at)
                limit_pos = at_pos if limit_pos is None else min(at_pos, limit_pos)
            if limit_pos is None:
                events = await event_store.current_state_events(
                    conn, room_id, types=["m.room.member"]
                )
            else:
                events = await event_store.state_before(
                    conn, room_id, limit_pos + 1, types=["m.room.member"]
                )
            events = [
                e
                for e in events
                if (membership is None or e.membership == membership)
                and (not_membership is None or e.membership != not_membership)
            ]
            return await self._serialise(conn, requester, events)

    async def joined_members(self, requester: Requester, room_id: str) -> dict[str, Any]:
        async with self._db.read() as conn:
            view = await self.checked_view(conn, requester, room_id)
            if not view.joined:
                raise forbidden("You are not a member of this room.")
            events = await event_store.current_state_events(conn, room_id, types=["m.room.member"])
        return {
            str(e.state_key): _present(
                display_name=e.content.get("displayname"), avatar_url=e.content.get("avatar_url")
            )
            for e in events
            if e.membership == "join"
        }

    async def event(self, requester: Requester, room_id: str, event_id: str) -> dict[str, Any]:
        async with self._db.read(quick=True) as conn:
            view = await self.checked_view(conn, requester, room_id)
            event = await event_store.get_event(conn, event_id)
            if (
                event is None
                or event.room_id != room_id
                or (view.upto is not None and event.stream_pos > view.upto)
            ):
                raise not_found("Event not found.")
            return (await self._serialise(conn, requester, [event], view.upto))[0]

    async def context(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        *,
        limit: int,
        flt: RoomEventFilter,
    ) -> dict[str, Any]:
        """``/context``: up to ``limit`` events around one (half before, half after), the
        state at the last of them, and tokens to paginate on with ``/messages``. The filter
        applies to the surrounding events and the state, not to the event itself."""
        limit = max(0, min(limit, MAX_PAGE))
        async with self._db.read(quick=True) as conn:
            view = await self.checked_view(conn, requester, room_id)
            event = await event_store.get_event(conn, event_id)
            if (
                event is None
                or event.room_id != room_id
                or (view.upto is not None and event.stream_pos > view.upto)
            ):
                raise not_found("Event not found.")
            ceiling = await self._db.current_position(conn) if view.upto is None else view.upto
            before = await event_store.room_timeline(
                conn, room_id, upto=event.stream_pos - 1, backwards=True, limit=limit // 2
            )
            after = await event_store.room_timeline(
                conn,
                room_id,
                after=event.stream_pos,
                upto=ceiling,
                backwards=False,
                limit=limit - limit // 2,
            )
            # Tokens and state come from the unfiltered window: paging on from them must not
            # skip what the filter left out.
            start = (before[-1].stream_pos if before else event.stream_pos) - 1
            end = after[-1].stream_pos if after else event.stream_pos
            state = await event_store.state_before(conn, room_id, end + 1)
            before = [e for e in before if _matches(flt, e)]
            after = [e for e in after if _matches(flt, e)]
            state = [e for e in state if _matches(flt, e)]
            if flt.lazy_load_members:
                senders = {e.sender for e in (*before, event, *after)}
                state = [e for e in state if e.type != "m.room.member" or e.state_key in senders]
            serialised = await self._serialise(conn, requester, [*before, event, *after], view.upto)
            return {
                "start": pagination_token(start),
                "end": pagination_token(end),
                "events_before": serialised[: len(before)],
                "event": serialised[len(before)],
                "events_after": serialised[len(before) + 1 :],
                "state": await self._serialise(conn, requester, state),
            }

    async def joined_rooms(self, requester: Requester) -> list[str]:
        async with self._db.read(quick=True) as conn:
            found = await event_store.memberships_of(conn, requester.user_id, ("join",))
        return sorted(m.room_id for m in found)


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: the spec leaves unknown ones out rather than null."""
    return {k: v for k, v in fields.items() if v is not None}


def _matches(flt: RoomEventFilter, ev: StoredEvent) -> bool:
    return event_matches(
        flt, event_type=ev.type, sender=ev.sender, room_id=ev.room_id, has_url="url" in ev.content
    )
