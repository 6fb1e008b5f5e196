"""PostgreSQL connection pool (``store/db.py``): a connection that sat idle is pinged before
use, so one that died meanwhile is replaced; one in steady use is not (the ping costs three
round trips). Bursts reuse the pool's connections instead of opening and closing more."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from tumar.core.services import Services
from tumar.store import db as db_module

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


class Pings:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.failed = 0
        original = AsyncAdapt_asyncpg_connection.ping

        def counted(conn: AsyncAdapt_asyncpg_connection) -> None:
            self.count += 1
            try:
                original(conn)
            except Exception:
                self.failed += 1
                raise

        monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)


async def _backend_pid(services: Services) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_only_a_connection_that_sat_idle_is_pinged(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await _backend_pid(services)
    pings = Pings(monkeypatch)
    for _ in range(5):  # in steady use: trusted
        assert await _backend_pid(services) == pid
    assert pings.count == 0
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # from now on, all sat idle
    assert await _backend_pid(services) == pid
    assert pings.count == 1


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with services.db.read() as other:  # holds a second connection meanwhile
        pid = await _backend_pid(services)  # back in the pool first: the next one handed out
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    pings = Pings(monkeypatch)
    replaced = await _backend_pid(services)  # no error: the ping found it dead
    assert replaced != pid
    assert pings.failed == 1  # the dead one was handed out first, and pinged


async def test_bursts_reuse_the_same_connections(services: Services) -> None:
    """A burst larger than the pool waits for connections instead of opening extra ones
    that would be closed on their return: opening a PostgreSQL connection costs a backend
    process and several round trips, which a burst of woken long-polls paid again and again."""
    pool: Any = services.db.engine.pool
    size = pool.size()
    pids: set[int] = set()

    async def held_read() -> None:
        async with services.db.read() as conn:
            pids.add(int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
            await asyncio.sleep(0.01)  # all of the burst want a connection at once

    for _ in range(3):
        await asyncio.gather(*(held_read() for _ in range(3 * size)))
    assert len(pids) <= size
    assert pool.checkedout() == 0
