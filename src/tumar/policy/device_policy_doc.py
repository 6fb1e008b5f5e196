"""The JSON policy document of device policies: :func:`parse_policy` checks one and builds
the :class:`~tumar.policy.device_model.DevicePolicy`, raising
:class:`~tumar.policy.device_model.PolicyDocError` with the dotted path of the offending field
and the reason; :func:`policy_document` writes a policy back so that
``parse_policy(policy_document(p)) == p``. Pure. ``docs/device-policy.md`` describes every field.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tumar.policy.device_model import (
    CLIENT_KINDS,
    DEFAULT_BUFFER_M,
    DEFAULT_CHECKIN_INTERVAL_SECONDS,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HYSTERESIS_M,
    DEFAULT_STALE_AFTER_SECONDS,
    MAX_ALLOWANCES,
    MAX_AUDIENCE,
    MAX_BUFFER_M,
    MAX_DATES,
    MAX_HOURS,
    MAX_LABELS,
    MAX_NAME,
    MAX_NETWORKS,
    MAX_POSITIONS,
    MAX_RADIUS_M,
    MAX_SCHEDULES,
    MAX_SECONDS,
    MAX_ZONES,
    NETWORK_KINDS,
    PLATFORMS,
    RESTRICTIONS,
    UNKNOWN_LOCATION,
    Audience,
    ClientAllowance,
    ContentGate,
    DevicePolicy,
    PolicyDocError,
    Requirements,
    Schedule,
    ScheduleException,
    WeeklyHours,
    Zone,
    minutes,
)

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
_ZONE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# ---- parsing --------------------------------------------------------------------------------

_TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "audience",
        "schedules",
        "zones",
        "unknown_location",
        "restrictions",
        "allowed",
        "requirements",
        "grace_seconds",
        "checkin_interval_seconds",
        "stale_after_seconds",
        "hysteresis_m",
        "gate",
    }
)


def _obj(v: Any, path: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise PolicyDocError(path, "must be a JSON object")
    for k in v:
        if not isinstance(k, str) or k not in keys:
            raise PolicyDocError(
                f"{path}.{k}" if path else str(k),
                f"unknown field (known: {', '.join(sorted(keys))})",
            )
    return v


def _list(v: Any, path: str, limit: int) -> list[Any]:
    if not isinstance(v, list):
        raise PolicyDocError(path, "must be a JSON array")
    if len(v) > limit:
        raise PolicyDocError(path, f"has {len(v)} entries; at most {limit} are allowed")
    return v


def _str(v: Any, path: str, *, limit: int = MAX_NAME, empty: bool = False) -> str:
    if not isinstance(v, str):
        raise PolicyDocError(path, "must be a string")
    if not empty and not v.strip():
        raise PolicyDocError(path, "must not be empty")
    if len(v) > limit:
        raise PolicyDocError(path, f"is longer than {limit} characters")
    return v


def _bool(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise PolicyDocError(path, "must be true or false")
    return v


def _int(v: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise PolicyDocError(path, "must be a whole number")
    if v < lo:
        raise PolicyDocError(path, "must not be negative" if lo == 0 else f"must be at least {lo}")
    if v > hi:
        raise PolicyDocError(path, f"must be at most {hi}")
    return v


def _num(v: Any, path: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise PolicyDocError(path, "must be a number")
    if v < lo:
        raise PolicyDocError(path, "must not be negative" if lo == 0 else f"must be >= {lo}")
    if v > hi:
        raise PolicyDocError(path, f"must be at most {hi}")
    return float(v)


def _strings(v: Any, path: str, limit: int) -> tuple[str, ...]:
    items = _list(v, path, limit)
    out: list[str] = []
    for i, s in enumerate(items):
        s = _str(s, f"{path}.{i}")
        if s not in out:
            out.append(s)
    return tuple(out)


def _restrictions(v: Any, path: str) -> frozenset[str]:
    names = _strings(v, path, len(RESTRICTIONS))
    for i, n in enumerate(names):
        if n not in RESTRICTIONS:
            raise PolicyDocError(
                f"{path}.{i}", f"unknown restriction '{n}' (known: {', '.join(RESTRICTIONS)})"
            )
    return frozenset(names)


def _hhmm(v: Any, path: str) -> str:
    s = _str(v, path, limit=5)
    if not _HHMM.match(s):
        raise PolicyDocError(path, f"'{s}' is not a time of day HH:MM (00:00 to 24:00)")
    return s


def _window(start: Any, end: Any, path: str) -> tuple[str, str]:
    s, e = _hhmm(start, f"{path}.start"), _hhmm(end, f"{path}.end")
    if minutes(e) <= minutes(s):
        raise PolicyDocError(
            f"{path}.end",
            f"ends ({e}) at or before it starts ({s}); hours across midnight are two entries "
            "(until 24:00, and from 00:00 the next day)",
        )
    return s, e


def _date(v: Any, path: str) -> date:
    s = _str(v, path, limit=10)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            raise ValueError(s)
        return date.fromisoformat(s)
    except ValueError:
        raise PolicyDocError(path, f"'{s}' is not a date YYYY-MM-DD") from None


def _tz(v: Any, path: str) -> str:
    s = _str(v, path, limit=64)
    if s not in _zones():
        raise PolicyDocError(path, f"'{s}' is not an IANA time zone (e.g. Asia/Almaty)")
    try:
        ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyDocError(path, f"'{s}' is not an IANA time zone (e.g. Asia/Almaty)") from None
    return s


_ZONE_NAMES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONE_NAMES
    if _ZONE_NAMES is None:
        _ZONE_NAMES = frozenset(available_timezones())
    return _ZONE_NAMES


_HOURS_KEYS = frozenset({"day", "days", "start", "end"})
_EXC_KEYS = frozenset({"date", "start", "end", "active"})
_SCHEDULE_KEYS = frozenset({"tz", "hours", "holidays", "exceptions"})


def _schedule(v: Any, path: str) -> Schedule:
    d = _obj(v, path, _SCHEDULE_KEYS)
    if "tz" not in d:
        raise PolicyDocError(f"{path}.tz", "is required (an IANA time zone, e.g. Asia/Almaty)")
    tz = _tz(d["tz"], f"{path}.tz")
    hours: list[WeeklyHours] = []
    for i, h in enumerate(_list(d.get("hours", []), f"{path}.hours", MAX_HOURS)):
        hp = f"{path}.hours.{i}"
        hd = _obj(h, hp, _HOURS_KEYS)
        if ("day" in hd) == ("days" in hd):
            raise PolicyDocError(hp, "needs exactly one of 'day' (0-6) or 'days' (a list)")
        if "start" not in hd or "end" not in hd:
            raise PolicyDocError(hp, "needs 'start' and 'end' (HH:MM)")
        if "day" in hd:
            days = [_int(hd["day"], f"{hp}.day", 0, 6)]
        else:
            raw = _list(hd["days"], f"{hp}.days", 7)
            if not raw:
                raise PolicyDocError(f"{hp}.days", "must name at least one day")
            days = [_int(x, f"{hp}.days.{j}", 0, 6) for j, x in enumerate(raw)]
        s, e = _window(hd["start"], hd["end"], hp)
        for day in days:
            w = WeeklyHours(day, s, e)
            if w not in hours:
                hours.append(w)
    if len(hours) > MAX_HOURS:
        raise PolicyDocError(f"{path}.hours", f"more than {MAX_HOURS} entries")
    holidays: list[date] = []
    for i, x in enumerate(_list(d.get("holidays", []), f"{path}.holidays", MAX_DATES)):
        day_ = _date(x, f"{path}.holidays.{i}")
        if day_ not in holidays:
            holidays.append(day_)
    exceptions: list[ScheduleException] = []
    for i, x in enumerate(_list(d.get("exceptions", []), f"{path}.exceptions", MAX_DATES)):
        ep = f"{path}.exceptions.{i}"
        ed = _obj(x, ep, _EXC_KEYS)
        if "date" not in ed:
            raise PolicyDocError(f"{ep}.date", "is required (YYYY-MM-DD)")
        on = _date(ed["date"], f"{ep}.date")
        active = _bool(ed.get("active", False), f"{ep}.active")
        if ("start" in ed) != ("end" in ed):
            raise PolicyDocError(ep, "needs both 'start' and 'end', or neither (the whole day)")
        if "start" in ed:
            s, e = _window(ed["start"], ed["end"], ep)
            exceptions.append(ScheduleException(on, s, e, active))
        else:
            exceptions.append(ScheduleException(on, None, None, active))
    return Schedule(tz, tuple(hours), tuple(holidays), tuple(exceptions))


def _position(v: Any, path: str) -> tuple[float, float]:
    if not isinstance(v, list) or len(v) not in (2, 3):
        raise PolicyDocError(path, "a position must be [longitude, latitude]")
    if not (_finite(v[0]) and _finite(v[1])):
        raise PolicyDocError(path, "longitude and latitude must be numbers")
    lon, lat = float(v[0]), float(v[1])
    if not -180.0 <= lon <= 180.0:
        raise PolicyDocError(f"{path}.0", f"longitude {lon} is outside -180..180")
    if not -90.0 <= lat <= 90.0:
        raise PolicyDocError(
            f"{path}.1", f"latitude {lat} is outside -90..90 (positions are [longitude, latitude])"
        )
    return lon, lat


def _finite(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def _ring_area(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(
        ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1)
    )


def _polygon(v: Any, path: str, budget: list[int]) -> list[list[list[float]]]:
    rings = _list(v, path, 1000)
    if not rings:
        raise PolicyDocError(path, "a polygon needs at least its outer ring")
    out: list[list[list[float]]] = []
    for r, ring in enumerate(rings):
        rp = f"{path}.{r}"
        positions = _list(ring, rp, MAX_POSITIONS)
        budget[0] -= len(positions)
        if budget[0] < 0:
            raise PolicyDocError(rp, f"the zone has more than {MAX_POSITIONS} positions")
        if len(positions) < 4:
            raise PolicyDocError(
                rp, f"a linear ring needs at least 4 positions, this one has {len(positions)}"
            )
        pts = [_position(p, f"{rp}.{k}") for k, p in enumerate(positions)]
        if pts[0] != pts[-1]:
            raise PolicyDocError(
                rp, "the ring is not closed: its last position must repeat its first"
            )
        if abs(_ring_area(pts)) < 1e-12:
            raise PolicyDocError(rp, "the ring encloses no area")
        out.append([[lon, lat] for lon, lat in pts])
    return out


_GEOM_KEYS = frozenset({"type", "coordinates", "radius_m", "bbox", "geometry", "properties", "id"})


def _geometry(v: Any, path: str) -> dict[str, Any]:
    g = _obj(v, path, _GEOM_KEYS)
    kind = g.get("type")
    if kind == "Feature":
        return _geometry(g.get("geometry"), f"{path}.geometry")
    if "coordinates" not in g:
        raise PolicyDocError(f"{path}.coordinates", "is required")
    budget = [MAX_POSITIONS]
    if kind == "Polygon":
        return {
            "type": "Polygon",
            "coordinates": _polygon(g["coordinates"], f"{path}.coordinates", budget),
        }
    if kind == "MultiPolygon":
        polys = _list(g["coordinates"], f"{path}.coordinates", 1000)
        if not polys:
            raise PolicyDocError(f"{path}.coordinates", "a MultiPolygon needs at least one polygon")
        return {
            "type": "MultiPolygon",
            "coordinates": [
                _polygon(p, f"{path}.coordinates.{i}", budget) for i, p in enumerate(polys)
            ],
        }
    if kind == "Circle":
        lon, lat = _position(g["coordinates"], f"{path}.coordinates")
        if "radius_m" not in g:
            raise PolicyDocError(f"{path}.radius_m", "is required for a circle (metres)")
        radius = _num(g["radius_m"], f"{path}.radius_m", 0.0, MAX_RADIUS_M)
        if radius <= 0:
            raise PolicyDocError(f"{path}.radius_m", "must be more than 0")
        return {"type": "Circle", "coordinates": [lon, lat], "radius_m": radius}
    raise PolicyDocError(
        f"{path}.type",
        f"'{kind}' is not a zone geometry: use Polygon, MultiPolygon or Circle",
    )


def _network(v: Any, path: str) -> str:
    s = _str(v, path, limit=200)
    kind, sep, value = s.partition(":")
    if not sep or kind not in NETWORK_KINDS or not value:
        raise PolicyDocError(
            path,
            f"'{s}' is not a network hint (wifi:<ssid>, bssid:<mac>, beacon:<uuid>, ip:<cidr>)",
        )
    if kind == "bssid":
        value = value.lower().replace("-", ":")
        if not _MAC.match(value):
            raise PolicyDocError(path, f"'{s}' is not a BSSID like bssid:aa:bb:cc:dd:ee:ff")
    elif kind == "beacon":
        value = value.lower()
        if not _UUID.match(value):
            raise PolicyDocError(path, f"'{s}' is not a beacon UUID")
    elif kind == "ip":
        try:
            value = str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise PolicyDocError(path, f"'{s}' is not an IP network like ip:10.1.0.0/16") from None
    elif len(value) > 32:
        raise PolicyDocError(path, "a Wi-Fi SSID has at most 32 characters")
    return f"{kind}:{value}"


def _networks(v: Any, path: str) -> frozenset[str]:
    return frozenset(_network(x, f"{path}.{i}") for i, x in enumerate(_list(v, path, MAX_NETWORKS)))


_ZONE_KEYS = frozenset({"id", "name", "geometry", "buffer_m", "networks"})


def _zone(v: Any, path: str) -> Zone:
    d = _obj(v, path, _ZONE_KEYS)
    for key in ("id", "geometry"):
        if key not in d:
            raise PolicyDocError(f"{path}.{key}", "is required")
    zid = _str(d["id"], f"{path}.id", limit=64)
    if not _ZONE_ID.match(zid):
        raise PolicyDocError(f"{path}.id", "use letters, digits, '.', '_' and '-' (at most 64)")
    return Zone(
        zone_id=zid,
        name=_str(d.get("name", zid), f"{path}.name"),
        geometry=_geometry(d["geometry"], f"{path}.geometry"),
        buffer_m=_num(d.get("buffer_m", DEFAULT_BUFFER_M), f"{path}.buffer_m", 0.0, MAX_BUFFER_M),
        networks=_networks(d.get("networks", []), f"{path}.networks"),
    )


_AUDIENCE_KEYS = frozenset({"orgs", "exclude_orgs", "people", "groups", "starts_ts"})


def _audience(v: Any, path: str) -> Audience:
    d = _obj(v, path, _AUDIENCE_KEYS)
    starts = d.get("starts_ts")
    a = Audience(
        org_codes=_strings(d.get("orgs", []), f"{path}.orgs", MAX_AUDIENCE),
        exclude_org_codes=_strings(d.get("exclude_orgs", []), f"{path}.exclude_orgs", MAX_AUDIENCE),
        people=_strings(d.get("people", []), f"{path}.people", MAX_AUDIENCE),
        starts_ts=None if starts is None else _int(starts, f"{path}.starts_ts", 0, 2**53),
        groups=_strings(d.get("groups", []), f"{path}.groups", MAX_AUDIENCE),
    )
    for i, person in enumerate(a.people):
        if not person.startswith("@") or ":" not in person:
            raise PolicyDocError(f"{path}.people.{i}", f"'{person}' is not a Matrix user id")
    if not (a.org_codes or a.people or a.groups):
        raise PolicyDocError(path, "the audience is empty: name organisations, groups or people")
    return a


_REQ_KEYS = frozenset({"min_os", "no_root", "screen_lock", "encryption"})


def _requirements(v: Any, path: str) -> Requirements:
    d = _obj(v, path, _REQ_KEYS)
    min_os: dict[str, str] = {}
    raw = d.get("min_os", {})
    if not isinstance(raw, Mapping):
        raise PolicyDocError(f"{path}.min_os", "must be an object of platform: version")
    for platform, ver in raw.items():
        pp = f"{path}.min_os.{platform}"
        if platform not in PLATFORMS:
            raise PolicyDocError(pp, f"unknown platform (known: {', '.join(PLATFORMS)})")
        s = _str(ver, pp, limit=40)
        if not _VERSION.match(s):
            raise PolicyDocError(pp, f"'{s}' is not a dotted version like 14 or 17.4.1")
        min_os[platform] = s
    return Requirements(
        min_os=min_os,
        no_root=_bool(d.get("no_root", True), f"{path}.no_root"),
        screen_lock=_bool(d.get("screen_lock", True), f"{path}.screen_lock"),
        encryption=_bool(d.get("encryption", True), f"{path}.encryption"),
    )


_GATE_KEYS = frozenset({"labels", "outside_hours", "allow", "open_labels"})
_ALLOW_KEYS = frozenset({"kind", "networks"})


def _gate(v: Any, path: str) -> ContentGate:
    d = _obj(v, path, _GATE_KEYS)
    allow: list[ClientAllowance] = []
    for i, a in enumerate(_list(d.get("allow", []), f"{path}.allow", MAX_ALLOWANCES)):
        ap = f"{path}.allow.{i}"
        ad = _obj(a, ap, _ALLOW_KEYS)
        kind = _str(ad.get("kind"), f"{ap}.kind")
        if kind not in CLIENT_KINDS:
            raise PolicyDocError(
                f"{ap}.kind", f"unknown client kind (known: {', '.join(CLIENT_KINDS)})"
            )
        nets = _networks(ad.get("networks", []), f"{ap}.networks")
        for n in nets:
            if not n.startswith("ip:"):
                raise PolicyDocError(
                    f"{ap}.networks", "a client allowance names IP networks only (ip:<cidr>)"
                )
        allow.append(ClientAllowance(kind, nets))
    gate = ContentGate(
        labels=frozenset(_strings(d.get("labels", []), f"{path}.labels", MAX_LABELS)),
        outside_hours=_bool(d.get("outside_hours", False), f"{path}.outside_hours"),
        allow=tuple(allow),
        open_labels=frozenset(
            _strings(d.get("open_labels", []), f"{path}.open_labels", MAX_LABELS)
        ),
    )
    both = sorted(gate.labels & gate.open_labels)
    if both:
        raise PolicyDocError(f"{path}.open_labels", f"{', '.join(both)} is also gated")
    return gate


_STATE_KEYS = frozenset({"active", "inactive"})


def parse_policy(doc: Mapping[str, Any], *, policy_id: str, version: int) -> DevicePolicy:
    """Check a policy document and build the policy; :class:`PolicyDocError` names the first
    offending field and why."""
    d = _obj(doc, "", _TOP_KEYS)
    if "name" not in d:
        raise PolicyDocError("name", "is required")
    if "audience" not in d:
        raise PolicyDocError("audience", "is required (organisations, groups or people)")
    schedules = tuple(
        _schedule(s, f"schedules.{i}")
        for i, s in enumerate(_list(d.get("schedules", []), "schedules", MAX_SCHEDULES))
    )
    zones = tuple(
        _zone(z, f"zones.{i}") for i, z in enumerate(_list(d.get("zones", []), "zones", MAX_ZONES))
    )
    seen: set[str] = set()
    for i, z in enumerate(zones):
        if z.zone_id in seen:
            raise PolicyDocError(f"zones.{i}.id", f"zone id '{z.zone_id}' is used twice")
        seen.add(z.zone_id)
    unknown = d.get("unknown_location", "active")
    if unknown not in UNKNOWN_LOCATION:
        raise PolicyDocError("unknown_location", "must be 'active' (fail closed) or 'inactive'")
    restr = _obj(d.get("restrictions", {}), "restrictions", _STATE_KEYS)
    allowed = _obj(d.get("allowed", {}), "allowed", _STATE_KEYS)
    r_act = _restrictions(restr.get("active", []), "restrictions.active")
    r_inact = _restrictions(restr.get("inactive", []), "restrictions.inactive")
    a_act = _restrictions(allowed.get("active", []), "allowed.active")
    a_inact = _restrictions(allowed.get("inactive", []), "allowed.inactive")
    for state, r, a in (("active", r_act, a_act), ("inactive", r_inact, a_inact)):
        if r & a:
            raise PolicyDocError(
                f"allowed.{state}", f"{', '.join(sorted(r & a))} is also restricted while {state}"
            )
    checkin = _int(
        d.get("checkin_interval_seconds", DEFAULT_CHECKIN_INTERVAL_SECONDS),
        "checkin_interval_seconds",
        60,
        86_400,
    )
    stale = _int(
        d.get("stale_after_seconds", DEFAULT_STALE_AFTER_SECONDS),
        "stale_after_seconds",
        0,
        MAX_SECONDS,
    )
    if stale < checkin:
        raise PolicyDocError(
            "stale_after_seconds",
            f"must be at least the check-in interval ({checkin} s), or every device goes stale",
        )
    return DevicePolicy(
        policy_id=policy_id,
        version=version,
        name=_str(d["name"], "name"),
        description=_str(d.get("description", ""), "description", limit=2000, empty=True),
        audience=_audience(d["audience"], "audience"),
        schedules=schedules,
        zones=zones,
        unknown_location="active" if unknown == "active" else "inactive",
        restrictions_active=r_act,
        restrictions_inactive=r_inact,
        allowed_active=a_act,
        allowed_inactive=a_inact,
        requirements=_requirements(d.get("requirements", {}), "requirements"),
        grace_seconds=_int(
            d.get("grace_seconds", DEFAULT_GRACE_SECONDS), "grace_seconds", 0, MAX_SECONDS
        ),
        checkin_interval_seconds=checkin,
        stale_after_seconds=stale,
        hysteresis_m=_num(
            d.get("hysteresis_m", DEFAULT_HYSTERESIS_M), "hysteresis_m", 0.0, MAX_BUFFER_M
        ),
        gate=_gate(d.get("gate", {}), "gate"),
    )


# ---- writing --------------------------------------------------------------------------------


def _sorted_restrictions(names: frozenset[str]) -> list[str]:
    return [r for r in RESTRICTIONS if r in names]


def policy_document(p: DevicePolicy) -> dict[str, Any]:
    """The JSON document of ``p``: ``parse_policy(policy_document(p), ...) == p``."""
    a = p.audience
    audience: dict[str, Any] = {
        "orgs": list(a.org_codes),
        "exclude_orgs": list(a.exclude_org_codes),
        "groups": list(a.groups),
        "people": list(a.people),
        "starts_ts": a.starts_ts,
    }
    schedules = [
        {
            "tz": s.tz,
            "hours": [{"day": h.day, "start": h.start, "end": h.end} for h in s.hours],
            "holidays": [d.isoformat() for d in s.holidays],
            "exceptions": [
                {"date": e.date.isoformat(), "active": e.active}
                | ({"start": e.start, "end": e.end} if e.start is not None else {})
                for e in s.exceptions
            ],
        }
        for s in p.schedules
    ]
    zones = [
        {
            "id": z.zone_id,
            "name": z.name,
            "geometry": _copy_json(z.geometry),
            "buffer_m": z.buffer_m,
            "networks": sorted(z.networks),
        }
        for z in p.zones
    ]
    return {
        "name": p.name,
        "description": p.description,
        "audience": audience,
        "schedules": schedules,
        "zones": zones,
        "unknown_location": p.unknown_location,
        "restrictions": {
            "active": _sorted_restrictions(p.restrictions_active),
            "inactive": _sorted_restrictions(p.restrictions_inactive),
        },
        "allowed": {
            "active": _sorted_restrictions(p.allowed_active),
            "inactive": _sorted_restrictions(p.allowed_inactive),
        },
        "requirements": {
            "min_os": dict(sorted(p.requirements.min_os.items())),
            "no_root": p.requirements.no_root,
            "screen_lock": p.requirements.screen_lock,
            "encryption": p.requirements.encryption,
        },
        "grace_seconds": p.grace_seconds,
        "checkin_interval_seconds": p.checkin_interval_seconds,
        "stale_after_seconds": p.stale_after_seconds,
        "hysteresis_m": p.hysteresis_m,
        "gate": {
            "labels": sorted(p.gate.labels),
            "outside_hours": p.gate.outside_hours,
            "open_labels": sorted(p.gate.open_labels),
            "allow": [{"kind": c.kind, "networks": sorted(c.networks)} for c in p.gate.allow],
        },
    }


def _copy_json(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _copy_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_copy_json(x) for x in v]
    return v
