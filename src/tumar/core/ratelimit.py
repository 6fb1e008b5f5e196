"""Token-bucket rate limiting keyed by user or client address (per node for now)."""

from __future__ import annotations

import math

from tumar.clock import Clock
from tumar.errors import limit_exceeded


class RateLimiter:
    def __init__(
        self, clock: Clock, *, per_second: float, burst: int, enabled: bool = True
    ) -> None:
        self._clock = clock
        self._rate = per_second
        self._burst = float(burst)
        self._enabled = enabled
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` from the key's bucket or raise ``M_LIMIT_EXCEEDED``."""
        if not self._enabled:
            return
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
