"""Failed-login counters per account and per client address, shared by every node."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.lockout import ThrottleState
from tumar.store.schema import login_throttle

T = login_throttle.c


async def get_states(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, ThrottleState]:
    rows = await conn.execute(select(login_throttle).where(T.key.in_(keys)))
    return {r.key: ThrottleState(r.failures, r.window_start_ts, r.locked_until_ts) for r in rows}


async def lock_state(conn: AsyncConnection, key: str, now: int) -> ThrottleState:
    """The key's state, its row created if missing and locked until commit (PostgreSQL; SQLite
    writers are serialised anyway), so concurrent failures on several nodes all count."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(login_throttle)
        .values(key=key, failures=0, window_start_ts=now, locked_until_ts=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    query = select(login_throttle).where(T.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    return ThrottleState(row.failures, row.window_start_ts, row.locked_until_ts)


async def put_state(conn: AsyncConnection, key: str, state: ThrottleState) -> None:
    await conn.execute(
        update(login_throttle)
        .where(T.key == key)
        .values(
            failures=state.failures,
            window_start_ts=state.window_start_ts,
            locked_until_ts=state.locked_until_ts,
        )
    )


async def clear(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(login_throttle).where(T.key == key))
