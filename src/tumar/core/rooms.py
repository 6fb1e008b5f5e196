"""Room writes: creating rooms, sending events, membership, redaction. The only writer of
events and room state.

Every command is one transaction. Event creation in a room is serialised by the room lock;
each event takes the next global stream position; current state is updated in the same
transaction; the doorbell rings after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import event_indexes, media_access
from tumar.core.at_rest import LABEL_KEY, AtRest, Sealed
from tumar.core.classification_guard import ClassificationGuard
from tumar.core.dlp import DlpGuard
from tumar.core.ratelimit import RateLimiter
from tumar.core.requester import Requester
from tumar.errors import MatrixError, PolicyDenied, forbidden, not_found
from tumar.ids import RoomAlias, RoomId, new_event_id
from tumar.policy.canonical_json import check_canonical_values
from tumar.policy.e2ee import E2eeMode
from tumar.policy.e2ee import check_event as check_e2ee_event
from tumar.policy.e2ee import check_redaction as check_e2ee_redaction
from tumar.policy.event_auth import AuthEvent, can_redact, check_event_auth
from tumar.policy.labels import LABEL_EVENT
from tumar.policy.power_levels import validate_power_levels_content
from tumar.policy.redaction import redact_content
from tumar.policy.relations import THREAD, parse_relation
from tumar.store import events as event_store
from tumar.store import media as media_store
from tumar.store import rooms as room_store
from tumar.store.db import Database
from tumar.store.events import StateKey, StoredEvent
from tumar.store.search import MAX_VALUE as SEARCH_MAX_VALUE
from tumar.store.search import SEARCHABLE

MAX_EVENT_BYTES = 65_536
CREATE = ("m.room.create", "")
POWER_LEVELS = ("m.room.power_levels", "")
JOIN_RULES = ("m.room.join_rules", "")


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    content: Mapping[str, Any]
    state_key: str | None = None


@dataclass(frozen=True, slots=True)
class TrustedEvent:
    """An event of :meth:`RoomService.append_trusted`: ``media`` are the ids of this server's
    media the room may show (the caller checked the author may see them)."""

    room_id: str
    sender: str
    event: NewEvent
    media: tuple[str, ...] = ()
    event_id: str | None = None  # chosen by the caller (to refer to it in later events)


@dataclass
class RoomBatch:
    """Events appended to one room inside one transaction, with the state they see."""

    conn: AsyncConnection
    room_id: str
    state: dict[StateKey, StoredEvent | None] = field(default_factory=dict)
    written: list[StoredEvent] = field(default_factory=list)
    label_officer: str | None = None  # a security officer's command may lower the label

    async def load(self, keys: Iterable[StateKey]) -> None:
        missing = [k for k in keys if k not in self.state]
        if missing:
            found = await event_store.current_state_map(self.conn, self.room_id, missing)
            for key in missing:
                self.state[key] = found.get(key)

    def auth_state(self) -> dict[StateKey, AuthEvent]:
        return {
            key: AuthEvent(
                type=ev.type, sender=ev.sender, content=ev.content, state_key=ev.state_key
            )
            for key, ev in self.state.items()
            if ev is not None
        }


def auth_keys(sender: str, ev: NewEvent) -> list[StateKey]:
    keys = [CREATE, POWER_LEVELS, JOIN_RULES, ("m.room.member", sender)]
    if ev.type == "m.room.member" and ev.state_key is not None:
        keys.append(("m.room.member", ev.state_key))
    if ev.state_key is not None:
        keys.append((ev.type, ev.state_key))
    return keys


def check_event_size(room_id: str, sender: str, ev: NewEvent) -> None:
    size = len(orjson.dumps(ev.content)) + len(room_id) + len(sender) + len(ev.type) + 200
    if ev.state_key is not None:
        size += len(ev.state_key)
    if size > MAX_EVENT_BYTES:
        raise MatrixError(413, "M_TOO_LARGE", "The event is larger than 65536 bytes.")
    verdict = check_canonical_values(ev.content)
    if not verdict:
        raise MatrixError(400, "M_BAD_JSON", verdict.reason)


def txn_key(endpoint: str, room_id: str, target: str, txn_id: str) -> str:
    """The idempotency key of a request: the spec scopes a transaction id to one device and one
    HTTP endpoint, so the same id in another room, for another event type or for a redaction
    is another request."""
    return orjson.dumps([endpoint, room_id, target, txn_id]).decode()


class RoomService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        settings: Settings,
        send_limiter: RateLimiter,
        *,
        at_rest: AtRest | None = None,
        dlp: DlpGuard | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._send_limiter = send_limiter
        self._at_rest = at_rest
        self._dlp = dlp  # forwarding control (core/dlp.py)
        self.labels = ClassificationGuard(settings)  # room labels (core/classification_guard.py)
        # Called in the event's transaction after it is written (e.g. acknowledgement of a
        # government notification by reaction, core/gov_notices_delivery.py).
        self.event_hooks: list[Callable[[AsyncConnection, StoredEvent], Awaitable[None]]] = []

    @property
    def e2ee_mode(self) -> E2eeMode:
        """The fallback E2EE mode (setting ``e2ee``); a room's own mode follows its label
        (``self.labels.e2ee_mode_of``, setting ``e2ee_by_label``)."""
        return self._settings.e2ee

    # ---- the one path that appends events -------------------------------------------------

    async def append_one(
        self,
        batch: RoomBatch,
        sender: str,
        ev: NewEvent,
        *,
        device_id: str | None = None,
        txn_id: str | None = None,
        txn_key: str | None = None,
    ) -> StoredEvent:
        check_event_size(batch.room_id, sender, ev)
        try:
            return await self._append_checked(batch, sender, ev, device_id, txn_id, txn_key)
        except PolicyDenied as exc:
            raise exc.bind(sender, batch.room_id, _denied_action(ev)) from None

    async def _append_checked(
        self,
        batch: RoomBatch,
        sender: str,
        ev: NewEvent,
        device_id: str | None,
        txn_id: str | None,
        txn_key: str | None,
    ) -> StoredEvent:
        mode = await self.labels.check_append(batch, sender, ev, auth_keys(sender, ev))
        e2ee = check_e2ee_event(mode, ev.type, ev.state_key, ev.content)
        if not e2ee:
            raise MatrixError(403, e2ee.errcode, e2ee.reason)
        await batch.load(auth_keys(sender, ev))
        decision = check_event_auth(
            AuthEvent(type=ev.type, sender=sender, content=ev.content, state_key=ev.state_key),
            batch.auth_state(),
        )
        if not decision:
            raise forbidden(decision.reason)
        relation = await event_indexes.check_new_event(
            batch.conn, batch.room_id, sender, ev.type, ev.state_key, ev.content
        )
        dlp = await self._dlp.check(batch, sender, ev) if self._dlp else None
        previous = batch.state.get((ev.type, ev.state_key)) if ev.state_key is not None else None
        pos = await self._db.allocate_positions(batch.conn)
        stored = StoredEvent(
            stream_pos=pos,
            event_id=new_event_id(),
            room_id=batch.room_id,
            type=ev.type,
            state_key=ev.state_key,
            sender=sender,
            content=dict(ev.content),
            origin_server_ts=self._clock.now_ms(),
            prev_content=previous.content if previous is not None else None,
            replaces_state=previous.event_id if previous is not None else None,
            membership=_membership_of(ev),
            txn_id=txn_id,
            txn_device_id=device_id if txn_id is not None else None,
        )
        sealed = await self._seal(batch, stored)  # encryption at rest (core/at_rest.py)
        await event_store.insert_event(
            batch.conn, stored, sealed_content=sealed.content if sealed else None
        )
        await self.labels.record(batch, stored)
        if self._dlp is not None:
            await self._dlp.record(batch.conn, dlp, stored)
        await media_access.record_references(batch.conn, self._settings.server_name, stored)
        await event_indexes.index_event(
            batch.conn, stored, relation, sealed.blind if sealed else None
        )
        if txn_key is not None and device_id is not None:
            await event_store.insert_txn(
                batch.conn, sender, device_id, txn_key, stored.event_id, stored.origin_server_ts
            )
        if ev.state_key is not None:
            batch.state[(ev.type, ev.state_key)] = stored
        batch.written.append(stored)
        for hook in self.event_hooks:
            await hook(batch.conn, stored)
        return stored

    async def append_trusted(
        self, conn: AsyncConnection, items: Sequence[TrustedEvent]
    ) -> list[StoredEvent]:
        """Append many events to rooms that only the server writes (server-notice rooms), in
        the caller's transaction, in a handful of statements: one counter update for all
        their stream positions, then bulk inserts.

        There is no per-event authorisation, classification or DLP check and no event hook:
        the caller is the server writing rooms whose only writer it is, and must hold the
        rooms' locks. Kept as ``append_one`` keeps them: the events (sealed at rest where the
        room's label says so), current state, room labels, relations, the search index and
        media references. The doorbell is the caller's."""
        if not items:
            return []
        room_ids = sorted({it.room_id for it in items})
        keys = {LABEL_KEY}
        keys.update(
            (it.event.type, it.event.state_key) for it in items if it.event.state_key is not None
        )
        known = await event_store.current_state_of_rooms(conn, room_ids, sorted(keys))
        last = await self._db.allocate_positions(conn, len(items))
        now = self._clock.now_ms()
        batches = {r: RoomBatch(conn, r) for r in room_ids}
        out: list[StoredEvent] = []
        bulk: list[event_store.BulkEvent] = []
        for i, it in enumerate(items):
            ev, state = it.event, known.setdefault(it.room_id, {})
            check_event_size(it.room_id, it.sender, ev)
            key = (ev.type, ev.state_key) if ev.state_key is not None else None
            previous = state.get(key) if key is not None else None
            stored = StoredEvent(
                stream_pos=last - len(items) + 1 + i,
                event_id=it.event_id or new_event_id(),
                room_id=it.room_id,
                type=ev.type,
                state_key=ev.state_key,
                sender=it.sender,
                content=dict(ev.content),
                origin_server_ts=now,
                prev_content=previous.content if previous is not None else None,
                replaces_state=previous.event_id if previous is not None else None,
                membership=_membership_of(ev),
            )
            sealed = None
            if self._at_rest is not None and key is None:
                sealed = await self._at_rest.seal(conn, stored, state.get(LABEL_KEY))
            relation = parse_relation(ev.content)
            field_name = SEARCHABLE.get(ev.type)
            text = stored.content.get(field_name) if field_name else None
            search = None
            if isinstance(text, str) and text.strip():
                text = text[:SEARCH_MAX_VALUE]
                search = (f"content.{field_name}", sealed.blind(text) if sealed else text)
            if relation is not None and relation.rel_type == THREAD:
                raise ValueError("append_trusted does not write thread events")
            bulk.append(
                event_store.BulkEvent(
                    stored,
                    sealed.content if sealed else None,
                    (relation.event_id, relation.rel_type, relation.key) if relation else None,
                    search,
                    replaces_existing_state=previous is not None,
                )
            )
            if key is not None:
                state[key] = stored
            out.append(stored)
        await event_store.insert_events(conn, bulk)
        for stored, it in zip(out, items, strict=True):
            if stored.type == LABEL_EVENT:
                await self.labels.record(batches[it.room_id], stored)
            if it.media:
                await media_store.insert_refs(conn, it.media, it.room_id, stored.stream_pos)
        return out

    async def _seal(self, batch: RoomBatch, stored: StoredEvent) -> Sealed | None:
        if self._at_rest is None or stored.state_key is not None:
            return None
        await batch.load([LABEL_KEY])
        return await self._at_rest.seal(batch.conn, stored, batch.state.get(LABEL_KEY))

    async def doorbell_for(self, conn: AsyncConnection, room_id: str, batch: RoomBatch) -> Doorbell:
        users = set(await event_store.room_members(conn, room_id, ("join", "invite")))
        users.update(
            e.state_key for e in batch.written if e.type == "m.room.member" and e.state_key
        )
        return Doorbell(position=batch.written[-1].stream_pos, users=frozenset(users))

    async def append_events(
        self,
        room_id: str,
        sender: str,
        events: Sequence[NewEvent],
        *,
        device_id: str | None = None,
        txn_id: str | None = None,
        txn_key: str | None = None,
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to an existing room in one transaction, then ring the doorbell.

        ``also`` runs in the same transaction after the events, for a command's other writes.
        """
        async with self._db.write(quick=True) as conn:
            # The room lock comes first: it also orders retries of one transaction id (whose
            # key names the room), so a retry waits for the original and then finds it.
            if not await self._db.lock_room(conn, room_id):
                raise forbidden(
                    f"You cannot send to {room_id}: it does not exist or you are not in it."
                )
            if txn_key is not None and device_id is not None:
                existing = await event_store.find_txn(conn, sender, device_id, txn_key)
                if existing is not None:
                    found = await event_store.get_event(conn, existing)
                    assert found is not None
                    return [found]
            batch = RoomBatch(conn, room_id)
            for ev in events:
                await self.append_one(
                    batch, sender, ev, device_id=device_id, txn_id=txn_id, txn_key=txn_key
                )
            if also is not None:
                await also(conn)
            bell = await self.doorbell_for(conn, room_id, batch)
        await self._bus.publish(bell)
        return batch.written

    # ---- sending ----------------------------------------------------------------------------

    async def do_send(
        self,
        requester: Requester,
        room_id: str,
        event_type: str,
        content: Mapping[str, Any],
        *,
        state_key: str | None = None,
        txn_id: str | None = None,
    ) -> str:
        RoomId.parse(room_id)
        await self._send_limiter.check(requester.user_id)
        key = txn_key("send", room_id, event_type, txn_id) if txn_id is not None else None
        if event_type == "m.room.redaction" and state_key is None:
            redacts = content.get("redacts")
            if not isinstance(redacts, str):
                raise MatrixError(400, "M_BAD_JSON", "A redaction needs `redacts` in its content.")
            return await self.do_redact(
                requester, room_id, redacts, content.get("reason"), txn_id=txn_id, txn_scope=key
            )
        if state_key is not None:
            await self._check_state_content(event_type, state_key, content, room_id)
        written = await self.append_events(
            room_id,
            requester.user_id,
            [NewEvent(event_type, content, state_key)],
            device_id=requester.device_id,
            txn_id=txn_id,
            txn_key=key,
        )
        return written[0].event_id

    async def _check_state_content(
        self, event_type: str, state_key: str, content: Mapping[str, Any], room_id: str
    ) -> None:
        if event_type == "m.room.power_levels":
            verdict = validate_power_levels_content(content)
            if not verdict:
                raise MatrixError(400, "M_BAD_JSON", verdict.reason)
        elif event_type == "m.room.member":
            if content.get("membership") not in ("join", "leave", "invite", "ban", "knock"):
                raise MatrixError(400, "M_BAD_JSON", "Unknown or missing `membership`.")
        elif event_type == "m.room.canonical_alias":
            await self._check_canonical_alias(content, room_id)

    async def _check_canonical_alias(self, content: Mapping[str, Any], room_id: str) -> None:
        aliases: list[object] = []
        if "alias" in content and content["alias"] is not None:
            aliases.append(content["alias"])
        alt = content.get("alt_aliases", [])
        if not isinstance(alt, list):
            raise MatrixError(400, "M_BAD_JSON", "`alt_aliases` must be a list.")
        aliases.extend(alt)
        async with self._db.read() as conn:
            for alias in aliases:
                if not isinstance(alias, str):
                    raise MatrixError(400, "M_BAD_ALIAS", "Aliases must be strings.")
                RoomAlias.parse(alias)
                if await room_store.alias_room(conn, alias) != room_id:
                    raise MatrixError(
                        400, "M_BAD_ALIAS", f"The alias {alias} does not point to this room."
                    )

    async def do_redact(
        self,
        requester: Requester,
        room_id: str,
        event_id: str,
        reason: object = None,
        *,
        txn_id: str | None = None,
        txn_scope: str | None = None,
    ) -> str:
        content: dict[str, Any] = {"redacts": event_id}
        if reason is not None:
            if not isinstance(reason, str):
                raise MatrixError(400, "M_BAD_JSON", "`reason` must be a string.")
            content["reason"] = reason
        sender = requester.user_id
        key = txn_scope
        if key is None and txn_id is not None:
            key = txn_key("redact", room_id, event_id, txn_id)
        async with self._db.write() as conn:
            if not await self._db.lock_room(conn, room_id):
                raise forbidden(f"You are not in the room {room_id}.")
            if key is not None:
                existing = await event_store.find_txn(conn, sender, requester.device_id, key)
                if existing is not None:
                    return existing
            target = await event_store.get_event(conn, event_id)
            if target is None or target.room_id != room_id:
                raise not_found("No such event in this room.")
            mode = await self.labels.e2ee_mode_of(conn, room_id)
            e2ee = check_e2ee_redaction(mode, target.type, target.state_key)
            if not e2ee:
                raise MatrixError(403, e2ee.errcode, e2ee.reason)
            batch = RoomBatch(conn, room_id)
            await batch.load([CREATE, POWER_LEVELS, ("m.room.member", sender)])
            verdict = can_redact(batch.auth_state(), sender, target.sender)
            if not verdict:
                raise forbidden(verdict.reason)
            redaction = await self.append_one(
                batch,
                sender,
                NewEvent("m.room.redaction", content),
                device_id=requester.device_id,
                txn_id=txn_id,
                txn_key=key,
            )
            if target.redacted_by is None:
                await event_store.redact_event(
                    conn, event_id, redact_content(target.type, target.content), redaction.event_id
                )
                await media_access.forget_references(conn, target)
                await event_indexes.unindex_event(conn, target)
            bell = await self.doorbell_for(conn, room_id, batch)
        await self._bus.publish(bell)
        return redaction.event_id


def _denied_action(ev: NewEvent) -> str:
    """What a refused event was trying to do, for the audit log (``denied.<action>``)."""
    if ev.type == "m.room.member":
        membership = ev.content.get("membership")
        return membership if membership in ("join", "invite") else "membership"
    if ev.type == LABEL_EVENT:
        return "label"
    return "send"


def _membership_of(ev: NewEvent) -> str | None:
    if ev.type != "m.room.member":
        return None
    value = ev.content.get("membership")
    return value if isinstance(value, str) else None
