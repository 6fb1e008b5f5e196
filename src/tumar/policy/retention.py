"""Retention per classification label: whether a message has expired. Pure: no I/O, no clock.

The retention policy maps a label to a number of days, or to ``None`` for "keep forever". A
label that the policy does not name is kept forever too: deleting records is the one mistake
that cannot be undone, so only an explicit setting allows it.

A message expires when it is older than its room's retention, unless

* it is a state event (the room's structure: create, membership, power levels, join rules,
  name, topic, label ...; the room cannot work without it);
* its room is under legal hold;
* its sender is under legal hold (a person's messages are kept everywhere).

Purged events keep their row (so stream positions, sync tokens and pagination stay valid) and
are marked by a ``redacted_by`` value that is not an event id (see :func:`purge_marker`);
clients see them as redacted by the server, with :func:`purged_because` as the redaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

DAY_MS = 86_400_000
RetentionPolicy = Mapping[str, int | None]

#: ``events.redacted_by`` of a purged event: ``kz.tumar.retention|<purge ts>|<purged by>``.
PURGE_PREFIX = "kz.tumar.retention|"
PURGE_REASON = "Deleted by the retention policy: the retention period of this room has passed."


class Reason(StrEnum):
    EXPIRED = "expired"  # older than the label's retention: purge
    STATE = "state_event"  # room state is never purged
    KEEP_FOREVER = "keep_forever"  # the label's retention is null
    NOT_IN_POLICY = "label_not_in_policy"  # the policy does not name the label: kept
    WITHIN_RETENTION = "within_retention"
    ROOM_HELD = "room_on_legal_hold"
    SENDER_HELD = "sender_on_legal_hold"
    ALREADY_GONE = "already_redacted"  # redacted or purged before: nothing left to remove


EXPLANATIONS: Mapping[Reason, str] = {
    Reason.EXPIRED: "older than the retention period of its label",
    Reason.STATE: "room state is never purged",
    Reason.KEEP_FOREVER: "its label is kept forever",
    Reason.NOT_IN_POLICY: "the retention policy does not name its label, so it is kept",
    Reason.WITHIN_RETENTION: "still within the retention period of its label",
    Reason.ROOM_HELD: "its room is under legal hold",
    Reason.SENDER_HELD: "its sender is under legal hold",
    Reason.ALREADY_GONE: "its content was already removed",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    expired: bool
    reason: Reason

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.reason]

    def __bool__(self) -> bool:
        return self.expired


def retention_days(label: str, policy: RetentionPolicy) -> int | None:
    """Days that content under ``label`` is kept; ``None``: forever (also for labels the
    policy does not name)."""
    return policy.get(label)


def cutoff_ms(label: str, now_ms: int, policy: RetentionPolicy) -> int | None:
    """Messages with ``origin_server_ts`` strictly below this have expired; ``None``: none."""
    days = retention_days(label, policy)
    return None if days is None else now_ms - days * DAY_MS


def judge(
    *,
    label: str,
    event_ts: int,
    now_ms: int,
    policy: RetentionPolicy,
    is_state: bool = False,
    already_gone: bool = False,
    room_held: bool = False,
    sender_held: bool = False,
) -> Verdict:
    """Whether one event has expired, with the reason. Holds are reported only for content
    that would otherwise expire, so a dry run can say what a hold actually protects."""
    if is_state:
        return Verdict(False, Reason.STATE)
    if already_gone:
        return Verdict(False, Reason.ALREADY_GONE)
    if label not in policy:
        return Verdict(False, Reason.NOT_IN_POLICY)
    cutoff = cutoff_ms(label, now_ms, policy)
    if cutoff is None:
        return Verdict(False, Reason.KEEP_FOREVER)
    if event_ts >= cutoff:
        return Verdict(False, Reason.WITHIN_RETENTION)
    if room_held:
        return Verdict(False, Reason.ROOM_HELD)
    if sender_held:
        return Verdict(False, Reason.SENDER_HELD)
    return Verdict(True, Reason.EXPIRED)


def check_policy(policy: Mapping[str, Any]) -> dict[str, int | None]:
    """The policy if every value is a whole number of days (at least 1) or ``None``."""
    out: dict[str, int | None] = {}
    for label, days in policy.items():
        if not isinstance(label, str) or not label:
            raise ValueError("retention_days: labels must be non-empty names")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
            raise ValueError(f"retention_days: {label}: days must be a whole number or null")
        if days is not None and not 1 <= days <= 365_000:
            raise ValueError(f"retention_days: {label}: days must be from 1 to 365000, or null")
        out[label] = days
    return out


def unknown_labels(policy: RetentionPolicy, labels: list[str]) -> list[str]:
    """Labels the policy names that are not configured (a typo, or a label removed since)."""
    return sorted(set(policy) - set(labels))


# ---- how a purged event looks to clients -------------------------------------------------------


def purge_marker(purged_ts: int, purged_by: str) -> str:
    return f"{PURGE_PREFIX}{purged_ts}|{purged_by}"


def is_purged(redacted_by: str | None) -> TypeGuard[str]:
    return redacted_by is not None and redacted_by.startswith(PURGE_PREFIX)


def purged_because(
    event_id: str, room_id: str, redacted_by: str, *, now_ms: int, with_room_id: bool = True
) -> dict[str, Any]:
    """The ``unsigned.redacted_because`` of a purged event (``redacted_by`` is a purge
    marker): a redaction by the server's notices account at the time of the purge. It is not
    a stored event; its id is derived from the purged event's."""
    ts_text, _, sender = redacted_by.removeprefix(PURGE_PREFIX).partition("|")
    ts = int(ts_text) if ts_text.isdigit() else 0
    out: dict[str, Any] = {
        "type": "m.room.redaction",
        "event_id": f"$kz.tumar.retention.{ts}.{event_id.lstrip('$')}",
        "sender": sender,
        "origin_server_ts": ts,
        "content": {"redacts": event_id, "reason": PURGE_REASON},
        "redacts": event_id,
        "unsigned": {"age": max(0, now_ms - ts)},
    }
    if with_room_id:
        out["room_id"] = room_id
    return out
