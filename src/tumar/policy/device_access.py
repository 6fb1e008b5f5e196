"""Conditional access: may this session read content with this label now? Pure.

A label is gated now when a policy covering the session's owner gates it and is in working
hours (or gates outside them too), or when the session's device evaluation, still valid, says
so. Gated content is readable when

- every policy gating the label lets this kind of client through from where it connects (a
  :class:`~tumar.policy.device_policy.ClientAllowance`, e.g. a desktop session from the office
  network), or
- the session's enrolled device is ``compliant`` and that verdict has not expired.

``unknown`` (the grace period) does not open gated content: the grace period spares the officer
a violation, not the content its protection. Every refusal carries a readable reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tumar.policy.decision import Decision
from tumar.policy.device_eval import Verdict, gated_labels_now
from tumar.policy.device_policy import ClientAllowance, DevicePolicy
from tumar.policy.device_schedule import any_active
from tumar.policy.device_zones import ip_in

__all__ = ["SessionAccess", "allowance_matches", "content_access", "gated_labels_now"]


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """What the server knows about one session's device. ``verdict`` None: no enrolled device
    is bound to the session. ``reasons``: the readable reasons of the findings, if any."""

    verdict: Verdict | None
    valid_until_ts: int | None
    gated_labels: frozenset[str]
    client_kind: str  # desktop | web | mobile
    client_ip: str | None
    reasons: tuple[str, ...] = ()


def allowance_matches(allowance: ClientAllowance, access: SessionAccess) -> bool:
    """Whether the session is of the allowance's client kind and connects from one of its
    networks (no networks: from anywhere)."""
    if allowance.kind not in ("any", access.client_kind):
        return False
    return not allowance.networks or ip_in(allowance.networks, access.client_ip)


def content_access(
    label: str | None, access: SessionAccess, policies: Sequence[DevicePolicy], now_ms: int
) -> Decision:
    """Whether the session may read content labelled ``label`` at ``now_ms``. ``policies``:
    those covering the session's owner now."""
    if label is None:
        return Decision.allow()
    gating = [
        p
        for p in policies
        if label in p.gate.labels and (p.gate.outside_hours or any_active(p.schedules, now_ms))
    ]
    valid = (
        access.verdict is not None
        and access.valid_until_ts is not None
        and now_ms < access.valid_until_ts
    )
    from_evaluation = valid and label in access.gated_labels
    if not gating and not from_evaluation:
        return Decision.allow()
    if gating and all(any(allowance_matches(a, access) for a in p.gate.allow) for p in gating):
        return Decision.allow()
    if valid and access.verdict is Verdict.COMPLIANT:
        return Decision.allow()

    when = "at this time" if any(p.gate.outside_hours for p in gating) else "during working hours"
    head = (
        f"This room is labelled '{label}'; {when} it can be read only on an enrolled device "
        "that complies with the device policy"
    )
    if access.verdict is None:
        return Decision.deny(f"{head}, and this session has no enrolled device.")
    if not valid:
        return Decision.deny(
            f"{head}; your device's last compliance check has expired. Open the tumar app on it "
            "so it checks in again."
        )
    if access.verdict is Verdict.UNKNOWN:
        return Decision.deny(
            f"{head}; your device's compliance is still being checked. Try again in a few minutes."
        )
    detail = " ".join(access.reasons) if access.reasons else "see the device app for details."
    return Decision.deny(f"{head}; your device is not compliant: {detail}")
