"""Lazy delivery of government notifications into each recipient's notice room.

Sending stores the notification once and rings one doorbell for its audience; nothing is
written per recipient. The events appear when a recipient next syncs (or opens the inbox):
:meth:`NoticeDelivery.ensure` runs before every ``/sync`` builds its answer.

- **Fast path** (every sync, no I/O): this node keeps the live notifications (sent within
  ``gov_notices_delivery_days``) in memory with a token that changes whenever one of them
  changes, and remembers per user the token they were last checked at. Same token, checked
  recently: nothing to do.
- **Check** (once per user and change): one read of the user's directory entry (and roles, if
  an audience uses roles) and of their delivery rows; :func:`due` decides per notification
  whether to deliver it, to edit it (a correction or the withdrawal), or to remind.
- **Materialise**: users with work are queued; one worker writes a batch of up to
  ``gov_notices_batch_size`` users in ONE transaction through ``RoomService.append_one`` (the
  one path that writes events), records the delivery rows in the same transaction, and rings
  one doorbell. A user without a notice room (or who left it) goes through
  ``ServerNotices.send``, which creates or re-joins the room.

Reactions with a configured key on a delivered notice acknowledge it (:meth:`on_event`, a
hook of the room writer, in the reaction's own transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.gov_notices_content import edit_content, notice_content, reminder_content
from tumar.core.rooms import POWER_LEVELS, NewEvent, RoomBatch, RoomService
from tumar.core.server_notices import ServerNotices
from tumar.policy.audience import PersonFacts, matches
from tumar.store import events as event_store
from tumar.store import gov_notices as store
from tumar.store import server_notices as notice_room_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent
from tumar.store.gov_notices import Candidate, Delivery, Notice

log = logging.getLogger(__name__)
MARKER = "kz.tumar.notices"  # in Doorbell.rooms: "notifications changed, reload them"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # deliver | edit | remind
    notice: Notice


def due(n: Notice, cand: Candidate, have: Delivery | None, now_ms: int) -> Action | None:
    """What one user needs of one live notification (pure)."""
    if have is None:
        if n.status != "sent" or n.sent_ts is None:
            return None  # withdrawn before it reached them: they never see it
        facts = PersonFacts(cand.person_id, cand.org_path, cand.kind, cand.status, cand.roles)
        if not matches(n.plan, facts):
            return None
        # A late joiner gets what still awaits acknowledgement, until the deadline.
        late = cand.created_ts > n.sent_ts
        if late and (not n.ack_required or (n.deadline_ts is not None and now_ms > n.deadline_ts)):
            return None
        return Action("deliver", n)
    if have.version < n.version:
        return Action("edit", n)
    if (
        n.status == "sent"
        and n.ack_required
        and have.ack_ts is None
        and have.remind_round < n.remind_round
    ):
        return Action("remind", n)
    return None


def normalise_key(key: str) -> str:
    """Reaction keys without variation selectors and skin tones (``👍🏽`` counts as ``👍``)."""
    return "".join(
        c
        for c in unicodedata.normalize("NFC", key)
        if c not in ("\ufe0f", "\ufe0e") and not 0x1F3FB <= ord(c) <= 0x1F3FF
    )


@dataclass
class _Job:
    user_id: str
    cand: Candidate
    future: asyncio.Future[None]
    slow_done: bool = False


@dataclass
class _Live:
    notices: list[Notice] = field(default_factory=list)
    token: tuple[int, int] = (0, 0)
    loaded_at: float = -1e18
    uses_roles: bool = False


class NoticeDelivery:
    def __init__(
        self,
        db: Database,
        rooms: RoomService,
        notices: ServerNotices,
        bus: Bus,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._notices = notices
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._live = _Live()
        self._stale = True
        self._loading: asyncio.Task[None] | None = None
        self._checked: dict[str, tuple[tuple[int, int], float]] = {}
        self._jobs: dict[str, _Job] = {}
        self._worker: asyncio.Task[None] | None = None
        self.reactions = tuple(normalise_key(k) for k in settings.gov_notices_ack_reactions)
        self.shown_reactions = tuple(settings.gov_notices_ack_reactions)
        bus.subscribe(self._on_doorbell)

    # ---- the live set -------------------------------------------------------------------------

    def _on_doorbell(self, bell: Doorbell) -> None:
        if MARKER in bell.rooms:
            self._stale = True

    def invalidate(self) -> None:
        self._stale = True

    async def _current(self) -> _Live:
        loop = asyncio.get_running_loop()
        refresh = self._settings.gov_notices_refresh_seconds
        if self._stale or loop.time() - self._live.loaded_at > refresh:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.ensure_future(self._load())
            await asyncio.shield(self._loading)
        return self._live

    async def _load(self) -> None:
        self._stale = False
        since = self._clock.now_ms() - self._settings.gov_notices_delivery_days * DAY_MS
        async with self._db.read() as conn:
            live = await store.live_notices(conn, since)
        token = (max((n.rev for n in live), default=0), len(live))
        self._live = _Live(
            notices=live,
            token=token,
            loaded_at=asyncio.get_running_loop().time(),
            uses_roles=any(n.plan.roles for n in live),
        )

    # ---- per user -----------------------------------------------------------------------------

    async def ensure(self, user_id: str) -> None:
        """Materialise whatever the user is due before their sync reads (see module doc)."""
        live = await self._current()
        if not live.notices:
            return
        now = asyncio.get_running_loop().time()
        seen = self._checked.get(user_id)
        recheck = self._settings.gov_notices_recheck_seconds
        if seen is not None and seen[0] == live.token and now - seen[1] < recheck:
            return
        job = self._jobs.get(user_id)
        if job is None:
            async with self._db.read() as conn:
                cand = await store.candidate(conn, user_id, with_roles=live.uses_roles)
                if cand is None:
                    self._remember(user_id, live.token, now)
                    return
                have = await store.deliveries_of(conn, user_id, [n.notice_id for n in live.notices])
            now_ms = self._clock.now_ms()
            if not any(due(n, cand, have.get(n.notice_id), now_ms) for n in live.notices):
                self._remember(user_id, live.token, now)
                return
            job = self._jobs.get(user_id)  # another request of this user may have queued it
            if job is None:
                job = _Job(user_id, cand, asyncio.get_running_loop().create_future())
                self._jobs[user_id] = job
                if self._worker is None or self._worker.done():
                    self._worker = asyncio.ensure_future(self._work())
        await asyncio.shield(job.future)
        self._remember(user_id, live.token, now)

    async def before_sync(self, user_id: str) -> None:
        """:meth:`ensure` for ``/sync``: a failure to deliver notifications is logged and the
        sync answers without them (the next sync tries again)."""
        try:
            await self.ensure(user_id)
        except Exception:  # the sync itself must not fail for this
            log.exception("notification delivery failed; the next sync retries")

    def _remember(self, user_id: str, token: tuple[int, int], now: float) -> None:
        if len(self._checked) > 1_000_000:
            self._checked.clear()
        self._checked[user_id] = (token, now)

    def forget(self, user_id: str | None = None) -> None:
        """Check the user (or everyone) again on their next sync (their directory entry
        changed, say)."""
        if user_id is None:
            self._checked.clear()
        else:
            self._checked.pop(user_id, None)

    # ---- the writer ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while self._jobs:
            size = self._settings.gov_notices_batch_size
            batch = [self._jobs[u] for u in sorted(self._jobs)[:size]]
            try:
                await self._write_batch(batch)
                failed: BaseException | None = None
            except Exception as exc:
                log.exception("notice delivery batch failed")
                failed = exc
            for job in batch:
                self._jobs.pop(job.user_id, None)
                if not job.future.done():
                    if failed is None:
                        job.future.set_result(None)
                    else:
                        job.future.set_exception(failed)
                        job.future.exception()  # retrieved: no "never retrieved" warning

    async def _write_batch(self, batch: Sequence[_Job]) -> None:
        live = self._live.notices
        ids = [n.notice_id for n in live]
        # Users whose notice room is missing or who left it: through ServerNotices first.
        async with self._db.read() as conn:
            rooms = await store.notice_rooms(conn, [job.user_id for job in batch])
        for job in batch:
            if rooms[job.user_id] is None:
                await self._first_delivery(job, ids)
                async with self._db.read() as conn:
                    rooms[job.user_id] = await notice_room_store.notice_room(conn, job.user_id)
        users: set[str] = set()
        last_pos = 0
        async with self._db.write() as conn:
            now_ms = self._clock.now_ms()
            for job in sorted(batch, key=lambda j: rooms[j.user_id] or ""):
                room_id = rooms[job.user_id]
                if room_id is None or not await self._db.lock_room(conn, room_id):
                    continue
                have = await store.deliveries_of(conn, job.user_id, ids)
                rb = RoomBatch(conn, room_id)
                await self._allow_reactions(rb)
                for n in live:
                    action = due(n, job.cand, have.get(n.notice_id), now_ms)
                    if action is not None:
                        await self._apply(rb, job, action, have.get(n.notice_id), now_ms)
                if rb.written:
                    users.add(job.user_id)
                    last_pos = max(last_pos, rb.written[-1].stream_pos)
        if users:
            await self._bus.publish(Doorbell(position=last_pos, users=frozenset(users)))

    async def _allow_reactions(self, rb: RoomBatch) -> None:
        """Recipients acknowledge by reacting: power level 0 for ``m.reaction`` (rooms made
        before notifications existed do not have it)."""
        await rb.load([POWER_LEVELS])
        levels = rb.state.get(POWER_LEVELS)
        if levels is None:
            return
        events = dict(levels.content.get("events") or {})
        if events.get("m.reaction") == 0:
            return
        events["m.reaction"] = 0
        content = {**levels.content, "events": events}
        await self._rooms.append_one(
            rb, self._notices.system_user_id, NewEvent("m.room.power_levels", content, "")
        )

    async def _apply(
        self, rb: RoomBatch, job: _Job, action: Action, have: Delivery | None, now_ms: int
    ) -> None:
        n = action.notice
        system = self._notices.system_user_id
        if action.kind == "deliver":
            ev = await self._rooms.append_one(
                rb, system, NewEvent("m.room.message", notice_content(n, self.shown_reactions))
            )
            await store.insert_delivery(rb.conn, _new_delivery(n, job, ev, now_ms))
            return
        assert have is not None
        if action.kind == "edit":
            content = edit_content(n, have.event_id, self.shown_reactions)
            await self._rooms.append_one(rb, system, NewEvent("m.room.message", content))
            await store.update_delivery(
                rb.conn, n.notice_id, job.user_id, version=n.version, remind_round=n.remind_round
            )
        else:
            content = reminder_content(n, have.event_id, self.shown_reactions, n.remind_round)
            await self._rooms.append_one(rb, system, NewEvent("m.room.message", content))
            await store.update_delivery(
                rb.conn, n.notice_id, job.user_id, remind_round=n.remind_round
            )

    async def _first_delivery(self, job: _Job, ids: list[str]) -> None:
        """The first due notification through ``ServerNotices.send`` (which creates the room
        or invites the user back), recorded in the same transaction; the rest follow in the
        batch."""
        now_ms = self._clock.now_ms()
        async with self._db.read() as conn:
            have = await store.deliveries_of(conn, job.user_id, ids)
        for n in self._live.notices:
            action = due(n, job.cand, have.get(n.notice_id), now_ms)
            if action is None or action.kind != "deliver":
                continue

            async def record(conn: AsyncConnection, n: Notice = n) -> None:
                # Runs after the message, in its transaction (the room is locked): the newest
                # message of the room is ours.
                if await store.delivery(conn, n.notice_id, job.user_id) is not None:
                    raise _AlreadyDelivered
                room_id = await notice_room_store.notice_room(conn, job.user_id)
                assert room_id is not None
                newest = await event_store.room_timeline(
                    conn, room_id, backwards=True, limit=1, types=["m.room.message"]
                )
                await store.insert_delivery(conn, _new_delivery(n, job, newest[0], now_ms))

            content = notice_content(n, self.shown_reactions)
            with contextlib.suppress(_AlreadyDelivered):  # a concurrent sync was first
                await self._notices.send(job.user_id, content, also=record)
            return

    # ---- acknowledgement by reaction ----------------------------------------------------------

    async def on_event(self, conn: AsyncConnection, ev: StoredEvent) -> None:
        """Hook of the room writer, in the event's transaction: a reaction with an
        acknowledgement key on a delivered notice acknowledges it."""
        if ev.type != "m.reaction":
            return
        relates = ev.content.get("m.relates_to")
        if not isinstance(relates, dict) or relates.get("rel_type") != "m.annotation":
            return
        key, target = relates.get("key"), relates.get("event_id")
        if not isinstance(key, str) or not isinstance(target, str):
            return
        if normalise_key(key) not in self.reactions:
            return
        d = await store.delivery_by_event(conn, target)
        if d is None or d.user_id != ev.sender or d.room_id != ev.room_id or d.ack_ts is not None:
            return
        n = await store.get_notice(conn, d.notice_id)
        if n is None or n.status != "sent" or not n.ack_required:
            return
        now = self._clock.now_ms()
        await store.update_delivery(
            conn, d.notice_id, d.user_id, ack_ts=now, ack_via="reaction", read_ts=d.read_ts or now
        )


class _AlreadyDelivered(Exception):
    """Raised inside ServerNotices.send's transaction to roll it back."""


def _new_delivery(n: Notice, job: _Job, ev: StoredEvent, now_ms: int) -> Delivery:
    return Delivery(
        notice_id=n.notice_id,
        user_id=job.user_id,
        person_id=job.cand.person_id,
        room_id=ev.room_id,
        event_id=ev.event_id,
        stream_pos=ev.stream_pos,
        delivered_ts=now_ms,
        version=n.version,
        remind_round=n.remind_round,
        read_ts=None,
        ack_ts=None,
        ack_via=None,
    )
