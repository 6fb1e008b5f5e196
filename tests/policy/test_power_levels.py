"""Table tests for tumar.policy.power_levels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.power_levels import (
    MAX_LEVEL,
    MIN_LEVEL,
    PowerLevels,
    is_valid_user_id,
    validate_power_levels_content,
)

CREATOR = "@alice:tumar.test"
BOB = "@bob:tumar.test"

SPEC_DEFAULTS = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "ban": 50,
    "kick": 50,
    "invite": 0,
    "redact": 50,
    "notifications_room": 50,
}


def fields(levels: PowerLevels) -> dict[str, int]:
    return {name: getattr(levels, name) for name in SPEC_DEFAULTS}


FROM_CONTENT_ROWS: list[tuple[str, Mapping[str, Any] | None, dict[str, int]]] = [
    ("no power levels event", None, SPEC_DEFAULTS),
    ("empty content", {}, SPEC_DEFAULTS),
    (
        "explicit values",
        {
            "users_default": 1,
            "events_default": 2,
            "state_default": 3,
            "ban": 4,
            "kick": 5,
            "invite": 6,
            "redact": 7,
            "notifications": {"room": 8},
        },
        {
            "users_default": 1,
            "events_default": 2,
            "state_default": 3,
            "ban": 4,
            "kick": 5,
            "invite": 6,
            "redact": 7,
            "notifications_room": 8,
        },
    ),
    (
        "stringy levels are not integers in v10+",
        {"ban": "10", "state_default": "0", "notifications": {"room": "1"}},
        SPEC_DEFAULTS,
    ),
    ("bools are not integers", {"kick": True, "users_default": False}, SPEC_DEFAULTS),
    ("floats are not integers", {"redact": 10.0}, SPEC_DEFAULTS),
    ("negative levels", {"events_default": -5}, {**SPEC_DEFAULTS, "events_default": -5}),
    ("notifications not an object", {"notifications": 3}, SPEC_DEFAULTS),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in FROM_CONTENT_ROWS],
)
def test_from_content_fields(content: Mapping[str, Any] | None, expected: dict[str, int]) -> None:
    assert fields(PowerLevels.from_content(content, CREATOR)) == expected


USER_LEVEL_ROWS: list[tuple[str, Mapping[str, Any] | None, str | None, str, int]] = [
    ("no event: creator is 100", None, CREATOR, CREATOR, 100),
    ("no event: others are 0", None, CREATOR, BOB, 0),
    ("no event, no creator", None, None, CREATOR, 0),
    ("event without users: creator is users_default", {}, CREATOR, CREATOR, 0),
    ("listed user", {"users": {BOB: 42}}, CREATOR, BOB, 42),
    ("unlisted user gets users_default", {"users_default": 7}, CREATOR, BOB, 7),
    ("stringy user level ignored", {"users": {BOB: "42"}, "users_default": 3}, CREATOR, BOB, 3),
    ("users not an object", {"users": [BOB]}, CREATOR, BOB, 0),
]


@pytest.mark.parametrize(
    ("content", "creator", "user", "expected"),
    [pytest.param(c, cr, u, e, id=name) for name, c, cr, u, e in USER_LEVEL_ROWS],
)
def test_user_level(
    content: Mapping[str, Any] | None, creator: str | None, user: str, expected: int
) -> None:
    assert PowerLevels.from_content(content, creator).user_level(user) == expected


EVENT_LEVEL_ROWS: list[tuple[str, Mapping[str, Any] | None, str, bool, int]] = [
    ("no event: message", None, "m.room.message", False, 0),
    ("no event: state", None, "m.room.name", True, 50),
    ("message uses events_default", {"events_default": 5}, "m.room.message", False, 5),
    ("state uses state_default", {"state_default": 60}, "m.room.topic", True, 60),
    ("override for message", {"events": {"m.room.message": 9}}, "m.room.message", False, 9),
    ("override for state", {"events": {"m.room.name": 0}}, "m.room.name", True, 0),
    ("override for other type unused", {"events": {"m.room.name": 0}}, "m.room.topic", True, 50),
    ("stringy override ignored", {"events": {"m.room.name": "0"}}, "m.room.name", True, 50),
]


@pytest.mark.parametrize(
    ("content", "event_type", "is_state", "expected"),
    [pytest.param(c, t, s, e, id=name) for name, c, t, s, e in EVENT_LEVEL_ROWS],
)
def test_event_level(
    content: Mapping[str, Any] | None, event_type: str, is_state: bool, expected: int
) -> None:
    assert PowerLevels.from_content(content, CREATOR).event_level(event_type, is_state) == expected


VALIDATE_ROWS: list[tuple[str, object, bool | str]] = [
    ("empty", {}, True),
    (
        "full valid",
        {
            "ban": 50,
            "kick": 50,
            "invite": 0,
            "redact": 50,
            "users_default": 0,
            "events_default": 0,
            "state_default": 50,
            "events": {"m.room.name": 50},
            "notifications": {"room": 50},
            "users": {CREATOR: 100, "@bob:example.org:8448": -1},
        },
        True,
    ),
    ("unknown keys ignored", {"historical": "x"}, True),
    ("extremes allowed", {"ban": MAX_LEVEL, "kick": MIN_LEVEL}, True),
    ("not an object", [1], "content must be an object"),
    ("string level", {"ban": "50"}, "'ban' field must be an integer"),
    ("bool level", {"invite": False}, "'invite' field must be an integer"),
    ("null level", {"state_default": None}, "'state_default' field must be an integer"),
    ("above range", {"kick": MAX_LEVEL + 1}, "'kick' field is out of range"),
    ("below range", {"redact": MIN_LEVEL - 1}, "'redact' field is out of range"),
    ("events not object", {"events": 1}, "'events' field must be an object"),
    ("events string value", {"events": {"m.room.name": "50"}}, "in 'events' must be an integer"),
    ("notifications float", {"notifications": {"room": 1.5}}, "in 'notifications' must be"),
    ("users not object", {"users": []}, "'users' field must be an object"),
    ("users bad id", {"users": {"bob": 1}}, "not a valid user ID"),
    ("users string level", {"users": {BOB: "1"}}, "must be an integer"),
    ("users out of range", {"users": {BOB: MAX_LEVEL + 1}}, "out of range"),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in VALIDATE_ROWS],
)
def test_validate_power_levels_content(content: object, expected: bool | str) -> None:
    verdict = validate_power_levels_content(content)
    if expected is True:
        assert verdict.allowed, verdict.reason
    else:
        assert not verdict.allowed
        assert isinstance(expected, str)
        assert expected in verdict.reason


USER_ID_ROWS: list[tuple[str, object, bool]] = [
    ("simple", "@bob:example.org", True),
    ("with port", "@bob:example.org:8448", True),
    ("ipv6 server", "@bob:[::1]:8448", True),
    ("historical localpart", "@Bob!x:example.org", True),
    ("no sigil", "bob:example.org", False),
    ("no server", "@bob", False),
    ("empty localpart", "@:example.org", False),
    ("empty server", "@bob:", False),
    ("space in localpart", "@b ob:example.org", False),
    ("too long", "@" + "a" * 250 + ":example.org", False),
    ("not a string", 42, False),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [pytest.param(v, e, id=name) for name, v, e in USER_ID_ROWS],
)
def test_is_valid_user_id(value: object, expected: bool) -> None:
    assert is_valid_user_id(value) is expected


@given(
    users=st.dictionaries(
        st.sampled_from([CREATOR, BOB, "@carol:tumar.test"]), st.integers(-100, 200)
    ),
    users_default=st.integers(-100, 200),
    user=st.sampled_from([CREATOR, BOB, "@carol:tumar.test", "@dave:tumar.test"]),
)
def test_user_level_is_listed_level_or_default(
    users: dict[str, int], users_default: int, user: str
) -> None:
    """A user's level is their listed level, else users_default; creators get nothing extra."""
    levels = PowerLevels.from_content({"users": users, "users_default": users_default}, CREATOR)
    assert levels.user_level(user) == users.get(user, users_default)


def test_power_levels_is_read_only() -> None:
    levels = PowerLevels.from_content({"users": {BOB: 1}}, CREATOR)
    with pytest.raises(TypeError):
        levels.users[BOB] = 100  # type: ignore[index]
