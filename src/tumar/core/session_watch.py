"""Every node learns of ended or changed sessions within a second, whoever ended them.

The session cache (``core/session_cache.py``) lets a request authenticate without a database
read. A writer on this node drops the user's entries at once and rings the bus for the other
nodes; but a doorbell can be lost (Redis is treated as lossy), and a command-line process
cannot ring a running server's in-process bus. So every such change is also a row of
``session_changes``, written in the change's own transaction
(``AccountService.note_sessions_changed``), and each node reads the new rows every
``WATCH_INTERVAL_S`` and drops their users' entries: within a second when the node keeps up,
never later than ``TRUST_S``.

The cache answers only while the last successful reading is at most ``TRUST_S`` old: a node
that cannot read the table (the database is away, the loop is stalled) reads every token
again, and forgets every cached session at its first failed reading, so that nothing it
missed meanwhile (rows are pruned after ``KEEP_MS``) can outlive the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from tumar.clock import Clock
from tumar.core.session_cache import SessionCache
from tumar.store import session_changes as store
from tumar.store.db import Database

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0
"""How often each node reads the new session changes: about how long a revocation written
elsewhere (another node whose doorbell was lost, a command-line process) takes to reach this
node's cache, when the node keeps up."""
TRUST_S = 3.0
"""The cache answers only while the last successful reading began at most this long ago: the
longest a revocation can take to reach this node's cache when a reading is late (it waits
for a pooled connection like any request, during a burst of woken long-polls)."""
KEEP_MS = 3_600_000
"""Rows older than an hour are pruned; nodes read them within seconds."""
PRUNE_EVERY_S = 600.0


class SessionWatch:
    def __init__(self, db: Database, cache: SessionCache, clock: Clock) -> None:
        self._db = db
        self._cache = cache
        self._clock = clock
        self._after: int | None = None  # the last position read
        self._read_at = -math.inf
        self._pruned_at = -math.inf
        self._task: asyncio.Task[None] | None = None

    @property
    def fresh(self) -> bool:
        """Whether the cache may answer: the last reading is recent."""
        return self._clock.monotonic() - self._read_at <= TRUST_S

    async def start(self) -> None:
        """The first reading (before the first request trusts the cache), then one a second."""
        if self._cache.enabled and self._task is None:
            await self.poll()
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def poll(self) -> None:
        """Read the changes since the last reading and drop their users' sessions."""
        started = self._clock.monotonic()
        try:
            async with self._db.read(quick=True, snapshot=False) as conn:
                if self._after is None:  # the first reading: the cache holds nothing older
                    self._after = await store.latest(conn)
                    changes = []
                else:
                    changes = await store.since(conn, self._after)
        except Exception:
            if self.fresh:
                log.warning("reading the session changes failed; tokens are read until it works")
            self._read_at = -math.inf
            self._cache.clear()
            raise
        if changes:
            self._after = changes[-1][0]
            self._cache.drop_users({user for _pos, user in changes})
        self._read_at = started  # what was committed before `started` has been seen

    async def _prune(self) -> None:
        try:
            async with self._db.write() as conn:
                await store.prune(conn, self._clock.now_ms() - KEEP_MS)
        except Exception:
            log.warning("pruning the session changes failed", exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()  # when the last reading began: start() has just read
        pruning: asyncio.Task[None] | None = None
        try:
            while True:
                # At a fixed rate: the time a reading took does not add to the interval.
                await asyncio.sleep(max(0.0, WATCH_INTERVAL_S - (loop.time() - last)))
                last = loop.time()
                try:
                    await self.poll()
                except Exception:
                    log.debug("the session watch's reading failed", exc_info=True)
                now = self._clock.monotonic()
                if (pruning is None or pruning.done()) and now - self._pruned_at >= PRUNE_EVERY_S:
                    # Apart: a write may wait for the database's lock, the readings must not.
                    self._pruned_at = now
                    pruning = asyncio.ensure_future(self._prune())
        finally:
            # Waited for: a prune left to unwind on its own would still hold a connection
            # when the node closes its database.
            if pruning is not None and not pruning.done():
                pruning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruning
