"""Table tests for the room version 11 redaction of event content."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.redaction import redact_content

FULL_PL = {
    "ban": 50,
    "events": {"m.room.name": 100},
    "events_default": 0,
    "invite": 0,
    "kick": 50,
    "redact": 50,
    "state_default": 50,
    "users": {"@alice:tumar.test": 100},
    "users_default": 0,
}

REDACTION_ROWS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("message loses everything", "m.room.message", {"body": "hi", "msgtype": "m.text"}, {}),
    ("unknown state loses everything", "org.example.state", {"a": 1}, {}),
    (
        "member keeps membership and authoriser",
        "m.room.member",
        {
            "membership": "join",
            "displayname": "Bob",
            "avatar_url": "mxc://x/y",
            "join_authorised_via_users_server": "@alice:tumar.test",
        },
        {"membership": "join", "join_authorised_via_users_server": "@alice:tumar.test"},
    ),
    (
        "member keeps only signed of third_party_invite",
        "m.room.member",
        {
            "membership": "invite",
            "third_party_invite": {"display_name": "bob", "signed": {"mxid": "@b:x", "token": "t"}},
        },
        {"membership": "invite", "third_party_invite": {"signed": {"mxid": "@b:x", "token": "t"}}},
    ),
    (
        "member drops third_party_invite without signed",
        "m.room.member",
        {"membership": "invite", "third_party_invite": {"display_name": "bob"}},
        {"membership": "invite"},
    ),
    (
        "member drops malformed third_party_invite",
        "m.room.member",
        {"membership": "invite", "third_party_invite": "x"},
        {"membership": "invite"},
    ),
    (
        "create keeps all content",
        "m.room.create",
        {"room_version": "11", "m.federate": False, "type": "m.space", "extra": [1]},
        {"room_version": "11", "m.federate": False, "type": "m.space", "extra": [1]},
    ),
    (
        "join rules keep join_rule and allow",
        "m.room.join_rules",
        {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}], "x": 1},
        {"join_rule": "restricted", "allow": [{"type": "m.room_membership"}]},
    ),
    (
        "power levels keep invite but not notifications",
        "m.room.power_levels",
        {**FULL_PL, "notifications": {"room": 50}, "historical": 100},
        FULL_PL,
    ),
    (
        "history visibility keeps history_visibility",
        "m.room.history_visibility",
        {"history_visibility": "shared", "x": 1},
        {"history_visibility": "shared"},
    ),
    (
        "redaction keeps redacts",
        "m.room.redaction",
        {"redacts": "$event", "reason": "spam"},
        {"redacts": "$event"},
    ),
    ("name loses name", "m.room.name", {"name": "Room"}, {}),
    ("topic loses topic", "m.room.topic", {"topic": "x"}, {}),
    ("encryption loses algorithm", "m.room.encryption", {"algorithm": "m.megolm.v1"}, {}),
    ("empty content", "m.room.member", {}, {}),
]


@pytest.mark.parametrize(
    ("event_type", "content", "expected"),
    [pytest.param(t, c, e, id=name) for name, t, c, e in REDACTION_ROWS],
)
def test_redact_content(event_type: str, content: dict[str, Any], expected: dict[str, Any]) -> None:
    assert redact_content(event_type, content) == expected


def test_redact_content_does_not_alias_or_mutate_input() -> None:
    content = {"users": {"@a:b": 1}, "ban": 50, "x": 1}
    redacted = redact_content("m.room.power_levels", content)
    redacted["users"]["@a:b"] = 99
    assert content == {"users": {"@a:b": 1}, "ban": 50, "x": 1}


EVENT_TYPES = [
    "m.room.member",
    "m.room.create",
    "m.room.join_rules",
    "m.room.power_levels",
    "m.room.history_visibility",
    "m.room.redaction",
    "m.room.message",
    "m.room.name",
]
KEYS = [
    "membership",
    "join_authorised_via_users_server",
    "third_party_invite",
    "signed",
    "join_rule",
    "allow",
    "ban",
    "invite",
    "users",
    "notifications",
    "history_visibility",
    "redacts",
    "body",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["", "x", "join"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=8,
)
contents = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)


@given(event_type=st.sampled_from(EVENT_TYPES), content=contents)
def test_redaction_is_idempotent(event_type: str, content: dict[str, Any]) -> None:
    once = redact_content(event_type, content)
    assert redact_content(event_type, once) == once


@given(event_type=st.sampled_from(EVENT_TYPES), content=contents)
def test_redaction_only_keeps_existing_keys(event_type: str, content: dict[str, Any]) -> None:
    assert set(redact_content(event_type, content)) <= set(content)
