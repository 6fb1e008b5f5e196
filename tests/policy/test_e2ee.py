"""The end-to-end encryption policy, as a table: mode x event -> allowed or which errcode."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.e2ee import (
    FORBIDDEN_ERRCODE,
    MEGOLM,
    REQUIRED_ERRCODE,
    E2eeMode,
    check_event,
    check_redaction,
    encryption_for_new_room,
)

ON = ("m.room.encryption", "", {"algorithm": MEGOLM})
OFF = ("m.room.encryption", "", {})
OTHER_ALGORITHM = ("m.room.encryption", "", {"algorithm": "org.example.none"})
ODD_KEY = ("m.room.encryption", "x", {"algorithm": MEGOLM})
ENCRYPTED = ("m.room.encrypted", None, {"algorithm": MEGOLM, "ciphertext": "..."})
MESSAGE = ("m.room.message", None, {"msgtype": "m.text", "body": "hi"})
TOPIC = ("m.room.topic", "", {"topic": "t"})

ALLOWED = ""
# (mode, event) -> "" when allowed, else the errcode of the refusal
TABLE: list[tuple[E2eeMode, tuple[str, str | None, dict[str, Any]], str]] = [
    ("allowed", ON, ALLOWED),
    ("allowed", OFF, ALLOWED),
    ("allowed", OTHER_ALGORITHM, ALLOWED),
    ("allowed", ENCRYPTED, ALLOWED),
    ("allowed", MESSAGE, ALLOWED),
    ("forbidden", ON, FORBIDDEN_ERRCODE),
    ("forbidden", OFF, FORBIDDEN_ERRCODE),
    ("forbidden", OTHER_ALGORITHM, FORBIDDEN_ERRCODE),
    ("forbidden", ODD_KEY, FORBIDDEN_ERRCODE),
    ("forbidden", ENCRYPTED, FORBIDDEN_ERRCODE),
    ("forbidden", MESSAGE, ALLOWED),
    ("forbidden", TOPIC, ALLOWED),
    ("required", ON, ALLOWED),
    ("required", OFF, REQUIRED_ERRCODE),
    ("required", OTHER_ALGORITHM, REQUIRED_ERRCODE),
    ("required", ENCRYPTED, ALLOWED),
    ("required", MESSAGE, ALLOWED),
    ("required", TOPIC, ALLOWED),
]


@pytest.mark.parametrize(("mode", "event", "expected"), TABLE)
def test_check_event(
    mode: E2eeMode, event: tuple[str, str | None, dict[str, Any]], expected: str
) -> None:
    decision = check_event(mode, *event)
    assert bool(decision) == (expected == ALLOWED)
    assert decision.errcode == expected
    if not decision:
        assert "encryption" in decision.reason and len(decision.reason) > 40


@pytest.mark.parametrize(
    ("mode", "target", "state_key", "allowed"),
    [
        ("required", "m.room.encryption", "", False),
        ("required", "m.room.message", None, True),
        ("required", "m.room.encryption", None, True),  # not state: nothing to protect
        ("allowed", "m.room.encryption", "", True),
        ("forbidden", "m.room.encryption", "", True),
    ],
)
def test_check_redaction(mode: E2eeMode, target: str, state_key: str | None, allowed: bool) -> None:
    decision = check_redaction(mode, target, state_key)
    assert bool(decision) == allowed
    assert decision.errcode == ("" if allowed else REQUIRED_ERRCODE)


def test_new_rooms_are_encrypted_only_when_required() -> None:
    assert encryption_for_new_room("required", []) == {"algorithm": MEGOLM}
    assert encryption_for_new_room("required", [("m.room.topic", "")]) == {"algorithm": MEGOLM}
    # The creator already asked for encryption: nothing to add.
    assert encryption_for_new_room("required", [("m.room.encryption", "")]) is None
    assert encryption_for_new_room("allowed", []) is None
    assert encryption_for_new_room("forbidden", []) is None
