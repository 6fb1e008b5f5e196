"""Token-bucket rate limiting keyed by user or client address.

With Redis every node takes from one shared bucket per key (a Lua script, so taking is atomic),
and a client gains nothing by spreading requests over the nodes. While Redis is unreachable each
node limits with its own buckets, as a single node does.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from redis.asyncio import Redis

from tumar.bus.redis import REDIS_ERRORS
from tumar.clock import Clock
from tumar.errors import limit_exceeded

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0  # after a Redis failure, use the local buckets this long before retrying

# KEYS[1] the bucket; ARGV: tokens per ms, burst, now (ms), cost. Returns the wait in ms (0:
# taken). The bucket expires once it would be full again, so idle keys cost no memory.
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1])
local at = tonumber(held[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens < cost then
  wait = math.ceil((cost - tokens) / rate)
else
  tokens = tokens - cost
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return wait
"""


class SharedBuckets:
    """Token buckets in Redis, shared by every node (keys ``PREFIX:ratelimit:NAME:KEY``)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_TAKE_LUA)
        self._down_until = 0.0
        self._outage = False
        self._probing = False

    async def take(
        self, name: str, key: str, cost: float, per_second: float, burst: float, now_ms: int
    ) -> int | None:
        """Take ``cost`` from the shared bucket: 0 when taken, else the wait in ms; None when
        Redis is unreachable (the caller limits with its own bucket)."""
        if time.monotonic() < self._down_until or self._probing:
            return None
        # During an outage one request at a time finds out whether Redis is back; the others
        # do not each wait for a connection timeout meanwhile.
        self._probing = self._outage
        try:
            wait: Any = await self._script(
                keys=[f"{self._prefix}:{name}:{key}"],
                args=[per_second / 1000, burst, now_ms, cost],
            )
        except REDIS_ERRORS as exc:
            self._down_until = time.monotonic() + _RETRY_SECONDS
            if not self._outage:
                self._outage = True
                log.warning("Rate limits: Redis unreachable (%s); each node limits alone", exc)
            return None
        finally:
            self._probing = False
        if self._outage:
            self._outage = False
            log.warning("Rate limits: Redis reachable again; limits are shared again")
        return int(wait)


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        *,
        per_second: float,
        burst: int,
        enabled: bool = True,
        shared: SharedBuckets | None = None,
        name: str = "",
    ) -> None:
        self._clock = clock
        self._rate = per_second
        self._burst = float(burst)
        self._enabled = enabled
        self._buckets: dict[str, tuple[float, float]] = {}
        self._shared = shared
        self._name = name
        """Names the limiter's buckets in Redis (two limiters with one name share buckets)."""

    async def check(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` from the key's bucket or raise ``M_LIMIT_EXCEEDED``."""
        if not self._enabled:
            return
        if self._shared is not None:
            wait_ms = await self._shared.take(
                self._name, key, cost, self._rate, self._burst, self._clock.now_ms()
            )
            if wait_ms is not None:
                if wait_ms > 0:
                    raise limit_exceeded(wait_ms)
                return
        self._check_local(key, cost)

    def _check_local(self, key: str, cost: float) -> None:
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < cost:
            wait_ms = math.ceil((cost - tokens) / self._rate * 1000)
            self._buckets[key] = (tokens, now)
            raise limit_exceeded(wait_ms)
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > 100_000:
            self._forget_full_buckets(now)

    def _forget_full_buckets(self, now: float) -> None:
        full = [
            k
            for k, (t, last) in self._buckets.items()
            if t + (now - last) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]
