"""Events, room state and transaction ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Row,
    RowMapping,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.json import dumps, loads
from tumar.store.schema import current_state, event_relations, event_search, event_txns, events

StateKey = tuple[str, str]

SEALED_PREFIX = "sealed:v1:"
"""Stored ``content`` that starts with this is ciphertext (encryption at rest, see
``tumar.core.at_rest``); plaintext content is a JSON object and starts with ``{``."""
OPENER = "tumar.content_opener"
"""Key of the :class:`ContentOpener` in a connection's ``info`` (set by ``Database``)."""


OpenFn = Callable[[str, str, str, str], dict[str, Any]]
"""``(room_id, event_id, event_type, sealed text) -> content``: never raises; content saying
it is unreadable when the key is missing or the ciphertext fails its integrity check."""


class ContentOpener(Protocol):
    """Decrypts sealed event content: the one place every read of ``events.content`` passes."""

    async def prepare(self, conn: AsyncConnection, room_ids: set[str]) -> OpenFn:
        """Load the data keys of ``room_ids``; returns the function that opens their rows."""
        ...


@dataclass(frozen=True, slots=True)
class StoredEvent:
    stream_pos: int
    event_id: str
    room_id: str
    type: str
    state_key: str | None
    sender: str
    content: Mapping[str, Any]
    origin_server_ts: int
    prev_content: Mapping[str, Any] | None = None
    replaces_state: str | None = None
    membership: str | None = None
    txn_id: str | None = None
    txn_device_id: str | None = None
    redacted_by: str | None = None

    @property
    def is_state(self) -> bool:
        return self.state_key is not None

    @property
    def state_tuple(self) -> StateKey:
        assert self.state_key is not None
        return (self.type, self.state_key)


async def _events(conn: AsyncConnection, rows: Iterable[Row[Any]]) -> list[StoredEvent]:
    """Stored events from rows of ``select(events)``, sealed content decrypted."""
    rows = list(rows)
    sealed = {r.room_id for r in rows if r.content.startswith(SEALED_PREFIX)}
    opener: ContentOpener | None = conn.info.get(OPENER)
    open_fn = await opener.prepare(conn, sealed) if sealed and opener is not None else None
    return [_from_row(r, open_fn) for r in rows]


def _content(m: RowMapping, open_fn: OpenFn | None) -> dict[str, Any]:
    text: str = m["content"]
    if not text.startswith(SEALED_PREFIX):
        return loads(text)
    if open_fn is None:  # a connection that did not come from ``Database``: say so, no crash
        return {"kz.tumar.unreadable": "This content is encrypted at rest."}
    return open_fn(m["room_id"], m["event_id"], m["type"], text)


def _from_row(row: Row[Any], open_fn: OpenFn | None) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        stream_pos=m["stream_pos"],
        event_id=m["event_id"],
        room_id=m["room_id"],
        type=m["type"],
        state_key=m["state_key"],
        sender=m["sender"],
        content=_content(m, open_fn),
        origin_server_ts=m["origin_server_ts"],
        prev_content=loads(m["prev_content"]) if m["prev_content"] is not None else None,
        replaces_state=m["replaces_state"],
        membership=m["membership"],
        txn_id=m["txn_id"],
        txn_device_id=m["txn_device_id"],
        redacted_by=m["redacted_by"],
    )


# Statements of every send and every /sync, built once: building a statement costs more
# than running it (docs/performance.md).
_INSERT_EVENT = insert(events)


async def insert_event(
    conn: AsyncConnection, ev: StoredEvent, *, sealed_content: str | None = None
) -> None:
    """Insert ``ev``; with ``sealed_content`` (ciphertext starting with ``SEALED_PREFIX``),
    that is stored instead of ``ev.content``."""
    assert sealed_content is None or sealed_content.startswith(SEALED_PREFIX)
    await conn.execute(_INSERT_EVENT, _event_row(ev, sealed_content))
    if ev.state_key is not None:
        await _set_current_state(conn, ev)


def _event_row(ev: StoredEvent, sealed_content: str | None) -> dict[str, object]:
    """The ``events`` row of ``ev``; with ``sealed_content``, that instead of the content."""
    return {
        "stream_pos": ev.stream_pos,
        "event_id": ev.event_id,
        "room_id": ev.room_id,
        "type": ev.type,
        "state_key": ev.state_key,
        "sender": ev.sender,
        "content": sealed_content if sealed_content is not None else dumps(ev.content),
        "prev_content": dumps(ev.prev_content) if ev.prev_content is not None else None,
        "replaces_state": ev.replaces_state,
        "membership": ev.membership,
        "origin_server_ts": ev.origin_server_ts,
        "txn_id": ev.txn_id,
        "txn_device_id": ev.txn_device_id,
    }


