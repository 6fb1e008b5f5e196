"""Python's full garbage collections on a timer instead of by CPython's own rule.

CPython collects its oldest generation once the objects promoted into it since the last
full collection reach a quarter of those already there. A node with thousands of parked
``/sync`` long-polls holds some 300 tracked objects per long-poll (coroutines, closures,
header lists); each answered long-poll is replaced by a new one whose objects are promoted
in turn, so a burst of deliveries (a notification to 2,000 connected officials) triggers one
full collection per few hundred answers, each a pause of 0.3-0.4 s with the loop stopped (at
700,000 objects). Measured with ``bench/notices.py``: 13 full collections took 3.2 s of the
server's 28 s of CPU, and the notification's p99 on SQLite fell from 2.1-2.3 s to 1.5-1.6 s
once they ran on a timer.

With ``gc_full_interval_seconds`` above 0 (the default, 30 s, as Synapse's minimum interval
for its oldest generation), ``tumar serve``:

1. collects once and freezes what survives (modules, classes, the app, its caches so far:
   about 100,000 objects no later collection needs to visit again, ``gc.freeze``);
2. keeps CPython's automatic collections of the two young generations, which are cheap;
3. never lets CPython start a full collection itself, and runs one every interval from the
   event loop instead, timed (``tumar_gc_last_full_pause_seconds`` on ``/metrics``);
4. puts each of those off while the loop is busy (a burst of woken long-polls: a 50 ms sleep
   oversleeps by ``QUIET_LAG_S`` or more), by at most another interval, so that the pause
   falls between bursts rather than in the middle of a notification's delivery.

The cost: garbage that only a full collection finds (reference cycles that outlived the
young generations) waits up to one interval, and cycles among the frozen start-up objects
are never collected (a bounded amount: what start-up built and later drops). 0 leaves
CPython's rule in place. Written for CPython 3.11-3.13's generational collector; one that
ignores the oldest generation's threshold would keep its own full collections as well.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass

NEVER = 2**30
"""A threshold for the oldest generation that the count of young collections never reaches."""
PROBE_S = 0.05
QUIET_LAG_S = 0.005
"""The loop counts as quiet when a ``PROBE_S`` sleep wakes less than this late."""


@dataclass(slots=True)
class FullCollections:
    """Installed by :meth:`install`, undone by :meth:`uninstall`; :meth:`run` is the timer."""

    interval_s: float
    collections: int = 0
    last_pause_s: float | None = None
    _previous: tuple[int, int, int] | None = None

    @property
    def installed(self) -> bool:
        return self._previous is not None

    def install(self) -> None:
        if self.interval_s <= 0 or self.installed:
            return
        gc.collect()
        gc.freeze()
        young, middle, oldest = gc.get_threshold()
        self._previous = (young, middle, oldest)
        gc.set_threshold(young, middle, NEVER)

    def uninstall(self) -> None:
        if self._previous is None:
            return
        gc.set_threshold(*self._previous)
        gc.unfreeze()
        self._previous = None

    def collect(self) -> int:
        """One full collection now; returns the number of unreachable objects found."""
        started = time.perf_counter()
        found = gc.collect(2)
        self.last_pause_s = time.perf_counter() - started
        self.collections += 1
        return found

    async def run(self) -> None:
        """Collect every ``interval_s`` until cancelled (only while installed), each time at
        the loop's next quiet moment within another ``interval_s``."""
        while self.installed:
            await asyncio.sleep(self.interval_s)
            await quiet_moment(self.interval_s)
            if self.installed:
                self.collect()


async def quiet_moment(limit_s: float) -> bool:
    """Return once the event loop is not busy (whether it was), or after about ``limit_s``."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit_s
    while True:
        asked = loop.time()
        await asyncio.sleep(PROBE_S)
        woke = loop.time()
        if woke - asked - PROBE_S < QUIET_LAG_S:
            return True
        if woke >= give_up:
            return False


PROCESS = FullCollections(0.0)
"""The process's policy (one per process: the garbage collector is); ``tumar serve`` sets
its interval from the settings and installs it."""
