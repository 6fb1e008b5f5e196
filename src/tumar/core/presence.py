"""Presence: stored per user, delivered in ``/sync`` to the people who share a room with them,
readable through ``/presence``. The only writer of presence.

A change of state or status message takes a stream position and rings the room-mates'
doorbell. Mere activity (a sync) only refreshes ``last_active_ts``, at most once a minute, and
tells nobody: a node collects the refreshes of its users and writes them together in one
transaction at most every ``FLUSH_TOUCHES_MS``, so syncs do not queue one write each behind the
database writer. Clients show "last seen" from ``last_active_ago``. Nothing times a user out on
the server: an ``online`` user whose clients stopped syncing reads as ``unavailable`` after
``IDLE_MS`` and ``offline`` after ``GONE_MS``, computed when read.
"""

from __future__ import annotations

from typing import Any

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.requester import Requester
from tumar.errors import MatrixError, bad_json, forbidden
from tumar.ids import UserId
from tumar.store import accounts as account_store
from tumar.store import presence as presence_store
from tumar.store.db import Database
from tumar.store.presence import Presence

STATES = ("online", "unavailable", "offline")
MAX_STATUS_MSG = 1_000
TOUCH_EVERY_MS = 60_000
FLUSH_TOUCHES_MS = 10_000
ACTIVE_MS = 60_000  # currently_active: seen within the last minute
IDLE_MS = 5 * 60_000
GONE_MS = 30 * 60_000
MAX_DELIVERED = 500  # presence events per sync
MAX_REMEMBERED = 100_000


class PresenceService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self.enabled = settings.presence_enabled
        # user -> (state, when this node last wrote or read it): a syncing client that stays
        # in the same state costs no statement until TOUCH_EVERY_MS has passed.
        self._recent: dict[str, tuple[str, int]] = {}
        self._touches: dict[str, int] = {}  # activity not written yet (user -> when)
        self._flushed_at = -(2**62)
        self._flushing = False

    async def do_set(
        self, requester: Requester, user_id: str, state: object, status_msg: object = None
    ) -> None:
        UserId.parse(user_id)
        if user_id != requester.user_id:
            raise forbidden("You can only set your own presence.")
        if state not in STATES:
            raise bad_json("`presence` must be online, unavailable or offline.")
        if status_msg is not None and (
            not isinstance(status_msg, str) or len(status_msg) > MAX_STATUS_MSG
        ):
            raise bad_json(f"`status_msg` must be a string of at most {MAX_STATUS_MSG} characters.")
        if not self.enabled:
            return
        await self._write(user_id, str(state), status_msg, keep_status=False)

    async def do_sync_presence(self, requester: Requester, set_presence: str | None) -> None:
        """``/sync?set_presence=``: a syncing client is online unless it says otherwise
        (``offline``: the sync does not mark the user online)."""
        if not self.enabled or set_presence == "offline":
            return
        state = set_presence or "online"
        now = self._clock.now_ms()
        user = requester.user_id
        recent = self._recent.get(user)
        if recent is not None and recent[0] == state and now - recent[1] < TOUCH_EVERY_MS:
            return
        async with self._db.read(quick=True, snapshot=False) as conn:
            current = await presence_store.get(conn, user)
        if current is not None and current.state == state:
            if now - current.last_active_ts >= TOUCH_EVERY_MS:
                self._touches[user] = now
                await self._flush_touches(now)
            self._remember(user, state, now)
            return
        await self._write(user, state, None, keep_status=True)

    async def _flush_touches(self, now: int) -> None:
        """Activity refreshes of this node's users, written together in one transaction at
        most every ``FLUSH_TOUCHES_MS`` (by the sync that finds the interval over), not one
        write per syncing user."""
        if self._flushing or now - self._flushed_at < FLUSH_TOUCHES_MS:
            return
        self._flushing = True
        try:
            touches, self._touches = self._touches, {}
            async with self._db.write() as conn:
                await presence_store.touch(conn, touches)
            self._flushed_at = now
        finally:
            self._flushing = False

    def _remember(self, user_id: str, state: str, now: int) -> None:
        if len(self._recent) >= MAX_REMEMBERED:
            self._recent.clear()
        self._recent[user_id] = (state, now)

    async def _write(
        self, user_id: str, state: str, status_msg: object, *, keep_status: bool
    ) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            current = await presence_store.get(conn, user_id)
            message = status_msg if isinstance(status_msg, str) else None
            if keep_status and current is not None:
                message = current.status_msg
            pos = await self._db.allocate_positions(conn)
            await presence_store.put(conn, Presence(user_id, state, message, now, pos))
            mates = await presence_store.room_mates(conn, user_id)
        self._remember(user_id, state, now)
        await self._bus.publish(Doorbell(position=pos, users=frozenset(mates)))

    async def get(self, requester: Requester, user_id: str) -> dict[str, Any]:
        UserId.parse(user_id)
        async with self._db.read() as conn:
            if user_id != requester.user_id:
                if await account_store.get_user(conn, user_id) is None:
                    raise MatrixError(404, "M_NOT_FOUND", "There is no such user.")
                if user_id not in await presence_store.room_mates(conn, requester.user_id):
                    raise forbidden(
                        "You can only see the presence of people you share a room with."
                    )
            found = await presence_store.get(conn, user_id) if self.enabled else None
        if found is None:
            return {"presence": "offline"}
        return self.content(found)

    def content(self, p: Presence) -> dict[str, Any]:
        ago = max(0, self._clock.now_ms() - p.last_active_ts)
        state = p.state
        if state == "online" and ago >= GONE_MS:
            state = "offline"
        elif state == "online" and ago >= IDLE_MS:
            state = "unavailable"
        out: dict[str, Any] = {
            "presence": state,
            "last_active_ago": ago,
            "currently_active": state == "online" and ago < ACTIVE_MS,
        }
        if p.status_msg is not None:
            out["status_msg"] = p.status_msg
        return out

    async def sync_events(
        self, conn: Any, user_id: str, after: int | None, upto: int
    ) -> list[dict[str, Any]]:
        """``m.presence`` events for ``/sync``: the user's and their room-mates' presence that
        changed in (after, upto] (all of it in an initial sync)."""
        if not self.enabled:
            return []
        found = await presence_store.changed_for(conn, user_id, after, upto, MAX_DELIVERED)
        return [
            {"type": "m.presence", "sender": p.user_id, "content": self.content(p)}
            for p in sorted(found, key=lambda p: p.stream_pos)
        ]
