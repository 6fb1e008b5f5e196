"""Wrapped data keys (see :mod:`tumar.core.data_keys`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import data_keys

K = data_keys.c


@dataclass(frozen=True, slots=True)
class WrappedKey:
    scope: str
    key_id: str
    wrapped: bytes


async def get(conn: AsyncConnection, scope: str) -> WrappedKey | None:
    row = (await conn.execute(select(data_keys).where(K.scope == scope))).first()
    return WrappedKey(row.scope, row.key_id, bytes(row.wrapped)) if row is not None else None


async def insert_if_missing(
    conn: AsyncConnection, scope: str, key_id: str, wrapped: bytes, now: int
) -> bool:
    """Insert unless another writer (perhaps on another node) got there first; returns
    whether this call inserted it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(data_keys)
        .values(scope=scope, key_id=key_id, wrapped=wrapped, created_ts=now, wrapped_ts=now)
        .on_conflict_do_nothing(index_elements=["scope"])
    )
    return bool(result.rowcount)


async def wrapped_with_other_than(
    conn: AsyncConnection, key_id: str, limit: int
) -> list[WrappedKey]:
    rows = await conn.execute(
        select(data_keys).where(K.key_id != key_id).order_by(K.scope).limit(limit)
    )
    return [WrappedKey(r.scope, r.key_id, bytes(r.wrapped)) for r in rows]


async def rewrap(
    conn: AsyncConnection, scope: str, old_key_id: str, key_id: str, wrapped: bytes, now: int
) -> bool:
    """Replace one wrapping, only if it is still wrapped with ``old_key_id``."""
    result = await conn.execute(
        update(data_keys)
        .where(K.scope == scope, K.key_id == old_key_id)
        .values(key_id=key_id, wrapped=wrapped, wrapped_ts=now)
    )
    return bool(result.rowcount)


async def existing_scopes(conn: AsyncConnection, scopes: Sequence[str]) -> set[str]:
    """Which of ``scopes`` have a data key."""
    found: set[str] = set()
    wanted = list(dict.fromkeys(scopes))
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(select(K.scope).where(K.scope.in_(wanted[start : start + 500])))
        found.update(r.scope for r in rows)
    return found


async def count_by_key_id(conn: AsyncConnection) -> dict[str, int]:
    """How many data keys each master key wraps."""
    rows = await conn.execute(select(K.key_id, func.count()).group_by(K.key_id))
    return {r[0]: int(r[1]) for r in rows}
