"""Hot queries (``store/hot.py``): the same rows, types, snapshot and errors as through
SQLAlchemy, on both databases, run on the driver when they can be."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions import UndefinedTableError
from sqlalchemy import (
    Column,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    insert,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError

from tests.support.statements import on_statement
from tumar.core.services import Services
from tumar.errors import MatrixError
from tumar.store.hot import HotQuery
from tumar.store.schema import account_data, e2e_fallback_keys

_SINCE = HotQuery(
    select(account_data.c.type, account_data.c.stream_pos)
    .where(
        account_data.c.user_id == bindparam("user_id"),
        account_data.c.room_id.in_(bindparam("rooms", expanding=True)),
        account_data.c.stream_pos > bindparam("after"),
        account_data.c.type != "m.skipped",  # a constant of the statement itself
    )
    .order_by(account_data.c.stream_pos)
)
_KEYS = HotQuery(
    select(e2e_fallback_keys).where(e2e_fallback_keys.c.user_id == bindparam("user_id"))
)


class _Lowered(TypeDecorator[str]):
    """Binds lower-cased (a bind processor)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return value.lower() if value is not None else None


class _Tagged(TypeDecorator[str]):
    """Reads with a mark (a result processor)."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return f"{value}!" if value is not None else None


_TYPED = HotQuery(
    select(type_coerce(account_data.c.type, _Tagged).label("type"))
    .where(account_data.c.user_id == bindparam("user_id", type_=_Lowered))
    .order_by(account_data.c.stream_pos)
)
_MISSING = Table("nowhere", MetaData(), Column("a", Text))  # a table that does not exist
_NOWHERE = HotQuery(select(_MISSING.c.a).where(_MISSING.c.a == bindparam("a")))


@contextmanager
def statements(services: Services) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    with on_statement(services, lambda sql, params: seen.append((sql, params))):
        yield seen


async def _fill(services: Services) -> None:
    rows = [
        {"user_id": "@a:t", "room_id": room, "type": kind, "content": "{}", "stream_pos": pos}
        for pos, (room, kind) in enumerate(
            [("!1", "x"), ("!2", "y"), ("!3", "z"), ("!2", "m.skipped"), ("", "g")], start=1
        )
    ]
    rows.append({"user_id": "@b:t", "room_id": "!1", "type": "x", "content": "{}", "stream_pos": 9})
    keys = [
        {"user_id": "@a:t", "device_id": "D", "algorithm": alg, "key_id": "k", "key_json": "{}"}
        for alg in ("one", "two")
    ]
    async with services.db.write() as conn:
        await conn.execute(insert(account_data), rows)
        await conn.execute(insert(e2e_fallback_keys), [{**keys[0], "used": True}])
        await conn.execute(insert(e2e_fallback_keys), [{**keys[1], "used": False}])


async def test_rows_match_sqlalchemy_with_in_lists_of_any_length(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _fill(services)
    detours: list[int] = []
    plain_path = HotQuery._through_sqlalchemy

    async def counted(query: HotQuery, conn: Any, params: Any) -> Any:
        detours.append(len(params.get("rooms", ())))
        return await plain_path(query, conn, params)

    monkeypatch.setattr(HotQuery, "_through_sqlalchemy", counted)
    for quick in (True, False):
        detours.clear()
        async with services.db.read(quick=quick) as conn:
            await services.db.current_position(conn)  # the first: it begins the transaction
            for rooms in (["!1"], ["!1", "!2", "!3"], ["!3", "!9", "!2", "!8", "!7"], ["!4"]):
                params = {"user_id": "@a:t", "rooms": rooms, "after": 0}
                hot = await _SINCE.rows(conn, params)
                plain = (await conn.execute(_SINCE.statement, params)).all()
                assert [tuple(r) for r in hot] == [tuple(r) for r in plain]
            got = await _SINCE.rows(conn, {"user_id": "@a:t", "rooms": ["!2", "!1"], "after": 1})
            assert [(r.type, r.stream_pos) for r in got] == [("y", 2)]
            assert got[0]._mapping == {"type": "y", "stream_pos": 2}
            assert await _SINCE.rows(conn, {"user_id": "@a:t", "rooms": [], "after": 0}) == []
            keys = await _KEYS.rows(conn, {"user_id": "@a:t"})
            assert sorted((k.algorithm, k.used) for k in keys) == [("one", True), ("two", False)]
            assert all(type(k.used) is bool for k in keys)  # the column type's processor ran
        # On the driver, except: an empty IN list; on SQLite everything when the read is not
        # inline. (On PostgreSQL the first statement sends the BEGIN itself.)
        if quick or not services.db.is_sqlite:
            assert detours == [0]
        else:
            assert len(detours) == 8


async def test_the_types_processors_run_both_ways(services: Services) -> None:
    await _fill(services)
    async with services.db.read(quick=True) as conn:
        await services.db.current_position(conn)
        hot = await _TYPED.rows(conn, {"user_id": "@A:T"})
        plain = (await conn.execute(_TYPED.statement, {"user_id": "@A:T"})).all()
    assert [r.type for r in hot] == ["x!", "y!", "z!", "m.skipped!", "g!"]
    assert [tuple(r) for r in hot] == [tuple(r) for r in plain]


async def test_in_lists_are_padded_to_few_distinct_statements(services: Services) -> None:
    await _fill(services)
    with statements(services) as seen:
        async with services.db.read(quick=True) as conn:
            await services.db.current_position(conn)
            seen.clear()
            for n in range(1, 10):
                rooms = [f"!{i}" for i in range(1, n + 1)]
                got = await _SINCE.rows(conn, {"user_id": "@a:t", "rooms": rooms, "after": 0})
                assert [r.type for r in got] == ["x", "y", "z"][:n]
    assert len(seen) == 9  # the listeners see every statement
    assert len({sql for sql, _ in seen}) == 5  # lists of 1, 2, 4, 8 and 16
    assert all("m.skipped" in args for _sql, args in seen)  # the statement's own constant


async def test_a_hot_read_keeps_the_transaction_snapshot(services: Services) -> None:
    await _fill(services)
    params = {"user_id": "@a:t", "rooms": ["!1", "!5"], "after": 0}
    async with services.db.read(quick=True) as conn:
        before = await _SINCE.rows(conn, params)  # the first statement: it begins the snapshot
        async with services.db.write() as other:
            await other.execute(
                insert(account_data).values(
                    user_id="@a:t", room_id="!5", type="new", content="{}", stream_pos=20
                )
            )
        assert await _SINCE.rows(conn, params) == before
    async with services.db.read(quick=True) as conn:
        await services.db.current_position(conn)
        assert [r.type for r in await _SINCE.rows(conn, params)] == ["x", "new"]


async def test_a_read_without_snapshot_runs_on_the_driver_with_no_transaction(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``read(snapshot=False)``, the token lookup's: on PostgreSQL no BEGIN and no ROLLBACK,
    and each statement sees what was committed before it; SQLite keeps its snapshot."""
    await _fill(services)
    began: list[object] = []
    start = AsyncAdapt_asyncpg_connection._start_transaction

    async def counted(adapter: Any) -> None:
        began.append(adapter)
        await start(adapter)  # type: ignore[no-untyped-call]

    detours: list[object] = []
    plain_path = HotQuery._through_sqlalchemy

    async def detour(query: HotQuery, conn: Any, params: Any) -> Any:
        detours.append(query)
        return await plain_path(query, conn, params)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "_start_transaction", counted)
    monkeypatch.setattr(HotQuery, "_through_sqlalchemy", detour)
    params = {"user_id": "@a:t", "rooms": ["!1", "!5"], "after": 0}
    async with services.db.read(quick=True, snapshot=False) as conn:
        assert conn.sync_connection is not None
        reader = conn.sync_connection.connection.dbapi_connection
        assert [r.type for r in await _SINCE.rows(conn, params)] == ["x"]
        async with services.db.write() as other:
            await other.execute(
                insert(account_data).values(
                    user_id="@a:t", room_id="!5", type="new", content="{}", stream_pos=20
                )
            )
        seen = [r.type for r in await _SINCE.rows(conn, params)]
    assert detours == []
    if services.db.is_sqlite:
        assert seen == ["x"]
    else:
        assert seen == ["x", "new"]
        assert reader not in began  # (the write's connection began, through SQLAlchemy)
    # The connection goes back to the pool in its usual isolation (a write on it is one
    # transaction again), and the next read has a snapshot.
    if not services.db.is_sqlite:
        assert reader.isolation_level != "autocommit"
    async with services.db.read(quick=True) as conn:
        before = await _SINCE.rows(conn, params)
        async with services.db.write() as other:
            await other.execute(
                insert(account_data).values(
                    user_id="@a:t", room_id="!1", type="later", content="{}", stream_pos=21
                )
            )
        assert await _SINCE.rows(conn, params) == before


