"""Device policies: the model (constants and frozen dataclasses). Pure.

Import these through :mod:`tumar.policy.device_policy`, which also holds the parser
(:mod:`tumar.policy.device_policy_doc`), audiences and contradictions.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

RESTRICTIONS: tuple[str, ...] = (
    "camera",
    "screen_capture",
    "microphone",
    "bluetooth",
    "usb_data",
    "nfc",
    "app_install",
    "tethering",
    "external_storage",
    "nearby_sharing",  # AirDrop, Nearby Share / Quick Share
)
PLATFORMS: tuple[str, ...] = ("android", "ios", "ipados", "windows", "macos", "linux", "web")
MANAGEMENT_MODES: tuple[str, ...] = (
    "fully_managed",
    "work_profile",
    "supervised",
    "user_enrolment",
    "unsupervised",
    "unmanaged",
)
OWNERSHIPS: tuple[str, ...] = ("corporate", "personal")
CLIENT_KINDS: tuple[str, ...] = ("desktop", "web", "mobile", "any")
"""Kinds of Matrix client a :class:`ClientAllowance` names (``any``: every kind)."""
NETWORK_KINDS: tuple[str, ...] = ("wifi", "bssid", "beacon", "ip")
UNKNOWN_LOCATION: tuple[str, ...] = ("active", "inactive")

# Defaults of the optional fields (documented in docs/device-policy.md).
DEFAULT_GRACE_SECONDS = 600
DEFAULT_CHECKIN_INTERVAL_SECONDS = 900
DEFAULT_STALE_AFTER_SECONDS = 1800
DEFAULT_HYSTERESIS_M = 25.0
DEFAULT_BUFFER_M = 20.0

# Limits: a document beyond them is refused rather than slowly evaluated.
MAX_SCHEDULES = 20
MAX_HOURS = 100
MAX_DATES = 1000  # holidays and exceptions of one schedule, each
MAX_ZONES = 100
MAX_POSITIONS = 10_000  # all positions of one zone
MAX_NETWORKS = 200
MAX_AUDIENCE = 10_000
MAX_LABELS = 100
MAX_ALLOWANCES = 20
MAX_RADIUS_M = 50_000.0
MAX_BUFFER_M = 5_000.0
MAX_SECONDS = 366 * 86_400
MAX_NAME = 200


class PolicyDocError(ValueError):
    """A policy document is not acceptable: ``field`` is the dotted path of the offending
    field ("" for the document itself), ``reason`` says why in plain words."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


# ---- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a policy covers: the organisation subtrees (codes) from ``starts_ts`` on, minus the
    excluded subtrees, plus the members of ``groups`` from ``starts_ts`` on, plus the ``people``
    named one by one (the pilot list, covered from the start; exclusions do not apply to
    them)."""

    org_codes: tuple[str, ...] = ()
    exclude_org_codes: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    starts_ts: int | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Working hours on one weekday (0 = Monday .. 6 = Sunday), local wall time, ``start`` <
    ``end``; ``end`` may be ``24:00``. Hours across midnight are two entries."""

    day: int
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class ScheduleException:
    """A one-off change on ``date`` (a local date): ``active`` False takes the window (the whole
    day when ``start``/``end`` are None) out of the working hours, ``active`` True adds it (a
    working Saturday, extra hours). Exceptions apply after the weekly hours and holidays, in
    the order given."""

    date: _dt.date
    start: str | None = None
    end: str | None = None
    active: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    """Working hours in the IANA time zone ``tz``. Holidays take a whole day's weekly hours
    out; exceptions then add or remove windows."""

    tz: str
    hours: tuple[WeeklyHours, ...] = ()
    holidays: tuple[date, ...] = ()
    exceptions: tuple[ScheduleException, ...] = ()


@dataclass(frozen=True, slots=True)
class Zone:
    """A place. ``geometry`` is a GeoJSON ``Polygon`` or ``MultiPolygon`` (positions are
    ``[longitude, latitude]``), or ``{"type": "Circle", "coordinates": [lon, lat],
    "radius_m": r}``. ``buffer_m`` widens it; ``networks`` (``wifi:<ssid>``, ``bssid:<mac>``,
    ``beacon:<uuid>``, ``ip:<cidr>``) count as being inside when a device reports them."""

    zone_id: str
    name: str
    geometry: Mapping[str, Any]
    buffer_m: float = DEFAULT_BUFFER_M
    networks: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Requirements:
    """What a device needs at all times: a minimum OS version per platform (dotted numbers),
    no root or jailbreak, a screen lock, storage encryption."""

    min_os: Mapping[str, str] = field(default_factory=dict)
    no_root: bool = True
    screen_lock: bool = True
    encryption: bool = True


@dataclass(frozen=True, slots=True)
class ClientAllowance:
    """Sessions of client ``kind`` whose address is in one of ``networks`` (``ip:<cidr>``;
    empty = from anywhere) may read gated content without a compliant device."""

    kind: str
    networks: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ContentGate:
    """Which room labels need a compliant device (during working hours; also outside them when
    ``outside_hours``), who passes without one, and ``open_labels`` this policy explicitly
    leaves ungated (another policy gating them is a contradiction)."""

    labels: frozenset[str] = frozenset()
    outside_hours: bool = False
    allow: tuple[ClientAllowance, ...] = ()
    open_labels: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """One version of a device policy. Active = in working hours (any schedule; no schedules:
    always) AND on the premises (any zone; no zones: everywhere)."""

    policy_id: str
    version: int
    name: str
    audience: Audience = Audience()
    schedules: tuple[Schedule, ...] = ()
    zones: tuple[Zone, ...] = ()
    unknown_location: Literal["active", "inactive"] = "active"
    restrictions_active: frozenset[str] = frozenset()
    restrictions_inactive: frozenset[str] = frozenset()
    requirements: Requirements = Requirements()
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    checkin_interval_seconds: int = DEFAULT_CHECKIN_INTERVAL_SECONDS
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
    hysteresis_m: float = DEFAULT_HYSTERESIS_M
    gate: ContentGate = ContentGate()
    allowed_active: frozenset[str] = frozenset()
    """Functions this policy explicitly allows while active (documentation of intent; it never
    relaxes another policy, and another policy restricting them is a contradiction)."""
    allowed_inactive: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Person:
    """What :func:`applies_to` needs to know about an official."""

    user_id: str
    org_path: str  # "/gov/mof/"; "" when the person has no organisation
    org_code: str = ""
    groups: frozenset[str] = frozenset()


def minutes(hhmm: str) -> int:
    """Minutes after midnight of a valid ``HH:MM`` (``24:00`` = 1440)."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)
