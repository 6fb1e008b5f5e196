"""Compliance of one device with the device policies that cover its owner. Pure.

:func:`evaluate` takes the policies (already narrowed with
:func:`tumar.policy.device_policy.applies_to`), what the device reported, its location
evidence, the server's clock and the state kept from the previous evaluation, and decides:

1. Which policies are active: in working hours (any schedule; no schedules = always) AND on the
   premises (any zone inside; no zones = everywhere). When no zone says inside and some zone
   cannot tell (no usable fix, an accuracy circle straddling the edge), the policy's
   ``unknown_location`` decides: ``active`` by default, failing closed.
2. The required restrictions: the union of ``restrictions_active`` of the active policies and
   ``restrictions_inactive`` of the others. A function restricted by any policy is required
   (the most restrictive wins); an ``allowed`` list never relaxes another policy.
3. The requirements, merged the same way: the highest minimum OS version per platform, and
   no root / screen lock / encryption when any policy asks. A security fact the device could
   not report (None) counts as not met.
4. The verdict: ``compliant`` without findings; otherwise ``unknown`` during the grace period
   (the shortest of the policies) counted from the first evaluation that found something,
   then ``non_compliant``. A rooted device and a stale check-in get no grace.
5. Validity: the verdict holds until the next schedule boundary of any policy, the moment the
   check-in goes stale (``stale_after_seconds``, the shortest of the policies), or the end of
   the grace period, whichever comes first; after that the device must check in again.

All times are the server's clock (``now_ms``, ``checkin_ts``); the device's own timestamps are
used only to discard a fix that is too old or from the future.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tumar.policy.device_policy import (
    DEFAULT_STALE_AFTER_SECONDS,
    RESTRICTIONS,
    DevicePolicy,
    Requirements,
)
from tumar.policy.device_schedule import any_active, next_change_all
from tumar.policy.device_zones import Presence, presence

FIX_FUTURE_TOLERANCE_MS = 5 * 60_000
"""A fix stamped further than this in the future (by the device's clock) is ignored."""
NO_GRACE_SETTINGS = frozenset({"rooted", "checkin"})

RESTRICTION_NAMES: Mapping[str, str] = {
    "camera": "camera",
    "screen_capture": "screen capture",
    "microphone": "microphone",
    "bluetooth": "Bluetooth",
    "usb_data": "USB data transfer",
    "nfc": "NFC",
    "app_install": "app installation",
    "tethering": "tethering (mobile hotspot)",
    "external_storage": "external storage",
    "nearby_sharing": "nearby sharing (AirDrop, Quick Share)",
}


class Verdict(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Security:
    """Security facts as the device reports them; None = the device could not tell."""

    rooted: bool | None = None
    screen_lock: bool | None = None
    encrypted: bool | None = None


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    platform: str
    os_version: str
    management_mode: str = "unmanaged"
    ownership: str = "personal"
    restricted: frozenset[str] = frozenset()  # functions the device reports as restricted now
    security: Security = Security()


@dataclass(frozen=True, slots=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float
    ts: int  # the device's clock, ms


@dataclass(frozen=True, slots=True)
class Evidence:
    fix: Fix | None = None
    networks: frozenset[str] = frozenset()  # "wifi:<ssid>", "bssid:<mac>", "beacon:<uuid>"
    client_ip: str | None = None  # the address the server saw the check-in come from


@dataclass(frozen=True, slots=True)
class PriorState:
    """What one evaluation hands to the next. ``inside`` is keyed ``<policy_id>/<zone_id>``."""

    inside: Mapping[str, bool] = field(default_factory=dict)
    non_compliant_since_ts: int | None = None
    last_checkin_ts: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "inside": dict(sorted(self.inside.items())),
            "non_compliant_since_ts": self.non_compliant_since_ts,
            "last_checkin_ts": self.last_checkin_ts,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> PriorState:
        raw = value.get("inside")
        inside = {str(k): bool(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        since = value.get("non_compliant_since_ts")
        last = value.get("last_checkin_ts")
        return cls(
            inside=inside,
            non_compliant_since_ts=since if isinstance(since, int) else None,
            last_checkin_ts=last if isinstance(last, int) else None,
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """One setting that does not meet the policy: ``reason`` is a readable sentence."""

    setting: (
        str  # a restriction name, "os_version", "rooted", "screen_lock", "encryption", "checkin"
    )
    expected: str
    observed: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {
            "setting": self.setting,
            "expected": self.expected,
            "observed": self.observed,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    active_policies: tuple[str, ...]
    required: frozenset[str]
    findings: tuple[Finding, ...]
    valid_until_ts: int
    next_change_ts: int | None
    gated_labels: frozenset[str]
    grace_until_ts: int | None
    state: PriorState


def version_tuple(v: str) -> tuple[int, ...] | None:
    """``"17.4.1"`` as ``(17, 4, 1)``; None when it is not a dotted number (a suffix such as
    ``"14 beta"`` or ``"13.0-rc1"`` keeps its leading numbers)."""
    parts: list[int] = []
    for chunk in v.strip().split("."):
        digits = ""
        for ch in chunk:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(chunk):
            break
    return tuple(parts) if parts else None


def version_at_least(observed: str, minimum: str) -> bool | None:
    """Numeric comparison of dotted versions (``10.2`` >= ``9.12``; ``14`` == ``14.0``); None
    when either is not a version."""
    a, b = version_tuple(observed), version_tuple(minimum)
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)) >= b + (0,) * (n - len(b))


def merge_requirements(policies: Sequence[DevicePolicy]) -> Requirements:
    """The strictest requirements of all policies."""
    min_os: dict[str, str] = {}
    for p in policies:
        for platform, ver in p.requirements.min_os.items():
            cur = min_os.get(platform)
            if cur is None or version_at_least(ver, cur):
                min_os[platform] = ver
    return Requirements(
        min_os=min_os,
        no_root=any(p.requirements.no_root for p in policies),
        screen_lock=any(p.requirements.screen_lock for p in policies),
        encryption=any(p.requirements.encryption for p in policies),
    )


def gated_labels_now(policies: Sequence[DevicePolicy], now_ms: int) -> frozenset[str]:
    """Labels that need a compliant device now: those of policies in working hours, and of
    policies that gate outside working hours too. Location does not matter here: an official
    at home during working hours still needs a compliant device (one meeting the policy's
    inactive restrictions) to read gated rooms."""
    out: set[str] = set()
    for p in policies:
        if p.gate.labels and (p.gate.outside_hours or any_active(p.schedules, now_ms)):
            out |= p.gate.labels
    return frozenset(out)


def _on_premises(
    p: DevicePolicy, evidence: Evidence, now_ms: int, prior: PriorState, state: dict[str, bool]
) -> bool | None:
    """True inside a zone, False outside all, None when it cannot be told. Updates ``state``."""
    if not p.zones:
        return True
    fix = evidence.fix
    if fix is not None and (
        fix.ts > now_ms + FIX_FUTURE_TOLERANCE_MS or fix.ts < now_ms - p.stale_after_seconds * 1000
    ):
        fix = None
    results: list[Presence] = []
    for z in p.zones:
        key = f"{p.policy_id}/{z.zone_id}"
        was = prior.inside.get(key)
        where = presence(
            z,
            lat=None if fix is None else fix.lat,
            lon=None if fix is None else fix.lon,
            accuracy_m=None if fix is None else fix.accuracy_m,
            networks=evidence.networks,
            client_ip=evidence.client_ip,
            was_inside=was,
            hysteresis_m=p.hysteresis_m,
        )
        if where is Presence.INSIDE:
            state[key] = True
        elif where is Presence.OUTSIDE:
            state[key] = False
        elif was is not None:
            state[key] = was
        results.append(where)
    if Presence.INSIDE in results:
        return True
    if all(r is Presence.OUTSIDE for r in results):
        return False
    return None


def policy_active(
    p: DevicePolicy, evidence: Evidence, now_ms: int, prior: PriorState | None = None
) -> bool:
    """Whether one policy is active for a device with this evidence (see :func:`evaluate`)."""
    if not any_active(p.schedules, now_ms):
        return False
    where = _on_premises(p, evidence, now_ms, prior or PriorState(), {})
    return where if where is not None else p.unknown_location == "active"


def _restriction_findings(
    policies: Sequence[DevicePolicy], active: set[str], facts: DeviceFacts
) -> tuple[frozenset[str], list[Finding]]:
    why: dict[str, str] = {}
    for p in policies:
        if p.policy_id in active:
            names, when = p.restrictions_active, "during working hours on the premises"
        else:
            names, when = p.restrictions_inactive, "outside working hours or off the premises"
        for r in names:
            why.setdefault(r, f"policy '{p.name}' restricts it {when}")
    required = frozenset(why)
    findings = [
        Finding(
            setting=r,
            expected="restricted",
            observed="enabled",
            reason=f"{RESTRICTION_NAMES[r][:1].upper()}{RESTRICTION_NAMES[r][1:]} is enabled; "
            f"{why[r]}.",
        )
        for r in RESTRICTIONS
        if r in required and r not in facts.restricted
    ]
    return required, findings


def _requirement_findings(req: Requirements, facts: DeviceFacts) -> list[Finding]:
    out: list[Finding] = []
    minimum = req.min_os.get(facts.platform)
    if minimum is not None:
        ok = version_at_least(facts.os_version, minimum)
        if not ok:
            seen = facts.os_version or "unknown"
            out.append(
                Finding(
                    "os_version",
                    f">= {minimum}",
                    seen,
                    f"The {facts.platform} version {seen} is older than the required {minimum}."
                    if ok is False
                    else f"The {facts.platform} version '{seen}' cannot be compared with the "
                    f"required {minimum}.",
                )
            )
    sec = facts.security
    checks = (
        (req.no_root, "rooted", sec.rooted, False, "The device is rooted or jailbroken."),
        (req.screen_lock, "screen_lock", sec.screen_lock, True, "The device has no screen lock."),
        (req.encryption, "encryption", sec.encrypted, True, "The device storage is not encrypted."),
    )
    for wanted, setting, seen_value, good, bad_reason in checks:
        if not wanted or seen_value is good:
            continue
        if seen_value is None:
            observed = "unknown"
            reason = f"The device did not report its {setting.replace('_', ' ')} state."
        else:
            observed = "yes" if seen_value else "no"
            reason = bad_reason
        out.append(Finding(setting, "no" if not good else "yes", observed, reason))
    return out


def evaluate(
    policies: Sequence[DevicePolicy],
    facts: DeviceFacts,
    evidence: Evidence,
    now_ms: int,
    prior: PriorState | None,
    *,
    checkin_ts: int | None = None,
) -> Evaluation:
    """Decide a device's compliance now (see the module docstring). ``checkin_ts`` is when the
    server received the facts and evidence (default ``now_ms``: evaluating a check-in as it
    arrives); re-evaluating later with the same facts finds a stale check-in."""
    before = prior or PriorState()
    received = now_ms if checkin_ts is None else checkin_ts
    inside: dict[str, bool] = {}
    active: set[str] = set()
    gated: set[str] = set()
    for p in policies:
        in_hours = any_active(p.schedules, now_ms)
        if p.gate.outside_hours or in_hours:
            gated |= p.gate.labels
        where = _on_premises(p, evidence, now_ms, before, inside)
        on_premises = where if where is not None else p.unknown_location == "active"
        if on_premises and in_hours:
            active.add(p.policy_id)
    required, findings = _restriction_findings(policies, active, facts)
    findings += _requirement_findings(merge_requirements(policies), facts)

    stale_s = min((p.stale_after_seconds for p in policies), default=DEFAULT_STALE_AFTER_SECONDS)
    stale_at = received + stale_s * 1000
    if policies and now_ms >= stale_at:
        minutes_ago = (now_ms - received) // 60_000
        findings.append(
            Finding(
                "checkin",
                f"a check-in at least every {stale_s // 60} min",
                f"last check-in {minutes_ago} min ago",
                f"The device has not checked in for {minutes_ago} minutes.",
            )
        )

    grace_until: int | None = None
    since: int | None = None
    if not findings:
        verdict = Verdict.COMPLIANT
    else:
        since = (
            before.non_compliant_since_ts if before.non_compliant_since_ts is not None else now_ms
        )
        grace_s = min(p.grace_seconds for p in policies)
        grace_until = since + grace_s * 1000
        graceable = all(f.setting not in NO_GRACE_SETTINGS for f in findings)
        verdict = Verdict.UNKNOWN if graceable and now_ms < grace_until else Verdict.NON_COMPLIANT

    next_ts = min(
        (c for c in (next_change_all(p.schedules, now_ms) for p in policies) if c is not None),
        default=None,
    )
    valid_until = stale_at
    if next_ts is not None:
        valid_until = min(valid_until, next_ts)
    if verdict is Verdict.UNKNOWN and grace_until is not None:
        valid_until = min(valid_until, grace_until)
    return Evaluation(
        verdict=verdict,
        active_policies=tuple(p.policy_id for p in policies if p.policy_id in active),
        required=required,
        findings=tuple(findings),
        valid_until_ts=valid_until,
        next_change_ts=next_ts,
        gated_labels=frozenset(gated),  # the same as gated_labels_now(policies, now_ms)
        grace_until_ts=grace_until,
        state=PriorState(inside=inside, non_compliant_since_ts=since, last_checkin_ts=received),
    )
