"""Statements on the hot path, run on the database driver directly.

Running one statement through SQLAlchemy's execution machinery (an execution context, result
metadata, events, and on asyncio a greenlet per call) costs about 100 µs of CPU on SQLite and
130 µs on PostgreSQL on the reference machine, beside 2 µs for the indexed read itself inside
SQLite and 65 µs for the round trip to PostgreSQL with asyncpg. A woken ``/sync`` makes a dozen
such statements, so that overhead was half of what it cost.

A :class:`HotQuery` wraps a statement that is built once (a module constant) and compiles it
once per dialect into the driver's SQL and a plan for its parameters. Its :meth:`rows` then
runs it on the driver connection under SQLAlchemy's checked-out connection, in the same
transaction:

- on SQLite, when the connection is inline (``Database.read(quick=True)``,
  ``store/sqlite_driver.py``): on the sqlite3 connection, on the loop's thread;
- on PostgreSQL, inside a transaction or in autocommit (``Database.read(snapshot=False)``):
  ``fetch`` on asyncpg's connection, with asyncpg's own prepared-statement cache; when the
  hot statement is a transaction's first, it sends the BEGIN that SQLAlchemy would have sent
  with it (``_asyncpg_ready``);
- otherwise through SQLAlchemy as before. When SQLite raises, or asyncpg's connection fails,
  the statement runs again through SQLAlchemy (a read has no effect to repeat), so errors
  keep their usual types and a connection that died is invalidated as SQLAlchemy does it;
  an error of the PostgreSQL server itself (a faulty query, a lock timeout) is raised as
  asyncpg raised it, since a repeat in the aborted transaction would only hide it.

Rows are named tuples: ``row.column``, unpacking and ``row._mapping`` work as on SQLAlchemy's
rows. Values pass the column types' result processors and the parameters their bind
processors, as SQLAlchemy would apply them. The engine's ``before_cursor_execute`` listeners
still see every statement (the NUL guard of ``store/db.py``; tests and ``bench/`` count
statements with them). ``IN`` lists (expanding parameters) are padded to the next power of two
by repeating their last value, which changes no result and keeps the number of distinct SQL
texts, and so of compiled plans and prepared statements, logarithmic in the list length.

Only reads belong here, and only those whose statement is built once: a plan is kept per
statement object for the life of the process.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import CompoundSelect, Select

from tumar.store.sqlite_driver import OneTripConnection

Row = Any  # a named tuple of the statement's columns (see ``_row_class``)


@dataclass(frozen=True, slots=True)
class _Slot:
    """Stands for a caller's parameter while compiling: its name, and for an ``IN`` list the
    position in it."""

    name: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    args: tuple[tuple[str, int | None, Any], ...]
    """Per positional argument: (parameter name, list position, bind processor); for a
    constant of the statement itself: ("", None, its processed value)."""


class HotQuery:
    """A read built once, run on the driver (module text)."""

    __slots__ = ("_expanding", "_names", "_plans", "_processors", "_row", "statement")

    def __init__(self, statement: Select[*tuple[Any, ...]] | CompoundSelect[Any]) -> None:
        self.statement = statement
        params = _caller_params(statement)
        self._names = [b.key for b in params]
        self._expanding = sorted(b.key for b in params if b.expanding)
        self._row = _row_class(list(statement.selected_columns.keys()))
        self._plans: dict[tuple[str, tuple[int, ...]], _Plan] = {}
        self._processors: dict[str, tuple[tuple[int, Callable[[Any], Any]], ...]] = {}

    async def rows(
        self, conn: AsyncConnection, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        params = params or {}
        sync = conn.sync_connection
        assert sync is not None
        driver: Any = sync.connection.dbapi_connection
        lengths = tuple(_padded(len(params[k])) for k in self._expanding)
        fetched: Sequence[Sequence[Any]]
        if isinstance(driver, OneTripConnection):
            if 0 in lengths or not driver.stays_inline():
                return await self._through_sqlalchemy(conn, params)
            sql, args = self._bound(conn, lengths, params)
            cursor = driver._connection._conn.cursor()
            try:
                cursor.execute(sql, args)
                fetched = cursor.fetchall()
            except sqlite3.Error:  # the same error again, with SQLAlchemy's types
                return await self._through_sqlalchemy(conn, params)
            finally:
                cursor.close()
            return self._convert(conn, fetched)
        if 0 in lengths or not await _asyncpg_ready(sync, driver):
            return await self._through_sqlalchemy(conn, params)
        sql, args = self._bound(conn, lengths, params)
        try:
            fetched = await driver._connection.fetch(sql, *args)
        except Exception as error:
            if isinstance(error, asyncpg.PostgresError) and not driver._connection.is_closed():
                raise  # the server's own error (a faulty query, a lock timeout): as it is
            # The connection failed: SQLAlchemy's error, and it invalidates the connection.
            return await self._through_sqlalchemy(conn, params)
        return self._convert(conn, fetched)

    async def _through_sqlalchemy(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> list[Row]:
        result = await conn.execute(self.statement, dict(params))
        return [self._row(*r) for r in result]

    def _bound(
        self, conn: AsyncConnection, lengths: tuple[int, ...], params: Mapping[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        dialect = conn.dialect
        key = (dialect.name, lengths)
        plan = self._plans.get(key)
        if plan is None:
            wanted = dict(zip(self._expanding, lengths, strict=True))
            plan = self._plans[key] = self._compile(dialect, wanted)
        args: list[Any] = []
        for name, index, process in plan.args:
            if not name:
                args.append(process)
                continue
            value = params[name]
            if index is not None:
                value = value[min(index, len(value) - 1)]  # the padding repeats the last
            args.append(process(value) if process is not None else value)
        bound = tuple(args)
        conn.sync_engine.dispatch.before_cursor_execute(
            conn.sync_connection, None, plan.sql, bound, None, False
        )
        return plan.sql, bound

    def _compile(self, dialect: Dialect, lengths: Mapping[str, int]) -> _Plan:
        slots: dict[str, Any] = {
            name: [_Slot(name, i) for i in range(lengths[name])] if name in lengths else _Slot(name)
            for name in self._names
        }
        compiled = self.statement.compile(dialect=dialect)
        state = compiled.construct_expanded_state(slots)
        if state.positiontup is None:
            raise TypeError(f"{dialect.name}: hot queries need a positional parameter style")
        args: list[tuple[str, int | None, Any]] = []
        for name in state.positiontup:
            value = state.parameters[name]
            # The expanded IN-list items' processors come with the expanded state; the other
            # parameters' are their types' own, as the dialect implements them.
            process = state.processors.get(name)
            bind = compiled.binds.get(name)
            if process is None and bind is not None:
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if isinstance(value, _Slot):
                args.append((value.name, value.index, process))
            else:
                args.append(("", None, process(value) if process is not None else value))
        return _Plan(state.statement, tuple(args))

    def _convert(self, conn: AsyncConnection, fetched: Sequence[Sequence[Any]]) -> list[Row]:
        dialect = conn.dialect
        processors = self._processors.get(dialect.name)
        if processors is None:
            found: list[tuple[int, Callable[[Any], Any]]] = []
            for i, column in enumerate(self.statement.selected_columns):
                processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if processor is not None:
                    found.append((i, processor))
            processors = self._processors[dialect.name] = tuple(found)
        row = self._row
        if not processors:
            return [row(*r) for r in fetched]
        out = []
        for r in fetched:
            values = list(r)
            for i, convert in processors:
                values[i] = convert(values[i])
            out.append(row(*values))
        return out


async def _asyncpg_ready(sync: Connection, driver: Any) -> bool:
    """Whether ``driver`` is SQLAlchemy's asyncpg connection, and either in autocommit (no
    transaction: ``Database.read(snapshot=False)``) or in its transaction. SQLAlchemy
    sends the BEGIN with the first statement of a transaction; when that statement is a hot
    one, the BEGIN is sent here the same way (the connection's isolation level, read-only and
    deferrable settings), so that the statement itself can skip SQLAlchemy's execution path.

    A BEGIN that fails or is interrupted (the client left and its ``/sync`` was cancelled)
    leaves the connection in a state nobody knows: the server may be in the transaction while
    SQLAlchemy's adapter is not, so the pool's rollback would do nothing and the connection
    would go on in a stale snapshot. As SQLAlchemy does with a statement interrupted on it,
    the connection is invalidated (closed, and replaced in the pool); a failure is raised as
    SQLAlchemy's error for a lost connection, which the app answers with 503."""
    if not isinstance(driver, AsyncAdapt_asyncpg_connection):
        return False
    if driver.isolation_level == "autocommit":
        return driver._transaction is None
    if not sync.in_transaction():
        return False
    if driver._transaction is None:
        try:
            await driver._start_transaction()  # type: ignore[no-untyped-call]
        except Exception as error:
            sync.invalidate(error)
            raise DBAPIError("BEGIN", None, error, connection_invalidated=True) from error
        except BaseException:
            sync.invalidate()
            raise
    return driver._transaction is not None


def _caller_params(statement: Any) -> list[BindParameter[Any]]:
    """The statement's named parameters (``bindparam("user_id")``), one per name; not the
    constants it compares with."""
    seen: dict[str, BindParameter[Any]] = {}
    for element in visitors.iterate(statement):
        if (
            isinstance(element, BindParameter)
            and element.value is None
            and element.callable is None
        ):
            seen.setdefault(element.key, element)
    return list(seen.values())


def _padded(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 0 else 0


def _row_class(fields: list[str]) -> type[Any]:
    base = namedtuple("HotRow", fields, rename=True)  # type: ignore[misc]

    class HotRow(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(fields, self, strict=True))

    return HotRow
