"""Device policies: the model, and the JSON policy document it is read from and written to.

Pure: no I/O, no clock. :func:`parse_policy` checks a document and raises
:class:`PolicyDocError` naming the field (a dotted path such as ``zones.0.geometry.coordinates``)
and the reason; :func:`policy_document` writes a policy back so that
``parse_policy(policy_document(p)) == p``. :func:`contradictions` finds policies that cover the
same person and contradict each other; :func:`applies_to` says whether a policy covers a person.

``docs/device-policy.md`` ("Policy document") describes every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tumar.policy.device_model import (
    CLIENT_KINDS,
    DEFAULT_BUFFER_M,
    DEFAULT_CHECKIN_INTERVAL_SECONDS,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HYSTERESIS_M,
    DEFAULT_STALE_AFTER_SECONDS,
    MANAGEMENT_MODES,
    NETWORK_KINDS,
    OWNERSHIPS,
    PLATFORMS,
    RESTRICTIONS,
    UNKNOWN_LOCATION,
    Audience,
    ClientAllowance,
    ContentGate,
    DevicePolicy,
    Person,
    PolicyDocError,
    Requirements,
    Schedule,
    ScheduleException,
    WeeklyHours,
    Zone,
    minutes,
)
from tumar.policy.device_policy_doc import parse_policy, policy_document
from tumar.policy.roles import contains

__all__ = [
    "CLIENT_KINDS",
    "DEFAULT_BUFFER_M",
    "DEFAULT_CHECKIN_INTERVAL_SECONDS",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_HYSTERESIS_M",
    "DEFAULT_STALE_AFTER_SECONDS",
    "MANAGEMENT_MODES",
    "NETWORK_KINDS",
    "OWNERSHIPS",
    "PLATFORMS",
    "RESTRICTIONS",
    "UNKNOWN_LOCATION",
    "Audience",
    "ClientAllowance",
    "ContentGate",
    "DevicePolicy",
    "Person",
    "PolicyDocError",
    "Requirements",
    "Schedule",
    "ScheduleException",
    "WeeklyHours",
    "Zone",
    "applies_to",
    "contradictions",
    "minutes",
    "parse_policy",
    "policy_document",
]


def applies_to(p: DevicePolicy, who: Person, now_ms: int, org_paths: Mapping[str, str]) -> bool:
    """Whether ``p`` covers ``who`` at ``now_ms``. ``org_paths`` maps organisation codes to
    their paths; a code missing from it (a removed organisation) covers nobody."""
    a = p.audience
    if who.user_id in a.people:
        return True
    if a.starts_ts is not None and now_ms < a.starts_ts:
        return False
    if who.groups.intersection(a.groups):
        return True
    if not who.org_path:
        return False
    included = any(
        code in org_paths and contains(org_paths[code], who.org_path) for code in a.org_codes
    )
    excluded = any(
        code in org_paths and contains(org_paths[code], who.org_path)
        for code in a.exclude_org_codes
    )
    return included and not excluded


# ---- contradictions -------------------------------------------------------------------------


def _audiences_overlap(
    a: Audience,
    b: Audience,
    org_paths: Mapping[str, str] | None,
    people_paths: Mapping[str, str] | None,
) -> bool:
    """Whether two audiences may share a person. Unknown facts count as overlapping: an
    officer must resolve a possible contradiction rather than find out in production."""
    if set(a.people) & set(b.people) or set(a.groups) & set(b.groups):
        return True

    def org_covers(x: Audience, path: str | None) -> bool:
        if not x.org_codes:
            return False
        if path is None or org_paths is None:
            return True  # cannot tell: assume it may
        inc = any(code not in org_paths or contains(org_paths[code], path) for code in x.org_codes)
        exc = any(
            code in org_paths and contains(org_paths[code], path) for code in x.exclude_org_codes
        )
        return inc and not exc

    for x, y in ((a, b), (b, a)):
        for person in x.people:
            path = None if people_paths is None else people_paths.get(person)
            if org_covers(y, path):
                return True
        if x.groups and (y.org_codes or y.groups):
            return True  # group members may sit anywhere
    if a.org_codes and b.org_codes:
        if org_paths is None:
            return True
        for ca in a.org_codes:
            for cb in b.org_codes:
                pa, pb = org_paths.get(ca), org_paths.get(cb)
                if pa is None or pb is None:
                    return True
                if not (contains(pa, pb) or contains(pb, pa)):
                    continue
                inner = pb if contains(pa, pb) else pa
                if not (org_covers(a, inner) and org_covers(b, inner)):
                    continue
                return True
    return False


def contradictions(
    policies: Sequence[DevicePolicy],
    *,
    org_paths: Mapping[str, str] | None = None,
    people_paths: Mapping[str, str] | None = None,
) -> list[str]:
    """Readable descriptions of contradictions between policies that may cover the same
    person (see :func:`_audiences_overlap`): a function one policy restricts while active
    (inactive) and another explicitly allows while active (inactive), and a label one policy
    gates and another lists as open. Merging would silently let the restriction win, so an
    officer is told instead. Empty: no contradiction."""
    out: list[str] = []
    for i, a in enumerate(policies):
        for b in policies[i + 1 :]:
            if a.policy_id == b.policy_id:
                continue
            if not _audiences_overlap(a.audience, b.audience, org_paths, people_paths):
                continue
            for x, y in ((a, b), (b, a)):
                for state, restricted, allowed in (
                    ("active", x.restrictions_active, y.allowed_active),
                    ("inactive", x.restrictions_inactive, y.allowed_inactive),
                ):
                    both = sorted(restricted & allowed)
                    if both:
                        out.append(
                            f"Policy '{x.name}' ({x.policy_id}) restricts {', '.join(both)} "
                            f"while {state}, but policy '{y.name}' ({y.policy_id}) explicitly "
                            f"allows it while {state}, and both may cover the same people."
                        )
                gated = sorted(x.gate.labels & y.gate.open_labels)
                if gated:
                    out.append(
                        f"Policy '{x.name}' ({x.policy_id}) gates label(s) {', '.join(gated)}, "
                        f"but policy '{y.name}' ({y.policy_id}) lists them as open, and both "
                        "may cover the same people."
                    )
    return out