@dataclass(frozen=True, slots=True)
class BulkEvent:
    """One event of :func:`insert_events`, with what is recorded next to it."""

    event: StoredEvent
    sealed_content: str | None = None
    relation: tuple[str, str, str | None] | None = None  # (relates_to_id, rel_type, key)
    search: tuple[str, str] | None = None  # (key, value) of the search index
    replaces_existing_state: bool = False  # its state key has a row in current_state


async def insert_events(conn: AsyncConnection, items: Sequence[BulkEvent]) -> None:
    """Insert many events in a few statements (the bulk path of ``RoomService.append_trusted``):
    the events, their relations (no threads) and search rows, and the current state (the last
    event of each state key wins)."""
    if not items:
        return
    rows = []
    for it in items:
        ev = it.event
        assert it.sealed_content is None or it.sealed_content.startswith(SEALED_PREFIX)
        rows.append(_event_row(ev, it.sealed_content))
    await conn.execute(insert(events), rows)
    relations = [
        {"event_id": it.event.event_id, "relates_to_id": it.relation[0],
         "rel_type": it.relation[1], "key": it.relation[2], "room_id": it.event.room_id,
         "sender": it.event.sender, "type": it.event.type, "stream_pos": it.event.stream_pos}
        for it in items
        if it.relation is not None
    ]  # fmt: skip
    if relations:
        await conn.execute(insert(event_relations), relations)
    search = [
        {"stream_pos": it.event.stream_pos, "event_id": it.event.event_id,
         "room_id": it.event.room_id, "key": it.search[0], "value": it.search[1]}
        for it in items
        if it.search is not None
    ]  # fmt: skip
    if search:
        await conn.execute(insert(event_search), search)
    latest: dict[tuple[str, str, str], BulkEvent] = {}
    existed: set[tuple[str, str, str]] = set()
    for it in items:
        ev = it.event
        if ev.state_key is None:
            continue
        key = (ev.room_id, ev.type, ev.state_key)
        if it.replaces_existing_state and key not in latest:
            existed.add(key)
        latest[key] = it
    updates = [
        {"k_room": k[0], "k_type": k[1], "k_key": k[2], "event_id": it.event.event_id,
         "stream_pos": it.event.stream_pos, "membership": it.event.membership}
        for k, it in latest.items()
        if k in existed
    ]  # fmt: skip
    if updates:
        await conn.execute(
            update(current_state)
            .where(
                current_state.c.room_id == bindparam("k_room"),
                current_state.c.type == bindparam("k_type"),
                current_state.c.state_key == bindparam("k_key"),
            )
            .values(
                event_id=bindparam("event_id"),
                stream_pos=bindparam("stream_pos"),
                membership=bindparam("membership"),
            ),
            updates,
        )
    inserts = [
        {"room_id": k[0], "type": k[1], "state_key": k[2], "event_id": it.event.event_id,
         "stream_pos": it.event.stream_pos, "membership": it.event.membership}
        for k, it in latest.items()
        if k not in existed
    ]  # fmt: skip
    if inserts:
        await conn.execute(insert(current_state), inserts)


async def current_state_of_rooms(
    conn: AsyncConnection, room_ids: Sequence[str], keys: Sequence[StateKey]
) -> dict[str, dict[StateKey, StoredEvent]]:
    """The current state events of ``keys`` in each of many rooms, in one query."""
    if not room_ids or not keys:
        return {}
    query = (
        select(events)
        .join(current_state, current_state.c.event_id == events.c.event_id)
        .where(
            current_state.c.room_id.in_(room_ids),
            tuple_(current_state.c.type, current_state.c.state_key).in_(list(keys)),
        )
    )
    out: dict[str, dict[StateKey, StoredEvent]] = {r: {} for r in room_ids}
    for ev in await _events(conn, await conn.execute(query)):
        out[ev.room_id][ev.state_tuple] = ev
    return out


async def _set_current_state(conn: AsyncConnection, ev: StoredEvent) -> None:
    assert ev.state_key is not None
    key = and_(
        current_state.c.room_id == ev.room_id,
        current_state.c.type == ev.type,
        current_state.c.state_key == ev.state_key,
    )
    values = {"event_id": ev.event_id, "stream_pos": ev.stream_pos, "membership": ev.membership}
    result = await conn.execute(update(current_state).where(key).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            insert(current_state).values(
                room_id=ev.room_id, type=ev.type, state_key=ev.state_key, **values
            )
        )


