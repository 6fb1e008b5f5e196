"""Reports of events and rooms, for the server's moderators."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import event_reports


@dataclass(frozen=True, slots=True)
class Report:
    report_id: int
    room_id: str
    event_id: str | None
    reporter: str
    reason: str | None
    score: int | None
    ts: int


async def insert_report(
    conn: AsyncConnection,
    *,
    room_id: str,
    event_id: str | None,
    reporter: str,
    reason: str | None,
    score: int | None,
    ts: int,
) -> None:
    await conn.execute(
        insert(event_reports).values(
            room_id=room_id,
            event_id=event_id,
            reporter=reporter,
            reason=reason,
            score=score,
            ts=ts,
        )
    )


async def list_reports(conn: AsyncConnection, room_id: str | None = None) -> list[Report]:
    query = select(event_reports).order_by(event_reports.c.report_id)
    if room_id is not None:
        query = query.where(event_reports.c.room_id == room_id)
    return [Report(**r._mapping) for r in await conn.execute(query)]
