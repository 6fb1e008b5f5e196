"""Unread notification and highlight counts (for ``/sync``) and the list of notified events
(``/notifications``), both from push rules evaluated when read.

Counts are computed lazily, not stored at send time: a message to a room of 100,000 officials
then costs no per-member writes (DESIGN §4). For each room a sync shows, the events after the
user's read receipt (or, without one, after they joined) are evaluated against the user's push
rules, at most ``unread_count_limit`` of them per room: beyond that the counts stop growing
until the user reads. Results are cached per user and room, keyed by the receipts and the rule
set, so a later sync only evaluates the events that arrived since (the cache is per node and
only saves work: it is always re-derived from the database). The user's read receipts are
read again when their version, which the sync's opening statement gives, has changed.

Threads (MSC3771/MSC3773): an event in a thread is read when the unthreaded receipt or that
thread's receipt covers it; a main-timeline event when the unthreaded or the ``main`` receipt
does. With ``unread_thread_notifications`` in the sync filter, thread counts come separately.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.push import PushRuleService
from tumar.core.requester import Requester
from tumar.core.serialize import client_event
from tumar.core.tokens import parse_position
from tumar.policy.power_levels import PowerLevels
from tumar.policy.push_eval import CompiledRules, PushContext
from tumar.policy.relations import thread_of
from tumar.store import events as event_store
from tumar.store import push as push_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent

CACHE_SIZE = 50_000
SCAN_BATCH = 200
MAX_NOTIFICATIONS_SCAN = 2_000
MAX_NOTIFICATIONS_LIMIT = 100


@dataclass(slots=True)
class Counts:
    notification_count: int = 0
    highlight_count: int = 0

    def add(self, highlight: bool) -> None:
        self.notification_count += 1
        self.highlight_count += int(highlight)

    def as_json(self) -> dict[str, int]:
        return {
            "notification_count": self.notification_count,
            "highlight_count": self.highlight_count,
        }


@dataclass(slots=True)
class RoomUnread:
    main: Counts = field(default_factory=Counts)
    threads: dict[str, Counts] = field(default_factory=dict)

    def total(self) -> Counts:
        out = Counts(self.main.notification_count, self.main.highlight_count)
        for c in self.threads.values():
            out.notification_count += c.notification_count
            out.highlight_count += c.highlight_count
        return out


@dataclass(frozen=True, slots=True)
class ReadState:
    """Where the user has read up to in one room."""

    floor: int  # the unthreaded receipt, or the join: nothing at or below it is unread
    joined: int  # where the current stay began (0 when not needed: the floor is later)
    threads: Mapping[str, int]  # thread id ("main" or a root) -> its receipt
    membership: int = 0  # the position of the user's current membership event

    def is_read(self, pos: int, thread: str | None) -> bool:
        if pos <= self.floor:
            return True
        return pos <= self.threads.get(thread or "main", -1)


@dataclass(slots=True)
class _Entry:
    key: tuple[Any, ...]
    scanned_upto: int
    scanned: int
    unread: RoomUnread
    # What the rules need of the room: kept while no state event arrives and the user's own
    # membership event stays the same (that is when it could change).
    context: _RoomContext | None = None
    context_membership: int = -1


class NotificationCounter:
    def __init__(
        self, db: Database, clock: Clock, rules: PushRuleService, *, limit: int = 500
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._limit = limit
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # (user, room) -> (position of their membership event, where that stay began)
        self._joins: dict[tuple[str, str], tuple[int, int]] = {}
        # (user, room) -> (version of their read receipts, unthreaded receipt, thread receipts);
        # least recently used first
        self._receipts: OrderedDict[tuple[str, str], tuple[int, int, Mapping[str, int]]] = (
            OrderedDict()
        )

    async def _read_states(
        self,
        conn: AsyncConnection,
        user_id: str,
        room_ids: Sequence[str],
        *,
        need_join: bool = False,
        member_pos: Mapping[str, int] | None = None,
        read_versions: Mapping[str, int] | None = None,
        upto: int = 2**62,
    ) -> dict[str, ReadState]:
        """``upto``: the position the caller reads up to. A sync's memberships are as of its
        position, which a statement without a snapshot may no longer see as current
        (``core/sync.py``): the stay they belong to is found up to there."""
        receipts = await self._own_receipts(conn, user_id, room_ids, read_versions or {})
        if member_pos is None:
            member_pos = {
                m.room_id: m.stream_pos
                for m in await event_store.memberships_of(conn, user_id, ("join",))
            }
        out = {}
        for room_id in room_ids:
            floor, threads = receipts[room_id]
            joined = 0
            membership = member_pos.get(room_id, 0)
            if need_join or floor < membership:
                # Where the current stay began: a receipt after the membership event already
                # lies after it; else it is known as long as the membership event is the same.
                seen = self._joins.get((user_id, room_id))
                if seen is not None and seen[0] == membership:
                    joined = seen[1]
                else:
                    stay = await event_store.last_stay(conn, room_id, user_id, upto)
                    joined = stay[0] if stay is not None else 0
                    if len(self._joins) >= CACHE_SIZE:
                        self._joins.clear()
                    self._joins[(user_id, room_id)] = (membership, joined)
            out[room_id] = ReadState(max(floor, joined), joined, threads, membership)
        return out

    async def _own_receipts(
        self,
        conn: AsyncConnection,
        user_id: str,
        room_ids: Sequence[str],
        versions: Mapping[str, int],
    ) -> dict[str, tuple[int, Mapping[str, int]]]:
        """Per room: the user's unthreaded read receipt (-1 without one) and their thread
        receipts. ``versions``: the latest position of the user's read receipts in some of
        the rooms (``store/sync_probe.py``); a room whose version is the one last read here
        is not read again (every receipt write takes a new position, on any node)."""
        out: dict[str, tuple[int, Mapping[str, int]]] = {}
        unknown = []
        for room_id in room_ids:
            version = versions.get(room_id)
            seen = self._receipts.get((user_id, room_id)) if version is not None else None
            if seen is not None and seen[0] == version:
                out[room_id] = seen[1:]
                self._receipts.move_to_end((user_id, room_id))
            else:
                unknown.append(room_id)
        # Not bounded by the sync's position: a receipt moves forward in place, so a bound
        # would lose it. What is read may be newer than ``version`` (a sync without a
        # snapshot), which is safe because receipts are never deleted: versions only grow, and
        # an opening that names this version again is older than what is kept for it.
        floors: dict[str, int] = {}
        threads: dict[str, dict[str, int]] = {r: {} for r in unknown}
        for r in await push_store.read_receipts(conn, user_id, unknown):
            if r.thread_id:
                known = threads[r.room_id].get(r.thread_id, -1)
                threads[r.room_id][r.thread_id] = max(known, r.stream_pos)
            else:
                floors[r.room_id] = max(floors.get(r.room_id, -1), r.stream_pos)
        for room_id in unknown:
            out[room_id] = (floors.get(room_id, -1), threads[room_id])
            version = versions.get(room_id)
            if version is not None:
                self._receipts[(user_id, room_id)] = (version, *out[room_id])
                self._receipts.move_to_end((user_id, room_id))
        while len(self._receipts) > CACHE_SIZE:
            self._receipts.popitem(last=False)
        return out

    async def unread(
        self,
        conn: AsyncConnection,
        user_id: str,
        room_ids: Sequence[str],
        upto: int,
        member_pos: Mapping[str, int] | None = None,
        window: tuple[int, Mapping[str, list[StoredEvent]]] | None = None,
        read_versions: Mapping[str, int] | None = None,
    ) -> dict[str, RoomUnread]:
        """Unread counts of the user's joined rooms, as of stream position ``upto``
        (``member_pos``: the user's membership event per room, if the caller has them;
        ``window``: ``(after, events)``, all events of some rooms after ``after`` up to
        ``upto``, oldest first, which the caller has read already; ``read_versions``: see
        ``_own_receipts``)."""
        if not room_ids:
            return {}
        rules = await self._rules.user_rules(conn, user_id)
        states = await self._read_states(
            conn, user_id, room_ids, member_pos=member_pos, read_versions=read_versions, upto=upto
        )
        out: dict[str, RoomUnread] = {}
        for room_id in room_ids:
            state = states[room_id]
            key = (rules.key, state.floor, tuple(sorted(state.threads.items())))
            entry = self._cache.get((user_id, room_id))
            if entry is None or entry.key != key or entry.scanned_upto > upto:
                entry = _Entry(key, state.floor, 0, RoomUnread())
            if entry.scanned_upto < upto and entry.scanned < self._limit:
                known = None
                if window is not None and window[0] == entry.scanned_upto:
                    known = window[1].get(room_id)
                await self._scan(conn, user_id, room_id, rules.compiled, state, entry, upto, known)
            entry.scanned_upto = max(entry.scanned_upto, upto)
            self._cache[(user_id, room_id)] = entry
            self._cache.move_to_end((user_id, room_id))
            out[room_id] = entry.unread
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    async def _scan(
        self,
        conn: AsyncConnection,
        user_id: str,
        room_id: str,
        rules: CompiledRules,
        state: ReadState,
        entry: _Entry,
        upto: int,
        known: list[StoredEvent] | None = None,
    ) -> None:
        """Evaluate the events after ``entry.scanned_upto`` up to ``upto``: ``known`` when
        the caller has them all, else read from the database."""
        room = self._limit - entry.scanned
        if known is not None:
            found = known[:room]
        else:
            found = await event_store.room_timeline(
                conn, room_id, after=entry.scanned_upto, upto=upto, backwards=False, limit=room
            )
        if not found:
            return
        if (
            entry.context is None
            or entry.context_membership != state.membership
            or any(e.is_state for e in found)
        ):
            entry.context = await self._context(conn, user_id, room_id)
            entry.context_membership = state.membership
        ctx = entry.context
        for ev in found:
            entry.scanned += 1
            if ev.sender == user_id:
                continue  # one's own events never notify
            thread = thread_of(ev.content)
            if state.is_read(ev.stream_pos, thread):
                continue
            result = rules.evaluate(_push_view(ev), _for_sender(ctx, ev.sender))
            if result.notify:
                target = (
                    entry.unread.threads.setdefault(thread, Counts())
                    if thread
                    else entry.unread.main
                )
                target.add(result.highlight)

    async def _context(self, conn: AsyncConnection, user_id: str, room_id: str) -> _RoomContext:
        facts = await event_store.push_facts(conn, room_id, user_id)
        member, levels = facts.member, facts.power_levels
        name = member.content.get("displayname") if member is not None else None
        return _RoomContext(
            user_id=user_id,
            display_name=name if isinstance(name, str) else None,
            member_count=facts.joined,
            power_levels=PowerLevels.from_content(
                levels.content if levels is not None else None, None
            ),
        )

    # ---- /notifications ------------------------------------------------------------------------

    async def notifications(
        self,
        requester: Requester,
        *,
        from_token: str | None,
        limit: int,
        only_highlight: bool,
    ) -> dict[str, Any]:
        """Events that notified the user, newest first, in the rooms they are in (since they
        joined), with whether they have read each. Scans at most ``MAX_NOTIFICATIONS_SCAN``
        events per request; ``next_token`` continues where it stopped."""
        limit = max(1, min(limit, MAX_NOTIFICATIONS_LIMIT))
        user = requester.user_id
        async with self._db.read() as conn:
            before = (
                parse_position(from_token) + 1
                if from_token is not None
                else await self._db.current_position(conn) + 1
            )
            rooms = [m.room_id for m in await event_store.memberships_of(conn, user, ("join",))]
            rules = (await self._rules.user_rules(conn, user)).compiled
            states = await self._read_states(conn, user, rooms, need_join=True)
            contexts: dict[str, _RoomContext] = {}
            found: list[tuple[StoredEvent, list[Any], bool]] = []
            scanned = 0
            last = before
            exhausted = False
            while len(found) < limit and scanned < MAX_NOTIFICATIONS_SCAN:
                batch = await push_store.recent_events(
                    conn, rooms, before=last, not_sender=user, limit=SCAN_BATCH
                )
                if not batch:
                    exhausted = True
                    break
                for ev in batch:
                    scanned += 1
                    last = ev.stream_pos
                    state = states[ev.room_id]
                    if ev.stream_pos <= state.joined:
                        continue  # from before the user joined: never notified them
                    if ev.room_id not in contexts:
                        contexts[ev.room_id] = await self._context(conn, user, ev.room_id)
                    ctx = _for_sender(contexts[ev.room_id], ev.sender)
                    result = rules.evaluate(_push_view(ev), ctx)
                    if result.notify and (result.highlight or not only_highlight):
                        read = state.is_read(ev.stream_pos, thread_of(ev.content))
                        found.append((ev, list(result.actions), read))
                        if len(found) == limit:
                            break
                if len(batch) < SCAN_BATCH and len(found) < limit:
                    exhausted = True
                    break
            now = self._clock.now_ms()
            body: dict[str, Any] = {
                "notifications": [
                    {
                        "actions": actions,
                        "event": client_event(ev, now_ms=now, viewer_user=user),
                        "read": read,
                        "room_id": ev.room_id,
                        "ts": ev.origin_server_ts,
                    }
                    for ev, actions, read in found
                ]
            }
        if not exhausted:
            body["next_token"] = f"t{last - 1}"
        return body


@dataclass(frozen=True, slots=True)
class _RoomContext:
    user_id: str
    display_name: str | None
    member_count: int
    power_levels: PowerLevels


def _for_sender(ctx: _RoomContext, sender: str) -> PushContext:
    return PushContext(
        user_id=ctx.user_id,
        display_name=ctx.display_name,
        member_count=ctx.member_count,
        sender_power=ctx.power_levels.user_level(sender),
        notification_levels={"room": ctx.power_levels.notifications_room},
    )


def _push_view(ev: StoredEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ev.type,
        "content": dict(ev.content),
        "sender": ev.sender,
        "room_id": ev.room_id,
        "event_id": ev.event_id,
    }
    if ev.state_key is not None:
        out["state_key"] = ev.state_key
    return out
