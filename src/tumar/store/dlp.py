"""Content fingerprints (``content_fingerprints``) and where media was posted, for DLP."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import content_fingerprints, media_refs

CHUNK = 500  # bound parameters per lookup (SQLite allows at most 32766 in one statement)
T = TypeVar("T")


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def found_per_room(conn: AsyncConnection, fps: Collection[int]) -> dict[str, int]:
    """How many of ``fps`` each room holds (rooms holding none are left out)."""
    counts: dict[str, int] = {}
    fp = content_fingerprints.c
    for chunk in _chunks(sorted(fps)):
        query = select(fp.room_id, func.count()).where(fp.fp.in_(chunk)).group_by(fp.room_id)
        for room_id, count in (await conn.execute(query)).all():
            counts[room_id] = counts.get(room_id, 0) + int(count)
    return counts


async def record(
    conn: AsyncConnection, room_id: str, fps: Collection[int], stream_pos: int
) -> None:
    """Store ``fps`` for ``room_id``; a fingerprint already there moves to ``stream_pos``."""
    if not fps:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    rows = [{"fp": fp, "room_id": room_id, "stream_pos": stream_pos} for fp in sorted(fps)]
    for chunk in _chunks(rows):
        stmt = dialect.insert(content_fingerprints)
        stmt = stmt.on_conflict_do_update(
            index_elements=["fp", "room_id"], set_={"stream_pos": stmt.excluded.stream_pos}
        )
        await conn.execute(stmt, chunk)


async def rooms_of_media(conn: AsyncConnection, media_ids: Collection[str]) -> dict[str, set[str]]:
    """The rooms whose events refer to each of ``media_ids`` (media never posted: left out)."""
    out: dict[str, set[str]] = {}
    ref = media_refs.c
    for chunk in _chunks(sorted(media_ids)):
        query = select(ref.media_id, ref.room_id).where(ref.media_id.in_(chunk)).distinct()
        for media_id, room_id in (await conn.execute(query)).all():
            out.setdefault(media_id, set()).add(room_id)
    return out
