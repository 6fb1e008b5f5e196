"""A device policy's zones as GeoJSON and its working hours as iCalendar, for other systems.

:func:`zones_geojson` writes an RFC 7946 ``FeatureCollection``: one ``Feature`` per zone, its
``id`` the zone id; polygons as given (rings closed and wound as RFC 7946 asks: exterior
counter-clockwise, holes clockwise), circles as polygons of :data:`CIRCLE_POINTS` points on the
circle, with the exact centre and radius in ``properties`` (the radius is authoritative: the
polygon's edges cut slightly inside the circle). Positions are ``[longitude, latitude]``.

:func:`schedule_ics` writes an RFC 5545 calendar: per schedule and weekly window one recurring
``VEVENT`` (``RRULE:FREQ=WEEKLY``) in the schedule's IANA time zone (``TZID`` plus a
``VTIMEZONE`` listing its offsets for :data:`TZ_YEARS` years), an ``EXDATE`` for each
occurrence a holiday or exception takes away, and a one-off ``VEVENT`` for each window an
exception adds or shortens. Dates before ``start`` are left out. Lines are folded at 75 octets
and text is escaped as the RFC says.

Pure functions: no I/O, no clock (the caller passes the export instant).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tumar.policy.device_policy import DevicePolicy, Schedule, Zone, minutes
from tumar.policy.device_schedule import local_windows

CIRCLE_POINTS = 64
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
TZ_YEARS = 10
PRODID = "-//tumar//device policy export//EN"
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_UID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# ---- GeoJSON ----------------------------------------------------------------------------------


def circle_ring(
    lon: float, lat: float, radius_m: float, points: int = CIRCLE_POINTS
) -> list[list[float]]:
    """A closed, counter-clockwise ring of ``points`` positions on the circle (great-circle
    destination points, spherical earth)."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    delta = radius_m / EARTH_RADIUS_M
    ring: list[list[float]] = []
    for k in range(points):
        theta = -2 * math.pi * k / points  # bearings decreasing: counter-clockwise on a map
        phi2 = math.asin(
            math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
        )
        lam2 = lam1 + math.atan2(
            math.sin(theta) * math.sin(delta) * math.cos(phi1),
            math.cos(delta) - math.sin(phi1) * math.sin(phi2),
        )
        lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
        ring.append([round(lon2, 7), round(math.degrees(phi2), 7)])
    ring.append(list(ring[0]))
    return ring


