"""``core/group_commit.py``: what arrives during a batch goes into the next one, each item
gets its own outcome, a failed batch fails exactly its items, one key is never twice in a
batch, and a waiter that gave up is left out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tumar.core.group_commit import GroupCommit


class Recorder:
    def __init__(self, fail_batch: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_batch = fail_batch
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail_batch == len(self.batches):
            raise RuntimeError("the transaction failed")
        return [ValueError(i) if i.startswith("bad") else i.upper() for i in items]


def key(item: str) -> str:
    return item.split(":")[0]


async def test_items_arriving_during_a_batch_share_the_next() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, str] = GroupCommit(rec.run, key)
    first = asyncio.create_task(group.submit("a:1"))
    await asyncio.sleep(0)  # the first batch has started and waits on the gate
    rest = [asyncio.create_task(group.submit(f"{k}:1")) for k in "bcd"]
    await asyncio.sleep(0)
    rec.gate.set()
    assert await first == "A:1"
    assert await asyncio.gather(*rest) == ["B:1", "C:1", "D:1"]
    assert rec.batches == [["a:1"], ["b:1", "c:1", "d:1"]]
    assert group.batches == 2


async def test_one_key_once_per_batch_in_order_and_own_refusals() -> None:
    rec = Recorder()
    group: GroupCommit[str, str] = GroupCommit(rec.run, key)
    results = await asyncio.gather(
        *(group.submit(i) for i in ("a:1", "a:2", "bad:1", "b:1", "a:3")),
        return_exceptions=True,
    )
    assert results[:2] == ["A:1", "A:2"] and results[3:] == ["B:1", "A:3"]
    assert isinstance(results[2], ValueError)
    assert rec.batches == [["a:1", "bad:1", "b:1"], ["a:2"], ["a:3"]]


async def test_a_failed_batch_fails_its_items_only() -> None:
    """A transaction that fails whatever it holds (the database is away) fails the items of
    that batch, each after one try alone, and nothing else."""
    rec = Recorder(fail_batch=1)
    rec.gate.clear()
    group: GroupCommit[str, str] = GroupCommit(rec.run, key)
    doomed = asyncio.create_task(group.submit("a:1"))
    await asyncio.sleep(0)
    later = asyncio.create_task(group.submit("c:1"))
    await asyncio.sleep(0)
    rec.gate.set()
    with pytest.raises(RuntimeError, match="transaction failed"):
        await doomed
    assert await later == "C:1"
    assert await group.submit("a:2") == "A:2"  # the group carries on


async def test_one_item_that_fails_its_batch_does_not_fail_the_others() -> None:
    """An item whose write fails the whole transaction (not a refusal of its own): every item
    of the batch is tried once more alone, so only that one fails."""

    async def run(items: Sequence[str]) -> list[str | BaseException]:
        rec.batches.append(list(items))
        if "poison:1" in items:
            raise RuntimeError("the transaction failed")
        return [i.upper() for i in items]

    rec = Recorder()
    group: GroupCommit[str, str] = GroupCommit(run, key)
    results = await asyncio.gather(
        *(group.submit(i) for i in ("a:1", "poison:1", "b:1")), return_exceptions=True
    )
    assert results[0] == "A:1" and results[2] == "B:1"
    assert isinstance(results[1], RuntimeError)
    assert rec.batches == [["a:1", "poison:1", "b:1"], ["a:1"], ["poison:1"], ["b:1"]]


async def test_a_cancelled_waiter_is_left_out() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, str] = GroupCommit(rec.run, key)
    first = asyncio.create_task(group.submit("a:1"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(group.submit("b:1"))
    kept = asyncio.create_task(group.submit("c:1"))
    await asyncio.sleep(0)
    gone.cancel()
    rec.gate.set()
    assert await first == "A:1" and await kept == "C:1"
    assert rec.batches == [["a:1"], ["c:1"]]


async def test_batches_are_bounded() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[str, str] = GroupCommit(rec.run, key, max_batch=2)
    tasks = [asyncio.create_task(group.submit(f"k{i}:1")) for i in range(5)]
    await asyncio.sleep(0)
    rec.gate.set()
    await asyncio.gather(*tasks)
    assert [len(b) for b in rec.batches] == [2, 2, 1]
