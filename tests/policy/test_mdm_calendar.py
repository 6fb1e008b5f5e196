"""Zones as GeoJSON and working hours as iCalendar: parsed back and checked (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_policy import DevicePolicy, parse_policy
from tumar.policy.device_schedule import local_windows
from tumar.policy.mdm_calendar import (
    EARTH_RADIUS_M,
    circle_ring,
    escape_text,
    fold,
    schedule_ics,
    signed_area,
    zones_geojson,
)

STAMP = int(datetime(2026, 12, 14, 3, 0, tzinfo=UTC).timestamp() * 1000)
START = date(2026, 12, 14)  # a Monday


# ---- a tiny RFC 5545 reader ------------------------------------------------------------------


@dataclass
class Prop:
    name: str
    params: dict[str, str]
    value: str


@dataclass
class Component:
    name: str
    props: list[Prop] = field(default_factory=list)
    children: list[Component] = field(default_factory=list)

    def get(self, name: str) -> list[Prop]:
        return [p for p in self.props if p.name == name]

    def one(self, name: str) -> Prop:
        found = self.get(name)
        assert len(found) == 1, (name, found)
        return found[0]


def unfold(text: str) -> list[str]:
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode()) <= 75, line
        assert "\n" not in line and "\r" not in line
    lines: list[str] = []
    for line in physical:
        if line.startswith(" "):
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


def parse_line(line: str) -> Prop:
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    return Prop(name, dict(p.split("=", 1) for p in params), value)


def parse(text: str) -> Component:
    stack: list[Component] = []
    root: Component | None = None
    for line in unfold(text):
        prop = parse_line(line)
        if prop.name == "BEGIN":
            comp = Component(prop.value)
            if stack:
                stack[-1].children.append(comp)
            else:
                root = comp
            stack.append(comp)
        elif prop.name == "END":
            assert stack.pop().name == prop.value
        else:
            stack[-1].props.append(prop)
    assert not stack and root is not None
    return root


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            assert value[i] not in ",;", value  # unescaped separators in TEXT
            out.append(value[i])
            i += 1
    return "".join(out)


def local_dt(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%S")


def minute_of(start_day: date, value: str) -> int:
    dt = local_dt(value)
    return (dt.date() - start_day).days * 1440 + dt.hour * 60 + dt.minute


def expand(cal: Component, tzid: str, first: date, days: int) -> dict[date, list[tuple[int, int]]]:
    """The windows per local date that the calendar describes (weekly rules minus EXDATEs,
    plus one-off events), merged like the schedule merges them."""
    out: dict[date, list[tuple[int, int]]] = {first + timedelta(days=k): [] for k in range(days)}
    for ev in (c for c in cal.children if c.name == "VEVENT"):
        start, end = ev.one("DTSTART"), ev.one("DTEND")
        assert start.params == {"TZID": tzid} == end.params
        d0 = local_dt(start.value).date()
        a, b = minute_of(d0, start.value), minute_of(d0, end.value)
        rules = ev.get("RRULE")
        if not rules:
            if d0 in out:
                out[d0].append((a, b))
            continue
        byday = rules[0].value.split("BYDAY=")[1]
        assert rules[0].value == f"FREQ=WEEKLY;BYDAY={byday}"
        assert ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[d0.weekday()] == byday
        excluded = {
            local_dt(v).date()
            for ex in ev.get("EXDATE")
            for v in ex.value.split(",")
            if ex.params == {"TZID": tzid} and v.endswith(start.value[8:])
        }
        for d in out:
            if d >= d0 and d.weekday() == d0.weekday() and d not in excluded:
                out[d].append((a, b))
    return {d: _merge(ws) for d, ws in out.items()}


def _merge(ws: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ws):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


# ---- policies --------------------------------------------------------------------------------


def policy(schedule: dict[str, Any], zones: list[dict[str, Any]] | None = None) -> DevicePolicy:
    doc = {
        "name": "MoF HQ; main, building",
        "audience": {"orgs": ["mof"]},
        "schedules": [schedule],
        "zones": zones or [],
        "restrictions": {"active": ["camera", "screen_capture"]},
    }
    return parse_policy(doc, policy_id="mof-hq", version=5)


ALMATY = {
    "tz": "Asia/Almaty",
    "hours": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "13:00"},
              {"days": [0, 1, 2, 3, 4], "start": "14:00", "end": "18:30"},
              {"day": 4, "start": "22:00", "end": "24:00"}],
    "holidays": ["2026-12-16", "2026-12-17", "2026-12-01"],
    "exceptions": [{"date": "2026-12-19", "start": "10:00", "end": "14:00", "active": True},
                   {"date": "2026-12-18", "start": "12:00", "end": "15:00", "active": False},
                   {"date": "2026-12-22", "active": False}],
}  # fmt: skip


def test_the_calendar_parses_back_to_the_same_working_hours() -> None:
    p = policy(ALMATY)
    text = schedule_ics(p, start=START, stamp_ts=STAMP)
    cal = parse(text)
    assert cal.name == "VCALENDAR"
    assert cal.one("VERSION").value == "2.0"
    assert cal.one("PRODID").value
    assert unescape(cal.one("X-WR-CALNAME").value) == "MoF HQ; main, building"
    events = [c for c in cal.children if c.name == "VEVENT"]
    uids = [e.one("UID").value for e in events]
    assert len(set(uids)) == len(uids)
    for e in events:
        assert e.one("DTSTAMP").value == "20261214T030000Z"
        assert unescape(e.one("SUMMARY").value).startswith("MoF HQ; main, building")
        assert "camera, screen_capture" in unescape(e.one("DESCRIPTION").value)
    expanded = expand(cal, "Asia/Almaty", START, 60)
    s = p.schedules[0]
    for d, windows in expanded.items():
        assert windows == local_windows(s, d), d
    # the holiday on Wednesday is an EXDATE at the occurrence's own start time
    wed = [e for e in events if e.get("RRULE") and e.one("DTSTART").value.endswith("T090000")
           and "BYDAY=WE" in e.one("RRULE").value]  # fmt: skip
    assert wed[0].one("EXDATE").value == "20261216T090000"
    # the holiday before the export's start is left out
    assert "20261201" not in text


def test_the_time_zone_is_named_and_described() -> None:
    cal = parse(schedule_ics(policy(ALMATY), start=START, stamp_ts=STAMP))
    (tz,) = [c for c in cal.children if c.name == "VTIMEZONE"]
    assert tz.one("TZID").value == "Asia/Almaty"
    offsets = {c.one("TZOFFSETTO").value for c in tz.children}
    assert offsets == {"+0500"}


@pytest.mark.parametrize("tzid", ["Europe/Berlin", "America/New_York", "Asia/Almaty",
                                  "Australia/Lord_Howe", "Asia/Kathmandu"])  # fmt: skip
def test_vtimezone_offsets_agree_with_the_tz_database(tzid: str) -> None:
    p = policy({"tz": tzid, "hours": [{"day": 0, "start": "09:00", "end": "17:00"}]})
    cal = parse(schedule_ics(p, start=date(2027, 1, 4), stamp_ts=STAMP))
    (vtz,) = [c for c in cal.children if c.name == "VTIMEZONE"]
    observances = sorted(
        (local_dt(c.one("DTSTART").value), c.one("TZOFFSETFROM").value,
         c.one("TZOFFSETTO").value, c.name)
        for c in vtz.children
    )  # fmt: skip
    zone = ZoneInfo(tzid)

    def parse_offset(v: str) -> int:
        sign = -1 if v[0] == "-" else 1
        return sign * (int(v[1:3]) * 3600 + int(v[3:5]) * 60 + int(v[5:7] or 0))

    for k in range(0, 9 * 365, 5):
        instant = datetime(2027, 1, 1, 12, tzinfo=UTC) + timedelta(days=k, hours=k % 24)
        expected = instant.astimezone(zone).utcoffset()
        assert expected is not None
        # the observance in force: the last whose onset (UTC) is not after the instant
        current = None
        for onset_local, frm, to, kind in observances:
            onset_utc = onset_local.replace(tzinfo=UTC) - timedelta(seconds=parse_offset(frm))
            if onset_utc <= instant:
                current = (to, kind)
        assert current is not None
        assert parse_offset(current[0]) == int(expected.total_seconds()), (instant, current)
        dst = instant.astimezone(zone).dst()
        assert (current[1] == "DAYLIGHT") == bool(dst), instant


def test_a_policy_without_schedules_says_it_is_always_in_force() -> None:
    p = parse_policy({"name": "Always", "audience": {"orgs": ["mof"]}}, policy_id="a", version=1)
    cal = parse(schedule_ics(p, start=START, stamp_ts=STAMP))
    assert not cal.children
    assert "at all times" in unescape(cal.one("X-WR-CALDESC").value)


def test_a_daylight_saving_zone_keeps_wall_time() -> None:
    p = policy({"tz": "Europe/Berlin", "hours": [{"day": 0, "start": "09:00", "end": "17:00"}]})
    cal = parse(schedule_ics(p, start=date(2027, 3, 1), stamp_ts=STAMP))
    (ev,) = [c for c in cal.children if c.name == "VEVENT"]
    assert ev.one("DTSTART").value == "20270301T090000"
    assert ev.one("DTSTART").params == {"TZID": "Europe/Berlin"}


times = st.integers(0, 47).map(lambda k: f"{k // 2:02d}:{30 * (k % 2):02d}")


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    hours = []
    for _ in range(draw(st.integers(0, 5))):
        a, b = sorted(draw(st.lists(st.integers(0, 48), min_size=2, max_size=2, unique=True)))
        end = "24:00" if b == 48 else f"{b // 2:02d}:{30 * (b % 2):02d}"
        hours.append({"day": draw(st.integers(0, 6)), "start": f"{a // 2:02d}:{30 * (a % 2):02d}",
                      "end": end})  # fmt: skip
    days = st.integers(-3, 40).map(lambda k: (START + timedelta(days=k)).isoformat())
    exceptions = []
    for _ in range(draw(st.integers(0, 4))):
        e: dict[str, Any] = {"date": draw(days), "active": draw(st.booleans())}
        if draw(st.booleans()):
            a, b = sorted(draw(st.lists(st.integers(0, 47), min_size=2, max_size=2, unique=True)))
            e["start"] = f"{a // 2:02d}:{30 * (a % 2):02d}"
            e["end"] = f"{b // 2:02d}:{30 * (b % 2):02d}"
        exceptions.append(e)
    return {
        "tz": draw(st.sampled_from(["Asia/Almaty", "Europe/Berlin", "Asia/Aqtobe"])),
        "hours": hours,
        "holidays": draw(st.lists(days, max_size=4, unique=True)),
        "exceptions": exceptions,
    }


@settings(max_examples=60, deadline=None)
@given(schedule=schedules())
def test_any_schedule_round_trips_through_icalendar(schedule: dict[str, Any]) -> None:
    p = policy(schedule)
    cal = parse(schedule_ics(p, start=START, stamp_ts=STAMP))
    expanded = expand(cal, schedule["tz"], START, 45)
    for d, windows in expanded.items():
        assert windows == local_windows(p.schedules[0], d), d


@given(st.text(max_size=300))
def test_escaping_round_trips(text: str) -> None:
    assert unescape(escape_text(text.replace("\r", ""))) == text.replace("\r", "")


@given(st.text(max_size=400).map(lambda t: "DESCRIPTION:" + escape_text(t.replace("\r", ""))))
def test_folding_keeps_octet_limits_and_characters(line: str) -> None:
    folded = fold(line)
    physical = folded.split("\r\n")
    assert all(len(x.encode()) <= 75 for x in physical)
    assert physical[0] + "".join(x[1:] for x in physical[1:]) == line
    assert all(x.startswith(" ") for x in physical[1:])


# ---- GeoJSON -----------------------------------------------------------------------------------


def haversine_m(a: list[float], b: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def check_ring(ring: list[list[float]], exterior: bool) -> None:
    assert len(ring) >= 4
    assert ring[0] == ring[-1]  # closed
    for lon, lat in ring:
        assert -180 <= lon <= 180 and -90 <= lat <= 90
    assert (signed_area(ring) > 0) == exterior  # RFC 7946: exterior counter-clockwise


def check_geojson(doc: dict[str, Any]) -> None:
    assert doc["type"] == "FeatureCollection"
    for f in doc["features"]:
        assert f["type"] == "Feature"
        assert isinstance(f["properties"], dict)
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        assert g["type"] in ("Polygon", "MultiPolygon")
        for poly in polys:
            for i, ring in enumerate(poly):
                check_ring(ring, i == 0)


ZONES: list[dict[str, Any]] = [
    {"id": "hq", "name": "Headquarters", "networks": ["wifi:MoF-Staff"],
     "geometry": {"type": "Circle", "coordinates": [71.4304, 51.1282], "radius_m": 150}},
    # drawn clockwise, with a clockwise hole: the export rewinds the exterior only
    {"id": "annex", "geometry": {"type": "Polygon", "coordinates": [
        [[71.40, 51.10], [71.40, 51.11], [71.42, 51.11], [71.42, 51.10], [71.40, 51.10]],
        [[71.405, 51.102], [71.405, 51.104], [71.407, 51.104], [71.405, 51.102]]]}},
    {"id": "campus", "buffer_m": 5, "geometry": {"type": "MultiPolygon", "coordinates": [
        [[[76.90, 43.20], [76.91, 43.20], [76.91, 43.21], [76.90, 43.20]]],
        [[[76.95, 43.25], [76.96, 43.25], [76.96, 43.26], [76.95, 43.25]]]]}},
]  # fmt: skip


def test_zones_export_as_valid_geojson() -> None:
    doc = zones_geojson(policy(ALMATY, ZONES))
    check_geojson(doc)
    assert doc["tumar_policy"] == {"policy_id": "mof-hq", "version": 5,
                                   "name": "MoF HQ; main, building"}  # fmt: skip
    hq, annex, campus = doc["features"]
    assert hq["id"] == "hq"
    assert hq["properties"]["shape"] == "circle"
    assert hq["properties"]["center"] == [71.4304, 51.1282]  # lon, lat
    assert hq["properties"]["radius_m"] == 150
    assert hq["properties"]["networks"] == ["wifi:MoF-Staff"]
    ring = hq["geometry"]["coordinates"][0]
    assert len(ring) == hq["properties"]["approximation_points"] + 1
    for pos in ring:
        assert haversine_m(pos, [71.4304, 51.1282]) == pytest.approx(150, rel=0.002)
    # the ring starts due north: same longitude, larger latitude (so the order is lon, lat)
    assert ring[0][0] == pytest.approx(71.4304) and ring[0][1] > 51.1282
    assert annex["geometry"]["coordinates"][0][1] == [71.42, 51.10]  # reversed exterior
    assert campus["geometry"]["type"] == "MultiPolygon"
    assert campus["properties"]["buffer_m"] == 5


@settings(max_examples=50, deadline=None)
@given(
    lon=st.floats(-179, 179),
    lat=st.floats(-80, 80),
    radius=st.floats(1, 50_000),
    points=st.integers(4, 128),
)
def test_any_circle_becomes_a_closed_counter_clockwise_ring(
    lon: float, lat: float, radius: float, points: int
) -> None:
    ring = circle_ring(lon, lat, radius, points)
    assert len(ring) == points + 1
    assert ring[0] == ring[-1]
    for pos in ring:
        assert -180 <= pos[0] <= 180 and -90 <= pos[1] <= 90
        assert haversine_m(pos, [lon, lat]) == pytest.approx(radius, rel=0.01, abs=0.05)
    if abs(lon) + radius / 111_000 / math.cos(math.radians(lat)) < 179:
        assert signed_area(ring) > 0
