"""Wrapped data keys (see :mod:`tumar.core.data_keys`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
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
) -> None:
    """Insert unless another writer (perhaps on another node) got there first."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(data_keys)
        .values(scope=scope, key_id=key_id, wrapped=wrapped, created_ts=now, wrapped_ts=now)
        .on_conflict_do_nothing(index_elements=["scope"])
    )


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
