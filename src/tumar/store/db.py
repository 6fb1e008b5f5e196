"""The database handle: one engine, read and write transactions, the stream counter.

SQLite runs in WAL mode, so readers never wait for the writer; writers in this process are
serialised by a lock (SQLite allows one writer at a time anyway). On PostgreSQL, writers that
create events lock the room row, and the single stream-counter row orders commits, so a reader
that sees position P also sees every write at or below P.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import bindparam, event, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tumar.errors import MatrixError
from tumar.store import sqlite_driver, tx
from tumar.store.events import OPENER, ContentOpener
from tumar.store.hot import HotQuery
from tumar.store.schema import rooms, stream_counter, users

# Statements of every send and /sync, built once: building costs more than running them.
POSITION = select(stream_counter.c.pos).where(stream_counter.c.id == 1)
"""The stream position: every write has a position at or below it once committed."""
_POSITION = HotQuery(POSITION)
_ALLOCATE = (
    update(stream_counter)
    .where(stream_counter.c.id == 1)
    .values(pos=stream_counter.c.pos + bindparam("count"))
    .returning(stream_counter.c.pos)
)
_ROOM = HotQuery(select(rooms.c.room_id).where(rooms.c.room_id == bindparam("room_id")))
_ROOM_FOR_UPDATE = HotQuery(_ROOM.statement.with_for_update())

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
CONNECT_TIMEOUT_S = 10
PING_AFTER_IDLE_S = 2.0
"""A PostgreSQL connection that sat in the pool longer than this is pinged before it is
handed out, so that one which died while idle (PostgreSQL restarted) is replaced instead of
failing a request. SQLAlchemy's ``pool_pre_ping`` would ping on every checkout, three round
trips each with asyncpg; a connection in steady use comes back within milliseconds and is
trusted. One that died in between fails its request with 503 (``app.database_outage``), and
SQLAlchemy then renews every connection in the pool that is older than the failure."""


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, schema: str | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            kwargs["connect_args"] = {"timeout": 30}
            kwargs["module"] = sqlite_driver.dbapi()  # one thread hand-off per statement
            if path and path != ":memory:":  # (an in-memory database has one connection)
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # No overflow: a connection returned to a full pool would be closed on the
                # driver's thread, and then the inline close of a quick block
                # (``_checkout``) would suspend. SQLite connections are cheap to keep open.
                kwargs.update(pool_size=max(10, 2 * pool_size), max_overflow=0)
        else:
            # Pool recovery after PostgreSQL restarts: a connection that sat idle is pinged
            # before use (``_ping_if_idle``), and a bounded connect timeout makes an
            # unreachable server fail a request quickly (503, see ``app.database_outage``)
            # instead of after asyncpg's 60 s.
            # No overflow either: a burst (woken long-polls) beyond the pool would open
            # connections that are closed again on their return, each a new backend process
            # and several round trips; 150 of them in one notification benchmark. The burst
            # waits for the pool's connections instead: as many as pool and overflow were.
            kwargs.update(pool_size=2 * pool_size, max_overflow=0)
            connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
            kwargs["connect_args"] = connect_args
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "checkin", _not_inline)  # a pool event
        else:
            event.listen(self.engine.sync_engine, "checkin", _stamp_idle)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _refuse_nul)
        self._write_lock = asyncio.Lock()
        self.opener: ContentOpener | None = None
        """Decrypts event content sealed at rest; set by the composition root and handed to
        every connection of :meth:`read` and :meth:`write` (``conn.info``), where the event
        readers of ``store.events`` find it."""

    @asynccontextmanager
    async def write(self, *, quick: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block ends without an exception.

        ``quick``: the block makes only a few short statements, such as sending one event;
        on SQLite they run on the event loop's thread, as :meth:`read` explains."""
        if self.is_sqlite:
            async with self._write_lock, self._checkout() as conn:
                conn.info[OPENER] = self.opener
                await conn.exec_driver_sql("BEGIN IMMEDIATE")  # on the thread: it may wait
                if quick:
                    _inline(conn)
                tx.begin(conn)
                try:
                    yield conn
                    await tx.before_commit(conn)
                except BaseException:
                    await conn.rollback()
                    raise
                finally:
                    tx.end(conn)
                await conn.commit()
        else:
            async with self.engine.begin() as conn:
                conn.info[OPENER] = self.opener
                tx.begin(conn)
                try:
                    yield conn
                    await tx.before_commit(conn)  # e.g. the audit chain (store/tx.py)
                finally:
                    tx.end(conn)

    @asynccontextmanager
    async def read(
        self, *, quick: bool = False, snapshot: bool = True
    ) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction over one snapshot: every statement in the block sees the
        database as of the first one (rolled back at the end).

        ``quick``: the block makes mostly short indexed reads, such as a ``/sync`` answer's.
        On SQLite they then run on the event loop's thread instead of handing each to the
        driver's thread and back, for at most ``sqlite_driver.INLINE_BUDGET_S``, after which
        the rest goes to the thread (``store/sqlite_driver.py``); known long reads (reports,
        exports, searches) should not ask.

        ``snapshot=False``: a block of one statement (the access-token lookup of every
        request), or of statements that need not agree with each other or agree through
        stream positions (an incremental ``/sync``, which bounds its reads by the position its
        first statement read). On PostgreSQL it runs without a transaction (autocommit: each
        statement sees what was committed when it started), which saves the BEGIN and the
        ROLLBACK.
        SQLite is unchanged: its snapshot costs no round trip."""
        async with self._checkout() as conn:
            conn.info[OPENER] = self.opener
            if self.is_sqlite:
                # WAL: the snapshot starts at the first read.
                if quick:
                    _inline(conn).begin_inline()
                else:
                    await conn.exec_driver_sql("BEGIN")
            elif snapshot:
                await conn.execution_options(isolation_level="REPEATABLE READ")
                await conn.begin()
            else:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            # Closing the connection rolls the transaction back, and the pool then knows that
            # it needs no reset of its own: one rollback instead of two, each a trip to the
            # driver (on SQLite, to aiosqlite's thread).
            yield conn

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, as ``engine.connect()`` gives it, returned at the end.

        SQLAlchemy's own context manager closes the connection in a task of its own, so that
        a cancellation cannot abandon the close halfway; the caller thus passes through the
        event loop once more while still holding the connection. When a woken ``/sync`` burst
        runs, the loop meanwhile starts the next hundred syncs, which find the pool empty and
        queue for it (each with a timer). A SQLite connection that is still inline closes on
        this thread without ever suspending, so there is nothing a cancellation could
        interrupt and it is closed directly; every other close keeps SQLAlchemy's protection."""
        conn = await self.engine.connect()
        try:
            yield conn
        finally:
            if _closes_inline(conn):
                await conn.close()
            else:
                await conn.__aexit__(None, None, None)

    async def lock_room(self, conn: AsyncConnection, room_id: str) -> bool:
        """Serialise event creation in one room; return whether the room exists."""
        query = _ROOM if self.is_sqlite else _ROOM_FOR_UPDATE
        return bool(await query.rows(conn, {"room_id": room_id}))

    async def lock_user(self, conn: AsyncConnection, user_id: str) -> None:
        """Serialise a user's own counters (such as filter ids) across concurrent requests."""
        if not self.is_sqlite:  # SQLite writers are already serialised
            await conn.execute(
                select(users.c.user_id).where(users.c.user_id == user_id).with_for_update()
            )

    async def allocate_positions(self, conn: AsyncConnection, count: int = 1) -> int:
        """Reserve ``count`` stream positions; returns the last. Hold time: until commit.

        Every row at a position must be written in the transaction that reserved it: commits
        then happen in position order, and a reader that sees position P sees every write at
        or below P. An incremental ``/sync`` reads without a snapshot on that promise
        (``core/sync.py``); a writer that reserved positions in one transaction and wrote
        their rows in another would make it skip rows, on PostgreSQL only."""
        result = await conn.execute(_ALLOCATE, {"count": count})
        return int(result.scalar_one())

    async def current_position(self, conn: AsyncConnection | None = None) -> int:
        if conn is not None:
            return int((await _POSITION.rows(conn))[0].pos)  # every initial /sync reads it
        async with self.read() as c:
            return int((await _POSITION.rows(c))[0].pos)

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade_to_head)

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # aiosqlite otherwise opens an implicit transaction that fights BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # SQLite's own lower() folds ASCII only; searches must fold Cyrillic and Kazakh letters
    # too, as PostgreSQL's does.
    dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)


