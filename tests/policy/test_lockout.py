"""The lockout state machine of one throttle key."""

from __future__ import annotations

from tumar.policy.lockout import ThrottleRule, ThrottleState, after_failure, locked_for_ms

RULE = ThrottleRule(max_failures=3, window_ms=1_000, lock_ms=5_000)


def fail(times: int, start: int = 0, step: int = 10) -> ThrottleState | None:
    state = None
    for i in range(times):
        state = after_failure(state, start + i * step, RULE)
    return state


def test_the_failure_that_reaches_the_limit_locks() -> None:
    assert locked_for_ms(fail(2), 20) == 0
    state = fail(3)
    assert state == ThrottleState(0, 20, 5_020)
    assert locked_for_ms(state, 20) == 5_000
    assert locked_for_ms(state, 5_019) == 1
    assert locked_for_ms(state, 5_020) == 0


def test_failures_outside_the_window_start_again() -> None:
    state = fail(2)
    state = after_failure(state, 1_010, RULE)  # the window of the first failure has ended
    assert state == ThrottleState(1, 1_010, None)


def test_after_a_lock_a_full_series_is_needed_again() -> None:
    state = fail(3)
    state = after_failure(state, 6_000, RULE)
    assert state == ThrottleState(1, 6_000, None)


def test_failures_during_a_lock_keep_the_longest_lock() -> None:
    state = fail(3)  # locked until 5_020
    state = after_failure(state, 100, RULE)
    assert state.locked_until_ts == 5_020 and state.failures == 1
    assert locked_for_ms(None, 0) == 0
