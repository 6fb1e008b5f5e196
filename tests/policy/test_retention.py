"""Retention decisions: a table of cases, the policy check, and how purged events look."""

from __future__ import annotations

import pytest

from tumar.policy.retention import (
    DAY_MS,
    PURGE_REASON,
    Reason,
    check_policy,
    cutoff_ms,
    is_purged,
    judge,
    purge_marker,
    purged_because,
    unknown_labels,
)

NOW = 1_800_000_000_000
POLICY: dict[str, int | None] = {"public": 30, "internal": 365, "official-use": None}


def ago(days: float) -> int:
    return NOW - int(days * DAY_MS)


CASES = [
    # label, age in days, extra, expected reason
    ("public", 31, {}, Reason.EXPIRED),
    ("public", 30.001, {}, Reason.EXPIRED),
    ("public", 30, {}, Reason.WITHIN_RETENTION),  # exactly at the cutoff: kept
    ("public", 1, {}, Reason.WITHIN_RETENTION),
    ("internal", 31, {}, Reason.WITHIN_RETENTION),
    ("internal", 366, {}, Reason.EXPIRED),
    ("official-use", 10_000, {}, Reason.KEEP_FOREVER),
    ("secret", 10_000, {}, Reason.NOT_IN_POLICY),  # a label the policy does not name
    ("public", 31, {"is_state": True}, Reason.STATE),
    ("public", 31, {"already_gone": True}, Reason.ALREADY_GONE),
    ("public", 31, {"room_held": True}, Reason.ROOM_HELD),
    ("public", 31, {"sender_held": True}, Reason.SENDER_HELD),
    ("public", 31, {"room_held": True, "sender_held": True}, Reason.ROOM_HELD),
    # A hold is reported only where it protects something.
    ("public", 1, {"room_held": True}, Reason.WITHIN_RETENTION),
    ("official-use", 10_000, {"sender_held": True}, Reason.KEEP_FOREVER),
    ("public", 31, {"is_state": True, "room_held": True}, Reason.STATE),
]


@pytest.mark.parametrize(("label", "age", "extra", "reason"), CASES)
def test_judge(label: str, age: float, extra: dict[str, bool], reason: Reason) -> None:
    verdict = judge(label=label, event_ts=ago(age), now_ms=NOW, policy=POLICY, **extra)
    assert verdict.reason is reason
    assert bool(verdict) is (reason is Reason.EXPIRED)
    assert verdict.explanation


def test_cutoff() -> None:
    assert cutoff_ms("public", NOW, POLICY) == NOW - 30 * DAY_MS
    assert cutoff_ms("official-use", NOW, POLICY) is None
    assert cutoff_ms("unknown", NOW, POLICY) is None


@pytest.mark.parametrize(
    "policy",
    [
        {"public": 0},
        {"public": -1},
        {"public": 1.5},
        {"public": True},
        {"public": "30"},
        {"": 30},
        {"public": 365_001},
    ],
)
def test_bad_policies_are_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        check_policy(policy)


def test_good_policy_passes() -> None:
    assert check_policy({"public": 1, "internal": None}) == {"public": 1, "internal": None}


def test_unknown_labels() -> None:
    assert unknown_labels({"public": 1, "secrte": 2}, ["public", "secret"]) == ["secrte"]


def test_purged_events_read_as_redacted_by_the_server() -> None:
    marker = purge_marker(NOW, "@notices:example.org")
    assert is_purged(marker)
    assert not is_purged(None)
    assert not is_purged("$someredaction")
    because = purged_because("$abc", "!room:example.org", marker, now_ms=NOW + 5)
    assert because == {
        "type": "m.room.redaction",
        "event_id": f"$kz.tumar.retention.{NOW}.abc",
        "sender": "@notices:example.org",
        "origin_server_ts": NOW,
        "content": {"redacts": "$abc", "reason": PURGE_REASON},
        "redacts": "$abc",
        "unsigned": {"age": 5},
        "room_id": "!room:example.org",
    }
    assert "room_id" not in purged_because("$abc", "!r:x", marker, now_ms=NOW, with_room_id=False)