async def test_nul_is_refused_and_errors_keep_their_types(services: Services) -> None:
    async with services.db.read(quick=True) as conn:
        await services.db.current_position(conn)
        with pytest.raises(MatrixError) as refused:
            await _KEYS.rows(conn, {"user_id": "@a\x00:t"})
        assert refused.value.errcode == "M_INVALID_PARAM"
    # A faulty statement (no such table): on SQLite SQLAlchemy's error, as before; on
    # PostgreSQL the server's own error, not the repeat's "transaction is aborted".
    expected: type[Exception] = DBAPIError if services.db.is_sqlite else UndefinedTableError
    async with services.db.read(quick=True) as conn:
        await services.db.current_position(conn)
        with pytest.raises(expected):
            await _NOWHERE.rows(conn, {"a": "x"})


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # asyncpg's raw path
@pytest.mark.parametrize("begun", [True, False], ids=["mid-read", "at-begin"])
async def test_a_connection_lost_is_an_outage_sqlalchemy_knows(
    services: Services, begun: bool
) -> None:
    """The driver raises under a hot read, mid-transaction (the statement goes through
    SQLAlchemy again) or at the BEGIN the hot read sends itself: either way SQLAlchemy's
    error, the connection marked invalidated (``app.database_outage`` then answers 503) and
    replaced by the pool."""
    await _fill(services)
    async with services.db.read(quick=True) as conn:
        if begun:
            await services.db.current_position(conn)
        pid = _server_pid(conn)
        async with services.db.write() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as lost:
            await _KEYS.rows(conn, {"user_id": "@a:t"})
        assert lost.value.connection_invalidated
    async with services.db.read(quick=True) as conn:  # the pool recovered
        assert len(await _KEYS.rows(conn, {"user_id": "@a:t"})) == 2


