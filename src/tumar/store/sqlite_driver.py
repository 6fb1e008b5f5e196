"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs each call on the sqlite3 connection in its own thread and hands the result
back to the event loop. SQLAlchemy's aiosqlite adapter makes four such calls per statement:
open a cursor, execute, fetch all rows, close the cursor. Each hand-off (a queue put, the
thread waking, ``call_soon_threadsafe`` waking the loop) costs about 70 µs of CPU on the
reference machine, several times what a typical indexed read costs inside SQLite; in the
profile of woken ``/sync`` answers the hand-offs were 31 % of the samples.

This adapter does the four steps as one function on aiosqlite's thread and keeps the
description, row count, last row id and rows it returns. Everything else (the sqlite3
connection, its thread, transactions, errors and their mapping) is aiosqlite's and
SQLAlchemy's own, so behaviour is unchanged; only server-side cursors (which
``stream()`` uses) keep the stock adapter. ``Database`` passes :func:`dbapi` to
``create_async_engine`` for SQLite URLs.

*Inline* connections skip the thread altogether: :meth:`Database.read` and
:meth:`Database.write` with ``quick=True`` mark the connection they check out, and its
statements, and the commit or rollback that ends the transaction, run directly on the event
loop's thread. That suits short indexed statements (those of a ``/sync`` answer, or of
sending one event), which take tens of microseconds inside SQLite, far less than a hand-off.
A checkout runs inline for at most ``INLINE_BUDGET_S``; whatever it does after that goes to
the thread as usual, so a quick block that turns out long (an initial sync of many rooms)
does not stall the loop. Inline statements do not wait for locks in normal operation: in WAL
mode a reader never does (except while a connection recovers the WAL after a crash), and a
quick write takes SQLite's write lock with ``BEGIN IMMEDIATE`` on the thread first (another
process may hold it) and only then turns inline. A commit inline does not wait for the disk either
(``synchronous=NORMAL`` in WAL mode syncs only at checkpoints); the automatic checkpoint that
a commit runs every ~1000 written pages does, for a few milliseconds. Long statements
(reports, exports, searches, bulk writes) keep the thread, so they do not stall the loop.
The sqlite3 connections are opened with ``check_same_thread=False`` for this; a connection is
only ever used by one task at a time, on one thread or the other, never both at once.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Callable
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]

INLINE_BUDGET_S = 0.010
"""How long one checkout may run inline; what comes after goes to the thread, so a quick
block that turns out long (an initial sync, a page of a big room) stalls the loop at most
this long, plus the one statement that crosses the line."""


def _run(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """On aiosqlite's thread: the whole life of one cursor."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> _Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.description, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on aiosqlite's thread, or on the calling
    thread when its connection is inline."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _adapt_connection: OneTripConnection

    def __init__(self, adapt_connection: Any) -> None:  # no driver cursor is opened here
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._call(_run, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._call(_run_many, operation, seq_of_parameters)

    async def _call(self, fn: Callable[..., _Outcome], operation: Any, parameters: Any) -> None:
        """``fn`` on the sqlite3 connection: inline, or as one trip to aiosqlite's thread."""
        if self._adapt_connection.stays_inline():  # no await: nothing else can interleave
            self._keep(fn(self._connection._conn, operation, parameters))
            return
        async with self._adapt_connection._execute_mutex:
            driver = self._connection
            self._keep(await driver._execute(fn, driver._conn, operation, parameters))

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("inline", "inline_until")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.inline = False
        """Run statements, the commit and the rollback on the calling thread (module text)."""
        self.inline_until = 0.0

    def go_inline(self) -> None:
        """Run this checkout inline for at most ``INLINE_BUDGET_S`` (then on the thread)."""
        self.inline = True
        self.inline_until = time.monotonic() + INLINE_BUDGET_S

    def begin_inline(self) -> None:
        """``BEGIN`` on the calling thread (a read's: it takes no lock, so it never waits)."""
        try:
            self._connection._conn.execute("BEGIN")
        except Exception as error:
            self._handle_exception(error)

    def stays_inline(self) -> bool:
        """Whether the next statement runs inline: the checkout asked for it and its budget
        is not spent. Once spent, the rest of the checkout goes back to the thread."""
        if self.inline and time.monotonic() >= self.inline_until:
            self.inline = False
        return self.inline

    def rollback(self) -> None:
        self._end("rollback")

    def commit(self) -> None:
        self._end("commit")

    def _end(self, how: str) -> None:
        if not self.inline or self._connection._connection is None:
            getattr(super(), how)()
            return
        try:
            getattr(self._connection._conn, how)()
        except Exception as error:
            self._handle_exception(error)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        if kw.pop("async_creator_fn", None) is not None:
            raise ValueError("async_creator_fn is not supported")
        kw["check_same_thread"] = False  # inline connections (see the module text)
        connection = self.aiosqlite.connect(*arg, **kw)
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True  # as SQLAlchemy's adapter: the process may exit without it
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    """The module object for ``create_async_engine(..., module=dbapi())``."""
    return OneTripDBAPI(aiosqlite, sqlite3)
