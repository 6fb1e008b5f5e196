"""Sets of rooms a sync withheld from a session (conditional access, ``core/device_gate.py``),
stored under their content-addressed id, which the sync token carries. A set never changes
once stored, so any node can read it back, and two writers of the same set agree."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import sync_holds


async def save(conn: AsyncConnection, hold_id: str, rooms: Iterable[str], now_ms: int) -> None:
    """Store the set unless it is stored already (perhaps by another node)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(sync_holds)
        .values(hold_id=hold_id, rooms=orjson.dumps(sorted(rooms)).decode(), created_ts=now_ms)
        .on_conflict_do_nothing(index_elements=["hold_id"])
    )


async def load(conn: AsyncConnection, hold_id: str) -> frozenset[str] | None:
    """The set stored under ``hold_id``, or None if there is none."""
    text = (
        await conn.execute(select(sync_holds.c.rooms).where(sync_holds.c.hold_id == hold_id))
    ).scalar_one_or_none()
    if text is None:
        return None
    rooms = orjson.loads(text)
    assert isinstance(rooms, list)
    return frozenset(str(r) for r in rooms)
