"""Group commit: requests that arrive while a transaction is under way are written together in
the next one.

A write transaction costs a fixed amount (begin, commit, on SQLite the process-wide write lock
and a thread hop per statement, on PostgreSQL the round trips and a WAL flush per commit) on
top of its rows. Device check-ins come hundreds a second, each a row update and a history row,
so paying that fixed cost once per batch instead of once per check-in is most of their cost
(``docs/performance.md``, "Device check-ins").

No request waits for a batch to fill: the first one starts a batch at once; those arriving
meanwhile queue and go together into the next, so the delay is at most one batch's write, and
a lone request is written alone as before. Items sharing a key (one device) never go into the
same batch: the later one waits for the next, so each is processed seeing the one before.
A waiter that gave up (cancelled) before its batch started is left out.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Runs ``run`` over batches of submitted items, one batch at a time. ``run`` returns one
    result or exception per item, in order; if it raises, every item of the batch gets that
    exception (the batch's transaction was rolled back)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        key: Callable[[T], Hashable],
        max_batch: int = 100,
    ) -> None:
        self._run = run
        self._key = key
        self._max_batch = max_batch
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches run so far (tests and benchmarks read it)."""

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None:
            # A fresh context: the batches are nobody's request (no request id in their logs).
            self._task = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await future

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        later: list[tuple[T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        while self._queue and len(batch) < self._max_batch:
            item, future = self._queue.popleft()
            if future.done():  # the waiter was cancelled
                continue
            key = self._key(item)
            if key in keys:
                later.append((item, future))
            else:
                keys.add(key)
                batch.append((item, future))
        self._queue.extendleft(reversed(later))
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._next_batch()
                if not batch:
                    continue
                self.batches += 1
                try:
                    outcomes = await self._run([item for item, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                        continue
                    # One item's failure must not fail the others: each alone, once more.
                    for item, future in batch:
                        if future.done():
                            continue
                        try:
                            [outcome] = await self._run([item])
                        except Exception as alone:
                            outcome = alone
                        _settle(future, outcome)
                    continue
                except BaseException as exc:  # cancelled: nobody will get an answer
                    for _, future in batch:
                        _settle(future, exc)
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    _settle(future, outcome)
        finally:
            self._task = None
            if self._queue:  # stopped by cancellation: nobody is left to run the rest
                for _, future in self._queue:
                    if not future.done():
                        future.set_exception(RuntimeError("the group commit stopped"))
                self._queue.clear()


def _settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    """Answer a waiter, unless it has given up."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
