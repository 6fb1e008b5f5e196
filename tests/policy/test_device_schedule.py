"""Working-hours schedules: activity and next boundaries, holidays, exceptions, daylight saving
(Europe/Berlin) and Asia/Almaty (UTC+5 since 1 March 2024, no DST). Pure."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_policy import Schedule, ScheduleException, WeeklyHours
from tumar.policy.device_schedule import (
    _next_change_all,
    any_active,
    local_windows,
    next_change,
    next_change_all,
    schedule_active,
)

ALMATY = "Asia/Almaty"
BERLIN = "Europe/Berlin"


def ms(tz: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return ms("UTC", y, mo, d, h, mi)


def weekdays(tz: str, start: str = "09:00", end: str = "18:30") -> Schedule:
    return Schedule(tz, tuple(WeeklyHours(d, start, end) for d in range(5)))


PILOT = Schedule(
    ALMATY,
    tuple(WeeklyHours(d, "09:00", "18:30") for d in range(5)),
    holidays=(date(2025, 3, 21),),  # Nauryz, a Friday
    exceptions=(
        ScheduleException(date(2025, 3, 8), None, None, active=True),  # a working Saturday
        ScheduleException(date(2025, 3, 12), "13:00", "14:00", active=False),  # an hour off
        ScheduleException(date(2025, 3, 13), "18:30", "20:00", active=True),  # extra hours
        ScheduleException(date(2025, 3, 14), None, None, active=False),  # a day off
    ),
)

ACTIVE = [
    # Almaty is UTC+5: 09:00 local = 04:00 UTC, 18:30 local = 13:30 UTC
    (utc(2025, 3, 10, 3, 59), False),  # Monday 08:59
    (utc(2025, 3, 10, 4, 0), True),  # Monday 09:00 (start included)
    (utc(2025, 3, 10, 13, 29), True),
    (utc(2025, 3, 10, 13, 30), False),  # 18:30 (end excluded)
    (utc(2025, 3, 9, 6, 0), False),  # Sunday
    (utc(2025, 3, 8, 1, 0), True),  # the working Saturday, whole day
    (utc(2025, 3, 12, 8, 30), False),  # 13:30 in the hour off
    (utc(2025, 3, 12, 7, 59), True),
    (utc(2025, 3, 12, 9, 0), True),  # 14:00 back
    (utc(2025, 3, 13, 14, 0), True),  # 19:00 extra hours
    (utc(2025, 3, 13, 15, 0), False),  # 20:00
    (utc(2025, 3, 14, 6, 0), False),  # the day off
    (utc(2025, 3, 21, 6, 0), False),  # the holiday
    (utc(2025, 3, 20, 6, 0), True),
]


@pytest.mark.parametrize(("t", "expected"), ACTIVE)
def test_schedule_active_pilot(t: int, expected: bool) -> None:
    assert schedule_active(PILOT, t) is expected


NEXT = [
    (utc(2025, 3, 10, 1), utc(2025, 3, 10, 4)),  # before work: start
    (utc(2025, 3, 10, 4), utc(2025, 3, 10, 13, 30)),  # at the start: the end
    (utc(2025, 3, 10, 13, 30), utc(2025, 3, 11, 4)),
    (utc(2025, 3, 12, 5), utc(2025, 3, 12, 8)),  # the hour off begins 13:00
    (utc(2025, 3, 12, 8), utc(2025, 3, 12, 9)),
    (utc(2025, 3, 13, 10), utc(2025, 3, 13, 15)),  # 09:00-20:00 is one stretch
    (utc(2025, 3, 13, 16), utc(2025, 3, 17, 4)),  # Friday off, weekend: Monday
    (utc(2025, 3, 20, 14), utc(2025, 3, 24, 4)),  # Nauryz Friday: Monday
    (utc(2025, 3, 7, 14), utc(2025, 3, 7, 19)),  # Saturday starts at local midnight
    (utc(2025, 3, 8, 5), utc(2025, 3, 8, 19)),  # and ends at the next local midnight
]


@pytest.mark.parametrize(("t", "expected"), NEXT)
def test_next_change_pilot(t: int, expected: int) -> None:
    assert next_change(PILOT, t) == expected


def test_almaty_offset_change_2024() -> None:
    """Kazakhstan moved from UTC+6 to UTC+5 on 1 March 2024; the tz database knows it."""
    s = weekdays(ALMATY)
    assert next_change(s, utc(2024, 2, 28, 0)) == utc(2024, 2, 28, 3)  # 09:00 at UTC+6
    assert next_change(s, utc(2024, 3, 4, 0)) == utc(2024, 3, 4, 4)  # 09:00 at UTC+5
    # and no daylight saving since: summer and winter starts are the same UTC hour
    assert next_change(s, utc(2025, 7, 7, 0)) == utc(2025, 7, 7, 4)
    assert next_change(s, utc(2025, 12, 8, 0)) == utc(2025, 12, 8, 4)


def test_berlin_spring_and_autumn() -> None:
    s = Schedule(BERLIN, tuple(WeeklyHours(d, "09:00", "18:00") for d in range(7)))
    # the Sunday of the spring change: 09:00 is already CEST (UTC+2)
    assert next_change(s, utc(2024, 3, 31, 0)) == utc(2024, 3, 31, 7)
    assert next_change(s, utc(2024, 3, 30, 0)) == utc(2024, 3, 30, 8)
    # autumn: back to CET (UTC+1)
    assert next_change(s, utc(2024, 10, 27, 0)) == utc(2024, 10, 27, 8)
    assert next_change(s, utc(2024, 10, 26, 0)) == utc(2024, 10, 26, 7)


def test_berlin_window_over_the_changed_hour() -> None:
    """A 01:00-04:00 window lasts 2 hours in spring and 4 in autumn (wall-clock hours)."""
    s = Schedule(BERLIN, (WeeklyHours(6, "01:00", "04:00"),))
    start = next_change(s, utc(2024, 3, 30, 12))
    assert start is not None
    assert next_change(s, start) == start + 2 * 3_600_000
    start = next_change(s, utc(2024, 10, 26, 12))
    assert start is not None
    assert next_change(s, start) == start + 4 * 3_600_000


def test_berlin_skipped_and_repeated_wall_times() -> None:
    # 02:30 does not exist on 31 March 2024: the window starts when the clock jumps to 03:00
    s = Schedule(BERLIN, (WeeklyHours(6, "02:30", "05:00"),))
    assert next_change(s, utc(2024, 3, 30, 12)) == utc(2024, 3, 31, 1, 30)
    assert not schedule_active(s, utc(2024, 3, 31, 0, 59))
    assert schedule_active(s, utc(2024, 3, 31, 1, 30))
    # 02:30 exists twice on 27 October 2024: the first one counts
    assert next_change(s, utc(2024, 10, 26, 12)) == utc(2024, 10, 27, 0, 30)


def test_midnight_crossing_is_one_stretch() -> None:
    s = Schedule(BERLIN, (WeeklyHours(0, "22:00", "24:00"), WeeklyHours(1, "00:00", "06:00")))
    monday_22 = ms(BERLIN, 2025, 6, 2, 22)
    assert next_change(s, monday_22 - 1) == monday_22
    assert next_change(s, monday_22) == ms(BERLIN, 2025, 6, 3, 6)
    assert schedule_active(s, ms(BERLIN, 2025, 6, 3, 0))


def test_always_and_never() -> None:
    always = Schedule(ALMATY, tuple(WeeklyHours(d, "00:00", "24:00") for d in range(7)))
    never = Schedule(ALMATY)
    t = utc(2025, 1, 1)
    assert schedule_active(always, t)
    assert next_change(always, t) is None
    assert not schedule_active(never, t)
    assert next_change(never, t) is None
    # a single working day in eleven months is still found
    once = Schedule(ALMATY, exceptions=(ScheduleException(date(2025, 12, 1), "09:00", "10:00",
                                                           active=True),))  # fmt: skip
    assert next_change(once, t) == utc(2025, 12, 1, 4)
    # beyond a year it is not
    far = Schedule(ALMATY, exceptions=(ScheduleException(date(2026, 6, 1), None, None, True),))
    assert next_change(far, t) is None


def test_several_schedules_union() -> None:
    a = Schedule(ALMATY, (WeeklyHours(0, "09:00", "13:00"),))
    b = Schedule(ALMATY, (WeeklyHours(0, "12:00", "18:00"),))
    monday = ms(ALMATY, 2025, 6, 2, 8)
    assert next_change_all((a, b), monday) == ms(ALMATY, 2025, 6, 2, 9)
    # 13:00 ends a but b is still active: no change until 18:00
    assert next_change_all((a, b), ms(ALMATY, 2025, 6, 2, 10)) == ms(ALMATY, 2025, 6, 2, 18)
    assert any_active((), monday)  # a policy without schedules is always in working hours
    assert next_change_all((), monday) is None


def test_local_windows_exception_order() -> None:
    s = Schedule(ALMATY, (WeeklyHours(0, "09:00", "18:00"),), exceptions=(
        ScheduleException(date(2025, 6, 2), None, None, active=False),
        ScheduleException(date(2025, 6, 2), "10:00", "12:00", active=True),
    ))  # fmt: skip
    assert local_windows(s, date(2025, 6, 2)) == [(600, 720)]


# ---- properties -------------------------------------------------------------------------------

TZS = [ALMATY, BERLIN, "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kathmandu"]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    hours = []
    for day in draw(st.sets(st.integers(0, 6), max_size=7)):
        for _ in range(draw(st.integers(1, 2))):
            a, b = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=2)))
            hours.append(WeeklyHours(day, f"{a * 15 // 60:02d}:{a * 15 % 60:02d}",
                                     f"{b * 15 // 60:02d}:{b * 15 % 60:02d}"))  # fmt: skip
    base = date(2024, 1, 1)
    holidays = tuple(base + timedelta(days=d) for d in draw(st.sets(st.integers(0, 800),
                                                                     max_size=5)))  # fmt: skip
    exceptions = tuple(
        ScheduleException(base + timedelta(days=d), None, None, draw(st.booleans()))
        for d in draw(st.sets(st.integers(0, 800), max_size=3))
    )
    return Schedule(draw(st.sampled_from(TZS)), tuple(hours), holidays, exceptions)


instants = st.integers(utc(2024, 1, 1), utc(2026, 1, 1))


@settings(max_examples=150, deadline=None)
@given(schedules(), instants)
def test_next_change_is_a_real_boundary(s: Schedule, t: int) -> None:
    c = next_change(s, t)
    if c is None:
        # no change within the horizon: sample some instants of the year
        for k in range(0, 365, 37):
            assert schedule_active(s, t + k * 86_400_000 + 1) == schedule_active(s, t)
        return
    assert c > t
    assert schedule_active(s, c - 1) != schedule_active(s, c)
    # nothing changes between t and c
    assert schedule_active(s, t) == schedule_active(s, c - 1)
    mid = t + (c - t) // 2
    assert schedule_active(s, mid) == schedule_active(s, t)


@settings(max_examples=60, deadline=None)
@given(st.lists(schedules(), min_size=1, max_size=3), st.lists(instants, min_size=1, max_size=12))
def test_remembered_stretch_answers_as_a_fresh_walk(
    found: list[Schedule], times: list[int]
) -> None:
    """``any_active`` and ``next_change_all`` remember the stretch they last found; asked at
    instants in any order (a clock may go back), they answer as a walk of the calendar does."""
    group = tuple(found)
    for t in [*times, *(t + 1 for t in times), *sorted(times)]:
        fresh = any(schedule_active(s, t) for s in group)
        assert any_active(group, t) == fresh
        expected = _next_change_all(group, t, fresh)
        assert next_change_all(group, t) == expected
        if expected is not None:  # inside the remembered stretch now
            assert any_active(group, expected - 1) == fresh
            assert next_change_all(group, expected - 1) == expected
            assert any_active(group, expected) != fresh


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TZS), st.integers(0, 400))
def test_fixed_wall_hours_last_the_same(tz: str, day: int) -> None:
    """A 09:00-17:00 window is 8 hours long on every date, daylight saving or not."""
    s = Schedule(tz, tuple(WeeklyHours(d, "09:00", "17:00") for d in range(7)))
    t = ms(tz, 2024, 1, 1) + day * 86_400_000
    start = next_change(s, t)
    assert start is not None
    if schedule_active(s, t):
        start = next_change(s, start)
        assert start is not None
    assert next_change(s, start) == start + 8 * 3_600_000


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2024, 3, 31), 23),
        (BERLIN, date(2024, 10, 27), 25),
        (BERLIN, date(2024, 6, 1), 24),
        (ALMATY, date(2024, 2, 29), 25),  # at midnight UTC+6 became UTC+5: 29 Feb was longer
        (ALMATY, date(2024, 3, 1), 24),
        (ALMATY, date(2025, 3, 30), 24),
    ],
)
def test_dst_day_lengths(tz: str, day: date, hours: int) -> None:
    """A whole-day exception spans the local day, however long it is."""
    s = Schedule(tz, exceptions=(ScheduleException(day, None, None, active=True),))
    start = next_change(s, ms(tz, day.year, day.month, day.day) - 3_600_000)
    assert start == ms(tz, day.year, day.month, day.day)
    end = next_change(s, start)
    assert end is not None and end - start == hours * 3_600_000