def signed_area(ring: Sequence[Sequence[float]]) -> float:
    """Twice the signed planar area of a ring in lon/lat (positive: counter-clockwise)."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))


def _ring(raw: Sequence[Sequence[float]], exterior: bool) -> list[list[float]]:
    ring = [[float(c) for c in pos[:2]] for pos in raw]
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    if (signed_area(ring) > 0) != exterior:
        ring.reverse()
    return ring


def _polygon(rings: Sequence[Sequence[Sequence[float]]]) -> list[list[list[float]]]:
    return [_ring(r, i == 0) for i, r in enumerate(rings)]


def zone_feature(z: Zone, points: int = CIRCLE_POINTS) -> dict[str, Any]:
    g = z.geometry
    props: dict[str, Any] = {
        "zone_id": z.zone_id,
        "name": z.name,
        "buffer_m": z.buffer_m,
        "networks": sorted(z.networks),
    }
    kind = g.get("type")
    geometry: dict[str, Any]
    if kind == "Circle":
        lon, lat = (float(c) for c in g["coordinates"][:2])
        radius = float(g["radius_m"])
        geometry = {"type": "Polygon", "coordinates": [circle_ring(lon, lat, radius, points)]}
        props.update(
            shape="circle", center=[lon, lat], radius_m=radius, approximation_points=points
        )
    elif kind == "Polygon":
        geometry = {"type": "Polygon", "coordinates": _polygon(g["coordinates"])}
        props["shape"] = "polygon"
    elif kind == "MultiPolygon":
        geometry = {
            "type": "MultiPolygon",
            "coordinates": [_polygon(poly) for poly in g["coordinates"]],
        }
        props["shape"] = "polygon"
    else:
        raise ValueError(f"zone {z.zone_id}: unsupported geometry type {kind!r}")
    return {"type": "Feature", "id": z.zone_id, "geometry": geometry, "properties": props}


def zones_geojson(p: DevicePolicy, points: int = CIRCLE_POINTS) -> dict[str, Any]:
    """The zones of ``p`` as a FeatureCollection (``tumar_policy`` is a foreign member naming
    the policy; RFC 7946 section 6.1 allows it)."""
    return {
        "type": "FeatureCollection",
        "tumar_policy": {"policy_id": p.policy_id, "version": p.version, "name": p.name},
        "features": [zone_feature(z, points) for z in p.zones],
    }


# ---- iCalendar --------------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """An RFC 5545 TEXT value (section 3.3.11)."""
    out = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return out.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded at 75 octets (section 3.1), never inside a UTF-8 sequence."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    limit = 75
    while data:
        cut = min(limit, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        parts.append(data[:cut].decode())
        data = data[cut:]
        limit = 74  # continuation lines start with a space
    return "\r\n ".join(parts)


def _utc_stamp(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(day: date, minute: int) -> str:
    if minute >= 1440:
        day, minute = day + timedelta(days=1), minute - 1440
    return f"{day:%Y%m%d}T{minute // 60:02d}{minute % 60:02d}00"


def _offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h:02d}{m:02d}" + (f"{s:02d}" if s else "")


def _utcoffset(tz: ZoneInfo, t: int) -> tuple[int, int, str]:
    local = datetime.fromtimestamp(t, tz=UTC).astimezone(tz)
    off, dst = local.utcoffset(), local.dst()
    assert off is not None
    return int(off.total_seconds()), int(dst.total_seconds()) if dst else 0, local.tzname() or ""


def transitions(tzid: str, first_year: int, years: int) -> list[tuple[int, int, int, int, str]]:
    """Offset changes of ``tzid`` from 1 January ``first_year`` for ``years`` years:
    (utc seconds, offset before, offset after, dst after, name after)."""
    tz = ZoneInfo(tzid)
    start = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(first_year + years, 1, 1, tzinfo=UTC).timestamp())
    out: list[tuple[int, int, int, int, str]] = []
    step = 86_400
    t = start
    before = _utcoffset(tz, t)
    while t < end:
        nxt = min(t + step, end)
        after = _utcoffset(tz, nxt)
        if after[:2] != before[:2]:
            lo, hi = t, nxt  # the change lies in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _utcoffset(tz, mid)[:2] == before[:2]:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, before[0], after[0], after[1], after[2]))
        before = after
        t = nxt
    return out


def vtimezone(tzid: str, first_year: int, years: int = TZ_YEARS) -> list[str]:
    """A VTIMEZONE with one observance per offset change (and one for the offset in force on
    1 January ``first_year``)."""
    tz = ZoneInfo(tzid)
    start = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    off, dst, name = _utcoffset(tz, start)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}", f"X-LIC-LOCATION:{tzid}"]

    def observance(at: int, frm: int, to: int, is_dst: int, tzname: str) -> list[str]:
        kind = "DAYLIGHT" if is_dst else "STANDARD"
        local = datetime.fromtimestamp(at + frm, tz=UTC)
        return [
            f"BEGIN:{kind}",
            f"DTSTART:{local:%Y%m%dT%H%M%S}",
            f"TZOFFSETFROM:{_offset(frm)}",
            f"TZOFFSETTO:{_offset(to)}",
            *([f"TZNAME:{escape_text(tzname)}"] if tzname else []),
            f"END:{kind}",
        ]

    lines += observance(start, off, off, dst, name)
    for at, frm, to, is_dst, tzname in transitions(tzid, first_year, years):
        lines += observance(at, frm, to, is_dst, tzname)
    lines.append("END:VTIMEZONE")
    return lines


def _uid(*parts: object) -> str:
    return _UID_UNSAFE.sub("-", "-".join(str(p) for p in parts)) + "@tumar"


def _weekly_dates(first: date, weekday: int) -> date:
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def _special_dates(s: Schedule, first: date) -> list[date]:
    days = {d for d in s.holidays if d >= first}
    days.update(ex.date for ex in s.exceptions if ex.date >= first)
    return sorted(days)


def _schedule_events(
    p: DevicePolicy, index: int, s: Schedule, first: date, stamp: str, summary: str, text: str
) -> Iterator[list[str]]:
    tzp = f"TZID={s.tz}"
    special = _special_dates(s, first)
    # the windows an ordinary week has on each weekday, merged as the schedule merges them
    by_day: dict[int, list[tuple[int, int]]] = {}
    for h in s.hours:
        by_day.setdefault(h.day, []).append((minutes(h.start), minutes(h.end)))
    weekly = {d: _merge(ws) for d, ws in by_day.items()}
    for day in sorted(weekly):
        for j, (a, b) in enumerate(weekly[day]):
            begin = _weekly_dates(first, day)
            removed = [
                d for d in special if d.weekday() == day and (a, b) not in local_windows(s, d)
            ]
            lines = [
                "BEGIN:VEVENT",
                f"UID:{_uid(p.policy_id, 'v', p.version, 's', index, DAYS[day], j)}",
                f"DTSTAMP:{stamp}",
                f"DTSTART;{tzp}:{_local(begin, a)}",
                f"DTEND;{tzp}:{_local(begin, b)}",
                f"RRULE:FREQ=WEEKLY;BYDAY={DAYS[day]}",
            ]
            for k in range(0, len(removed), 20):
                chunk = ",".join(_local(d, a) for d in removed[k : k + 20])
                lines.append(f"EXDATE;{tzp}:{chunk}")
            lines += [
                f"SUMMARY:{escape_text(summary)}",
                f"DESCRIPTION:{escape_text(text)}",
                "TRANSP:TRANSPARENT",
                "END:VEVENT",
            ]
            yield lines
    for d in special:
        usual = weekly.get(d.weekday(), [])
        for a, b in local_windows(s, d):
            if (a, b) in usual:
                continue
            yield [
                "BEGIN:VEVENT",
                f"UID:{_uid(p.policy_id, 'v', p.version, 's', index, d.isoformat(), a)}",
                f"DTSTAMP:{stamp}",
                f"DTSTART;{tzp}:{_local(d, a)}",
                f"DTEND;{tzp}:{_local(d, b)}",
                f"SUMMARY:{escape_text(summary)}",
                f"DESCRIPTION:{escape_text(text + ' One-off change of the usual hours.')}",
                "TRANSP:TRANSPARENT",
                "END:VEVENT",
            ]


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def describe(p: DevicePolicy) -> str:
    active = ", ".join(sorted(p.restrictions_active)) or "none"
    places = ", ".join(z.name for z in p.zones) or "everywhere"
    return f"Restricted while active: {active}. Where: {places}."


def schedule_ics(p: DevicePolicy, *, start: date, stamp_ts: int) -> str:
    """The working hours of ``p`` from the local date ``start`` as an iCalendar text (CRLF
    line ends). ``stamp_ts`` (ms) becomes every event's DTSTAMP."""
    stamp = _utc_stamp(stamp_ts)
    summary = f"{p.name}: device restrictions in force"
    text = describe(p)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(p.name)}",
    ]
    if not p.schedules:
        lines.append(
            "X-WR-CALDESC:"
            + escape_text("This policy has no working hours: it is in force at all times.")
        )
    zones_done: set[str] = set()
    for s in p.schedules:
        if s.tz not in zones_done:
            zones_done.add(s.tz)
            lines += vtimezone(s.tz, start.year)
    for i, s in enumerate(p.schedules):
        for event in _schedule_events(p, i, s, start, stamp, summary, text):
            lines += event
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