def _server_pid(conn: Any) -> int:
    """The backend of a checked-out connection, known without a statement (no BEGIN yet)."""
    return int(conn.sync_connection.connection.dbapi_connection._connection.get_server_pid())


async def _backend_state(services: Services, pid: int) -> str | None:
    """The backend's state in ``pg_stat_activity``, None once it has exited (waits for that
    up to two seconds)."""
    state: str | None = None
    for _ in range(40):
        async with services.db.read() as conn:
            state = (
                await conn.execute(
                    text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
            ).scalar_one_or_none()
        if state is None:
            return None
        await asyncio.sleep(0.05)
    return state


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # asyncpg's raw path
async def test_a_read_cancelled_during_its_begin_leaves_no_connection_behind(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that leaves while its ``/sync`` waits for the BEGIN: the connection may be in
    a transaction SQLAlchemy does not know of, so it is closed, not returned to the pool
    (where every later read would see that transaction's old snapshot)."""
    plain_execute = asyncpg.connection.Connection.execute
    begun = asyncio.Event()

    async def late_answer(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await plain_execute(self, query, *args, **kwargs)
        if query.startswith("BEGIN"):
            begun.set()
            await asyncio.sleep(10)
        return result

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", late_answer)
    pids: list[int] = []

    async def one_sync() -> None:
        async with services.db.read(quick=True) as conn:
            pids.append(_server_pid(conn))
            await services.db.current_position(conn)  # the first statement: it sends BEGIN

    task = asyncio.create_task(one_sync())
    await asyncio.wait_for(begun.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    assert await _backend_state(services, pids[0]) is None  # not "idle in transaction"
    async with services.db.write() as conn:  # and the pool still works
        await conn.execute(text("UPDATE stream_counter SET pos = pos + 1 WHERE id = 1"))
    async with services.db.read(quick=True) as conn:
        moved = await services.db.current_position(conn)
    async with services.db.read() as conn:
        truth = (await conn.execute(text("SELECT pos FROM stream_counter"))).scalar_one()
    assert moved == truth
