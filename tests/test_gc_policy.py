"""Full garbage collections on a timer (``tumar/gc_policy.py``)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from tumar.gc_policy import NEVER, FullCollections, quiet_moment


class _Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def policy() -> Iterator[FullCollections]:
    before = gc.get_threshold()
    p = FullCollections(0.02)
    yield p
    p.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_install_freezes_and_stops_cpythons_full_collections(policy: FullCollections) -> None:
    before = gc.get_threshold()
    young, middle, _ = before
    policy.install()
    assert policy.installed
    assert gc.get_threshold() == (young, middle, NEVER)
    assert gc.get_freeze_count() > 0
    policy.install()  # twice is once: uninstall still restores the original thresholds
    policy.uninstall()
    assert not policy.installed
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_interval_changes_nothing() -> None:
    before = gc.get_threshold()
    p = FullCollections(0.0)
    p.install()
    assert not p.installed
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_wait_for_the_timed_collection(policy: FullCollections) -> None:
    policy.install()
    cycle = _Node()
    gone = weakref.ref(cycle)
    gc.collect(1)  # it survives the young generations into the oldest one
    del cycle
    for _ in range(3):  # it is garbage now, but young collections never look at it
        gc.collect(1)
    assert gone() is not None
    assert policy.collect() >= 1
    assert gone() is None
    assert policy.collections == 1
    assert policy.last_pause_s is not None and policy.last_pause_s >= 0


async def test_run_collects_every_interval_until_uninstalled(policy: FullCollections) -> None:
    policy.install()
    task = asyncio.create_task(policy.run())
    for _ in range(200):
        if policy.collections >= 2:
            break
        await asyncio.sleep(0.01)
    assert policy.collections >= 2
    policy.uninstall()
    await asyncio.wait_for(task, 1)  # the loop ends once the policy is undone


async def _hold_the_loop(steps: int, events: list[str]) -> None:
    for _ in range(steps):
        time.sleep(0.03)  # noqa: ASYNC251 (a step that holds the loop, as a burst does)
        await asyncio.sleep(0)
    events.append("quiet")


async def test_the_collection_waits_for_a_quiet_loop(
    policy: FullCollections, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the loop is busy the timed collection waits, and runs once it is quiet: here the
    interval is over at 0.4 s, the loop busy until 0.6 s, and the wait could last to 0.8 s."""
    policy.interval_s = 0.4
    events: list[str] = []
    monkeypatch.setattr(FullCollections, "collect", lambda _self: events.append("collected") or 0)
    policy.install()
    task = asyncio.create_task(policy.run())
    await _hold_the_loop(20, events)  # 0.6 s
    for _ in range(300):
        if "collected" in events:
            break
        await asyncio.sleep(0.01)
    policy.uninstall()
    await asyncio.wait_for(task, 2)
    assert events[:2] == ["quiet", "collected"]


async def test_a_loop_that_never_quietens_is_collected_after_the_limit() -> None:
    events: list[str] = []
    holder = asyncio.create_task(_hold_the_loop(30, events))  # 0.9 s
    await asyncio.sleep(0)
    assert not await quiet_moment(0.1)
    assert events == []  # it gave up while the loop was still busy
    await holder
    assert await quiet_moment(5.0)  # quiet now: at the first probe, on any but a stalled machine


async def test_a_quiet_moment_comes_when_the_loop_quietens() -> None:
    events: list[str] = []
    holder = asyncio.create_task(_hold_the_loop(10, events))  # 0.3 s
    await asyncio.sleep(0)
    assert await quiet_moment(30.0)  # not the limit: the loop quietened
    assert events == ["quiet"]
    await holder
