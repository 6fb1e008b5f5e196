"""Device evaluation: active policies, merged restrictions, requirements, verdicts with grace,
validity (schedule boundaries, stale check-ins), unknown location, hysteresis. Pure."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_eval import (
    DeviceFacts,
    Evidence,
    Fix,
    PriorState,
    Security,
    Verdict,
    evaluate,
    gated_labels_now,
    merge_requirements,
    policy_active,
    version_at_least,
)
from tumar.policy.device_policy import (
    RESTRICTIONS,
    Audience,
    ContentGate,
    DevicePolicy,
    Requirements,
    Schedule,
    WeeklyHours,
    Zone,
)

LAT0, LON0 = 51.1280, 71.4300
M_LAT = 1 / 111_195.0
M_LON = M_LAT / math.cos(math.radians(LAT0))
MIN = 60_000


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Almaty")).timestamp() * 1000)


def ring(half: float) -> list[list[float]]:
    pts = [(-half, -half), (-half, half), (half, half), (half, -half), (-half, -half)]
    return [[LON0 + e * M_LON, LAT0 + n * M_LAT] for n, e in pts]


HQ = Zone("hq", "HQ", {"type": "Polygon", "coordinates": [ring(100)]}, buffer_m=20,
          networks=frozenset({"wifi:MOF-STAFF"}))  # fmt: skip
HOURS = Schedule("Asia/Almaty", tuple(WeeklyHours(d, "09:00", "18:30") for d in range(5)))
POLICY = DevicePolicy(
    policy_id="mof",
    version=1,
    name="MoF HQ",
    audience=Audience(org_codes=("mof",)),
    schedules=(HOURS,),
    zones=(HQ,),
    restrictions_active=frozenset({"camera", "screen_capture"}),
    requirements=Requirements(min_os={"android": "13"}),
    grace_seconds=600,
    stale_after_seconds=1800,
    gate=ContentGate(labels=frozenset({"official-use"})),
)

WORK = at(2025, 6, 4, 11)  # Wednesday 11:00
EVENING = at(2025, 6, 4, 20)
GOOD_SEC = Security(rooted=False, screen_lock=True, encrypted=True)


def facts(restricted: set[str] | frozenset[str] = frozenset({"camera", "screen_capture"}),
          **kw: Any) -> DeviceFacts:  # fmt: skip
    return DeviceFacts(platform=kw.pop("platform", "android"),
                       os_version=kw.pop("os_version", "14"),
                       restricted=frozenset(restricted), security=kw.pop("security", GOOD_SEC),
                       **kw)  # fmt: skip


def fix(n: float, e: float, acc: float = 10, ts: int = WORK) -> Evidence:
    return Evidence(fix=Fix(LAT0 + n * M_LAT, LON0 + e * M_LON, acc, ts))


INSIDE = fix(0, 0)
OUTSIDE = fix(0, 1000)


def test_compliant_inside_working_hours() -> None:
    ev = evaluate([POLICY], facts(), INSIDE, WORK, None)
    assert ev.verdict is Verdict.COMPLIANT
    assert ev.active_policies == ("mof",)
    assert ev.required == {"camera", "screen_capture"}
    assert ev.findings == ()
    assert ev.next_change_ts == at(2025, 6, 4, 18, 30)
    assert ev.valid_until_ts == WORK + 1800 * 1000  # stale sooner than the end of the day
    assert ev.gated_labels == {"official-use"}
    assert ev.state.inside == {"mof/hq": True}
    assert ev.state.last_checkin_ts == WORK
    assert ev.state.non_compliant_since_ts is None


def test_valid_until_is_the_next_boundary() -> None:
    late = at(2025, 6, 4, 18, 15)
    ev = evaluate([POLICY], facts(), INSIDE, late, None)
    assert ev.valid_until_ts == at(2025, 6, 4, 18, 30)


def test_camera_enabled_grace_then_non_compliant() -> None:
    ev = evaluate([POLICY], facts({"screen_capture"}), INSIDE, WORK, None)
    assert ev.verdict is Verdict.UNKNOWN  # first evaluation: within grace
    assert ev.grace_until_ts == WORK + 600_000
    assert ev.valid_until_ts == WORK + 600_000
    (f,) = ev.findings
    assert (f.setting, f.expected, f.observed) == ("camera", "restricted", "enabled")
    assert f.reason == "Camera is enabled; policy 'MoF HQ' restricts it during working hours " \
        "on the premises."  # fmt: skip
    assert ev.state.non_compliant_since_ts == WORK
    later = evaluate([POLICY], facts({"screen_capture"}), INSIDE, WORK + 10 * MIN, ev.state)
    assert later.verdict is Verdict.NON_COMPLIANT
    assert later.state.non_compliant_since_ts == WORK
    fixed = evaluate([POLICY], facts(), INSIDE, WORK + 11 * MIN, later.state)
    assert fixed.verdict is Verdict.COMPLIANT
    assert fixed.state.non_compliant_since_ts is None


def test_outside_hours_and_outside_zone() -> None:
    for evidence, now in ((INSIDE, EVENING), (OUTSIDE, WORK)):
        ev = evaluate([POLICY], facts(set()), evidence, now, None)
        assert ev.verdict is Verdict.COMPLIANT
        assert ev.active_policies == ()
        assert ev.required == frozenset()
    assert evaluate([POLICY], facts(set()), INSIDE, EVENING, None).gated_labels == frozenset()
    assert evaluate([POLICY], facts(set()), OUTSIDE, WORK, None).gated_labels == {"official-use"}


def test_unknown_location_fails_closed_by_default() -> None:
    no_evidence = Evidence()
    ev = evaluate([POLICY], facts(set()), no_evidence, WORK, None)
    assert ev.active_policies == ("mof",)
    assert ev.verdict is Verdict.UNKNOWN
    lenient = replace(POLICY, unknown_location="inactive")
    assert evaluate([lenient], facts(set()), no_evidence, WORK, None).active_policies == ()
    # a fix straddling the edge is unknown too
    straddling = fix(0, 120, acc=30)
    assert evaluate([POLICY], facts(set()), straddling, WORK, None).active_policies == ("mof",)
    assert evaluate([lenient], facts(set()), straddling, WORK, None).active_policies == ()
    # an old fix, or one from the future, is no evidence
    for ts in (WORK - 31 * MIN, WORK + 6 * MIN):
        old = fix(0, 1000, ts=ts)
        assert evaluate([POLICY], facts(set()), old, WORK, None).active_policies == ("mof",)
    # a network hint places the device inside without a fix
    wifi = Evidence(networks=frozenset({"wifi:MOF-STAFF"}))
    assert evaluate([lenient], facts(set()), wifi, WORK, None).active_policies == ("mof",)


def test_hysteresis_through_state() -> None:
    ev = evaluate([POLICY], facts(), INSIDE, WORK, None)
    # 135 m east: beyond the 20 m buffer but within buffer + 25 m hysteresis
    near = fix(0, 135, acc=5)
    stay = evaluate([POLICY], facts(), near, WORK + MIN, ev.state)
    assert stay.active_policies == ("mof",)
    assert stay.state.inside["mof/hq"] is True
    fresh = evaluate([POLICY], facts(), near, WORK + MIN, None)
    assert fresh.active_policies == ()
    assert fresh.state.inside["mof/hq"] is False
    gone = evaluate([POLICY], facts(), fix(0, 160, acc=5), WORK + 2 * MIN, stay.state)
    assert gone.active_policies == ()


def test_stale_checkin_fails_closed() -> None:
    ev = evaluate([POLICY], facts(), INSIDE, WORK + 31 * MIN, None, checkin_ts=WORK)
    assert ev.verdict is Verdict.NON_COMPLIANT  # no grace for silence
    assert [f.setting for f in ev.findings] == ["checkin"]
    assert "31 minutes" in ev.findings[0].reason
    assert ev.valid_until_ts == WORK + 30 * MIN
    # just before it goes stale, still compliant
    ok = evaluate([POLICY], facts(), INSIDE, WORK + 29 * MIN, None, checkin_ts=WORK)
    assert ok.verdict is Verdict.COMPLIANT


REQUIREMENTS = [
    # facts changes, setting found, observed
    ({"os_version": "12.1"}, "os_version", "12.1"),
    ({"os_version": "beta"}, "os_version", "beta"),
    ({"os_version": ""}, "os_version", "unknown"),
    ({"security": Security(rooted=True, screen_lock=True, encrypted=True)}, "rooted", "yes"),
    ({"security": Security(rooted=None, screen_lock=True, encrypted=True)}, "rooted", "unknown"),
    ({"security": Security(rooted=False, screen_lock=False, encrypted=True)}, "screen_lock", "no"),
    ({"security": Security(rooted=False, screen_lock=True, encrypted=None)}, "encryption",
     "unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "setting", "observed"), REQUIREMENTS)
def test_requirements(change: dict[str, Any], setting: str, observed: str) -> None:
    ev = evaluate([POLICY], facts(**change), INSIDE, WORK, None)
    assert [(f.setting, f.observed) for f in ev.findings] == [(setting, observed)]
    assert ev.findings[0].reason
    expected = Verdict.NON_COMPLIANT if setting == "rooted" else Verdict.UNKNOWN
    assert ev.verdict is expected


def test_requirements_apply_per_platform() -> None:
    ios = facts(platform="ios", os_version="12")
    assert evaluate([POLICY], ios, INSIDE, WORK, None).verdict is Verdict.COMPLIANT


@pytest.mark.parametrize(
    ("observed", "minimum", "ok"),
    [("14", "13", True), ("13", "13.0", True), ("13.0.1", "13", True), ("9.12", "10.2", False),
     ("10.2", "9.12", True), ("17.4", "17.10", False), ("14 beta", "14", True),
     ("13.0-rc1", "13", True), ("x", "13", None), ("", "1", None)],
)  # fmt: skip
def test_versions(observed: str, minimum: str, ok: bool | None) -> None:
    assert version_at_least(observed, minimum) is ok


def test_merge_requirements_strictest() -> None:
    a = replace(POLICY, requirements=Requirements(min_os={"android": "13", "ios": "17.4"},
                                                  no_root=False, screen_lock=False))  # fmt: skip
    b = replace(POLICY, policy_id="b", requirements=Requirements(
        min_os={"android": "14.1", "ios": "17.10"}, no_root=True, screen_lock=False,
        encryption=False))  # fmt: skip
    m = merge_requirements([a, b])
    assert m.min_os == {"android": "14.1", "ios": "17.10"}
    assert (m.no_root, m.screen_lock, m.encryption) == (True, False, True)


def test_two_policies_union_and_inactive_restrictions() -> None:
    night = replace(
        POLICY, policy_id="night", name="Night", zones=(),
        schedules=(Schedule("Asia/Almaty", tuple(WeeklyHours(d, "20:00", "22:00")
                                                 for d in range(7))),),
        restrictions_active=frozenset({"bluetooth"}),
        restrictions_inactive=frozenset({"usb_data"}),
    )  # fmt: skip
    ev = evaluate([POLICY, night], facts(set()), INSIDE, WORK, None)
    assert ev.active_policies == ("mof",)
    assert ev.required == {"camera", "screen_capture", "usb_data"}
    assert [f.setting for f in ev.findings] == ["camera", "screen_capture", "usb_data"]
    assert "outside working hours" in ev.findings[2].reason
    ev = evaluate([POLICY, night], facts(set()), INSIDE, at(2025, 6, 4, 20, 30), None)
    assert ev.active_policies == ("night",)
    assert ev.required == {"bluetooth"}
    assert ev.next_change_ts == at(2025, 6, 4, 22)


def test_no_policies() -> None:
    ev = evaluate([], facts(set()), Evidence(), WORK, None)
    assert ev.verdict is Verdict.COMPLIANT
    assert ev.valid_until_ts > WORK
    assert ev.gated_labels == frozenset()


def test_gated_labels_now() -> None:
    gate = ContentGate(labels=frozenset({"secret"}), outside_hours=True)
    always = replace(POLICY, policy_id="x", gate=gate)
    assert gated_labels_now([POLICY, always], WORK) == {"official-use", "secret"}
    assert gated_labels_now([POLICY, always], EVENING) == {"secret"}


def test_policy_active_helper() -> None:
    assert policy_active(POLICY, INSIDE, WORK)
    assert not policy_active(POLICY, INSIDE, EVENING)
    assert not policy_active(POLICY, OUTSIDE, WORK)


def test_prior_state_json_round_trip() -> None:
    s = PriorState(inside={"mof/hq": True}, non_compliant_since_ts=5, last_checkin_ts=7)
    assert PriorState.from_json(s.as_json()) == s
    assert PriorState.from_json({"inside": "junk", "last_checkin_ts": "x"}) == PriorState()


# ---- properties -------------------------------------------------------------------------------

restriction_sets = st.frozensets(st.sampled_from(RESTRICTIONS))
times = st.integers(at(2025, 1, 1, 0), at(2026, 1, 1, 0))


@settings(deadline=None)  # CPU is shared with other test runs
@given(restriction_sets, restriction_sets, restriction_sets, times)
def test_union_is_monotone(a: frozenset[str], b: frozenset[str], have: frozenset[str],
                           now: int) -> None:  # fmt: skip
    """Adding a policy never removes a required restriction or a finding."""
    p = replace(POLICY, restrictions_active=a, zones=())
    q = replace(POLICY, policy_id="q", restrictions_active=b, restrictions_inactive=b, zones=())
    one = evaluate([p], facts(have), Evidence(), now, None)
    two = evaluate([p, q], facts(have), Evidence(), now, None)
    assert one.required <= two.required
    assert {f.setting for f in one.findings} <= {f.setting for f in two.findings}
    assert two.valid_until_ts <= one.valid_until_ts
    # restricting more on the device never adds findings
    more = evaluate([p, q], facts(have | a), Evidence(), now, None)
    assert {f.setting for f in more.findings} <= {f.setting for f in two.findings}


@settings(deadline=None)  # CPU is shared with other test runs
@given(times, st.integers(0, 3 * 3600), st.booleans())
def test_validity_never_beyond_a_boundary(now: int, age_s: int, compliant: bool) -> None:
    have = frozenset({"camera", "screen_capture"}) if compliant else frozenset()
    ev = evaluate([POLICY], facts(have), INSIDE, now, None, checkin_ts=now - age_s * 1000)
    assert ev.valid_until_ts <= now - age_s * 1000 + 1800 * 1000
    if ev.next_change_ts is not None:
        assert ev.next_change_ts > now
        assert ev.valid_until_ts <= ev.next_change_ts
    if ev.verdict is Verdict.COMPLIANT:
        assert ev.valid_until_ts > now


@settings(deadline=None)  # CPU is shared with other test runs
@given(times, st.booleans(), st.booleans())
def test_gated_labels_agree(now: int, outside_hours: bool, second: bool) -> None:
    """The evaluation's gated labels are exactly what a session without a device sees."""
    p = replace(POLICY, gate=replace(POLICY.gate, outside_hours=outside_hours))
    q = replace(POLICY, policy_id="q", schedules=(), gate=ContentGate(labels=frozenset({"x"})))
    policies = [p, q] if second else [p]
    ev = evaluate(policies, facts(), INSIDE, now, None)
    assert ev.gated_labels == gated_labels_now(policies, now)
