"""Account data, receipts, read markers and stored filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.core.requester import Requester
from tumar.errors import MatrixError, bad_json, forbidden, not_found
from tumar.ids import RoomId
from tumar.policy.filters import Filter, FilterError, filter_to_json, parse_filter
from tumar.store import events as event_store
from tumar.store import relations as relation_store
from tumar.store import userdata as data_store
from tumar.store.db import Database
from tumar.store.userdata import Receipt

RECEIPT_TYPES = ("m.read", "m.read.private")
FILTER_CACHE_SIZE = 10_000
NO_FILTER = parse_filter({})
"""A sync without a filter (frozen, so one serves every request; parsing took 3 % of a woken
/sync)."""
SERVER_MANAGED_ACCOUNT_DATA = ("m.fully_read", "m.push_rules")


class UserDataService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._filters: dict[tuple[str, str], Filter] = {}

    async def do_put_account_data(
        self,
        requester: Requester,
        type_: str,
        content: Mapping[str, Any],
        room_id: str = "",
    ) -> None:
        if type_ in SERVER_MANAGED_ACCOUNT_DATA:
            raise MatrixError(
                400, "M_BAD_JSON", f"{type_} is managed by the server and cannot be set here."
            )
        if len(orjson.dumps(content)) > 65_536:
            raise MatrixError(413, "M_TOO_LARGE", "Account data is limited to 64 KiB.")
        async with self._db.write() as conn:
            if room_id:
                await self._check_member(conn, requester.user_id, room_id)
            pos = await self._db.allocate_positions(conn)
            await data_store.put_account_data(conn, requester.user_id, room_id, type_, content, pos)
        await self._bus.publish(Doorbell(position=pos, users=frozenset({requester.user_id})))

    async def get_account_data(
        self, requester: Requester, type_: str, room_id: str = ""
    ) -> Mapping[str, Any]:
        async with self._db.read() as conn:
            found = await data_store.get_account_data(conn, requester.user_id, room_id, type_)
        if found is None:
            raise not_found("No account data of that type.")
        return found

    async def _check_member(self, conn: Any, user_id: str, room_id: str) -> list[str]:
        RoomId.parse(room_id)
        members = await event_store.room_members(conn, room_id, ("join",))
        if user_id not in members:
            raise forbidden("You are not in this room.")
        return members

    async def do_receipt(
        self,
        requester: Requester,
        room_id: str,
        receipt_type: str,
        event_id: str,
        thread_id: str = "",
    ) -> None:
        await self.do_read_markers(requester, room_id, {receipt_type: event_id}, thread_id)

    async def do_read_markers(
        self,
        requester: Requester,
        room_id: str,
        markers: Mapping[str, str],
        thread_id: str = "",
    ) -> None:
        """Set receipts (``m.read``, ``m.read.private``) and the ``m.fully_read`` marker in
        one transaction: either every marker is valid and set, or nothing changes."""
        for marker_type in markers:
            if marker_type not in (*RECEIPT_TYPES, "m.fully_read"):
                raise MatrixError(400, "M_INVALID_PARAM", f"Unknown receipt type {marker_type!r}.")
            if thread_id and marker_type == "m.fully_read":
                raise MatrixError(400, "M_INVALID_PARAM", "m.fully_read takes no `thread_id`.")
        if not markers:
            return
        user = requester.user_id
        async with self._db.write() as conn:
            members = await self._check_member(conn, user, room_id)
            found = await event_store.get_events(conn, markers.values())
            for event_id in markers.values():
                event = found.get(event_id)
                if event is None or event.room_id != room_id:
                    raise not_found("No such event in this room.")
                if thread_id:
                    await _check_thread(conn, event_id, thread_id)
            last = await self._db.allocate_positions(conn, len(markers))
            now = self._clock.now_ms()
            for pos, (marker_type, event_id) in enumerate(markers.items(), last - len(markers) + 1):
                if marker_type == "m.fully_read":
                    await data_store.put_account_data(
                        conn, user, room_id, "m.fully_read", {"event_id": event_id}, pos
                    )
                else:
                    await data_store.put_receipt(
                        conn, Receipt(room_id, marker_type, user, thread_id, event_id, now, pos)
                    )
        # Only a public receipt concerns the other members.
        users = frozenset(members) if "m.read" in markers else frozenset({user})
        await self._bus.publish(Doorbell(position=last, users=users))

    async def do_create_filter(self, requester: Requester, raw: object) -> str:
        try:
            parsed = parse_filter(raw)
        except FilterError as exc:
            raise bad_json(str(exc)) from None
        text = orjson.dumps(filter_to_json(parsed)).decode()
        async with self._db.write() as conn:
            await self._db.lock_user(conn, requester.user_id)  # ids are per user: max + 1
            filter_id = await data_store.insert_filter(conn, requester.user_id, text)
        return str(filter_id)

    async def get_filter_json(self, user_id: str, filter_id: str) -> dict[str, Any]:
        if not filter_id.isdigit() or len(filter_id) > 9:
            raise not_found("No such filter.")
        async with self._db.read() as conn:
            text = await data_store.get_filter(conn, user_id, int(filter_id))
        if text is None:
            raise not_found("No such filter.")
        value = orjson.loads(text)
        assert isinstance(value, dict)
        return value

    async def resolve_filter(self, requester: Requester, value: str | None) -> Filter:
        """``/sync``'s ``filter``: a stored filter id or inline JSON."""
        if value is None:
            return NO_FILTER
        if value.startswith("{"):
            try:
                return parse_filter(orjson.loads(value))
            except orjson.JSONDecodeError:
                raise bad_json("The filter is not valid JSON.") from None
            except FilterError as exc:
                raise bad_json(str(exc)) from None
        key = (requester.user_id, value)
        cached = self._filters.get(key)
        if cached is not None:
            return cached
        try:
            parsed = parse_filter(await self.get_filter_json(requester.user_id, value))
        except FilterError as exc:
            raise bad_json(str(exc)) from None
        if len(self._filters) >= FILTER_CACHE_SIZE:
            self._filters.pop(next(iter(self._filters)))
        self._filters[key] = parsed  # stored filters never change, so this never goes stale
        return parsed


async def _check_thread(conn: Any, event_id: str, thread_id: str) -> None:
    """A threaded receipt must point into its thread (MSC3771): ``main`` takes events of the
    main timeline, a thread root takes the root itself and the thread's events."""
    thread = await relation_store.thread_of_event(conn, event_id)
    if thread_id == "main" and thread is None:
        return
    if thread_id != "main" and (thread == thread_id or event_id == thread_id):
        return
    raise MatrixError(
        400, "M_INVALID_PARAM", f"The event {event_id} is not in the thread {thread_id}."
    )
