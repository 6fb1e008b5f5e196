"""Device policy documents: parsing, errors with field paths, round trips, audiences and
contradictions (pure)."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_policy import (
    RESTRICTIONS,
    Audience,
    DevicePolicy,
    Person,
    PolicyDocError,
    applies_to,
    contradictions,
    parse_policy,
    policy_document,
)

SQUARE = [[[71.40, 51.10], [71.41, 51.10], [71.41, 51.11], [71.40, 51.11], [71.40, 51.10]]]

PILOT: dict[str, Any] = {
    "name": "Ministry of Finance, Astana building",
    "audience": {"orgs": ["mof"], "people": ["@aigerim:gov.kz"], "starts_ts": 1_760_000_000_000},
    "schedules": [
        {
            "tz": "Asia/Almaty",
            "hours": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:30"}],
            "holidays": ["2025-03-21", "2025-03-22"],
            "exceptions": [
                {"date": "2025-05-10", "active": True, "start": "09:00", "end": "18:30"},
                {"date": "2025-05-09", "active": False},
            ],
        }
    ],
    "zones": [
        {
            "id": "mof-astana",
            "name": "MoF, Astana",
            "geometry": {"type": "Polygon", "coordinates": SQUARE},
            "buffer_m": 30,
            "networks": ["wifi:MOF-STAFF", "bssid:AA-BB-CC-DD-EE-FF", "ip:10.1.2.3/16"],
        }
    ],
    "restrictions": {"active": ["camera", "screen_capture"], "inactive": []},
    "requirements": {"min_os": {"android": "13", "ios": "17.4"}},
    "gate": {
        "labels": ["official-use"],
        "allow": [{"kind": "desktop", "networks": ["ip:10.1.0.0/16"]}],
    },
}


def parse(doc: dict[str, Any], pid: str = "p1") -> DevicePolicy:
    return parse_policy(doc, policy_id=pid, version=1)


def test_pilot_document() -> None:
    p = parse(PILOT)
    assert p.name.startswith("Ministry")
    assert p.audience.org_codes == ("mof",)
    assert [h.day for h in p.schedules[0].hours] == [0, 1, 2, 3, 4]
    assert p.schedules[0].holidays == (date(2025, 3, 21), date(2025, 3, 22))
    assert p.schedules[0].exceptions[0].date == date(2025, 5, 10)
    assert p.schedules[0].exceptions[0].active
    zone = p.zones[0]
    assert zone.buffer_m == 30.0
    assert zone.networks == {"wifi:MOF-STAFF", "bssid:aa:bb:cc:dd:ee:ff", "ip:10.1.0.0/16"}
    assert p.restrictions_active == {"camera", "screen_capture"}
    assert p.unknown_location == "active"  # fail closed by default
    assert p.requirements.min_os == {"android": "13", "ios": "17.4"}
    assert p.requirements.no_root and p.requirements.screen_lock and p.requirements.encryption
    assert p.gate.labels == {"official-use"}
    assert p.gate.allow[0].networks == {"ip:10.1.0.0/16"}
    assert (p.grace_seconds, p.checkin_interval_seconds, p.stale_after_seconds) == (600, 900, 1800)


def test_round_trip_through_json() -> None:
    p = parse(PILOT)
    doc = json.loads(json.dumps(policy_document(p)))
    assert parse(doc) == p
    assert policy_document(parse(doc)) == doc


def test_feature_and_circle_and_multipolygon() -> None:
    doc = copy.deepcopy(PILOT)
    doc["zones"] = [
        {"id": "a", "geometry": {"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": SQUARE}}},
        {"id": "b", "geometry": {"type": "Circle", "coordinates": [71.43, 51.13], "radius_m": 80}},
        {"id": "c", "geometry": {"type": "MultiPolygon", "coordinates": [SQUARE, SQUARE]}},
    ]  # fmt: skip
    p = parse(doc)
    assert [z.geometry["type"] for z in p.zones] == ["Polygon", "Circle", "MultiPolygon"]
    assert p.zones[0].name == "a"
    assert parse(json.loads(json.dumps(policy_document(p)))) == p


def with_(path: str, value: Any) -> dict[str, Any]:
    """A copy of PILOT with the value at a dotted path replaced (``...`` deletes it)."""
    doc = copy.deepcopy(PILOT)
    keys = path.split(".")
    node: Any = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


OPEN = [[71.40, 51.10], [71.41, 51.10], [71.41, 51.11], [71.40, 51.11], [71.40, 51.12]]
G = "zones.0.geometry"

BAD = [
    # (document, field, words in the reason)
    (with_("name", ...), "name", "required"),
    (with_("name", "  "), "name", "empty"),
    (with_("audience", ...), "audience", "required"),
    (with_("audience", {}), "audience", "empty"),
    (with_("audience.people", ["aigerim"]), "audience.people.0", "Matrix user id"),
    (with_("audience.starts_ts", -5), "audience.starts_ts", "negative"),
    (with_("colour", "red"), "colour", "unknown field"),
    (with_("schedules.0.tz", "Asia/Astana"), "schedules.0.tz", "IANA"),
    (with_("schedules.0.tz", 5), "schedules.0.tz", "string"),
    (with_("schedules.0.tz", ...), "schedules.0.tz", "required"),
    (with_("schedules.0.hours.0.days", [0, 7]), "schedules.0.hours.0.days.1", "at most 6"),
    (with_("schedules.0.hours.0.days", [-1]), "schedules.0.hours.0.days.0", "negative"),
    (with_("schedules.0.hours.0.days", []), "schedules.0.hours.0.days", "at least one"),
    (with_("schedules.0.hours.0.days", [True]), "schedules.0.hours.0.days.0", "whole number"),
    (with_("schedules.0.hours.0.end", "08:00"), "schedules.0.hours.0.end", "two entries"),
    (with_("schedules.0.hours.0.end", "09:00"), "schedules.0.hours.0.end", "at or before"),
    (with_("schedules.0.hours.0.start", "9:00"), "schedules.0.hours.0.start", "HH:MM"),
    (with_("schedules.0.hours.0.start", "24:30"), "schedules.0.hours.0.start", "HH:MM"),
    (with_("schedules.0.hours.0.end", "18:60"), "schedules.0.hours.0.end", "HH:MM"),
    (with_("schedules.0.hours.0.start", ...), "schedules.0.hours.0", "start"),
    (with_("schedules.0.holidays.0", "2025-02-30"), "schedules.0.holidays.0", "date"),
    (with_("schedules.0.holidays.0", "21.03.2025"), "schedules.0.holidays.0", "date"),
    (with_("schedules.0.exceptions.0.date", "2025-13-01"), "schedules.0.exceptions.0.date", "date"),
    (with_("schedules.0.exceptions.0.end", ...), "schedules.0.exceptions.0", "both"),
    (with_("schedules.0.exceptions.0.end", "08:00"), "schedules.0.exceptions.0.end", "before"),
    (with_("schedules.0.exceptions.0.active", "yes"), "schedules.0.exceptions.0.active", "true"),
    (with_(G + ".type", "Point"), G + ".type", "Polygon"),
    (with_(G + ".type", "LineString"), G + ".type", "Polygon"),
    (with_(G + ".coordinates", [OPEN]), G + ".coordinates.0", "not closed"),
    (with_(G + ".coordinates", [SQUARE[0][:3]]), G + ".coordinates.0", "at least 4"),
    (with_(G + ".coordinates", []), G + ".coordinates", "outer ring"),
    (with_(G + ".coordinates", "square"), G + ".coordinates", "array"),
    (with_(G + ".coordinates.0.1", [71.41, 91.0]), G + ".coordinates.0.1.1", "latitude"),
    (with_(G + ".coordinates.0.1", [181.0, 51.1]), G + ".coordinates.0.1.0", "longitude"),
    (with_(G + ".coordinates.0.1", ["71", 51.1]), G + ".coordinates.0.1", "numbers"),
    (with_(G + ".coordinates.0.1", [71.41]), G + ".coordinates.0.1", "[longitude, latitude]"),
    (with_(G + ".coordinates.0.1", [float("nan"), 51.1]), G + ".coordinates.0.1", "numbers"),
    (with_(G + ".coordinates", [[[71.4, 51.1], [71.41, 51.1], [71.42, 51.1], [71.4, 51.1]]]),
     G + ".coordinates.0", "no area"),
    (with_(G, {"type": "Circle", "coordinates": [71.4, 51.1]}), G + ".radius_m", "required"),
    (with_(G, {"type": "Circle", "coordinates": [71.4, 51.1], "radius_m": 0}), G + ".radius_m",
     "more than 0"),
    (with_(G, {"type": "Circle", "coordinates": [71.4, 51.1], "radius_m": -3}), G + ".radius_m",
     "negative"),
    (with_(G, {"type": "Polygon"}), G + ".coordinates", "required"),
    (with_("zones.0.buffer_m", -1), "zones.0.buffer_m", "negative"),
    (with_("zones.0.id", "a b"), "zones.0.id", "letters"),
    (with_("zones.0.networks", ["ssid:x"]), "zones.0.networks.0", "network hint"),
    (with_("zones.0.networks", ["ip:10.1.300.0/16"]), "zones.0.networks.0", "IP network"),
    (with_("zones.0.networks", ["bssid:zz"]), "zones.0.networks.0", "BSSID"),
    (with_("zones.0.networks", ["beacon:123"]), "zones.0.networks.0", "UUID"),
    (with_("zones", [PILOT["zones"][0], PILOT["zones"][0]]), "zones.1.id", "twice"),
    (with_("restrictions.active", ["camera", "selfies"]), "restrictions.active.1",
     "unknown restriction"),
    (with_("restrictions.active", "camera"), "restrictions.active", "array"),
    (with_("allowed", {"active": ["camera"]}), "allowed.active", "also restricted"),
    (with_("unknown_location", "maybe"), "unknown_location", "fail closed"),
    (with_("grace_seconds", -60), "grace_seconds", "negative"),
    (with_("grace_seconds", 1.5), "grace_seconds", "whole number"),
    (with_("stale_after_seconds", -1), "stale_after_seconds", "negative"),
    (with_("stale_after_seconds", 600), "stale_after_seconds", "check-in interval"),
    (with_("checkin_interval_seconds", 5), "checkin_interval_seconds", "at least 60"),
    (with_("hysteresis_m", -2), "hysteresis_m", "negative"),
    (with_("hysteresis_m", "far"), "hysteresis_m", "number"),
    (with_("requirements.min_os", {"symbian": "3"}), "requirements.min_os.symbian",
     "unknown platform"),
    (with_("requirements.min_os", {"ios": "seventeen"}), "requirements.min_os.ios",
     "dotted version"),
    (with_("requirements.no_root", 1), "requirements.no_root", "true or false"),
    (with_("gate.allow", [{"kind": "fax"}]), "gate.allow.0.kind", "client kind"),
    (with_("gate.allow", [{"kind": "web", "networks": ["wifi:x"]}]), "gate.allow.0.networks",
     "IP networks"),
    (with_("gate.open_labels", ["official-use"]), "gate.open_labels", "also gated"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "field", "words"), BAD)
def test_bad_documents(doc: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(PolicyDocError) as e:
        parse(doc)
    assert e.value.field == field, str(e.value)
    assert words in e.value.reason, e.value.reason
    assert str(e.value).startswith(field)


@pytest.mark.parametrize("doc", [[], "policy", None, 5])
def test_not_an_object(doc: Any) -> None:
    with pytest.raises(PolicyDocError, match="JSON object"):
        parse_policy(doc, policy_id="p", version=1)


def test_limits() -> None:
    many = [[71.4 + i * 1e-6, 51.1] for i in range(10_001)]
    doc = with_(G + ".coordinates", [[*many, many[0]]])
    with pytest.raises(PolicyDocError, match="at most 10000"):
        parse(doc)
    with pytest.raises(PolicyDocError, match="at most"):
        parse(with_("zones", [PILOT["zones"][0]] * 101))


def test_hours_across_midnight_as_two_entries() -> None:
    doc = with_("schedules.0.hours", [
        {"day": 4, "start": "22:00", "end": "24:00"}, {"day": 5, "start": "00:00", "end": "06:00"}
    ])  # fmt: skip
    p = parse(doc)
    assert [(h.day, h.start, h.end) for h in p.schedules[0].hours] == [
        (4, "22:00", "24:00"),
        (5, "00:00", "06:00"),
    ]


# ---- round trip property ----------------------------------------------------------------------

names = st.sets(st.sampled_from(RESTRICTIONS))
hhmm = st.integers(0, 1439).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    active = draw(names)
    inactive = draw(names)
    hours = []
    for day in draw(st.sets(st.integers(0, 6))):
        a, b = sorted(draw(st.sets(st.integers(0, 1440), min_size=2, max_size=2)))
        hours.append({"day": day, "start": f"{a // 60:02d}:{a % 60:02d}",
                      "end": f"{b // 60:02d}:{b % 60:02d}"})  # fmt: skip
    lon = draw(st.floats(-179, 179))
    lat = draw(st.floats(-89, 89))
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat]]
    return {
        "name": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        "audience": {"people": ["@a:gov.kz"], "orgs": draw(st.lists(st.sampled_from("abc")))},
        "schedules": [{"tz": draw(st.sampled_from(["Asia/Almaty", "Europe/Berlin", "UTC"])),
                       "hours": hours}],
        "zones": [{"id": "z", "geometry": {"type": "Polygon", "coordinates": [ring]},
                   "buffer_m": draw(st.floats(0, 5000))}],
        "unknown_location": draw(st.sampled_from(["active", "inactive"])),
        "restrictions": {"active": sorted(active), "inactive": sorted(inactive)},
        "allowed": {"active": sorted(set(RESTRICTIONS) - active)[:2]},
        "grace_seconds": draw(st.integers(0, 86_400)),
        "hysteresis_m": draw(st.floats(0, 100)),
    }  # fmt: skip


@settings(deadline=None)  # CPU is shared with other test runs
@given(documents())
def test_round_trip_property(doc: dict[str, Any]) -> None:
    p = parse(doc)
    again = parse(json.loads(json.dumps(policy_document(p))))
    assert again == p


@settings(deadline=None)  # CPU is shared with other test runs
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_garbage_raises_only_policy_doc_error(doc: Any) -> None:
    try:
        parse_policy(doc, policy_id="p", version=1)
    except PolicyDocError as e:
        assert e.reason


@settings(deadline=None)  # CPU is shared with other test runs
@given(st.sampled_from(list(PILOT)), st.none() | st.integers() | st.text(max_size=3) | st.lists(
    st.integers(), max_size=3))  # fmt: skip
def test_wrong_types_per_field(key: str, value: Any) -> None:
    doc = copy.deepcopy(PILOT)
    doc[key] = value
    try:
        parse(doc)
    except PolicyDocError as e:
        assert e.field.startswith(key) or e.field == ""


# ---- audiences ----------------------------------------------------------------------------

ORGS = {"gov": "/gov/", "mof": "/gov/mof/", "mof-it": "/gov/mof/mof-it/", "moh": "/gov/moh/"}
START = 1_000


def pol(audience: Audience, pid: str = "p", **kw: Any) -> DevicePolicy:
    return DevicePolicy(policy_id=pid, version=1, name=pid, audience=audience, **kw)


AUDIENCE = [
    # audience, person, now, applies
    (Audience(org_codes=("mof",)), Person("@x:k", "/gov/mof/mof-it/"), 0, True),
    (Audience(org_codes=("mof",)), Person("@x:k", "/gov/moh/"), 0, False),
    (Audience(org_codes=("mof",)), Person("@x:k", ""), 0, False),
    (Audience(org_codes=("mof",), exclude_org_codes=("mof-it",)),
     Person("@x:k", "/gov/mof/mof-it/"), 0, False),
    (Audience(org_codes=("mof",), exclude_org_codes=("mof-it",)),
     Person("@x:k", "/gov/mof/"), 0, True),
    (Audience(org_codes=("gone",)), Person("@x:k", "/gov/mof/"), 0, False),
    (Audience(org_codes=("mof",), starts_ts=START), Person("@x:k", "/gov/mof/"), START - 1, False),
    (Audience(org_codes=("mof",), starts_ts=START), Person("@x:k", "/gov/mof/"), START, True),
    # the pilot list applies from the start and ignores exclusions
    (Audience(org_codes=("mof",), people=("@p:k",), starts_ts=START),
     Person("@p:k", "/gov/moh/"), 0, True),
    (Audience(org_codes=("mof",), exclude_org_codes=("mof",), people=("@p:k",)),
     Person("@p:k", "/gov/mof/"), 0, True),
    (Audience(groups=("drivers",)), Person("@x:k", "/gov/moh/", groups=frozenset({"drivers"})),
     0, True),
    (Audience(groups=("drivers",), starts_ts=START),
     Person("@x:k", "/gov/moh/", groups=frozenset({"drivers"})), 0, False),
    (Audience(people=("@p:k",)), Person("@q:k", "/gov/mof/"), 0, False),
]  # fmt: skip


@pytest.mark.parametrize(("audience", "who", "now", "expected"), AUDIENCE)
def test_applies_to(audience: Audience, who: Person, now: int, expected: bool) -> None:
    assert applies_to(pol(audience), who, now, ORGS) is expected


# ---- contradictions -------------------------------------------------------------------------

MOF = Audience(org_codes=("mof",))
MOF_IT = Audience(org_codes=("mof-it",))
MOH = Audience(org_codes=("moh",))
CAM = frozenset({"camera"})


def test_contradiction_restrict_vs_allow() -> None:
    a = pol(MOF, "a", restrictions_active=CAM)
    b = pol(MOF_IT, "b", allowed_active=CAM)
    found = contradictions([a, b], org_paths=ORGS)
    assert len(found) == 1
    assert "camera" in found[0] and "'a'" in found[0] and "'b'" in found[0]
    # without directory facts, overlap is assumed
    assert contradictions([a, b]) == found
    # another ministry: no overlap
    assert contradictions([a, pol(MOH, "b", allowed_active=CAM)], org_paths=ORGS) == []
    # excluded subtree: no overlap
    a_ex = pol(Audience(org_codes=("mof",), exclude_org_codes=("mof-it",)), "a",
               restrictions_active=CAM)  # fmt: skip
    assert contradictions([a_ex, b], org_paths=ORGS) == []


def test_contradiction_states_and_gates() -> None:
    from tumar.policy.device_policy import ContentGate

    a = pol(MOF, "a", restrictions_inactive=CAM)
    assert contradictions([a, pol(MOF, "b", allowed_active=CAM)]) == []  # different states
    assert len(contradictions([a, pol(MOF, "b", allowed_inactive=CAM)])) == 1
    g1 = pol(MOF, "a", gate=ContentGate(labels=frozenset({"official-use"})))
    g2 = pol(MOF, "b", gate=ContentGate(open_labels=frozenset({"official-use"})))
    assert "official-use" in contradictions([g1, g2])[0]
    # restrictions and gates that merely differ are not contradictions: the union applies
    assert contradictions([pol(MOF, "a", restrictions_active=CAM), pol(MOF, "b")]) == []
    # versions of the same policy are not compared with each other
    assert contradictions([pol(MOF, "a", restrictions_active=CAM),
                           pol(MOF, "a", allowed_active=CAM)]) == []  # fmt: skip


def test_contradiction_pilot_people() -> None:
    a = pol(Audience(people=("@p:k",)), "a", restrictions_active=CAM)
    b = pol(MOF, "b", allowed_active=CAM)
    assert contradictions([a, b], org_paths=ORGS, people_paths={"@p:k": "/gov/moh/"}) == []
    assert contradictions([a, b], org_paths=ORGS, people_paths={"@p:k": "/gov/mof/"})
    assert contradictions([a, b], org_paths=ORGS)  # unknown path: may overlap
    assert contradictions([a, pol(Audience(people=("@p:k",)), "b", allowed_active=CAM)])


def test_documented_example_parses() -> None:
    """The pilot example in docs/device-policy.md is a valid document."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "device-policy.md").read_text()
    match = re.search(r"```json\n(.*?)```", text, re.S)
    assert match is not None
    p = parse(json.loads(match.group(1)))
    assert p.schedules[0].tz == "Asia/Almaty"
    assert p.restrictions_active == {"camera", "screen_capture"}
    assert p.gate.labels == {"official-use"}
