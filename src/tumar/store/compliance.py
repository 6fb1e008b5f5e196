"""Reads for compliance exports: events and audit rows of a room, a person or a time range,
oldest first, a page at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.audit import AuditEntry
from tumar.store.events import StoredEvent, events_from_rows
from tumar.store.schema import audit_log, events


async def events_page(
    conn: AsyncConnection,
    *,
    room_id: str | None,
    sender: str | None,
    since_ts: int | None,
    until_ts: int | None,
    after_pos: int,
    limit: int,
) -> list[StoredEvent]:
    conds: list[Any] = [events.c.stream_pos > after_pos]
    if room_id is not None:
        conds.append(events.c.room_id == room_id)
    if sender is not None:
        conds.append(events.c.sender == sender)
    if since_ts is not None:
        conds.append(events.c.origin_server_ts >= since_ts)
    if until_ts is not None:
        conds.append(events.c.origin_server_ts < until_ts)
    query = select(events).where(and_(*conds)).order_by(events.c.stream_pos).limit(limit)
    return await events_from_rows(conn, await conn.execute(query))


async def audit_page(
    conn: AsyncConnection,
    *,
    target_id: str | None,
    person: str | None,
    since_ts: int | None,
    until_ts: int | None,
    after_seq: int,
    until_seq: int,
    limit: int,
) -> list[AuditEntry]:
    """Rows about ``target_id``, or by or about ``person``, in the time range."""
    conds: list[Any] = [audit_log.c.seq > after_seq, audit_log.c.seq <= until_seq]
    if target_id is not None:
        conds.append(audit_log.c.target_id == target_id)
    if person is not None:
        conds.append(or_(audit_log.c.actor == person, audit_log.c.target_id == person))
    if since_ts is not None:
        conds.append(audit_log.c.ts >= since_ts)
    if until_ts is not None:
        conds.append(audit_log.c.ts < until_ts)
    query = select(*audit_log.c).where(and_(*conds)).order_by(audit_log.c.seq).limit(limit)
    return [AuditEntry(**r._mapping) for r in await conn.execute(query)]
