"""Room version 11 event authorisation rules, for a homeserver that does not federate.

Pure: every verdict depends only on the event and the room state before it. Rule numbers in
comments refer to the "Authorization rules" section of the room version 11 specification.
Checks that only make sense over federation (signatures, ``prev_events``, ``auth_events``
selection) are out of scope; the caller passes the current state instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tumar.policy.decision import Decision
from tumar.policy.power_levels import (
    INT_KEY_DEFAULTS,
    INT_MAP_KEYS,
    PowerLevels,
    is_valid_level,
    validate_power_levels_content,
)

CREATE = "m.room.create"
MEMBER = "m.room.member"
JOIN_RULES = "m.room.join_rules"
POWER_LEVELS = "m.room.power_levels"
THIRD_PARTY_INVITE = "m.room.third_party_invite"

#: Room versions whose rules this module implements.
SUPPORTED_ROOM_VERSIONS = frozenset({"11"})

#: Join rule assumed when the room has no m.room.join_rules event.
DEFAULT_JOIN_RULE = "invite"

JOIN, INVITE, LEAVE, BAN, KNOCK = "join", "invite", "leave", "ban", "knock"


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """The parts of an event that authorisation looks at."""

    type: str
    sender: str
    content: Mapping[str, Any]
    state_key: str | None = None


StateMap = Mapping[tuple[str, str], AuthEvent]
"""Room state before the event, keyed by (event type, state key)."""


def _domain(user_id: str) -> str:
    return user_id.partition(":")[2]


@dataclass(frozen=True, slots=True)
class _Room:
    """A read-only view of the room state used by the rules."""

    create: AuthEvent
    state: StateMap
    levels: PowerLevels

    @classmethod
    def of(cls, state: StateMap) -> _Room | None:
        create = state.get((CREATE, ""))
        if create is None:
            return None
        return cls(create, state, _levels(state, create.sender))

    @property
    def join_rule(self) -> str:
        event = self.state.get((JOIN_RULES, ""))
        rule = event.content.get("join_rule") if event else None
        return rule if isinstance(rule, str) else DEFAULT_JOIN_RULE

    @property
    def only_create(self) -> bool:
        return len(self.state) == 1

    def membership(self, user_id: str) -> str:
        event = self.state.get((MEMBER, user_id))
        value = event.content.get("membership") if event else None
        return value if isinstance(value, str) else LEAVE

    def level(self, user_id: str) -> int:
        return self.levels.user_level(user_id)


def _levels(state: StateMap, creator: str | None) -> PowerLevels:
    event = state.get((POWER_LEVELS, ""))
    return PowerLevels.from_content(event.content if event else None, creator)


def _need_level(levels: PowerLevels, user_id: str, need: int, action: str) -> Decision:
    have = levels.user_level(user_id)
    if have >= need:
        return Decision.allow()
    return Decision.deny(
        f"You do not have permission to {action} this room "
        f"(need power level {need}, you have {have})."
    )


def _outranks(room: _Room, sender: str, target: str, verb: str) -> Decision:
    mine, theirs = room.level(sender), room.level(target)
    if theirs < mine:
        return Decision.allow()
    return Decision.deny(
        f"You cannot {verb} {target}: their power level ({theirs}) "
        f"is not lower than yours ({mine})."
    )


# --- rule 1: m.room.create -------------------------------------------------------------


def _check_create(event: AuthEvent, state: StateMap) -> Decision:
    if state:
        return Decision.deny("The room has already been created.")
    if event.state_key != "":
        return Decision.deny("The m.room.create event must have an empty state key.")
    if "room_version" not in event.content:
        return Decision.allow()
    version = event.content["room_version"]
    if not isinstance(version, str):
        return Decision.deny("The room version must be a string.")
    if version not in SUPPORTED_ROOM_VERSIONS:
        return Decision.deny(f"Room version {version!r} is not supported by this server.")
    return Decision.allow()


# --- rule 4: m.room.member -------------------------------------------------------------


def _check_join(event: AuthEvent, room: _Room, target: str) -> Decision:
    if room.only_create and target == event.sender == room.create.sender:
        return Decision.allow()  # 4.3.1: the creator's own first join
    if event.sender != target:
        return Decision.deny("You cannot join a room on behalf of another user.")
    current = room.membership(target)
    if current == BAN:
        return Decision.deny("You are banned from this room.")
    rule = room.join_rule
    if rule == "public":
        return Decision.allow()
    if rule in ("invite", "knock", "restricted", "knock_restricted") and current in (JOIN, INVITE):
        return Decision.allow()
    if rule in ("invite", "knock"):
        return Decision.deny("This room is invite-only; you need an invitation to join.")
    if rule in ("restricted", "knock_restricted"):
        # Without federation there is no authorising server to vouch for the join.
        return Decision.deny(
            "This room only admits members of certain other rooms, which this server "
            "does not support; you need an invitation to join."
        )
    return Decision.deny(f"You cannot join this room (its join rule is {rule!r}).")


def _check_invite(event: AuthEvent, room: _Room, target: str) -> Decision:
    if "third_party_invite" in event.content:
        return Decision.deny("Third-party invites are not supported by this server.")
    if room.membership(event.sender) != JOIN:
        return Decision.deny("You must be in the room to invite users.")
    current = room.membership(target)
    if current == JOIN:
        return Decision.deny(f"{target} is already in the room.")
    if current == BAN:
        return Decision.deny(f"{target} is banned from this room.")
    return _need_level(room.levels, event.sender, room.levels.invite, "invite users to")


_SELF_LEAVE_DENIALS = {
    BAN: "You are banned from this room, so you cannot leave it.",
    LEAVE: "You are not in this room, so you cannot leave it.",
}


def _check_leave(event: AuthEvent, room: _Room, target: str) -> Decision:
    sender = event.sender
    current = room.membership(target)
    if sender == target:
        if current in (INVITE, JOIN, KNOCK):
            return Decision.allow()
        return Decision.deny(
            _SELF_LEAVE_DENIALS.get(current, "You cannot leave a room you are not in.")
        )
    if room.membership(sender) != JOIN:
        return Decision.deny("You must be in the room to kick or unban users.")
    levels = room.levels
    if current == BAN and not (
        verdict := _need_level(levels, sender, levels.ban, "unban users in")
    ):
        return verdict  # 4.5.3
    if not (verdict := _need_level(levels, sender, levels.kick, "kick users from")):
        return verdict
    return _outranks(room, sender, target, "unban" if current == BAN else "kick")


def _check_ban(event: AuthEvent, room: _Room, target: str) -> Decision:
    sender = event.sender
    if room.membership(sender) != JOIN:
        return Decision.deny("You must be in the room to ban users.")
    if not (verdict := _need_level(room.levels, sender, room.levels.ban, "ban users from")):
        return verdict
    return _outranks(room, sender, target, "ban")


_KNOCK_DENIALS = {
    BAN: "You are banned from this room.",
    INVITE: "You are already invited to this room.",
    JOIN: "You are already in this room.",
}


def _check_knock(event: AuthEvent, room: _Room, target: str) -> Decision:
    if room.join_rule not in ("knock", "knock_restricted"):
        return Decision.deny("This room does not accept knocks.")
    if event.sender != target:
        return Decision.deny("You cannot knock on behalf of another user.")
    denial = _KNOCK_DENIALS.get(room.membership(target))
    return Decision.deny(denial) if denial else Decision.allow()


_MembershipRule = Callable[[AuthEvent, _Room, str], Decision]

_MEMBERSHIP_RULES: Mapping[str, _MembershipRule] = {
    JOIN: _check_join,
    INVITE: _check_invite,
    LEAVE: _check_leave,
    BAN: _check_ban,
    KNOCK: _check_knock,
}


def _check_member(event: AuthEvent, room: _Room) -> Decision:
    membership = event.content.get("membership")
    if event.state_key is None or not isinstance(membership, str):
        return Decision.deny("A membership event needs a state key and a membership.")
    rule = _MEMBERSHIP_RULES.get(membership)
    if rule is None:
        return Decision.deny(f"Unknown membership {membership!r}.")
    return rule(event, room, event.state_key)


# --- rule 9: m.room.power_levels -------------------------------------------------------

_ABSENT: Any = object()


def _changes(old: object, new: object) -> Iterator[tuple[str, object, object]]:
    """(key, old value, new value) for every key added, changed or removed."""
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    for key in sorted(set(before) | set(after), key=str):
        was, now = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if was is _ABSENT or now is _ABSENT or was != now:
            yield str(key), was, now


def _level(value: object) -> int | None:
    return value if is_valid_level(value) else None


def _check_level_change(name: str, was: object, now: object, mine: int) -> Decision:
    if (old := _level(was)) is not None and old > mine:
        return Decision.deny(
            f"You cannot change {name} from {old}, which is above your own power level ({mine})."
        )
    if (new := _level(now)) is not None and new > mine:
        return Decision.deny(
            f"You cannot set {name} to {new}, which is above your own power level ({mine})."
        )
    return Decision.allow()


def _check_user_change(user_id: str, was: object, now: object, sender: str, mine: int) -> Decision:
    if user_id != sender and (old := _level(was)) is not None and old >= mine:
        return Decision.deny(
            f"You cannot change the power level of {user_id}: it is {old}, "
            f"which is not below your own ({mine})."
        )
    if (new := _level(now)) is not None and new > mine:
        return Decision.deny(
            f"You cannot give {user_id} power level {new}, which is above your own ({mine})."
        )
    return Decision.allow()


def _level_changes(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[tuple[str, object, object]]:
    """Named changes to the integer keys and to the entries of events/notifications."""
    top_old = {k: old[k] for k in INT_KEY_DEFAULTS if k in old}
    top_new = {k: new[k] for k in INT_KEY_DEFAULTS if k in new}
    for key, was, now in _changes(top_old, top_new):
        yield f"the '{key}' power level", was, now
    for field in INT_MAP_KEYS:
        for key, was, now in _changes(old.get(field), new.get(field)):
            yield f"the power level of '{key}' in '{field}'", was, now


def _check_power_levels(event: AuthEvent, room: _Room) -> Decision:
    verdict = validate_power_levels_content(event.content)
    if not verdict:
        return verdict
    previous = room.state.get((POWER_LEVELS, ""))
    if previous is None:
        return Decision.allow()  # 9.4
    sender, mine = event.sender, room.level(event.sender)
    old, new = previous.content, event.content
    for name, was, now in _level_changes(old, new):
        if not (verdict := _check_level_change(name, was, now, mine)):
            return verdict
    for user_id, was, now in _changes(old.get("users"), new.get("users")):
        if not (verdict := _check_user_change(user_id, was, now, sender, mine)):
            return verdict
    return Decision.allow()


# --- entry points ----------------------------------------------------------------------


def _check_federate(event: AuthEvent, room: _Room) -> Decision:
    federates = room.create.content.get("m.federate", True) is not False
    if not federates and _domain(event.sender) != _domain(room.create.sender):
        return Decision.deny("This room does not allow users from other servers.")
    return Decision.allow()


def _check_non_member(event: AuthEvent, room: _Room) -> Decision:
    sender = event.sender
    if room.membership(sender) != JOIN:
        return Decision.deny("You are not a member of this room.")  # 5
    levels = room.levels
    if event.type == THIRD_PARTY_INVITE:
        return _need_level(levels, sender, levels.invite, "invite users to")  # 6
    need = levels.event_level(event.type, event.state_key is not None)
    if not (verdict := _need_level(levels, sender, need, f"send {event.type} events in")):
        return verdict  # 7
    if (
        event.state_key is not None
        and event.state_key.startswith("@")
        and event.state_key != sender
    ):
        return Decision.deny("You cannot set state that belongs to another user.")  # 8
    if event.type == POWER_LEVELS:
        return _check_power_levels(event, room)  # 9
    return Decision.allow()  # 10


def check_event_auth(event: AuthEvent, state: StateMap) -> Decision:
    """Decide whether ``event`` may be added to a room whose current state is ``state``.

    Redaction events are authorised like any other message here; whether the redacter may
    redact the target event is decided separately by :func:`can_redact`.
    """
    if event.type == CREATE:
        return _check_create(event, state)
    room = _Room.of(state)
    if room is None:
        return Decision.deny("This room does not exist.")
    verdict = _check_federate(event, room)
    if not verdict:
        return verdict
    if event.type == MEMBER:
        return _check_member(event, room)
    return _check_non_member(event, room)


def can_redact(state: StateMap, redacter: str, original_sender: str) -> Decision:
    """Whether ``redacter`` may redact an event sent by ``original_sender``.

    Everyone may redact their own events; other users' events need the redact level.
    """
    if redacter == original_sender:
        return Decision.allow()
    create = state.get((CREATE, ""))
    levels = _levels(state, create.sender if create else None)
    return _need_level(levels, redacter, levels.redact, "redact other users' events in")
