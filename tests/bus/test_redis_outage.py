"""Redis down: nodes keep serving, long-polls are woken by polling the database, and the
buses reconnect by themselves when Redis is back. Uses a private ``redis-server``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from tests.bus.own_redis import OwnRedis, redis_server_available
from tests.bus.waiting import eventually
from tests.conftest import need
from tumar.bus.base import Doorbell
from tumar.bus.redis import RedisBus, redis_client
from tumar.store.db import Database

POLL_MS = 100


@pytest.fixture
def own_redis() -> AsyncIterator[OwnRedis] | object:
    need(redis_server_available(), "redis-server is not installed")
    server = OwnRedis()
    server.start()
    yield server
    server.kill()


async def _move_stream(db: Database) -> int:
    """A write elsewhere: the stream position moves (as any event send does)."""
    async with db.write() as conn:
        return await db.allocate_positions(conn)


async def test_outage_falls_back_to_polling_and_recovers(
    own_redis: OwnRedis, database: Database, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "tumar.bus.redis")
    a = RedisBus(redis_client(own_redis.url), database, prefix=prefix, fallback_poll_ms=POLL_MS)
    b = RedisBus(redis_client(own_redis.url), database, prefix=prefix, fallback_poll_ms=POLL_MS)
    await a.start()
    await b.start()
    at_a: list[Doorbell] = []
    at_b: list[Doorbell] = []
    a.subscribe(at_a.append)
    b.subscribe(at_b.append)
    try:
        await a.publish(Doorbell(position=0, users=frozenset({"@x:t"})))
        await eventually(lambda: len(at_b) == 1)

        own_redis.kill()
        await eventually(lambda: not a.connected and not b.connected)
        assert "redis" in (await a.check() or "")

        # Publishing never fails a request, and this node's long-polls still hear it at once.
        mine = Doorbell(position=0, users=frozenset({"@y:t"}))
        await asyncio.wait_for(a.publish(mine), 1.0)
        assert at_a[-1] == mine

        # Another node's write: each node notices within the poll interval and wakes everyone.
        at_b.clear()
        position = await _move_stream(database)
        took = await eventually(lambda: any(bell.wake_all for bell in at_b), timeout=2.0)
        assert took < POLL_MS / 1000 * 3, took
        assert [bell.position for bell in at_b if bell.wake_all] == [position]
        await asyncio.sleep(POLL_MS / 1000 * 3)  # no second wake while nothing moves
        assert len([bell for bell in at_b if bell.wake_all]) == 1

        # Redis returns on the same port: both reconnect, wake everyone once (doorbells may
        # have been lost), and doorbells flow between the nodes again.
        at_b.clear()
        own_redis.start()
        await eventually(lambda: a.connected and b.connected, timeout=8.0)
        assert await a.check() is None
        await eventually(lambda: any(bell.wake_all for bell in at_b))
        after = Doorbell(position=0, users=frozenset({"@z:t"}), rooms=frozenset({"!r:t"}))
        await a.publish(after)
        await eventually(lambda: at_b[-1] == after)
    finally:
        await a.close()
        await b.close()
    lost = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(lost) == 2, [r.getMessage() for r in caplog.records]  # once per node, not per retry


async def test_a_node_starts_while_redis_is_down(
    own_redis: OwnRedis, database: Database, prefix: str
) -> None:
    url = own_redis.url
    own_redis.kill()
    bus = RedisBus(redis_client(url), database, prefix=prefix, fallback_poll_ms=POLL_MS)
    got: list[Doorbell] = []
    bus.subscribe(got.append)
    try:
        await asyncio.wait_for(bus.start(), 5.0)  # serves without Redis
        assert not bus.connected
        position = await _move_stream(database)
        await eventually(lambda: any(b.wake_all and b.position == position for b in got))
        own_redis.start()
        await eventually(lambda: bus.connected, timeout=8.0)
    finally:
        await bus.close()


async def test_an_idle_subscription_stays_connected(
    redis_url: str, database: Database, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "tumar.bus.redis")
    a = RedisBus(redis_client(redis_url), database, prefix=prefix)
    b = RedisBus(redis_client(redis_url), database, prefix=prefix)
    await a.start()
    await b.start()
    got: list[Doorbell] = []
    b.subscribe(got.append)
    try:
        await asyncio.sleep(4.5)  # longer than the client's socket timeout
        assert a.connected and b.connected
        await a.publish(Doorbell(position=0, users=frozenset({"@q:t"})))
        await eventually(lambda: len(got) == 1)
    finally:
        await a.close()
        await b.close()
    assert caplog.records == []


async def test_a_renewed_subscription_catches_up(
    own_redis: OwnRedis, database: Database, prefix: str
) -> None:
    """Redis drops the subscriber's connection (a failover, ``CLIENT KILL``, an output buffer
    limit) and redis-py subscribes again by itself: doorbells sent in between are lost, so
    the node wakes every long-poll once, as after any outage."""
    a = RedisBus(redis_client(own_redis.url), database, prefix=prefix, fallback_poll_ms=POLL_MS)
    b = RedisBus(redis_client(own_redis.url), database, prefix=prefix, fallback_poll_ms=POLL_MS)
    await a.start()
    await b.start()
    at_b: list[Doorbell] = []
    b.subscribe(at_b.append)
    admin = redis_client(own_redis.url)
    try:
        await a.publish(Doorbell(position=0, users=frozenset({"@x:t"})))
        await eventually(lambda: len(at_b) == 1)
        assert not any(bell.wake_all for bell in at_b)
        killed = await admin.client_kill_filter(_type="pubsub")
        assert killed == 2  # both nodes' subscriptions
        await eventually(lambda: any(bell.wake_all for bell in at_b), timeout=5.0)
        after = Doorbell(position=0, users=frozenset({"@z:t"}))
        await a.publish(after)
        await eventually(lambda: at_b[-1] == after, timeout=5.0)
    finally:
        await admin.aclose()
        await a.close()
        await b.close()
