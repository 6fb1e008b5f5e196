"""Audited reads of protected content, aggregated per user, room and time window.

Every read of a room's timeline (``/messages``, ``/context``, ``/event``, ``/sync``) calls
:meth:`ReadAudit.note` once per request with how many events of each room it returned: a dict
update in memory, no database work. :meth:`ReadAudit.flush` (a background task each minute,
and at shutdown) turns the counts of ended windows into ONE audit row per user, room and
window (action ``content.read``), for rooms whose label is ``audit_reads_from`` or higher at
flush time; reads of lower rooms are dropped there. The label is looked up once per room and
flush, not per request.

Each node counts its own requests, so a user whose requests are spread over several nodes
gets one row per node and window. A node that dies loses its counts of the current window
(at most ``audit_reads_window_s`` of reads); a clean shutdown flushes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.classification import room_label
from tumar.policy.labels import at_least
from tumar.store import audit as audit_store
from tumar.store import directory as directory_store
from tumar.store.db import Database
from tumar.store.json import dumps

ACTION = "content.read"
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Count:
    events: int = 0
    requests: int = 0


Key = tuple[str, str, int]  # user, room, window start (ms)


class ReadAudit:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._window_ms = settings.audit_reads_window_s * 1000
        self._counts: dict[Key, _Count] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._settings.audit_reads_from)

    def note(self, user_id: str, rooms: Mapping[str, int]) -> None:
        """Count one request of ``user_id`` that returned ``rooms[room_id]`` timeline events."""
        if not self.enabled:
            return
        now = self._clock.now_ms()
        window = now - now % self._window_ms
        for room_id, events in rooms.items():
            if events > 0:
                count = self._counts.get((user_id, room_id, window))
                if count is None:
                    count = self._counts[(user_id, room_id, window)] = _Count()
                count.events += events
                count.requests += 1

    def note_sync(self, user_id: str, response: Mapping[str, Any]) -> None:
        """:meth:`note` for a ``/sync`` response: the timeline events of joined and left rooms."""
        rooms = response.get("rooms")
        if not self.enabled or not isinstance(rooms, Mapping):
            return
        counts: dict[str, int] = {}
        for section in ("join", "leave"):
            for room_id, room in (rooms.get(section) or {}).items():
                events = (room.get("timeline") or {}).get("events") or ()
                if events:
                    counts[room_id] = counts.get(room_id, 0) + len(events)
        self.note(user_id, counts)

    @property
    def pending(self) -> int:
        return len(self._counts)

    async def flush(self, *, everything: bool = False) -> int:
        """Write the rows of ended windows (``everything``: of every window, at shutdown).
        Returns how many rows were written."""
        now = self._clock.now_ms()
        due = [k for k in self._counts if everything or k[2] + self._window_ms <= now]
        if not due:
            return 0
        taken = {k: self._counts.pop(k) for k in due}
        try:
            return await self._write(taken, now)
        except BaseException:
            for key, count in taken.items():  # try again at the next flush
                merged = self._counts.setdefault(key, _Count())
                merged.events += count.events
                merged.requests += count.requests
            raise

    async def _write(self, taken: Mapping[Key, _Count], now: int) -> int:
        labels = self._settings.classification_labels
        floor = self._settings.audit_reads_from
        async with self._db.read() as conn:
            room_labels = {
                room: await room_label(conn, room, self._settings.classification_default_room)
                for room in {k[1] for k in taken}
            }
            orgs = await _org_codes(conn, {k[0] for k in taken})
        rows = []
        for (user, room, window), count in sorted(taken.items()):
            label = room_labels[room]
            if not at_least(label, floor, labels):
                continue
            rows.append(
                {
                    "ts": min(now, window + self._window_ms),
                    "actor": user,
                    "action": ACTION,
                    "target_type": "room",
                    "target_id": room,
                    "org_code": orgs.get(user),
                    "ip": None,
                    "before": None,
                    "after": dumps(
                        {
                            "label": label,
                            "window_start": window,
                            "window_s": self._window_ms // 1000,
                            "events": count.events,
                            "requests": count.requests,
                        }
                    ),
                }
            )
        if rows:
            async with self._db.write() as conn:
                await audit_store.insert_entries(conn, rows)
        return len(rows)

    # ---- the background task -----------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._counts:
            try:
                await self.flush(everything=True)
            except Exception:
                log.exception("could not write the last read-audit rows")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(60)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("read-audit flush failed")


async def _org_codes(conn: Any, users: Iterable[str]) -> dict[str, str]:
    out = {}
    for user in users:
        person = await directory_store.person_by_user(conn, user)
        if person is not None:
            out[user] = person.org_code
    return out
