"""PostgreSQL connection pool (``store/db.py``): a connection that sat idle is pinged before
use, so one that died meanwhile is replaced; one in steady use is not (the ping costs three
round trips)."""

from __future__ import annotations

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
