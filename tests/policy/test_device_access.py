"""Conditional access to labelled content: compliant devices, expiry, client allowances,
gates outside working hours, readable refusals. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_access import (
    SessionAccess,
    allowance_matches,
    content_access,
    gated_labels_now,
)
from tumar.policy.device_eval import Verdict
from tumar.policy.device_policy import (
    Audience,
    ClientAllowance,
    ContentGate,
    DevicePolicy,
    Schedule,
    WeeklyHours,
)


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Almaty")).timestamp() * 1000)


WORK = at(2025, 6, 4, 11)
EVENING = at(2025, 6, 4, 20)
OFFICE = frozenset({"ip:10.1.0.0/16"})
POLICY = DevicePolicy(
    policy_id="mof",
    version=1,
    name="MoF HQ",
    audience=Audience(org_codes=("mof",)),
    schedules=(Schedule("Asia/Almaty", tuple(WeeklyHours(d, "09:00", "18:30") for d in range(5))),),
    gate=ContentGate(
        labels=frozenset({"official-use"}), allow=(ClientAllowance("desktop", OFFICE),)
    ),
)
OU = "official-use"


def session(verdict: Verdict | None, *, valid_until: int | None = WORK + 600_000,
            kind: str = "mobile", ip: str | None = "192.0.2.7",
            reasons: tuple[str, ...] = ()) -> SessionAccess:  # fmt: skip
    return SessionAccess(verdict, valid_until, frozenset({OU}), kind, ip, reasons)


CASES = [
    # label, access, now, allowed, words in the reason
    (None, session(None), WORK, True, ""),
    ("public", session(None), WORK, True, ""),
    (OU, session(Verdict.COMPLIANT), WORK, True, ""),
    (OU, session(None), WORK, False, "no enrolled device"),
    (OU, session(Verdict.COMPLIANT, valid_until=WORK), WORK, False, "expired"),
    (OU, session(Verdict.COMPLIANT, valid_until=None), WORK, False, "expired"),
    (OU, session(Verdict.UNKNOWN), WORK, False, "still being checked"),
    (OU, session(Verdict.NON_COMPLIANT, reasons=("Camera is enabled.",)), WORK, False,
     "your device is not compliant: Camera is enabled."),
    (OU, session(Verdict.NON_COMPLIANT), WORK, False, "not compliant"),
    # outside working hours the gate is open (this policy does not gate outside hours) ...
    (OU, session(None, valid_until=None), EVENING, True, ""),
    # ... unless the device's evaluation, still valid, says the label is gated
    (OU, session(Verdict.NON_COMPLIANT, valid_until=EVENING + 1), EVENING, False, "not compliant"),
    # desktop sessions from the office network pass; from elsewhere, or other kinds, do not
    (OU, session(None, kind="desktop", ip="10.1.20.30"), WORK, True, ""),
    (OU, session(None, kind="desktop", ip="203.0.113.9"), WORK, False, "no enrolled device"),
    (OU, session(None, kind="desktop", ip=None), WORK, False, "no enrolled device"),
    (OU, session(None, kind="web", ip="10.1.20.30"), WORK, False, "no enrolled device"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "access", "now", "allowed", "words"), CASES)
def test_content_access(label: str | None, access: SessionAccess, now: int, allowed: bool,
                        words: str) -> None:  # fmt: skip
    d = content_access(label, access, [POLICY], now)
    assert d.allowed is allowed, d.reason
    if not allowed:
        assert d.reason.startswith("This room is labelled 'official-use';")
        assert words in d.reason
        assert "during working hours" in d.reason


def test_gate_outside_hours() -> None:
    strict = replace(POLICY, gate=replace(POLICY.gate, outside_hours=True))
    d = content_access(OU, session(None, valid_until=None), [strict], EVENING)
    assert not d.allowed
    assert "at this time" in d.reason
    assert gated_labels_now([strict], EVENING) == {OU}


def test_no_policies_never_gates() -> None:
    assert content_access(OU, session(None), [], WORK).allowed


def test_every_gating_policy_must_allow_the_client() -> None:
    other = replace(POLICY, policy_id="other", gate=ContentGate(labels=frozenset({OU})))
    desk = session(None, kind="desktop", ip="10.1.0.5")
    assert content_access(OU, desk, [POLICY], WORK).allowed
    assert not content_access(OU, desk, [POLICY, other], WORK).allowed
    # a compliant device passes both
    assert content_access(OU, session(Verdict.COMPLIANT), [POLICY, other], WORK).allowed


@pytest.mark.parametrize(
    ("allowance", "kind", "ip", "ok"),
    [
        (ClientAllowance("any", OFFICE), "web", "10.1.2.3", True),
        (ClientAllowance("any", frozenset()), "mobile", None, True),
        (ClientAllowance("desktop", frozenset()), "web", "10.1.2.3", False),
        (ClientAllowance("desktop", frozenset({"ip:2001:db8::/32"})), "desktop", "2001:db8::1",
         True),
        (ClientAllowance("desktop", OFFICE), "desktop", "garbage", False),
    ],
)  # fmt: skip
def test_allowance_matches(allowance: ClientAllowance, kind: str, ip: str | None,
                           ok: bool) -> None:  # fmt: skip
    assert allowance_matches(allowance, SessionAccess(None, None, frozenset(), kind, ip)) is ok


@settings(deadline=None)  # CPU is shared with other test runs
@given(
    st.sampled_from([None, *Verdict]),
    st.integers(at(2025, 1, 1, 0), at(2026, 1, 1, 0)),
    st.integers(-3_600_000, 3_600_000),
    st.sampled_from(["desktop", "web", "mobile"]),
)
def test_only_valid_compliance_or_allowance_opens(verdict: Verdict | None, now: int,
                                                  validity: int, kind: str) -> None:  # fmt: skip
    access = SessionAccess(verdict, now + validity, frozenset({OU}), kind, "198.51.100.1")
    d = content_access(OU, access, [POLICY], now)
    gated = OU in gated_labels_now([POLICY], now) or (verdict is not None and validity > 0)
    if d.allowed:
        assert not gated or (verdict is Verdict.COMPLIANT and validity > 0)
    else:
        assert gated and d.reason
