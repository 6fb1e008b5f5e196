"""Working-hours schedules of device policies: is a schedule active at an instant, and when
does that next change. Pure.

A schedule is written in local wall time of its IANA zone. Each local date gets a set of
windows: the weekly hours of its weekday (none on a holiday), then each one-off exception in
order adds (``active``) or removes its window (the whole day without ``start``/``end``). The
windows become UTC instants with :mod:`zoneinfo`, so a 09:00-18:00 day is 9 hours long on any
date, while the day itself may have 23 or 25 hours around daylight-saving changes. A wall time
that does not exist (the hour skipped in spring) maps to the instant it would be with the
earlier offset, i.e. after the skip; a wall time that exists twice (autumn) maps to its first
occurrence. Adjacent windows merge, so Mon 22:00-24:00 plus Tue 00:00-06:00 is one stretch with
no boundary at midnight.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tumar.policy.device_policy import Schedule, minutes

HORIZON_DAYS = 366
"""How far :func:`next_change` looks ahead."""

Interval = tuple[int, int]  # [start_ms, end_ms)


def _local_ms(tz: ZoneInfo, day: date, minute: int) -> int:
    base = datetime(day.year, day.month, day.day, tzinfo=tz)
    if minute >= 1440:
        nxt = day + timedelta(days=1)
        return int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp() * 1000)
    local = base.replace(hour=minute // 60, minute=minute % 60)
    return int(local.timestamp() * 1000)


def _subtract(windows: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in windows:
        if e <= cut[0] or s >= cut[1]:
            out.append((s, e))
            continue
        if s < cut[0]:
            out.append((s, cut[0]))
        if e > cut[1]:
            out.append((cut[1], e))
    return out


def _merge(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(windows):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def local_windows(s: Schedule, day: date) -> list[tuple[int, int]]:
    """The working windows of a local date in minutes after local midnight, merged."""
    return list(_local_windows(s, day))


def _local_windows(s: Schedule, day: date) -> tuple[tuple[int, int], ...]:
    windows: list[tuple[int, int]] = []
    if day not in s.holidays:
        wd = day.weekday()
        windows = [(minutes(h.start), minutes(h.end)) for h in s.hours if h.day == wd]
    for ex in s.exceptions:
        if ex.date != day:
            continue
        window = (
            (0, 1440)
            if ex.start is None or ex.end is None
            else (minutes(ex.start), minutes(ex.end))
        )
        windows = _merge([*windows, window]) if ex.active else _subtract(_merge(windows), window)
    return tuple(_merge(windows))


# Memo of each schedule's UTC windows per local date, keyed by the schedule's identity (a
# policy bundle lives for many evaluations; hashing a schedule on every lookup would cost more
# than the lookup). The entry holds the schedule itself, so its id cannot be reused meanwhile.
_MEMO: dict[int, tuple[Schedule, dict[date, tuple[Interval, ...]]]] = {}
_MEMO_SCHEDULES = 1024
_MEMO_DAYS = 2048


def _day_intervals(s: Schedule, day: date) -> tuple[Interval, ...]:
    entry = _MEMO.get(id(s))
    if entry is None or entry[0] is not s:
        if len(_MEMO) >= _MEMO_SCHEDULES:
            _MEMO.clear()
        entry = (s, {})
        _MEMO[id(s)] = entry
    days = entry[1]
    got = days.get(day)
    if got is None:
        if len(days) >= _MEMO_DAYS:
            days.clear()
        tz = ZoneInfo(s.tz)
        got = tuple(
            (_local_ms(tz, day, a), _local_ms(tz, day, b)) for a, b in _local_windows(s, day)
        )
        days[day] = got
    return got


def _local_date(s: Schedule, t_ms: int) -> date:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(ZoneInfo(s.tz)).date()


def _intervals(s: Schedule, first: date, days: int) -> list[Interval]:
    out: list[Interval] = []
    for k in range(days):
        out.extend(_day_intervals(s, first + timedelta(days=k)))
    return _merge(out)


def schedule_active(s: Schedule, t_ms: int) -> bool:
    """Whether ``s`` is in working hours at ``t_ms`` (intervals include their start and exclude
    their end)."""
    # a local date's windows lie within that date, so only the date of t_ms matters
    return any(a <= t_ms < b for a, b in _day_intervals(s, _local_date(s, t_ms)))


def next_change(s: Schedule, t_ms: int) -> int | None:
    """The first instant after ``t_ms`` at which :func:`schedule_active` changes, or None when
    it does not change within :data:`HORIZON_DAYS` days."""
    first = _local_date(s, t_ms) - timedelta(days=1)
    tz = ZoneInfo(s.tz)
    days = 8
    while True:
        span = min(days, HORIZON_DAYS + 2)
        intervals = _intervals(s, first, span)
        end_day = first + timedelta(days=span)
        horizon = _local_ms(tz, end_day, 0)  # later days' windows start at or after this
        for a, b in intervals:
            for edge in (a, b):
                if edge > t_ms and edge < horizon:
                    return edge
        if span >= HORIZON_DAYS + 2:
            return None
        days *= 4


# Memo of the stretch a set of schedules was last found in: (schedules, from, until, state)
# by the tuple's identity (a policy's schedules live as long as its parsed bundle). Every
# instant in [from, until) has that state and ``until`` as its next change, so evaluating
# hundreds of check-ins a second walks the calendar once per stretch, not once per check-in.
_STRETCH: dict[int, tuple[tuple[Schedule, ...], int, int, bool]] = {}
_STRETCH_SIZE = 1024


def _known_stretch(schedules: tuple[Schedule, ...], t_ms: int) -> tuple[int, bool] | None:
    entry = _STRETCH.get(id(schedules))
    if entry is not None and entry[0] is schedules and entry[1] <= t_ms < entry[2]:
        return entry[2], entry[3]
    return None


def next_change_all(schedules: tuple[Schedule, ...], t_ms: int) -> int | None:
    """The first instant after ``t_ms`` at which :func:`any_active` of ``schedules`` changes
    (None: not within a year). One schedule changing while another stays active is no change."""
    if not schedules:
        return None
    known = _known_stretch(schedules, t_ms)
    if known is not None:
        return known[0]
    state = any_active(schedules, t_ms)
    change = _next_change_all(schedules, t_ms, state)
    if change is not None:
        if len(_STRETCH) >= _STRETCH_SIZE:
            _STRETCH.clear()
        _STRETCH[id(schedules)] = (schedules, t_ms, change, state)
    return change


def _next_change_all(schedules: tuple[Schedule, ...], t_ms: int, state: bool) -> int | None:
    t = t_ms
    for _ in range(10_000):
        found = [c for c in (next_change(s, t) for s in schedules) if c is not None]
        if not found:
            return None
        c = min(found)
        if c - t_ms > HORIZON_DAYS * 86_400_000:
            return None
        if any_active(schedules, c) != state:
            return c
        t = c
    return None


def any_active(schedules: tuple[Schedule, ...], t_ms: int) -> bool:
    """Whether a policy with these schedules is in working hours: any of them active; a policy
    without schedules is always in working hours."""
    if not schedules:
        return True
    known = _known_stretch(schedules, t_ms)
    if known is not None:
        return known[1]
    return any(schedule_active(s, t_ms) for s in schedules)
