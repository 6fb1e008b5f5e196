"""Login lockout: the state of one throttle key (an account or a client address) after a
failed login. Pure: the caller reads and writes the state and supplies the time.

Failures are counted in a window that starts at the first failure. The failure that reaches
the limit inside the window locks the key until ``now + lock``; the count then starts again,
so after the lock ends another full series of failures is needed to lock it again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    max_failures: int
    window_ms: int
    lock_ms: int


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int
    window_start_ts: int
    locked_until_ts: int | None = None


def locked_for_ms(state: ThrottleState | None, now: int) -> int:
    """How long the key stays locked from ``now`` (0: not locked)."""
    if state is None or state.locked_until_ts is None:
        return 0
    return max(0, state.locked_until_ts - now)


def after_failure(state: ThrottleState | None, now: int, rule: ThrottleRule) -> ThrottleState:
    locked_until = state.locked_until_ts if state is not None else None
    if locked_until is not None and locked_until <= now:
        locked_until = None
    if state is None or now - state.window_start_ts >= rule.window_ms:
        failures, start = 1, now
    else:
        failures, start = state.failures + 1, state.window_start_ts
    if failures >= rule.max_failures:
        return ThrottleState(0, now, max(now + rule.lock_ms, locked_until or 0))
    return ThrottleState(failures, start, locked_until)