async def redact_event(
    conn: AsyncConnection, event_id: str, redacted_content: Mapping[str, Any], redacted_by: str
) -> None:
    await conn.execute(
        update(events)
        .where(events.c.event_id == event_id)
        .values(content=dumps(redacted_content), redacted_by=redacted_by)
    )


_EVENT = HotQuery(select(events).where(events.c.event_id == bindparam("event_id")))


async def get_event(conn: AsyncConnection, event_id: str) -> StoredEvent | None:
    found = await _EVENT.rows(conn, {"event_id": event_id})
    return (await _events(conn, found))[0] if found else None


async def get_events(conn: AsyncConnection, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
    ids = list(set(event_ids))
    if not ids:
        return {}
    rows = await conn.execute(select(events).where(events.c.event_id.in_(ids)))
    return {e.event_id: e for e in await _events(conn, rows)}


async def room_timeline(
    conn: AsyncConnection,
    room_id: str,
    *,
    after: int | None = None,
    upto: int | None = None,
    backwards: bool = True,
    limit: int = 10,
    types: Sequence[str] | None = None,
    not_types: Sequence[str] | None = None,
    senders: Sequence[str] | None = None,
    not_senders: Sequence[str] | None = None,
) -> list[StoredEvent]:
    """Events of a room with ``after < stream_pos <= upto``; newest first if ``backwards``.

    Type filters take exact names only (wildcards are applied by the caller's filter).
    """
    if types is None and not not_types and senders is None and not not_senders:
        # The shape of every /sync: a statement built once (building costs more than running).
        stmt = _timeline_stmt(after is not None, upto is not None, backwards)
        params = {"room_id": room_id, "after": after, "upto": upto, "limit": limit}
        return await _events(conn, await stmt.rows(conn, params))
    query = select(events).where(events.c.room_id == room_id)
    if after is not None:
        query = query.where(events.c.stream_pos > after)
    if upto is not None:
        query = query.where(events.c.stream_pos <= upto)
    if types is not None:
        query = query.where(events.c.type.in_(types))
    if not_types:
        query = query.where(events.c.type.not_in(not_types))
    if senders is not None:
        query = query.where(events.c.sender.in_(senders))
    if not_senders:
        query = query.where(events.c.sender.not_in(not_senders))
    order = events.c.stream_pos.desc() if backwards else events.c.stream_pos.asc()
    rows = await conn.execute(query.order_by(order).limit(limit))
    return await _events(conn, rows)


_TIMELINES: dict[tuple[bool, bool, bool], HotQuery] = {}


def _timeline_stmt(has_after: bool, has_upto: bool, backwards: bool) -> HotQuery:
    key = (has_after, has_upto, backwards)
    hot = _TIMELINES.get(key)
    if hot is None:
        stmt = select(events).where(events.c.room_id == bindparam("room_id"))
        if has_after:
            stmt = stmt.where(events.c.stream_pos > bindparam("after"))
        if has_upto:
            stmt = stmt.where(events.c.stream_pos <= bindparam("upto"))
        order = events.c.stream_pos.desc() if backwards else events.c.stream_pos.asc()
        stmt = stmt.order_by(order).limit(bindparam("limit", literal_execute=False))
        hot = _TIMELINES[key] = HotQuery(stmt)
    return hot


async def state_before(
    conn: AsyncConnection,
    room_id: str,
    before: int,
    *,
    after: int | None = None,
    types: Sequence[str] | None = None,
) -> list[StoredEvent]:
    """The room state just before position ``before`` (state events with pos < before).

    With ``after``, only the keys that changed after that position (a state delta).
    """
    latest = (
        select(func.max(events.c.stream_pos).label("pos"))
        .where(
            events.c.room_id == room_id,
            events.c.state_key.is_not(None),
            events.c.stream_pos < before,
        )
        .group_by(events.c.type, events.c.state_key)
    )
    if after is not None:
        latest = latest.having(func.max(events.c.stream_pos) > after)
    if types is not None:
        latest = latest.where(events.c.type.in_(types))
    sub = latest.subquery()
    rows = await conn.execute(
        select(events).join(sub, events.c.stream_pos == sub.c.pos).order_by(events.c.stream_pos)
    )
    return await _events(conn, rows)


_STATE_BY_KEYS = (
    select(events)
    .join(current_state, current_state.c.event_id == events.c.event_id)
    .where(
        current_state.c.room_id == bindparam("room_id"),
        tuple_(current_state.c.type, current_state.c.state_key).in_(
            bindparam("keys", expanding=True)
        ),
    )
    .order_by(events.c.stream_pos)
)


async def current_state_events(
    conn: AsyncConnection,
    room_id: str,
    *,
    keys: Iterable[StateKey] | None = None,
    types: Sequence[str] | None = None,
) -> list[StoredEvent]:
    key_list = list(keys) if keys is not None else None
    if key_list is not None and types is None:  # the state an event's authorisation needs
        if not key_list:
            return []
        params = {"room_id": room_id, "keys": key_list}
        return await _events(conn, await conn.execute(_STATE_BY_KEYS, params))
    query = (
        select(events)
        .join(current_state, current_state.c.event_id == events.c.event_id)
        .where(current_state.c.room_id == room_id)
    )
    if key_list is not None:
        if not key_list:
            return []
        query = query.where(tuple_(current_state.c.type, current_state.c.state_key).in_(key_list))
    if types is not None:
        query = query.where(current_state.c.type.in_(types))
    rows = await conn.execute(query.order_by(events.c.stream_pos))
    return await _events(conn, rows)


async def current_state_map(
    conn: AsyncConnection, room_id: str, keys: Iterable[StateKey] | None = None
) -> dict[StateKey, StoredEvent]:
    return {e.state_tuple: e for e in await current_state_events(conn, room_id, keys=keys)}


@dataclass(frozen=True, slots=True)
class PushFacts:
    """What push rules need of a room for one user: their membership event, the power
    levels, and how many have joined."""

    member: StoredEvent | None
    power_levels: StoredEvent | None
    joined: int


_PUSH_STATE = HotQuery(
    select(events)
    .join(current_state, current_state.c.event_id == events.c.event_id)
    .where(
        current_state.c.room_id == bindparam("room_id"),
        or_(
            and_(
                current_state.c.type == "m.room.member",
                current_state.c.state_key == bindparam("user_id"),
            ),
            and_(current_state.c.type == "m.room.power_levels", current_state.c.state_key == ""),
        ),
    )
)
_JOINED_COUNT = HotQuery(
    select(func.count()).where(
        current_state.c.room_id == bindparam("room_id"),
        current_state.c.type == "m.room.member",
        current_state.c.membership == "join",
    )
)


async def push_facts(conn: AsyncConnection, room_id: str, user_id: str) -> PushFacts:
    """Two indexed reads on the driver (``store/hot.py``). The unread counts keep what they
    found per user and room until a state event or a read receipt there, so the first
    message in many rooms at once (a notification to thousands of notice rooms) pays them
    once per room; ``/notifications`` reads them per request and room."""
    params = {"room_id": room_id, "user_id": user_id}
    found = {e.type: e for e in await _events(conn, await _PUSH_STATE.rows(conn, params))}
    (count,) = (await _JOINED_COUNT.rows(conn, {"room_id": room_id}))[0]
    return PushFacts(found.get("m.room.member"), found.get("m.room.power_levels"), int(count))


async def room_members(
    conn: AsyncConnection, room_id: str, memberships: Sequence[str] = ("join",)
) -> list[str]:
    params = {"room_id": room_id, "memberships": list(memberships)}
    return [r.state_key for r in await _ROOM_MEMBERS.rows(conn, params)]


_ROOM_MEMBERS = HotQuery(
    select(current_state.c.state_key).where(
        current_state.c.room_id == bindparam("room_id"),
        current_state.c.type == "m.room.member",
        current_state.c.membership.in_(bindparam("memberships", expanding=True)),
    )
)


async def joined_and_invited(conn: AsyncConnection, room_id: str) -> tuple[list[str], list[str]]:
    """The room's joined and invited members, in one query (a sync's room summary)."""
    joined: list[str] = []
    invited: list[str] = []
    for r in await _JOINED_AND_INVITED.rows(conn, {"room_id": room_id}):
        (joined if r.membership == "join" else invited).append(r.state_key)
    return joined, invited


_JOINED_AND_INVITED = HotQuery(
    select(current_state.c.state_key, current_state.c.membership).where(
        current_state.c.room_id == bindparam("room_id"),
        current_state.c.type == "m.room.member",
        current_state.c.membership.in_(("join", "invite")),
    )
)


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    membership: str
    event_id: str
    stream_pos: int


_MEMBERSHIPS = HotQuery(
    select(
        current_state.c.room_id,
        current_state.c.membership,
        current_state.c.event_id,
        current_state.c.stream_pos,
    ).where(
        current_state.c.state_key == bindparam("user_id"), current_state.c.type == "m.room.member"
    )
)


async def memberships_of(
    conn: AsyncConnection,
    user_id: str,
    memberships: Sequence[str] | None = None,
    *,
    changed_after: int | None = None,
) -> list[Membership]:
    if memberships is None and changed_after is None:  # every initial /sync: built once
        found = await _MEMBERSHIPS.rows(conn, {"user_id": user_id})
        return [Membership(r.room_id, r.membership, r.event_id, r.stream_pos) for r in found]
    query = select(
        current_state.c.room_id,
        current_state.c.membership,
        current_state.c.event_id,
        current_state.c.stream_pos,
    ).where(current_state.c.state_key == user_id, current_state.c.type == "m.room.member")
    if memberships is not None:
        query = query.where(current_state.c.membership.in_(memberships))
    if changed_after is not None:
        query = query.where(current_state.c.stream_pos > changed_after)
    rows = await conn.execute(query)
    return [Membership(r.room_id, r.membership, r.event_id, r.stream_pos) for r in rows]


async def last_stay(
    conn: AsyncConnection, room_id: str, user_id: str, upto: int
) -> tuple[int, int] | None:
    """The user's last stay in the room at or before ``upto``: the position of the join that
    began it and of the membership event that ended it (``upto`` if still joined there).
    ``None`` if they were never joined: a user who was only invited, or banned, never saw the
    room."""
    rows = await conn.execute(
        select(events.c.stream_pos, events.c.membership)
        .where(
            events.c.room_id == room_id,
            events.c.type == "m.room.member",
            events.c.state_key == user_id,
            events.c.stream_pos <= upto,
        )
        .order_by(events.c.stream_pos)
    )
    stay: tuple[int, int] | None = None
    joined_at: int | None = None
    for row in rows:
        if row.membership == "join":
            if joined_at is None:
                joined_at = row.stream_pos
        elif joined_at is not None:
            stay = (joined_at, row.stream_pos)
            joined_at = None
    return (joined_at, upto) if joined_at is not None else stay


async def shares_room(conn: AsyncConnection, a: str, b: str) -> bool:
    mine = (
        select(current_state.c.room_id)
        .where(
            current_state.c.state_key == a,
            current_state.c.type == "m.room.member",
            current_state.c.membership == "join",
        )
        .scalar_subquery()
    )
    row = await conn.execute(
        select(current_state.c.room_id)
        .where(
            current_state.c.state_key == b,
            current_state.c.type == "m.room.member",
            current_state.c.membership.in_(("join", "invite")),
            current_state.c.room_id.in_(mine),
        )
        .limit(1)
    )
    return row.first() is not None


_FIND_TXN = HotQuery(
    select(event_txns.c.event_id).where(
        event_txns.c.user_id == bindparam("user_id"),
        event_txns.c.device_id == bindparam("device_id"),
        event_txns.c.txn_id == bindparam("txn_id"),
    )
)
_INSERT_TXN = insert(event_txns)


async def find_txn(conn: AsyncConnection, user_id: str, device_id: str, txn_id: str) -> str | None:
    params = {"user_id": user_id, "device_id": device_id, "txn_id": txn_id}
    found = await _FIND_TXN.rows(conn, params)
    return str(found[0].event_id) if found else None


async def insert_txn(
    conn: AsyncConnection, user_id: str, device_id: str, txn_id: str, event_id: str, ts: int
) -> None:
    await conn.execute(
        _INSERT_TXN,
        {
            "user_id": user_id,
            "device_id": device_id,
            "txn_id": txn_id,
            "event_id": event_id,
            "created_ts": ts,
        },
    )


async def delete_txns_for_device(conn: AsyncConnection, user_id: str, device_id: str) -> None:
    await conn.execute(
        delete(event_txns).where(
            event_txns.c.user_id == user_id, event_txns.c.device_id == device_id
        )
    )


async def events_from_rows(conn: AsyncConnection, rows: Iterable[Row[Any]]) -> list[StoredEvent]:
    """Stored events from rows of ``select(events)`` (for queries in other repositories),
    sealed content decrypted: every reader of ``events.content`` goes through here."""
    return await _events(conn, rows)
