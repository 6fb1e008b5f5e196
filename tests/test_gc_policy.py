"""Full garbage collections on a timer (``tumar/gc_policy.py``)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from tumar.gc_policy import NEVER, FullCollections


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
