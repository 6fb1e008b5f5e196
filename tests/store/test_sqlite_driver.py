"""The SQLite adapter that runs a statement in one trip to aiosqlite's thread
(``store/sqlite_driver.py``): same results and errors as the stock adapter, fewer hand-offs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from tumar.store import sqlite_driver
from tumar.store.db import Database
from tumar.store.sqlite_driver import OneTripCursor


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)"))
    yield database
    await database.engine.dispose()


class HandOffs:
    """Counts calls handed to aiosqlite's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = aiosqlite.Connection._execute

        async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            self.count += 1
            return await original(conn, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


async def test_a_statement_is_one_hand_off(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('x'), ('y')"))
        hand_offs = HandOffs(monkeypatch)
        rows = (await conn.execute(text("SELECT a, b FROM t ORDER BY a"))).all()
        assert hand_offs.count == 1  # the stock adapter: cursor, execute, fetchall, close
        assert [tuple(r) for r in rows] == [(1, "x"), (2, "y")]
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]


async def test_results_counts_and_ids(db: Database) -> None:
    async with db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (b) VALUES ('x') RETURNING a"))
        assert inserted.scalar_one() == 1
        plain = await conn.execute(text("INSERT INTO t (b) VALUES ('y')"))
        assert plain.lastrowid == 2
        many = await conn.execute(text("INSERT INTO t (b) VALUES (:b)"), [{"b": "m"}, {"b": "n"}])
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE t SET b = 'z' WHERE a <= 2"))
        assert updated.rowcount == 2
        assert (await conn.execute(text("SELECT count(*) FROM t WHERE b = 'z'"))).scalar() == 2
        empty = await conn.execute(text("SELECT a FROM t WHERE a > 100"))
        assert empty.first() is None
        streamed = [r.a async for r in await conn.stream(text("SELECT a FROM t ORDER BY a"))]
        assert streamed == [1, 2, 3, 4]


async def test_errors_are_the_usual_ones_and_change_nothing(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (a, b) VALUES (1, 'x')"))
            await conn.execute(text("INSERT INTO t (a, b) VALUES (1, 'again')"))
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        # The connection is still usable after the failed transaction.
        await conn.execute(text("INSERT INTO t (b) VALUES ('ok')"))
        assert (await conn.execute(text("SELECT b FROM t"))).scalar() == "ok"


async def test_a_quick_read_stays_on_the_loop_and_keeps_its_snapshot(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('x'), ('y')"))
    hand_offs = HandOffs(monkeypatch)
    async with db.read(quick=True) as conn:
        first = (await conn.execute(text("SELECT a, b FROM t ORDER BY a"))).all()
        async with db.write() as other:  # a writer commits while the read is open
            await other.execute(text("INSERT INTO t (b) VALUES ('z')"))
        writes = hand_offs.count
        again = (await conn.execute(text("SELECT count(*) FROM t"))).scalar()
        adapted = (await conn.get_raw_connection()).dbapi_connection
    assert [tuple(r) for r in first] == [(1, "x"), (2, "y")]
    assert again == 2  # still the snapshot of the first read
    assert hand_offs.count == writes  # BEGIN, the reads and the rollback: none handed off
    # Back in the pool the connection is an ordinary one again.
    assert adapted is not None and adapted.inline is False  # type: ignore[attr-defined]


async def test_a_quick_read_past_its_budget_goes_back_to_the_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('x')"))
    hand_offs = HandOffs(monkeypatch)
    async with db.read(quick=True) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        assert hand_offs.count == 0
        async with db.write() as other:
            await other.execute(text("INSERT INTO t (b) VALUES ('y')"))
        before = hand_offs.count
        adapted: Any = (await conn.get_raw_connection()).dbapi_connection
        adapted.inline_until = 0.0  # the budget is spent, as after a long stretch
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1  # snapshot
        assert hand_offs.count == before + 1 and adapted.inline is False
    assert hand_offs.count == before + 2  # and the rollback, on the thread too
    monkeypatch.setattr(sqlite_driver, "INLINE_BUDGET_S", 0.0)  # no budget at all
    async with db.read(quick=True) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    # The read and the rollback; a read's BEGIN only marks where the snapshot will start, so
    # it runs inline even then.
    assert hand_offs.count == before + 4


async def test_a_quick_read_raises_the_usual_errors(db: Database) -> None:
    async with db.read(quick=True) as conn:
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT nothing FROM nowhere"))
    async with db.read(quick=True) as conn:  # the connection came back usable
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_quick_write_hands_off_only_its_begin(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_offs = HandOffs(monkeypatch)
    async with db.write(quick=True) as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('x')"))
        await conn.execute(text("UPDATE t SET b = 'y' WHERE a = 1"))
    assert hand_offs.count == 1  # BEGIN IMMEDIATE, which may wait for another process
    with pytest.raises(IntegrityError):
        async with db.write(quick=True) as conn:
            await conn.execute(text("INSERT INTO t (b) VALUES ('z')"))
            await conn.execute(text("INSERT INTO t (a, b) VALUES (1, 'again')"))
    assert hand_offs.count == 2
    async with db.write(quick=True) as conn:  # executemany inline too
        await conn.execute(text("INSERT INTO t (b) VALUES (:b)"), [{"b": "m"}, {"b": "n"}])
    assert hand_offs.count == 3
    async with db.read() as conn:  # committed, rolled back, committed
        rows = (await conn.execute(text("SELECT a, b FROM t"))).all()
    assert [tuple(r) for r in rows] == [(1, "y"), (2, "m"), (3, "n")]


async def test_quick_blocks_hand_their_connection_back_before_the_loop_runs_on(
    db: Database,
) -> None:
    """A burst of quick reads (a hundred woken ``/sync`` answers) uses one connection at a
    time: each block returns it before any other task runs, instead of closing it in a task of
    its own one loop turn later, which left the others queueing for the pool."""
    in_use: list[int] = []

    async def one() -> None:
        async with db.read(quick=True) as conn:
            await conn.execute(text("SELECT count(*) FROM t"))
            in_use.append(db.engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]

    await asyncio.gather(*(one() for _ in range(60)))
    assert in_use == [1] * 60
    assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]

    async def write_one(i: int) -> None:
        async with db.write(quick=True) as conn:
            await conn.execute(text("INSERT INTO t (b) VALUES (:b)"), {"b": str(i)})

    await asyncio.gather(*(write_one(i) for i in range(10)))
    assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 10
