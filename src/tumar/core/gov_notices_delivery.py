"""Delivery of government notifications into each recipient's notice room.

Sending stores the notification once (with its audience) and rings one doorbell with a
marker; nothing is written per recipient at send time. Events are materialised in bulk:

- **Push** (connected users first): on the marker every node reloads its live notifications
  (sent or withdrawn within ``gov_notices_delivery_days``) and queues the users whose
  long-poll is parked on it (the :class:`Notifier` knows them).
- **Lazily** (everyone else): :meth:`NoticeDelivery.ensure` runs before every ``/sync`` (and
  the inbox and acknowledgement routes). Its fast path is in memory and does no I/O: the
  live notifications carry a token that changes whenever one of them changes, and the node
  remembers per user the token they were last checked at. Without live notifications it
  costs nothing either. Otherwise the user is queued and the sync waits for its batch.
- **Materialise**: one worker per node takes up to ``gov_notices_batch_size`` queued users,
  reads their directory entries, delivery rows and notice rooms in three queries, decides
  per user and notification with :func:`due` (pure) what they need (deliver, edit, remind),
  and writes the batch in ONE transaction through ``RoomService.append_trusted`` (one
  counter update for all stream positions, bulk inserts; no per-event authorisation: the
  system user is the only writer of notice rooms), creating missing notice rooms the same
  way, with the delivery rows; then one doorbell names the users.
- **Ahead** (``gov_notices_prepare_rooms``): the first ``/sync`` a node sees from a user
  queues them for a notice room (:meth:`NoticeDelivery.prepare`); the worker makes the rooms
  of people in the directory in batches when no delivery is waiting, so the first
  notification finds them.

Per-recipient rows exist only for what happened to a recipient (delivered, read,
acknowledged). Reactions with a configured key on a delivered notice acknowledge it
(:meth:`on_event`, a hook of the room writer, in the reaction's own transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.gov_notices_content import (
    attachment_content,
    edit_content,
    notice_content,
    reminder_content,
)
from tumar.core.notifier import Notifier
from tumar.core.room_creation import RoomPlan, initial_events
from tumar.core.rooms import POWER_LEVELS, NewEvent, RoomService, TrustedEvent
from tumar.core.server_notices import NOTICE_ROOM_POWER_LEVELS, SERVER_NOTICE_TAG, ServerNotices
from tumar.ids import RoomId, new_event_id
from tumar.policy.audience import PersonFacts, matches
from tumar.policy.media import referenced_media
from tumar.store import accounts as account_store
from tumar.store import events as event_store
from tumar.store import gov_notices as store
from tumar.store import server_notices as notice_room_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent
from tumar.store.gov_notices import Candidate, Delivery, Notice
from tumar.store.server_notices import NewNoticeRoom

log = logging.getLogger(__name__)
MARKER = "kz.tumar.notices"  # in Doorbell.rooms: "notifications changed, reload them"
DAY_MS = 86_400_000
PREPARE_RETRY_S = 30.0  # after a failed batch of notice rooms made ahead


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
class _Live:
    notices: list[Notice] = field(default_factory=list)
    token: tuple[int, int] = (0, 0)
    loaded_at: float = -1e18
    uses_roles: bool = False


@dataclass
class _Plan:
    """What one batch writes: trusted events, new and updated delivery rows, new rooms."""

    items: list[TrustedEvent] = field(default_factory=list)
    new_rows: list[tuple[Notice, Candidate, str]] = field(default_factory=list)
    updates: list[tuple[str, str, int, int]] = field(default_factory=list)
    users: set[str] = field(default_factory=set)


class NoticeDelivery:
    def __init__(
        self,
        db: Database,
        rooms: RoomService,
        notices: ServerNotices,
        bus: Bus,
        clock: Clock,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._notices = notices
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._notifier = notifier
        self._live = _Live()
        self._stale = True
        self._loading: asyncio.Task[None] | None = None
        self._checked: dict[str, tuple[tuple[int, int], float]] = {}
        # Queued users (in order) with the future their syncs wait on.
        self._queue: dict[str, asyncio.Future[None]] = {}
        self._worker: asyncio.Task[None] | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._push_again = False
        # Notice rooms made ahead of the first notification (see ``prepare``): users this
        # node has seen, and those queued for a room, in order.
        self._prepared: set[str] = set()
        self._unprepared: dict[str, None] = {}
        self.reactions = tuple(normalise_key(k) for k in settings.gov_notices_ack_reactions)
        self.shown_reactions = tuple(settings.gov_notices_ack_reactions)
        bus.subscribe(self._on_doorbell)

    # ---- the live set -------------------------------------------------------------------------

    def _on_doorbell(self, bell: Doorbell) -> None:
        if MARKER in bell.rooms:
            self._stale = True
            self._push_soon()

    def invalidate(self) -> None:
        self._stale = True

    async def _current(self) -> _Live:
        loop = asyncio.get_running_loop()
        refresh = self._settings.gov_notices_refresh_seconds
        idle = self._loading is None or self._loading.done()
        if idle and (self._stale or loop.time() - self._live.loaded_at > refresh):
            self._loading = asyncio.ensure_future(self._load())
        if self._loading is not None and not self._loading.done():
            await asyncio.shield(self._loading)  # started by another caller after a change
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

    # ---- push to the connected ----------------------------------------------------------------

    def _push_soon(self) -> None:
        if self._notifier is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nobody is connected
            if self._pusher is not None and not self._pusher.done():
                self._push_again = True
                return
            self._pusher = asyncio.get_running_loop().create_task(self._push())

    async def _push(self) -> None:
        """Queue every user whose long-poll is parked on this node and who was not checked
        against the current notifications; again until none is left (a user may park while
        a batch is written)."""
        assert self._notifier is not None
        try:
            while True:
                self._push_again = False
                live = await self._current()
                if not live.notices:
                    return
                waiting = [
                    u
                    for u in self._notifier.waiting_users()
                    if u not in self._queue
                    and self._checked.get(u, ((-1, -1), 0.0))[0] != live.token
                ]
                if not waiting:
                    if not self._push_again:
                        return
                    continue
                futures = [self._enqueue(u) for u in waiting]
                await asyncio.gather(*futures, return_exceptions=True)
        except Exception:
            log.exception("pushing notifications to connected users failed")

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
        await asyncio.shield(self._enqueue(user_id))

    def _enqueue(self, user_id: str) -> asyncio.Future[None]:
        fut = self._queue.get(user_id)
        if fut is None:
            fut = self._queue[user_id] = asyncio.get_running_loop().create_future()
            self._start_worker()
        return fut

    def _start_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def before_sync(self, user_id: str) -> None:
        """:meth:`ensure` for ``/sync``: a failure to deliver notifications is logged and the
        sync answers without them (the next sync tries again). A user this node has not seen
        yet is queued for a notice room (:meth:`prepare`), without waiting for it."""
        if user_id not in self._prepared and self._settings.gov_notices_prepare_rooms:
            self.prepare(user_id)
        try:
            await self.ensure(user_id)
        except Exception:  # the sync itself must not fail for this
            log.exception("notification delivery failed; the next sync retries")

    def prepare(self, user_id: str) -> None:
        """Queue ``user_id`` for a notice room, made in the background in a batch with others
        (:meth:`_prepare`), so that the first notification they get is written as quickly as
        any later one: creating 2,000 rooms took that notification 8-13 s."""
        if len(self._prepared) > 1_000_000:
            self._prepared.clear()
        self._prepared.add(user_id)
        self._unprepared[user_id] = None
        self._start_worker()

    def _remember(self, user_id: str, token: tuple[int, int], now: float) -> None:
        if len(self._checked) > 1_000_000:
            self._checked.clear()
        self._checked[user_id] = (token, now)

    def forget(self, user_id: str | None = None) -> None:
        """Check the user (or everyone) again on their next sync (their directory entry
        changed, say)."""
        if user_id is None:
            self._checked.clear()
            self._prepared.clear()
        else:
            self._checked.pop(user_id, None)
            self._prepared.discard(user_id)  # a new directory entry: a room ahead, maybe

    # ---- the writer ---------------------------------------------------------------------------

    async def _work(self) -> None:
        """Delivery batches first (syncs wait on them), then notice rooms made ahead."""
        while self._queue or self._unprepared:
            if self._queue:
                await self._deliver_batch()
            else:
                await self._prepare_batch()

    async def _prepare_batch(self) -> None:
        batch = list(self._unprepared)[: self._settings.gov_notices_batch_size]
        for user in batch:
            del self._unprepared[user]
        try:
            await self._prepare(batch)
        except Exception:
            log.exception(
                "creating notice rooms failed; the users' syncs after %s s retry", PREPARE_RETRY_S
            )
            # Not at once: a lasting failure would cost a failing write per sync.
            loop = asyncio.get_running_loop()
            loop.call_later(PREPARE_RETRY_S, self._prepared.difference_update, batch)

    async def _deliver_batch(self) -> None:
        size = self._settings.gov_notices_batch_size
        batch = list(self._queue)[:size]
        try:
            live = await self._current()
            await self._deliver(batch, live)
            failed: BaseException | None = None
        except Exception as exc:
            log.exception("notice delivery batch failed")
            failed = exc
        else:
            now = asyncio.get_running_loop().time()
            for user in batch:
                self._remember(user, live.token, now)
        for user in batch:
            fut = self._queue.pop(user)
            if not fut.done():
                if failed is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(failed)
                    fut.exception()  # retrieved: no "never retrieved" warning

    async def _deliver(self, users: Sequence[str], live: _Live) -> None:
        """Deliver what ``users`` are due of the live notifications, in one transaction."""
        if not live.notices:
            return
        ids = [n.notice_id for n in live.notices]
        now_ms = self._clock.now_ms()
        async with self._db.read() as conn:
            cands = await store.candidates(conn, users, with_roles=live.uses_roles)
            have = await store.deliveries_for(conn, list(cands), ids)
            system_exists = await account_store.get_user(conn, self._notices.system_user_id)
        work = [
            u
            for u in cands
            if any(due(n, cands[u], have.get((u, n.notice_id)), now_ms) for n in live.notices)
        ]
        if not work:
            return
        async with self._db.read() as conn:
            rooms = await store.notice_room_memberships(conn, work)
        # Rare cases through ServerNotices, one at a time: the very first notice room (it
        # creates the system account) and users who left their room (it invites them back).
        slow = [u for u in work if u in rooms and rooms[u][1] not in ("join", "invite")]
        if system_exists is None:
            slow += [u for u in work if u not in rooms][:1]
        for user in slow:
            await self._first_delivery(cands[user], ids)
        async with self._db.write() as conn:
            rooms = await store.notice_room_memberships(conn, work)
            locked = await store.lock_rooms(conn, sorted(r for r, _m in rooms.values()))
            # Re-read under the locks: a concurrent sync (another node) may have delivered.
            have = await store.deliveries_for(conn, work, ids)
            plan = _Plan()
            await self._allow_reactions(conn, sorted(locked))
            new = [cands[u] for u in work if u not in rooms]
            await self._new_rooms(conn, new, plan, rooms)
            for user in work:
                room_id, membership = rooms[user]
                if membership not in ("join", "invite") or (
                    room_id not in locked and user not in plan.users
                ):
                    continue
                for n in live.notices:
                    found = have.get((user, n.notice_id))
                    action = due(n, cands[user], found, now_ms)
                    if action is not None:
                        self._plan_action(plan, cands[user], room_id, action, found)
            written = await self._rooms.append_trusted(conn, plan.items)
            by_id = {e.event_id: e for e in written}
            rows = [_new_delivery(n, cand, by_id[eid], now_ms) for n, cand, eid in plan.new_rows]
            await store.insert_deliveries(conn, rows)
            await store.update_deliveries(conn, plan.updates)
        if written:
            bell = Doorbell(position=written[-1].stream_pos, users=frozenset(plan.users))
            await self._bus.publish(bell)

    def _plan_action(
        self, plan: _Plan, cand: Candidate, room_id: str, action: Action, have: Delivery | None
    ) -> None:
        n, system, user = action.notice, self._notices.system_user_id, cand.user_id
        plan.users.add(user)
        if action.kind == "deliver":
            event_id = new_event_id()
            content = notice_content(n, self.shown_reactions)
            plan.items.append(
                TrustedEvent(
                    room_id, system, NewEvent("m.room.message", content), event_id=event_id
                )
            )
            plan.new_rows.append((n, cand, event_id))
            self._plan_attachments(plan, room_id, n, event_id)
            return
        assert have is not None
        if action.kind == "edit":
            content = edit_content(n, have.event_id, self.shown_reactions)
            plan.updates.append((n.notice_id, user, n.version, n.remind_round))
        else:
            content = reminder_content(n, have.event_id, self.shown_reactions, n.remind_round)
            plan.updates.append((n.notice_id, user, have.version, n.remind_round))
        plan.items.append(TrustedEvent(room_id, system, NewEvent("m.room.message", content)))

    def _plan_attachments(self, plan: _Plan, room_id: str, n: Notice, event_id: str) -> None:
        """Each attachment as an ``m.file`` (``m.image``, ...) after the notice, referring to it;
        the room may show the media (the author's access was checked at send)."""
        system = self._notices.system_user_id
        for item in n.attachments:
            content = attachment_content(n, item, event_id)
            media = referenced_media(content, self._settings.server_name)
            event = NewEvent("m.room.message", content)
            plan.items.append(TrustedEvent(room_id, system, event, media=tuple(sorted(media))))

    async def _prepare(self, users: Sequence[str]) -> None:
        """Notice rooms for those of ``users`` in the directory who have none yet, in one
        transaction (as a delivery batch makes them), and one doorbell naming them."""
        async with self._db.read() as conn:
            have = await store.notice_room_memberships(conn, users)
            cands = await store.candidates(
                conn, [u for u in users if u not in have], with_roles=False
            )
        if not cands:
            return
        plan = _Plan()
        async with self._db.write() as conn:
            await self._notices.ensure_system_account(conn)
            # Another node may have made some meanwhile (then the batch fails on the room's
            # key, and those users are tried again at their next sync).
            rooms = await store.notice_room_memberships(conn, list(cands))
            new = [c for u, c in cands.items() if u not in rooms]
            await self._new_rooms(conn, new, plan, rooms)
            written = await self._rooms.append_trusted(conn, plan.items)
        if written:
            bell = Doorbell(position=written[-1].stream_pos, users=frozenset(plan.users))
            await self._bus.publish(bell)

    async def _new_rooms(
        self,
        conn: AsyncConnection,
        cands: Sequence[Candidate],
        plan: _Plan,
        rooms: dict[str, tuple[str, str | None]],
    ) -> None:
        """Notice rooms for users who have none, in the batch's transaction (the events go
        with the batch's; the same room as ``ServerNotices`` makes)."""
        if not cands:
            return
        system = self._notices.system_user_id
        levels = {
            **NOTICE_ROOM_POWER_LEVELS,
            "users": {system: 100},
            "events": {"m.reaction": 0},
        }
        room_plan = RoomPlan(
            creator=system,
            preset="private_chat",
            name=self._settings.server_notices_room_name,
            power_level_override=levels,
            label={"label": self._settings.classification_labels[0]},  # notices reach everyone
        )
        profile = {"displayname": self._settings.server_notices_display_name}
        now = self._clock.now_ms()
        first = await self._db.allocate_positions(conn, len(cands)) - len(cands) + 1
        made = [
            NewNoticeRoom(cand.user_id, str(RoomId.generate(self._settings.server_name)), first + i)
            for i, cand in enumerate(cands)
        ]
        await notice_room_store.insert_notice_rooms(
            conn,
            made,
            room_version=room_plan.room_version,
            creator=system,
            tags={SERVER_NOTICE_TAG: {}},
            ts=now,
        )
        for cand, new in zip(cands, made, strict=True):
            room_id = new.room_id
            member: dict[str, Any] = {"membership": "invite"}
            if cand.displayname is not None:
                member["displayname"] = cand.displayname
            if cand.avatar_url is not None:
                member["avatar_url"] = cand.avatar_url
            events = [
                *(TrustedEvent(room_id, system, ev) for ev in initial_events(room_plan, profile)),
                TrustedEvent(room_id, system, NewEvent("m.room.member", member, cand.user_id)),
                TrustedEvent(
                    room_id,
                    cand.user_id,
                    NewEvent("m.room.member", {**member, "membership": "join"}, cand.user_id),
                ),
            ]
            plan.items.extend(events)
            rooms[cand.user_id] = (room_id, "join")
            plan.users.add(cand.user_id)

    async def _allow_reactions(self, conn: AsyncConnection, room_ids: Sequence[str]) -> None:
        """Recipients acknowledge by reacting: power level 0 for ``m.reaction`` (rooms made
        before notifications existed do not have it)."""
        state = await event_store.current_state_of_rooms(conn, room_ids, [POWER_LEVELS])
        items = []
        for room_id in room_ids:
            levels = state.get(room_id, {}).get(POWER_LEVELS)
            if levels is None:
                continue
            events = dict(levels.content.get("events") or {})
            if events.get("m.reaction") == 0:
                continue
            events["m.reaction"] = 0
            content = {**levels.content, "events": events}
            items.append(
                TrustedEvent(
                    room_id,
                    self._notices.system_user_id,
                    NewEvent("m.room.power_levels", content, ""),
                )
            )
        await self._rooms.append_trusted(conn, items)

    async def _first_delivery(self, cand: Candidate, ids: list[str]) -> None:
        """The first due notification through ``ServerNotices.send`` (which creates the room
        or invites the user back), recorded in the same transaction; the rest follow with the
        next batch."""
        now_ms = self._clock.now_ms()
        async with self._db.read() as conn:
            have = await store.deliveries_of(conn, cand.user_id, ids)
        for n in self._live.notices:
            action = due(n, cand, have.get(n.notice_id), now_ms)
            if action is None or action.kind != "deliver":
                continue

            async def record(conn: AsyncConnection, n: Notice = n) -> None:
                # Runs after the message, in its transaction (the room is locked): the newest
                # message of the room is ours.
                if await store.delivery(conn, n.notice_id, cand.user_id) is not None:
                    raise _AlreadyDelivered
                room_id = await notice_room_store.notice_room(conn, cand.user_id)
                assert room_id is not None
                newest = await event_store.room_timeline(
                    conn, room_id, backwards=True, limit=1, types=["m.room.message"]
                )
                await store.insert_delivery(conn, _new_delivery(n, cand, newest[0], now_ms))

            content = notice_content(n, self.shown_reactions)
            with contextlib.suppress(_AlreadyDelivered):  # a concurrent sync was first
                event_id = await self._notices.send(cand.user_id, content, also=record)
                await self._attachments_after(cand.user_id, n, event_id)
            return  # the rest follows in the bulk path

    async def _attachments_after(self, user_id: str, n: Notice, event_id: str) -> None:
        if not n.attachments:
            return
        plan = _Plan()
        async with self._db.write() as conn:
            room_id = await notice_room_store.notice_room(conn, user_id)
            if room_id is None or not await self._db.lock_room(conn, room_id):
                return
            self._plan_attachments(plan, room_id, n, event_id)
            written = await self._rooms.append_trusted(conn, plan.items)
        bell = Doorbell(position=written[-1].stream_pos, users=frozenset({user_id}))
        await self._bus.publish(bell)

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


def _new_delivery(n: Notice, cand: Candidate, ev: StoredEvent, now_ms: int) -> Delivery:
    return Delivery(
        notice_id=n.notice_id,
        user_id=cand.user_id,
        person_id=cand.person_id,
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
