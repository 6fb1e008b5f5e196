"""``/sync``: initial and incremental, with long-polling.

A sync reads the stream position P first, then everything at or below P; the next token is P.
Positions above P are left for the next sync, so nothing is seen twice or skipped.

An initial sync reads in one snapshot. An incremental sync needs none: its first statement
reads P together with the user's memberships (``store/sync_probe.py``), and every later read
of what happened in the window is bounded by P. Commits happen in position order (the
counter's row lock is held to commit), so a statement that starts after P was read sees every
write at or below P, whatever else committed since. What such a sync reads as it is now
may be a moment newer than P: the labels, session and device behind conditional access,
forgotten rooms, the current room-mates that filter presence and device lists, the push
rules, read receipts and room facts behind unread counts, a room summary's member counts, an
event's redaction. The change behind each is at a position after P, so the next sync's window
holds it and answers afresh. On PostgreSQL that saves the BEGIN and ROLLBACK, two of the four
round trips of a sync woken by a message; SQLite reads in a snapshot either way (it costs no
round trip there).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.at_rest import UNREADABLE
from tumar.core.device_gate import NO_HOLD, DeviceGate, Hold
from tumar.core.e2ee_sync import e2ee_sections
from tumar.core.notifier import Notifier
from tumar.core.requester import Requester
from tumar.core.serialize import client_events, stripped_state
from tumar.core.sync_extras import SyncExtras
from tumar.core.to_device import ToDeviceService
from tumar.core.tokens import SyncToken, pagination_token
from tumar.core.typing import TypingService
from tumar.policy.filters import (
    Filter,
    RoomEventFilter,
    apply_event_fields,
    effective_limit,
    event_matches,
    room_allowed,
)
from tumar.store import events as event_store
from tumar.store import rooms as room_store
from tumar.store import sync_probe
from tumar.store import userdata as data_store
from tumar.store.db import Database
from tumar.store.events import Membership, StoredEvent
from tumar.store.userdata import AccountData, Receipt

STRIPPED_STATE_TYPES = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    requester: Requester
    since: SyncToken | None
    filter: Filter
    timeout_ms: int = 0
    full_state: bool = False


@dataclass(slots=True)
class _Window:
    """What one sync covers: positions in (after, upto], typing serials after ``typing``."""

    conn: AsyncConnection
    req: SyncRequest
    after: int | None
    upto: int
    typing_now: int
    now_ms: int
    changed: sync_probe.Changed = sync_probe.EVERYTHING  # the per-user kinds worth reading
    opening: sync_probe.Opening | None = None  # an incremental sync's first read
    hold: Hold = NO_HOLD  # what conditional access withheld and released (set while building)
    # Per joined room whose timeline came whole: every event in (after, upto], oldest first
    # (the unread counts scan the same events and need not read them again).
    window: dict[str, list[StoredEvent]] = dataclasses.field(default_factory=dict)

    @property
    def initial(self) -> bool:
        return self.after is None


class SyncService:
    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        typing: TypingService,
        clock: Clock,
        to_device: ToDeviceService | None = None,
        extras: SyncExtras | None = None,
        gate: DeviceGate | None = None,
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._typing = typing
        self._clock = clock
        self._to_device = to_device
        self._extras = extras  # unread counts, push rules, presence
        self._gate = gate  # conditional access by device (core/device_gate.py)
        # Run before each answer is built, with the user id (e.g. lazy delivery of government
        # notifications, core/gov_notices_delivery.py).
        self.before_build: list[Callable[[str], Awaitable[None]]] = []

    async def sync(self, req: SyncRequest) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + req.timeout_ms / 1000
        since = req.since
        if since is not None and since.typing > self._typing.serial:
            # A typing serial from before a restart.
            since = dataclasses.replace(since, typing=0)
            req = SyncRequest(req.requester, since, req.filter, req.timeout_ms, req.full_state)
        if (
            since is not None
            and since.to_device is None  # else to-device messages are still waiting
            and not req.full_state
            and req.timeout_ms > 0
            and self._notifier.knows(since)
        ):
            # The hooks first (they may write for the user and ring the doorbell, e.g. a
            # notification sent while the client was between two long-polls).
            for hook in self.before_build:
                await hook(req.requester.user_id)
            # Nothing new for this user since the token: wait before reading the database.
            await self._notifier.wait(req.requester.user_id, since, req.timeout_ms / 1000)
        while True:
            body, has_content, token = await self._build(req)
            remaining = deadline - loop.time()
            if has_content or req.since is None or req.full_state or remaining <= 0:
                return body
            if not await self._notifier.wait(req.requester.user_id, token, remaining):
                return body  # timed out: an empty answer up to `token`

    async def _build(self, req: SyncRequest) -> tuple[dict[str, Any], bool, SyncToken]:
        for hook in self.before_build:
            await hook(req.requester.user_id)
        typing_now = self._typing.serial
        user, device = req.requester.user_id, req.requester.device_id
        after = None if req.since is None or req.full_state else req.since.pos
        async with self._db.read(quick=True, snapshot=after is None) as conn:
            opening = None
            if after is None:
                upto = await self._db.current_position(conn)
            else:  # incremental: one statement reads P, the user's rooms, and what to read
                opening = await sync_probe.open_window(conn, user, device, after)
                upto = opening.pos
            changed = opening.changed if opening is not None else sync_probe.EVERYTHING
            now = self._clock.now_ms()
            w = _Window(conn, req, after, upto, typing_now, now, changed, opening)
            body = await self._rooms_and_data(w)
            keys = opening.key_counts if opening is not None else None
            e2ee = await e2ee_sections(conn, user, device, req.since, upto, w.changed, keys)
        if w.hold.unsaved and self._gate is not None:
            # A newly withheld set (rare): stored before the token that names it goes out.
            async with self._db.write() as conn:
                await self._gate.do_save_hold(conn, w.hold)
            self._gate.hold_saved(w.hold)
        if e2ee.acknowledged is not None and self._to_device is not None:
            # The token acknowledged to-device messages that are still stored: delete them.
            await self._to_device.do_delete_acknowledged(
                req.requester.user_id, req.requester.device_id, e2ee.acknowledged
            )
        body.update(e2ee.body)
        token = SyncToken(upto, typing_now, e2ee.to_device_pos, w.hold.hold_id)
        body["next_batch"] = str(token)
        has_content = bool(
            body["rooms"]["join"]
            or body["rooms"]["invite"]
            or body["rooms"]["leave"]
            or body["account_data"]["events"]
            or body["presence"]["events"]
            or e2ee.has_content
        )
        return body, has_content, token

    async def _rooms_and_data(self, w: _Window) -> dict[str, Any]:
        user = w.req.requester.user_id
        room_filter = w.req.filter.room
        opening = w.opening
        found = opening.memberships if opening else await event_store.memberships_of(w.conn, user)
        memberships = [
            m for m in found if m.stream_pos <= w.upto and room_allowed(room_filter, m.room_id)
        ]
        data: list[AccountData] = []
        if w.changed.account_data:
            data = await data_store.account_data_since(w.conn, user, w.after or 0, w.upto)
        room_data: defaultdict[str, list[AccountData]] = defaultdict(list)
        global_data: list[AccountData] = []
        for item in data:
            (room_data[item.room_id] if item.room_id else global_data).append(item)

        joined = [m for m in memberships if m.membership == "join"]
        joined_ids = [m.room_id for m in joined]
        since_typing = w.req.since.typing if w.req.since else 0
        # Rooms gated for this session's device stay out; once access returns they come whole.
        gate = self._gate
        since_hold = w.req.since.hold if w.req.since else None
        held = NO_HOLD
        if gate is not None:
            held = w.hold = await gate.hold(w.conn, w.req.requester, joined_ids, since_hold)
        rejoined: list[str] = []
        if w.initial:
            active = set(joined_ids)
            receipts = await data_store.receipts_since(w.conn, joined_ids, 0, w.upto)
        else:
            assert w.after is not None and opening is not None
            active = {r for r in joined_ids if r in opening.with_events}
            with_receipts = [r for r in joined_ids if r in opening.with_receipts]
            receipts = await data_store.receipts_since(w.conn, with_receipts, w.after, w.upto)
            # A room joined since the last sync comes with everything, like in an initial sync.
            # (A join -> join change, such as a new display name, is not a new stay.)
            rejoined = [m.room_id for m in joined if await self._stay_began_after(w, m)]
            rejoined += [r for r in held.released if r not in rejoined]
            receipts += await data_store.receipts_since(w.conn, rejoined, 0, w.after)
            active.update(rejoined)
            active.update(r for r in joined_ids if self._typing.changed_since(r, since_typing))
            active.update(r.room_id for r in receipts if _visible_receipt(r, user))
            active.update(r for r in room_data if r in set(joined_ids))
        by_room: defaultdict[str, list[Receipt]] = defaultdict(list)
        for receipt in receipts:
            if _visible_receipt(receipt, user):
                by_room[receipt.room_id].append(receipt)

        join: dict[str, Any] = {}
        for m in joined:
            if m.room_id not in active or m.room_id in held.withheld:
                continue
            full = w.initial or m.room_id in rejoined
            section = await self._room_section(w, m.room_id, None, full=full)
            section["ephemeral"] = {
                "events": self._ephemeral(m.room_id, by_room[m.room_id], w.initial, since_typing)
            }
            section["account_data"] = {"events": _data_events(room_data.get(m.room_id, []))}
            join[m.room_id] = section
        presence: list[dict[str, Any]] = []
        if self._extras is not None:
            await self._extras.add_unread_counts(
                w.conn,
                user,
                join,
                w.upto,
                split_threads=room_filter.timeline.unread_thread_notifications,
                member_pos={m.room_id: m.stream_pos for m in joined},
                window=(w.after, w.window) if w.after is not None else None,
                rules_may_have_changed=w.initial
                or any(i.type == "m.push_rules" for i in global_data),
                read_versions=opening.read_versions if opening is not None else None,
            )
            global_data = await self._extras.global_account_data(
                w.conn, user, w.initial, global_data
            )
            if w.changed.presence:
                presence = await self._extras.presence(w.conn, user, w.after, w.upto)

        invite = {
            m.room_id: await self._invite_section(w.conn, m)
            for m in memberships
            if m.membership == "invite" and (w.after is None or m.stream_pos > w.after)
        }
        leave = await self._leave_sections(w, memberships, room_data)
        return {
            "rooms": {"join": join, "invite": invite, "leave": leave, "knock": {}},
            "account_data": {"events": _data_events(global_data)},
            "presence": {"events": presence},
        }

    async def _stay_began_after(self, w: _Window, m: Membership) -> bool:
        assert w.after is not None
        if m.stream_pos <= w.after:
            return False
        stay = await event_store.last_stay(w.conn, m.room_id, w.req.requester.user_id, m.stream_pos)
        return stay is not None and stay[0] > w.after

    async def _leave_sections(
        self, w: _Window, memberships: list[Membership], room_data: dict[str, list[AccountData]]
    ) -> dict[str, Any]:
        left = [m for m in memberships if m.membership in ("leave", "ban")]
        if w.initial:
            if not w.req.filter.room.include_leave:
                return {}
        else:
            assert w.after is not None
            left = [m for m in left if m.stream_pos > w.after]
        if not left:
            return {}
        forgotten = await room_store.forgotten_set(w.conn, w.req.requester.user_id)
        gated = frozenset[str]()
        if self._gate is not None:
            ids = [m.room_id for m in left]
            gated = await self._gate.withheld_left(w.conn, w.req.requester, ids)
        out: dict[str, Any] = {}
        for m in left:
            if m.room_id in forgotten:
                continue
            if m.room_id in gated:  # only their own leave, none of the gated content
                out[m.room_id] = await self._unseen_leave_section(w, m, None)
                continue
            user = w.req.requester.user_id
            stay = await event_store.last_stay(w.conn, m.room_id, user, m.stream_pos)
            if stay is not None and stay[1] == m.stream_pos:
                # A stay that began since the last sync comes with the whole state.
                full = w.initial or (w.after is not None and stay[0] > w.after)
                section = await self._room_section(w, m.room_id, m.stream_pos, full=full)
            else:
                section = await self._unseen_leave_section(w, m, stay[1] if stay else None)
            section["account_data"] = {"events": _data_events(room_data.get(m.room_id, []))}
            out[m.room_id] = section
        return out

    async def _unseen_leave_section(
        self, w: _Window, m: Membership, seen_upto: int | None
    ) -> dict[str, Any]:
        """A leave that ends no stay of the user (an invite rejected or withdrawn, a ban from
        outside the room): they see their own membership event and the state as of the end of
        their last stay, if any, but none of the room's history after it."""
        flt = w.req.filter.room
        event = await event_store.get_event(w.conn, m.event_id)
        assert event is not None
        state = []
        if seen_upto is not None:
            state = await event_store.state_before(w.conn, m.room_id, seen_upto + 1)
        state = [e for e in state if _matches(flt.state, e)]
        timeline = [event] if _matches(flt.timeline, event) else []
        return {
            "timeline": {
                "events": await self._serialise(w, timeline),
                "limited": True,
                "prev_batch": pagination_token(
                    seen_upto if seen_upto is not None else m.stream_pos - 1
                ),
            },
            "state": {"events": await self._serialise(w, state)},
        }

    async def _room_section(
        self, w: _Window, room_id: str, upto: int | None, *, full: bool
    ) -> dict[str, Any]:
        """Timeline and state of one room. ``full``: the whole state before the timeline."""
        flt = w.req.filter.room
        limit = effective_limit(flt.timeline)
        end = upto if upto is not None else w.upto
        after = None if full else w.after
        if w.req.full_state and w.req.since is not None:
            after = w.req.since.pos  # full state, but the timeline still starts at `since`
        raw = await event_store.room_timeline(
            w.conn, room_id, after=after, upto=end, backwards=True, limit=limit + 1
        )
        # A room joined since the last sync starts a new timeline: the client must not join it
        # to what it had before (as Synapse does, say `limited` even if everything fits).
        limited = len(raw) > limit or (full and not w.initial)
        raw = list(reversed(raw[:limit]))
        whole = upto is None and not limited and after is not None and after == w.after
        if whole:
            w.window[room_id] = raw
        timeline = [e for e in raw if _matches(flt.timeline, e)]
        first_pos = raw[0].stream_pos if raw else end + 1
        if full:
            state = await event_store.state_before(w.conn, room_id, first_pos)
        elif limited:
            state = await event_store.state_before(w.conn, room_id, first_pos, after=w.after)
        else:
            state = []
        state = _with_filtered_out_state(state, raw, timeline)
        members_changed = any(e.type == "m.room.member" for e in (*raw, *state))
        state = [e for e in state if _matches(flt.state, e)]
        if flt.state.lazy_load_members:
            wanted = {e.sender for e in timeline} | {w.req.requester.user_id}
            state = [e for e in state if e.type != "m.room.member" or e.state_key in wanted]
        section: dict[str, Any] = {
            "timeline": {
                "events": await self._serialise(
                    w, timeline, end, aggregate=not whole or _relates(raw)
                ),
                "limited": limited,
                "prev_batch": pagination_token(first_pos - 1),
            },
            "state": {"events": await self._serialise(w, state)},
        }
        if full or members_changed:
            section["summary"] = await self._summary(w.conn, room_id, w.req.requester.user_id)
        return section

    async def _serialise(
        self,
        w: _Window,
        events: list[StoredEvent],
        upto: int | None = None,
        *,
        aggregate: bool = True,
    ) -> list[dict[str, Any]]:
        """Client events with bundled aggregations of the children up to ``upto`` (the end
        of the window, or of the user's stay in a room they left). ``aggregate=False``: the
        caller knows that none of them has children to bundle."""
        out = await client_events(
            w.conn,
            events,
            now_ms=w.now_ms,
            viewer_user=w.req.requester.user_id,
            viewer_device=w.req.requester.device_id,
            with_room_id=False,
            aggregate=aggregate,
            visible_upto=w.upto if upto is None else upto,
        )
        fields = w.req.filter.event_fields
        if fields:
            out = [apply_event_fields(e, fields) for e in out]
        return out

    async def _summary(self, conn: AsyncConnection, room_id: str, user: str) -> dict[str, Any]:
        joined, invited = await event_store.joined_and_invited(conn, room_id)
        heroes = sorted(u for u in (*joined, *invited) if u != user)[:5]
        return {
            "m.heroes": heroes,
            "m.joined_member_count": len(joined),
            "m.invited_member_count": len(invited),
        }

    def _ephemeral(
        self, room_id: str, receipts: list[Receipt], initial: bool, since_typing: int
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if initial or self._typing.changed_since(room_id, since_typing):
            events.append(
                {"type": "m.typing", "content": {"user_ids": self._typing.typing_users(room_id)}}
            )
        if receipts:
            content: dict[str, dict[str, dict[str, Any]]] = {}
            for r in receipts:
                entry: dict[str, Any] = {"ts": r.ts}
                if r.thread_id:
                    entry["thread_id"] = r.thread_id
                content.setdefault(r.event_id, {}).setdefault(r.receipt_type, {})[r.user_id] = entry
            events.append({"type": "m.receipt", "content": content})
        return events

    async def _invite_section(self, conn: AsyncConnection, m: Membership) -> dict[str, Any]:
        # The room as it was when the user was invited: the same in every sync, and nothing of
        # what happened since, which an invitee may not see.
        state = await event_store.state_before(
            conn, m.room_id, m.stream_pos, types=STRIPPED_STATE_TYPES
        )
        invite_event = await event_store.get_event(conn, m.event_id)
        events = [stripped_state(e) for e in state]
        if invite_event is not None:
            events.append(stripped_state(invite_event))
        return {"invite_state": {"events": events}}


def _with_filtered_out_state(
    state: list[StoredEvent], raw: list[StoredEvent], timeline: list[StoredEvent]
) -> list[StoredEvent]:
    """State events that the timeline filter dropped from the window go into ``state``
    instead, unless a later event of the same key is in the timeline; otherwise a client that
    filters its timeline (say, to messages only) would never learn of them."""
    shown = {e.event_id for e in timeline}
    later_in_timeline = {e.state_tuple for e in timeline if e.is_state}
    hidden = [
        e
        for e in raw
        if e.is_state and e.event_id not in shown and e.state_tuple not in later_in_timeline
    ]
    if not hidden:
        return state
    merged = {e.state_tuple: e for e in state}
    merged.update((e.state_tuple, e) for e in hidden)  # raw is oldest first: the latest wins
    return sorted(merged.values(), key=lambda e: e.stream_pos)


def _relates(window: list[StoredEvent]) -> bool:
    """Whether an event of a room's whole window (every event in (after, P]) may have children
    to bundle. A child is always newer than its parent and in the same room (the room writer
    refuses a relation to an unknown event or one in another room), so the children of an
    event in the window are in the window too; when none of the window's events relates to
    anything, there is nothing to bundle and the relations need not be read. Content that
    could not be opened (encrypted at rest, its key unavailable) may hide a relation: read."""
    return any("m.relates_to" in e.content or UNREADABLE in e.content for e in window)


def _matches(flt: RoomEventFilter, ev: StoredEvent) -> bool:
    return event_matches(
        flt,
        event_type=ev.type,
        sender=ev.sender,
        room_id=ev.room_id,
        has_url="url" in ev.content,
    )


def _visible_receipt(receipt: Receipt, user: str) -> bool:
    """Private read receipts are shown to their author only."""
    return receipt.receipt_type != "m.read.private" or receipt.user_id == user


def _data_events(items: list[AccountData]) -> list[dict[str, Any]]:
    return [{"type": i.type, "content": dict(i.content)} for i in items]
