"""Reporting events and rooms to the server's moderators (``/rooms/{roomId}/report``).

A reporter must be able to see the event they report (the same visibility as reading it);
anything else is answered 404, so reports reveal nothing about rooms one cannot read.
"""

from __future__ import annotations

from tumar.clock import Clock
from tumar.core.reading import RoomReader
from tumar.core.requester import Requester
from tumar.errors import MatrixError, bad_json, not_found
from tumar.store import events as event_store
from tumar.store import reports as report_store
from tumar.store import rooms as room_store
from tumar.store.db import Database
from tumar.store.reports import Report

MAX_REASON = 1_000


def _check_reason(reason: object, *, required: bool) -> str | None:
    if reason is None and not required:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise bad_json(f"`reason` must be a string of at most {MAX_REASON} characters.")
    return reason


class ReportService:
    def __init__(self, db: Database, clock: Clock, reader: RoomReader) -> None:
        self._db = db
        self._clock = clock
        self._reader = reader

    async def do_report_event(
        self, requester: Requester, room_id: str, event_id: str, reason: object, score: object
    ) -> None:
        text = _check_reason(reason, required=False)
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int) or not -100 <= score <= 0
        ):
            raise bad_json("`score` must be an integer from -100 (worst) to 0.")
        async with self._db.write() as conn:
            try:
                view = await self._reader.view(conn, requester.user_id, room_id)
            except MatrixError:
                raise not_found("There is no such event, or you cannot see it.") from None
            event = await event_store.get_event(conn, event_id)
            if (
                event is None
                or event.room_id != room_id
                or (view.upto is not None and event.stream_pos > view.upto)
            ):
                raise not_found("There is no such event, or you cannot see it.")
            await report_store.insert_report(
                conn,
                room_id=room_id,
                event_id=event_id,
                reporter=requester.user_id,
                reason=text,
                score=score if isinstance(score, int) else None,
                ts=self._clock.now_ms(),
            )

    async def do_report_room(self, requester: Requester, room_id: str, reason: object) -> None:
        """Anyone may report a room they know the id of (the spec does not ask them to be in
        it); an unknown room is 404."""
        if reason is None:
            raise MatrixError(400, "M_MISSING_PARAM", "The body needs `reason` (may be empty).")
        text = _check_reason(reason, required=True)
        async with self._db.write() as conn:
            if not await room_store.room_exists(conn, room_id):
                raise not_found("The room was not found.")
            await report_store.insert_report(
                conn,
                room_id=room_id,
                event_id=None,
                reporter=requester.user_id,
                reason=text,
                score=None,
                ts=self._clock.now_ms(),
            )

    async def list_reports(self, room_id: str | None = None) -> list[Report]:
        async with self._db.read() as conn:
            return await report_store.list_reports(conn, room_id)
