"""Power levels of a room (room versions 10 and 11): defaults, lookups and validation.

Pure: no I/O. Since room version 10 power levels must be real JSON integers; strings such
as ``"50"`` are not accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeGuard

from tumar.policy.decision import Decision

#: Canonical JSON only allows integers in this range.
MIN_LEVEL = -(2**53) + 1
MAX_LEVEL = 2**53 - 1

#: Level of the room creator while the room has no m.room.power_levels event.
CREATOR_DEFAULT_LEVEL = 100

#: The integer keys of m.room.power_levels content and their defaults when absent.
INT_KEY_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {
        "users_default": 0,
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "invite": 0,
        "redact": 50,
    }
)

#: The keys of m.room.power_levels content that map names to integers.
INT_MAP_KEYS: tuple[str, ...] = ("events", "notifications")

NOTIFICATIONS_ROOM_DEFAULT = 50

_SERVER_NAME = r"(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
# Localpart: any printable ASCII but ':' (the historical grammar, a superset of today's).
_USER_ID_RE = re.compile(r"@[\x21-\x39\x3B-\x7E]+:" + _SERVER_NAME)
_MAX_USER_ID_BYTES = 255


def is_valid_level(value: object) -> TypeGuard[int]:
    """True when ``value`` is a JSON integer (not a bool) within the canonical JSON range."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and MIN_LEVEL <= value <= MAX_LEVEL
    )


def _level_error(value: object) -> str | None:
    """Why ``value`` is not a valid power level, or ``None`` when it is."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "must be an integer"
    return None if is_valid_level(value) else "is out of range"


def is_valid_user_id(value: object) -> bool:
    """True when ``value`` looks like a Matrix user ID: ``@localpart:server.name``."""
    return (
        isinstance(value, str)
        and len(value.encode("utf-8")) <= _MAX_USER_ID_BYTES
        and _USER_ID_RE.fullmatch(value) is not None
    )


def _int_or(content: Mapping[str, Any], key: str, default: int) -> int:
    value = content.get(key)
    return value if is_valid_level(value) else default


def _int_map(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        return MappingProxyType({})
    return MappingProxyType(
        {k: v for k, v in value.items() if isinstance(k, str) and is_valid_level(v)}
    )


@dataclass(frozen=True, slots=True)
class PowerLevels:
    """The effective power levels of a room, with every default filled in."""

    users: Mapping[str, int]
    users_default: int
    events: Mapping[str, int]
    events_default: int
    state_default: int
    ban: int
    kick: int
    invite: int
    redact: int
    notifications_room: int

    @classmethod
    def from_content(cls, content: Mapping[str, Any] | None, creator: str | None) -> PowerLevels:
        """Build from m.room.power_levels content, or from the spec defaults when ``None``.

        Without a power levels event the room creator has level 100 and everyone else 0;
        the required levels take their usual defaults (state_default 50, events_default 0,
        ban/kick/redact 50, invite 0). Malformed values fall back to their defaults.
        """
        if content is None:
            users = {creator: CREATOR_DEFAULT_LEVEL} if creator else {}
            return cls._build({}, MappingProxyType(users), MappingProxyType({}))
        notifications = _int_map(content.get("notifications"))
        return cls._build(
            content,
            _int_map(content.get("users")),
            _int_map(content.get("events")),
            _int_or(notifications, "room", NOTIFICATIONS_ROOM_DEFAULT),
        )

    @classmethod
    def _build(
        cls,
        content: Mapping[str, Any],
        users: Mapping[str, int],
        events: Mapping[str, int],
        notifications_room: int = NOTIFICATIONS_ROOM_DEFAULT,
    ) -> PowerLevels:
        ints = {key: _int_or(content, key, default) for key, default in INT_KEY_DEFAULTS.items()}
        return cls(users=users, events=events, notifications_room=notifications_room, **ints)

    def user_level(self, user_id: str) -> int:
        """The power level of ``user_id``."""
        return self.users.get(user_id, self.users_default)

    def event_level(self, event_type: str, is_state: bool) -> int:
        """The level required to send an event of ``event_type`` (state or not)."""
        default = self.state_default if is_state else self.events_default
        return self.events.get(event_type, default)


def _check_int_map(content: Mapping[str, Any], key: str) -> Decision:
    value = content.get(key)
    if not isinstance(value, Mapping):
        return Decision.deny(f"The power levels '{key}' field must be an object.")
    for name, level in value.items():
        if (error := _level_error(level)) or not isinstance(name, str):
            return Decision.deny(f"The power level of {name!r} in '{key}' {error or 'is invalid'}.")
    return Decision.allow()


def _check_users(value: object) -> Decision:
    if not isinstance(value, Mapping):
        return Decision.deny("The power levels 'users' field must be an object.")
    for user_id, level in value.items():
        if not is_valid_user_id(user_id):
            return Decision.deny(
                f"The power levels 'users' field contains {user_id!r}, "
                "which is not a valid user ID."
            )
        if error := _level_error(level):
            return Decision.deny(f"The power level of {user_id} {error}.")
    return Decision.allow()


def validate_power_levels_content(content: object) -> Decision:
    """Check the shape of new m.room.power_levels content (room version 10+ rules)."""
    if not isinstance(content, Mapping):
        return Decision.deny("The power levels content must be an object.")
    for key in INT_KEY_DEFAULTS:
        if key in content and (error := _level_error(content[key])):
            return Decision.deny(f"The power levels '{key}' field {error}.")
    for key in INT_MAP_KEYS:
        if key in content and not (verdict := _check_int_map(content, key)):
            return verdict
    if "users" in content:
        return _check_users(content["users"])
    return Decision.allow()
