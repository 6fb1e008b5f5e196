"""The relations index (``event_relations``) and the thread list (``event_threads``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.events import StoredEvent, events_from_rows
from tumar.store.hot import HotQuery
from tumar.store.schema import event_relations, event_threads, events

THREAD = "m.thread"
REPLACE = "m.replace"
REFERENCE = "m.reference"


def _summary(with_upto: bool) -> Select[Any]:
    """Per parent and relation type: count, latest position, and 1 when the viewer sent one
    of the children (thread participation)."""
    r = event_relations.c
    where: list[ColumnElement[bool]] = [r.relates_to_id.in_(bindparam("ids", expanding=True))]
    if with_upto:
        where.append(r.stream_pos <= bindparam("upto"))
    participated = func.max(case((r.sender == bindparam("viewer"), 1), else_=0))
    return (
        select(r.relates_to_id, r.rel_type, func.count(), func.max(r.stream_pos), participated)
        .where(*where, r.rel_type.in_((THREAD, REPLACE, REFERENCE)))
        .group_by(r.relates_to_id, r.rel_type)
    )


# Every /sync serialises its events with their aggregations: built once (index: with ``upto``).
_SUMMARY = (HotQuery(_summary(False)), HotQuery(_summary(True)))
MAX_REFERENCES = 100  # bundled per event; more are paged through /relations


@dataclass(frozen=True, slots=True)
class RelationRow:
    event_id: str
    relates_to_id: str
    rel_type: str
    key: str | None
    room_id: str
    sender: str
    type: str
    stream_pos: int


@dataclass(slots=True)
class Aggregate:
    """What is bundled with one parent event, by position (events are loaded afterwards)."""

    thread_count: int = 0
    thread_latest: int | None = None
    thread_participated: bool = False
    replace_latest: int | None = None
    references: list[str] = field(default_factory=list)


async def insert_relation(conn: AsyncConnection, row: RelationRow) -> None:
    await conn.execute(
        insert(event_relations).values(
            event_id=row.event_id,
            relates_to_id=row.relates_to_id,
            rel_type=row.rel_type,
            key=row.key,
            room_id=row.room_id,
            sender=row.sender,
            type=row.type,
            stream_pos=row.stream_pos,
        )
    )
    if row.rel_type == THREAD:
        await _set_thread_latest(conn, row.relates_to_id, row.room_id, row.stream_pos)


async def _set_thread_latest(
    conn: AsyncConnection, thread_id: str, room_id: str, latest: int | None
) -> None:
    key = event_threads.c.thread_id == thread_id
    if latest is None:
        await conn.execute(delete(event_threads).where(key))
        return
    result = await conn.execute(update(event_threads).where(key).values(latest_pos=latest))
    if result.rowcount == 0:
        await conn.execute(
            insert(event_threads).values(thread_id=thread_id, room_id=room_id, latest_pos=latest)
        )


async def get_relation(conn: AsyncConnection, event_id: str) -> RelationRow | None:
    row = (
        await conn.execute(select(event_relations).where(event_relations.c.event_id == event_id))
    ).first()
    return RelationRow(**row._mapping) if row else None


async def delete_relation(conn: AsyncConnection, event_id: str) -> None:
    """Forget a redacted event's relation (and move its thread's latest event back)."""
    row = await get_relation(conn, event_id)
    if row is None:
        return
    await conn.execute(delete(event_relations).where(event_relations.c.event_id == event_id))
    if row.rel_type == THREAD:
        latest = await conn.execute(
            select(func.max(event_relations.c.stream_pos)).where(
                event_relations.c.relates_to_id == row.relates_to_id,
                event_relations.c.rel_type == THREAD,
            )
        )
        await _set_thread_latest(conn, row.relates_to_id, row.room_id, latest.scalar_one_or_none())


async def has_annotation(
    conn: AsyncConnection, parent_id: str, sender: str, event_type: str, key: str
) -> bool:
    row = await conn.execute(
        select(event_relations.c.event_id)
        .where(
            event_relations.c.relates_to_id == parent_id,
            event_relations.c.rel_type == "m.annotation",
            event_relations.c.sender == sender,
            event_relations.c.type == event_type,
            event_relations.c.key == key,
        )
        .limit(1)
    )
    return row.first() is not None


async def children(
    conn: AsyncConnection,
    parent_ids: Sequence[str],
    *,
    rel_type: str | None = None,
    event_type: str | None = None,
    after: int | None = None,
    upto: int | None = None,
    backwards: bool = True,
    limit: int | None = None,
) -> list[StoredEvent]:
    """Events relating directly to any of ``parent_ids`` with ``after < pos <= upto``."""
    if not parent_ids:
        return []
    query = (
        select(events)
        .join(event_relations, event_relations.c.event_id == events.c.event_id)
        .where(event_relations.c.relates_to_id.in_(list(parent_ids)))
    )
    if rel_type is not None:
        query = query.where(event_relations.c.rel_type == rel_type)
    if event_type is not None:
        query = query.where(event_relations.c.type == event_type)
    if after is not None:
        query = query.where(event_relations.c.stream_pos > after)
    if upto is not None:
        query = query.where(event_relations.c.stream_pos <= upto)
    order = events.c.stream_pos.desc() if backwards else events.c.stream_pos.asc()
    query = query.order_by(order)
    if limit is not None:
        query = query.limit(limit)
    return await events_from_rows(conn, await conn.execute(query))


async def aggregates(
    conn: AsyncConnection, parent_ids: Iterable[str], viewer: str | None, upto: int | None
) -> dict[str, Aggregate]:
    """Thread summaries, latest edits and references of ``parent_ids``, counting only
    children at or below ``upto`` (what the viewer may see)."""
    ids = list(set(parent_ids))
    if not ids:
        return {}
    out: dict[str, Aggregate] = {}
    params = {"ids": ids, "viewer": viewer or "", "upto": upto}
    summary = await _SUMMARY[upto is not None].rows(conn, params)
    referenced = []
    for parent, rel_type, count, latest, mine in summary:
        agg = out.setdefault(parent, Aggregate())
        if rel_type == THREAD:
            agg.thread_count = int(count)
            agg.thread_latest = int(latest)
            agg.thread_participated = bool(mine)
        elif rel_type == REPLACE:
            agg.replace_latest = int(latest)
        else:
            referenced.append(parent)
    if not referenced:  # the common case: one statement in all
        return out
    visible: list[ColumnElement[bool]] = [event_relations.c.relates_to_id.in_(ids)]
    if upto is not None:
        visible.append(event_relations.c.stream_pos <= upto)
    refs = await conn.execute(
        select(event_relations.c.relates_to_id, event_relations.c.event_id)
        .where(
            *visible,
            event_relations.c.relates_to_id.in_(referenced),
            event_relations.c.rel_type == REFERENCE,
        )
        .order_by(event_relations.c.stream_pos)
    )
    for parent, event_id in refs:
        agg = out.setdefault(parent, Aggregate())
        if len(agg.references) < MAX_REFERENCES:
            agg.references.append(event_id)
    return out


async def events_at(conn: AsyncConnection, positions: Iterable[int]) -> dict[int, StoredEvent]:
    wanted = list(set(positions))
    if not wanted:
        return {}
    rows = await conn.execute(select(events).where(events.c.stream_pos.in_(wanted)))
    return {e.stream_pos: e for e in await events_from_rows(conn, rows)}


@dataclass(frozen=True, slots=True)
class ThreadRow:
    thread_id: str
    latest_pos: int


async def threads(
    conn: AsyncConnection,
    room_id: str,
    *,
    before: int | None,
    upto: int | None,
    limit: int,
    participant: str | None = None,
) -> list[ThreadRow]:
    """Thread roots of a room by their latest thread event, newest first; only roots at or
    below ``upto``; with ``participant``, only threads that user started or wrote in."""
    query = (
        select(event_threads.c.thread_id, event_threads.c.latest_pos)
        .join(events, events.c.event_id == event_threads.c.thread_id)
        .where(event_threads.c.room_id == room_id)
    )
    if before is not None:
        query = query.where(event_threads.c.latest_pos < before)
    if upto is not None:
        query = query.where(events.c.stream_pos <= upto)
    if participant is not None:
        wrote = (
            select(event_relations.c.event_id)
            .where(
                event_relations.c.relates_to_id == event_threads.c.thread_id,
                event_relations.c.rel_type == THREAD,
                event_relations.c.sender == participant,
            )
            .exists()
        )
        query = query.where(or_(events.c.sender == participant, wrote))
    rows = await conn.execute(query.order_by(event_threads.c.latest_pos.desc()).limit(limit))
    return [ThreadRow(r.thread_id, r.latest_pos) for r in rows]


async def thread_of_event(conn: AsyncConnection, event_id: str) -> str | None:
    """The thread an event belongs to: the root of its ``m.thread`` relation, or of the
    event it annotates or edits (a reaction to a thread message is in that thread); None for
    the main timeline."""
    row = await get_relation(conn, event_id)
    if row is None:
        return None
    if row.rel_type == THREAD:
        return row.relates_to_id
    parent = await get_relation(conn, row.relates_to_id)
    return parent.relates_to_id if parent is not None and parent.rel_type == THREAD else None
