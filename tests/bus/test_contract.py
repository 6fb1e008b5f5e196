"""One contract for every bus: the in-process bus and the Redis bus pass the same tests.

``nodes`` gives two nodes of one deployment: for the in-process bus both are the same bus (one
process is the whole deployment); for Redis, two buses on one channel, as two tumar nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.bus.waiting import eventually
from tumar.bus.base import Bus, Doorbell
from tumar.bus.local import LocalBus
from tumar.bus.redis import RedisBus, redis_client
from tumar.store.db import Database

EVERY_FIELD = Doorbell(
    position=42,
    users=frozenset({"@alice:tumar.test", "@bob:tumar.test"}),
    typing_serial=7,
    rooms=frozenset({"!room:tumar.test"}),
    sessions=frozenset({"@carol:tumar.test"}),
    wake_all=True,
    typing_room="!typing:tumar.test",
    typing_users=(("@alice:tumar.test", 1_700_000_030_000), ("@bob:tumar.test", 0)),
)


@pytest.fixture(params=["local", "redis"])
async def nodes(
    request: pytest.FixtureRequest, database: Database, prefix: str
) -> AsyncIterator[tuple[Bus, Bus]]:
    if request.param == "local":
        bus = LocalBus()
        await bus.start()
        yield bus, bus
        await bus.close()
        return
    url: str = request.getfixturevalue("redis_url")
    a = RedisBus(redis_client(url), database, prefix=prefix, node_id="node-a")
    b = RedisBus(redis_client(url), database, prefix=prefix, node_id="node-b")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_every_field_reaches_every_subscriber_of_both_nodes(nodes: tuple[Bus, Bus]) -> None:
    a, b = nodes
    got: dict[str, list[Doorbell]] = {"a1": [], "a2": [], "b1": [], "b2": []}
    a.subscribe(got["a1"].append)
    a.subscribe(got["a2"].append)
    if b is not a:
        b.subscribe(got["b1"].append)
        b.subscribe(got["b2"].append)
    else:
        got.pop("b1"), got.pop("b2")

    await a.publish(EVERY_FIELD)
    # The publishing node's subscribers have it when publish returns.
    assert got["a1"] == [EVERY_FIELD] and got["a2"] == [EVERY_FIELD]
    await eventually(lambda: all(got.values()))
    await asyncio.sleep(0.2)  # time for an echo or a duplicate to arrive, if one would
    assert got == {name: [EVERY_FIELD] for name in got}


async def test_doorbells_flow_both_ways_in_order(nodes: tuple[Bus, Bus]) -> None:
    a, b = nodes
    seen_a: list[int] = []
    seen_b: list[int] = []
    a.subscribe(lambda bell: seen_a.append(bell.position))
    if b is not a:
        b.subscribe(lambda bell: seen_b.append(bell.position))
    for pos in range(1, 21):
        await (a if pos % 2 else b).publish(Doorbell(position=pos, users=frozenset({"@u:t"})))
    expected = list(range(1, 21))
    await eventually(lambda: len(seen_a) == 20 and (b is a or len(seen_b) == 20))
    await asyncio.sleep(0.2)
    assert sorted(seen_a) == expected
    if b is not a:
        assert sorted(seen_b) == expected
        # Each node's own doorbells in publish order; the other's in publish order too.
        assert [p for p in seen_b if p % 2] == list(range(1, 21, 2))
        assert [p for p in seen_a if not p % 2] == list(range(2, 21, 2))


async def test_health_and_lag(nodes: tuple[Bus, Bus]) -> None:
    a, b = nodes
    assert await a.check() is None and await b.check() is None
    assert a.connected and b.connected
    received: list[Doorbell] = []
    b.subscribe(received.append)
    await a.publish(Doorbell(position=1, users=frozenset()))
    await eventually(lambda: bool(received))
    if isinstance(b, RedisBus):
        assert 0.0 < b.lag_seconds < 1.0, b.lag_seconds  # measured from a's publish time
        assert a.lag_seconds == 0.0  # a received nothing from Redis (its own echo is skipped)
    else:
        assert b.lag_seconds == 0.0


async def test_close_is_idempotent_and_stops_delivery(nodes: tuple[Bus, Bus]) -> None:
    a, b = nodes
    received: list[Doorbell] = []
    b.subscribe(received.append)
    await b.close()
    await b.close()
    await a.publish(Doorbell(position=3, users=frozenset()))
    await asyncio.sleep(0.2)
    assert received == []