def _inline(conn: AsyncConnection) -> sqlite_driver.OneTripConnection:
    """Run the rest of this checkout's statements on the loop's thread (sqlite_driver)."""
    sync = conn.sync_connection
    assert sync is not None
    driver = sync.connection.dbapi_connection
    assert isinstance(driver, sqlite_driver.OneTripConnection)
    driver.go_inline()
    return driver


def _closes_inline(conn: AsyncConnection) -> bool:
    """Whether closing ``conn`` runs to its end on this thread: a valid SQLite connection
    whose checkout is still inline (its rollback runs inline, and with no pool overflow the
    pool keeps it rather than closing it on the driver's thread)."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return False
    driver = sync.connection.dbapi_connection
    return isinstance(driver, sqlite_driver.OneTripConnection) and driver.inline


def _stamp_idle(_dbapi_conn: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Pool ``checkout``: ping a connection idle for over ``PING_AFTER_IDLE_S`` (a new one has
    no stamp). A failed ping makes the pool discard it, and every older one, and connect
    afresh."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_conn.ping()
    except Exception as error:
        # As pool_pre_ping: the other connections older than this one are renewed too.
        raise InvalidatePoolError("the pooled connection did not answer a ping") from error


def _not_inline(dbapi_conn: Any, _record: Any) -> None:
    """Back in the pool: the next checkout decides again (``Database.read(quick=...)``)."""
    if dbapi_conn is not None:
        dbapi_conn.inline = False


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _refuse_nul(
    _conn: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite can): refuse such a value -- an id, event
    type, state key or name from a client -- as a client error on both backends instead of
    crashing on one. JSON columns are stored escaped, so event content is not affected."""
    rows = parameters if executemany else [parameters]
    for row in rows or ():
        values = row.values() if isinstance(row, dict) else row or ()
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise MatrixError(400, "M_INVALID_PARAM", "Text must not contain NUL (U+0000).")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


__all__ = ["Database", "alembic_config"]
