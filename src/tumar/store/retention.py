"""Retention and legal holds: holds, runs, the rooms by label, expired-message candidates, and
the removal of everything derived from a purged event.

``DERIVED_TABLES`` names every table that keeps a copy of, or an index over, an event's
content. :func:`delete_derived` removes their rows for purged events: by ``stream_pos`` when the
table has that column, else by ``event_id``; a table not defined (yet) is skipped, so features
can land in any order. A feature that adds such a table adds its name here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store import events as event_store
from tumar.store import relations as relation_store
from tumar.store.events import StoredEvent
from tumar.store.schema import (
    event_relations,
    events,
    legal_holds,
    media,
    media_refs,
    metadata,
    people,
    retention_runs,
    room_labels,
    rooms,
    users,
)

log = logging.getLogger(__name__)

#: Tables holding content derived from an event (text, fingerprints, relations, references,
#: reports). ``event_threads`` is kept up to date through the relation store instead.
DERIVED_TABLES: tuple[str, ...] = (
    "event_search",  # full-text search (SQLite's FTS5 shadow follows by trigger)
    "event_relations",  # replies, edits, reactions, threads
    "media_refs",  # which media the event shared
    "event_reports",  # reports of the event (their reason often quotes it)
    "content_fingerprints",  # DLP fingerprints of the text
)

THREAD = "m.thread"


# ---- legal holds ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    target_type: str  # room | person | user
    target_id: str
    person_id: str | None
    org_code: str | None
    reason: str
    placed_by: str
    placed_ts: int
    lifted_by: str | None
    lifted_ts: int | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_ts is None


def _hold(row: Row[Any]) -> Hold:
    return Hold(**row._mapping)


async def insert_hold(conn: AsyncConnection, hold: Hold) -> None:
    values = {k: getattr(hold, k) for k in Hold.__slots__}
    await conn.execute(insert(legal_holds).values(**values))


async def get_hold(conn: AsyncConnection, hold_id: str) -> Hold | None:
    row = (await conn.execute(select(legal_holds).where(legal_holds.c.hold_id == hold_id))).first()
    return _hold(row) if row else None


async def list_holds(
    conn: AsyncConnection, *, active_only: bool = True, target_id: str | None = None
) -> list[Hold]:
    query = select(legal_holds).order_by(legal_holds.c.placed_ts, legal_holds.c.hold_id)
    if active_only:
        query = query.where(legal_holds.c.lifted_ts.is_(None))
    if target_id is not None:
        query = query.where(
            or_(legal_holds.c.target_id == target_id, legal_holds.c.person_id == target_id)
        )
    return [_hold(r) for r in await conn.execute(query)]


async def lift_hold(
    conn: AsyncConnection, hold_id: str, *, lifted_by: str, lifted_ts: int, reason: str
) -> bool:
    result = await conn.execute(
        update(legal_holds)
        .where(legal_holds.c.hold_id == hold_id, legal_holds.c.lifted_ts.is_(None))
        .values(lifted_by=lifted_by, lifted_ts=lifted_ts, lift_reason=reason)
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class HeldSet:
    rooms: frozenset[str]
    users: frozenset[str]


async def held(conn: AsyncConnection) -> HeldSet:
    """The rooms and the accounts under an active hold (a person hold covers the person's
    current account)."""
    rows = await conn.execute(
        select(
            legal_holds.c.target_type, legal_holds.c.target_id, people.c.user_id.label("account")
        )
        .select_from(legal_holds.outerjoin(people, people.c.person_id == legal_holds.c.person_id))
        .where(legal_holds.c.lifted_ts.is_(None))
    )
    rooms: set[str] = set()
    accounts: set[str] = set()
    for r in rows:
        if r.target_type == "room":
            rooms.add(r.target_id)
            continue
        if r.target_type == "user":
            accounts.add(r.target_id)
        if r.account is not None:
            accounts.add(r.account)
    return HeldSet(frozenset(rooms), frozenset(accounts))


async def room_creator(conn: AsyncConnection, room_id: str) -> str | None:
    query = select(rooms.c.creator).where(rooms.c.room_id == room_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def user_exists(conn: AsyncConnection, user_id: str) -> bool:
    query = select(users.c.user_id).where(users.c.user_id == user_id)
    return (await conn.execute(query)).first() is not None


# ---- rooms by label ---------------------------------------------------------------------------


async def room_labels_or(conn: AsyncConnection, default: str) -> dict[str, str]:
    """Every room with its label (``room_labels``, materialised from the rooms'
    ``kz.tumar.classification`` state); ``default`` for rooms without one (created before
    labels existed)."""
    rows = await conn.execute(
        select(rooms.c.room_id, room_labels.c.label).select_from(
            rooms.outerjoin(room_labels, room_labels.c.room_id == rooms.c.room_id)
        )
    )
    return {r.room_id: r.label if r.label is not None else default for r in rows}


# ---- candidates and purging -----------------------------------------------------------------


async def candidates(
    conn: AsyncConnection, room_id: str, *, before_ts: int, after_pos: int, limit: int
) -> list[StoredEvent]:
    """Message (non-state) events of the room older than ``before_ts`` that still have their
    content, after the cursor ``after_pos``, oldest first."""
    rows = await conn.execute(
        select(events)
        .where(
            events.c.room_id == room_id,
            events.c.stream_pos > after_pos,
            events.c.state_key.is_(None),
            events.c.redacted_by.is_(None),
            events.c.origin_server_ts < before_ts,
        )
        .order_by(events.c.stream_pos)
        .limit(limit)
    )
    return await event_store.events_from_rows(conn, rows)


async def mark_purged(
    conn: AsyncConnection, ev: StoredEvent, redacted_content: dict[str, Any], marker: str
) -> None:
    await event_store.redact_event(conn, ev.event_id, redacted_content, marker)


async def referenced_media(conn: AsyncConnection, positions: Sequence[int]) -> set[str]:
    if not positions:
        return set()
    rows = await conn.execute(
        select(media_refs.c.media_id).where(media_refs.c.stream_pos.in_(positions)).distinct()
    )
    return {r.media_id for r in rows}


async def delete_derived(
    conn: AsyncConnection, room_id: str, purged: Sequence[StoredEvent]
) -> dict[str, int]:
    """Delete the rows derived from ``purged`` (events of ``room_id``) from every table in
    ``DERIVED_TABLES`` that exists; rows deleted per table."""
    if not purged:
        return {}
    positions = [e.stream_pos for e in purged]
    event_ids = [e.event_id for e in purged]
    # Thread relations move their thread's latest event back: the relation store does that.
    threaded = await conn.execute(
        select(event_relations.c.event_id).where(
            event_relations.c.event_id.in_(event_ids),
            event_relations.c.rel_type == THREAD,
        )
    )
    for row in threaded:
        await relation_store.delete_relation(conn, row.event_id)
    counts: dict[str, int] = {}
    for name in DERIVED_TABLES:
        table = metadata.tables.get(name)
        if table is None:
            continue
        columns = table.c
        condition: ColumnElement[bool]
        if "stream_pos" in columns:
            condition = columns["stream_pos"].in_(positions)
        elif "event_id" in columns:
            condition = columns["event_id"].in_(event_ids)
        else:
            log.warning("derived table has neither stream_pos nor event_id", extra={"t": name})
            continue
        if "room_id" in columns:
            condition = and_(condition, columns["room_id"] == room_id)
        result = await conn.execute(delete(table).where(condition))
        counts[name] = max(result.rowcount or 0, 0)
    return counts


async def unreferenced_media(
    conn: AsyncConnection, media_ids: Collection[str], server_name: str
) -> list[str]:
    """Those of ``media_ids`` that no event refers to any more and no account uses as its
    avatar."""
    if not media_ids:
        return []
    ids = list(media_ids)
    still = await conn.execute(
        select(media_refs.c.media_id).where(media_refs.c.media_id.in_(ids)).distinct()
    )
    keep = {r.media_id for r in still}
    avatars = await conn.execute(
        select(users.c.avatar_url).where(
            users.c.avatar_url.in_([f"mxc://{server_name}/{m}" for m in ids])
        )
    )
    keep.update(str(r.avatar_url).rsplit("/", 1)[-1] for r in avatars)
    return sorted(set(ids) - keep)


async def delete_media_rows(conn: AsyncConnection, media_ids: Sequence[str]) -> None:
    if media_ids:
        await conn.execute(delete(media).where(media.c.media_id.in_(list(media_ids))))


# ---- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    run_id: int
    trigger: str
    actor: str
    started_ts: int
    finished_ts: int | None
    status: str
    events_purged: int
    media_deleted: int
    rooms: int


async def insert_run(conn: AsyncConnection, *, trigger: str, actor: str, started_ts: int) -> int:
    result = await conn.execute(
        insert(retention_runs)
        .values(
            trigger=trigger,
            actor=actor,
            started_ts=started_ts,
            status="running",
            events_purged=0,
            media_deleted=0,
            rooms=0,
        )
        .returning(retention_runs.c.run_id)
    )
    return int(result.scalar_one())


async def finish_run(
    conn: AsyncConnection,
    run_id: int,
    *,
    finished_ts: int,
    status: str,
    events_purged: int,
    media_deleted: int,
    rooms: int,
) -> None:
    await conn.execute(
        update(retention_runs)
        .where(retention_runs.c.run_id == run_id)
        .values(
            finished_ts=finished_ts,
            status=status,
            events_purged=events_purged,
            media_deleted=media_deleted,
            rooms=rooms,
        )
    )


async def list_runs(conn: AsyncConnection, limit: int = 20) -> list[Run]:
    rows = await conn.execute(
        select(retention_runs).order_by(retention_runs.c.run_id.desc()).limit(limit)
    )
    return [Run(**r._mapping) for r in rows]
