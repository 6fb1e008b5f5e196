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
from tumar.store import userdata as data_store
from tumar.store.db import Database
from tumar.store.userdata import Receipt

RECEIPT_TYPES = ("m.read", "m.read.private")
FILTER_CACHE_SIZE = 10_000
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
        *,
        server_managed: bool = False,
    ) -> None:
        if not server_managed and type_ in SERVER_MANAGED_ACCOUNT_DATA:
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
        if receipt_type == "m.fully_read":
            await self.check_receipt(requester, room_id, receipt_type, event_id)
            await self.do_put_account_data(
                requester, "m.fully_read", {"event_id": event_id}, room_id, server_managed=True
            )
            return
        if receipt_type not in RECEIPT_TYPES:
            raise MatrixError(400, "M_INVALID_PARAM", f"Unknown receipt type {receipt_type!r}.")
        async with self._db.write() as conn:
            members = await self._check_member(conn, requester.user_id, room_id)
            event = await event_store.get_event(conn, event_id)
            if event is None or event.room_id != room_id:
                raise not_found("No such event in this room.")
            pos = await self._db.allocate_positions(conn)
            await data_store.put_receipt(
                conn,
                Receipt(
                    room_id,
                    receipt_type,
                    requester.user_id,
                    thread_id,
                    event_id,
                    self._clock.now_ms(),
                    pos,
                ),
            )
        users = frozenset(members) if receipt_type == "m.read" else frozenset({requester.user_id})
        await self._bus.publish(Doorbell(position=pos, users=users))

    async def check_receipt(
        self, requester: Requester, room_id: str, receipt_type: str, event_id: str
    ) -> None:
        """Refuse what :meth:`do_receipt` would refuse, without writing anything: read markers
        check every marker of a request before setting any."""
        if receipt_type not in (*RECEIPT_TYPES, "m.fully_read"):
            raise MatrixError(400, "M_INVALID_PARAM", f"Unknown receipt type {receipt_type!r}.")
        async with self._db.read() as conn:
            await self._check_member(conn, requester.user_id, room_id)
            event = await event_store.get_event(conn, event_id)
        if event is None or event.room_id != room_id:
            raise not_found("No such event in this room.")

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
            return parse_filter({})
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
