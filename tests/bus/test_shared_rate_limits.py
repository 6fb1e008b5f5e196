"""Rate limits with Redis: one bucket per key for every node; without Redis, each node's own."""

from __future__ import annotations

import logging

import pytest

from tests.bus.own_redis import OwnRedis, redis_server_available
from tests.conftest import need
from tumar.bus.redis import redis_client
from tumar.clock import FakeClock
from tumar.core.ratelimit import RateLimiter, SharedBuckets
from tumar.errors import MatrixError


def _limiter(url: str, prefix: str, clock: FakeClock, name: str = "send") -> RateLimiter:
    buckets = SharedBuckets(redis_client(url), f"{prefix}:ratelimit")
    return RateLimiter(clock, per_second=1.0, burst=3, shared=buckets, name=name)


async def _refused(limiter: RateLimiter, key: str) -> int:
    with pytest.raises(MatrixError) as caught:
        await limiter.check(key)
    assert caught.value.status == 429 and caught.value.errcode == "M_LIMIT_EXCEEDED"
    return int(caught.value.extra["retry_after_ms"])


async def test_two_nodes_share_one_bucket(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    node_a = _limiter(redis_url, prefix, clock)
    node_b = _limiter(redis_url, prefix, clock)
    await node_a.check("@alice:t")
    await node_b.check("@alice:t")
    await node_a.check("@alice:t")
    # The burst of 3 is spent across both nodes: the fourth is refused on either.
    assert 0 < await _refused(node_b, "@alice:t") <= 1000
    assert 0 < await _refused(node_a, "@alice:t") <= 1000
    await node_a.check("@bob:t")  # another key, another bucket
    other = _limiter(redis_url, prefix, clock, name="login")
    await other.check("@alice:t")  # another limiter name, another bucket
    clock.advance(1.0)  # one token back, shared
    await node_b.check("@alice:t")
    await _refused(node_a, "@alice:t")


async def test_buckets_expire_in_redis(redis_url: str, prefix: str) -> None:
    client = redis_client(redis_url)
    try:
        limiter = RateLimiter(
            FakeClock(), per_second=1.0, burst=3, shared=SharedBuckets(client, prefix), name="x"
        )
        await limiter.check("@alice:t")
        ttl = await client.pttl(f"{prefix}:x:@alice:t")
        assert 0 < ttl <= 2000  # refilled after 1 s, plus a second of slack
    finally:
        await client.aclose()


async def test_with_redis_down_each_node_still_limits(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    need(redis_server_available(), "redis-server is not installed")
    server = OwnRedis()
    server.start()
    clock = FakeClock()
    limiter = _limiter(server.url, prefix, clock)
    await limiter.check("@alice:t")  # through Redis
    server.kill()
    caplog.set_level(logging.WARNING, "tumar.core.ratelimit")
    # The node's own bucket (full: it was not used while Redis answered) limits alone.
    for _ in range(3):
        await limiter.check("@alice:t")
    assert 0 < await _refused(limiter, "@alice:t") <= 1000
    assert 0 < await _refused(limiter, "@alice:t") <= 1000
    assert [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()] != []
    assert len(caplog.records) == 1  # once per outage, not per request
