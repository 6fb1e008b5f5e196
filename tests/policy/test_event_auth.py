"""Table tests for the room version 11 authorisation rules in tumar.policy.event_auth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.event_auth import AuthEvent, StateMap, can_redact, check_event_auth

ALICE = "@alice:tumar.test"  # room creator, level 100
MOD = "@mod:tumar.test"  # moderator, level 50
BOB = "@bob:tumar.test"  # ordinary member, level 0
CAROL = "@carol:tumar.test"  # not in the room unless a row says so
EVE = "@eve:elsewhere.test"  # a user of another server

ALLOW = True

STANDARD_PL: Mapping[str, Any] = MappingProxyType({"users": {ALICE: 100, MOD: 50}})
STANDARD_MEMBERS: Mapping[str, str] = MappingProxyType({ALICE: "join", MOD: "join", BOB: "join"})


# --- builders --------------------------------------------------------------------------


def state_event(type_: str, sender: str, content: Mapping[str, Any], key: str = "") -> AuthEvent:
    return AuthEvent(type=type_, sender=sender, content=content, state_key=key)


def message(sender: str, type_: str = "m.room.message") -> AuthEvent:
    return AuthEvent(type=type_, sender=sender, content={"body": "hi"})


def member(sender: str, target: str, membership: str, **extra: Any) -> AuthEvent:
    return state_event("m.room.member", sender, {"membership": membership, **extra}, target)


def pl(**changes: Any) -> dict[str, Any]:
    """The standard power levels content with ``changes`` applied."""
    return {**STANDARD_PL, **changes}


def room(
    *,
    join_rule: str | None = "invite",
    members: Mapping[str, str] | None = None,
    power_levels: Mapping[str, Any] | None = STANDARD_PL,
    create: Mapping[str, Any] | None = None,
    extra: Iterable[AuthEvent] = (),
) -> StateMap:
    """A typical room: create by ALICE, memberships, power levels and join rules.

    ``members`` overrides entries of STANDARD_MEMBERS; ``None`` for ``join_rule`` or
    ``power_levels`` leaves that event out.
    """
    events = [state_event("m.room.create", ALICE, create or {"room_version": "11"})]
    for user, membership in {**STANDARD_MEMBERS, **(members or {})}.items():
        events.append(member(user, user, membership))
    if power_levels is not None:
        events.append(state_event("m.room.power_levels", ALICE, power_levels))
    if join_rule is not None:
        events.append(state_event("m.room.join_rules", ALICE, {"join_rule": join_rule}))
    events.extend(extra)
    return {(e.type, e.state_key or ""): e for e in events}


def only_create(sender: str = ALICE) -> StateMap:
    return {("m.room.create", ""): state_event("m.room.create", sender, {"room_version": "11"})}


Row = tuple[str, StateMap, AuthEvent, bool | str]


def rows(table: Iterable[Row]) -> list[Any]:
    return [pytest.param(state, event, expected, id=name) for name, state, event, expected in table]


def assert_verdict(allowed: bool, reason: str, expected: bool | str) -> None:
    if expected is ALLOW:
        assert allowed, reason
    else:
        assert not allowed
        assert isinstance(expected, str)
        assert expected in reason
        assert reason.endswith(".")


# --- tables ----------------------------------------------------------------------------

CREATE_ROWS: list[Row] = [
    ("create first", {}, state_event("m.room.create", ALICE, {"room_version": "11"}), ALLOW),
    ("create without version", {}, state_event("m.room.create", ALICE, {}), ALLOW),
    (
        "create unknown version",
        {},
        state_event("m.room.create", ALICE, {"room_version": "1"}),
        "not supported",
    ),
    (
        "create non-string version",
        {},
        state_event("m.room.create", ALICE, {"room_version": 11}),
        "must be a string",
    ),
    ("create twice", only_create(), state_event("m.room.create", BOB, {}), "already been created"),
    ("create with state key", {}, state_event("m.room.create", ALICE, {}, "x"), "empty state key"),
    (
        "create not state",
        {},
        AuthEvent("m.room.create", ALICE, {}),
        "empty state key",
    ),
    ("event without create", {}, message(ALICE), "does not exist"),
    ("member without create", {}, member(ALICE, ALICE, "join"), "does not exist"),
]

FEDERATE_ROWS: list[Row] = [
    (
        "m.federate false, other server",
        room(create={"m.federate": False}, members={EVE: "join"}),
        message(EVE),
        "other servers",
    ),
    (
        "m.federate false, same server",
        room(create={"m.federate": False}),
        message(BOB),
        ALLOW,
    ),
    ("m.federate default, other server", room(members={EVE: "join"}), message(EVE), ALLOW),
]

JOIN_ROWS: list[Row] = [
    ("creator first join", only_create(), member(ALICE, ALICE, "join"), ALLOW),
    ("non-creator first join", only_create(), member(BOB, BOB, "join"), "invite-only"),
    ("join for someone else", room(join_rule="public"), member(BOB, CAROL, "join"), "behalf"),
    (
        "banned join public",
        room(join_rule="public", members={CAROL: "ban"}),
        member(CAROL, CAROL, "join"),
        "banned",
    ),
    ("public join", room(join_rule="public"), member(CAROL, CAROL, "join"), ALLOW),
    (
        "invite rule, invited",
        room(members={CAROL: "invite"}),
        member(CAROL, CAROL, "join"),
        ALLOW,
    ),
    ("invite rule, not invited", room(), member(CAROL, CAROL, "join"), "invite-only"),
    ("invite rule, already joined", room(), member(BOB, BOB, "join"), ALLOW),
    (
        "invite rule, left",
        room(members={CAROL: "leave"}),
        member(CAROL, CAROL, "join"),
        "invite-only",
    ),
    (
        "knock rule, invited",
        room(join_rule="knock", members={CAROL: "invite"}),
        member(CAROL, CAROL, "join"),
        ALLOW,
    ),
    (
        "knock rule, only knocked",
        room(join_rule="knock", members={CAROL: "knock"}),
        member(CAROL, CAROL, "join"),
        "invite-only",
    ),
    (
        "restricted, invited",
        room(join_rule="restricted", members={CAROL: "invite"}),
        member(CAROL, CAROL, "join"),
        ALLOW,
    ),
    (
        "restricted, joined",
        room(join_rule="restricted"),
        member(BOB, BOB, "join"),
        ALLOW,
    ),
    (
        "restricted, not invited",
        room(join_rule="restricted"),
        member(CAROL, CAROL, "join"),
        "certain other rooms",
    ),
    (
        "restricted, authorised via user",
        room(join_rule="restricted"),
        member(CAROL, CAROL, "join", join_authorised_via_users_server=ALICE),
        "certain other rooms",
    ),
    (
        "knock_restricted, invited",
        room(join_rule="knock_restricted", members={CAROL: "invite"}),
        member(CAROL, CAROL, "join"),
        ALLOW,
    ),
    (
        "knock_restricted, not invited",
        room(join_rule="knock_restricted"),
        member(CAROL, CAROL, "join"),
        "certain other rooms",
    ),
    ("private join rule", room(join_rule="private"), member(CAROL, CAROL, "join"), "'private'"),
    (
        "no join rules, invited",
        room(join_rule=None, members={CAROL: "invite"}),
        member(CAROL, CAROL, "join"),
        ALLOW,
    ),
    ("no join rules, uninvited", room(join_rule=None), member(CAROL, CAROL, "join"), "invite-only"),
]

MEMBER_SHAPE_ROWS: list[Row] = [
    (
        "member without state key",
        room(),
        AuthEvent("m.room.member", BOB, {"membership": "join"}),
        "state key and a membership",
    ),
    (
        "member without membership",
        room(),
        state_event("m.room.member", BOB, {}, BOB),
        "state key and a membership",
    ),
    (
        "member with non-string membership",
        room(),
        state_event("m.room.member", BOB, {"membership": 1}, BOB),
        "state key and a membership",
    ),
    ("unknown membership", room(), member(BOB, BOB, "dance"), "Unknown membership 'dance'"),
]

INVITE_ROWS: list[Row] = [
    ("member invites", room(), member(BOB, CAROL, "invite"), ALLOW),
    (
        "outsider invites",
        room(members={BOB: "leave"}),
        member(BOB, CAROL, "invite"),
        "must be in the room",
    ),
    (
        "invited user invites",
        room(members={BOB: "invite"}),
        member(BOB, CAROL, "invite"),
        "must be in the room",
    ),
    ("invite joined user", room(), member(BOB, MOD, "invite"), "already in the room"),
    ("invite banned user", room(members={CAROL: "ban"}), member(MOD, CAROL, "invite"), "banned"),
    (
        "re-invite invited user",
        room(members={CAROL: "invite"}),
        member(BOB, CAROL, "invite"),
        ALLOW,
    ),
    ("invite user who left", room(members={CAROL: "leave"}), member(BOB, CAROL, "invite"), ALLOW),
    (
        "invite level 50, sender 0",
        room(power_levels=pl(invite=50)),
        member(BOB, CAROL, "invite"),
        "need power level 50, you have 0",
    ),
    (
        "invite level 50, sender 50",
        room(power_levels=pl(invite=50)),
        member(MOD, CAROL, "invite"),
        ALLOW,
    ),
    (
        "third-party invite",
        room(),
        member(ALICE, CAROL, "invite", third_party_invite={"signed": {}}),
        "not supported",
    ),
]

LEAVE_ROWS: list[Row] = [
    ("leave when joined", room(), member(BOB, BOB, "leave"), ALLOW),
    ("reject invite", room(members={CAROL: "invite"}), member(CAROL, CAROL, "leave"), ALLOW),
    ("rescind knock", room(members={CAROL: "knock"}), member(CAROL, CAROL, "leave"), ALLOW),
    ("leave when not in room", room(), member(CAROL, CAROL, "leave"), "not in this room"),
    ("leave when banned", room(members={CAROL: "ban"}), member(CAROL, CAROL, "leave"), "banned"),
    ("mod kicks member", room(), member(MOD, BOB, "leave"), ALLOW),
    ("mod kicks invitee", room(members={CAROL: "invite"}), member(MOD, CAROL, "leave"), ALLOW),
    (
        "member kicks member",
        room(),
        member(BOB, MOD, "leave"),
        "permission to kick users from this room (need power level 50, you have 0)",
    ),
    ("mod kicks creator", room(), member(MOD, ALICE, "leave"), "not lower than yours"),
    (
        "mod kicks equal mod",
        room(members={CAROL: "join"}, power_levels=pl(users={ALICE: 100, MOD: 50, CAROL: 50})),
        member(MOD, CAROL, "leave"),
        "their power level (50) is not lower than yours (50)",
    ),
    (
        "kick level 51, mod 50",
        room(power_levels=pl(kick=51)),
        member(MOD, BOB, "leave"),
        "need power level 51",
    ),
    (
        "kicker not joined",
        room(members={MOD: "leave"}),
        member(MOD, BOB, "leave"),
        "must be in the room",
    ),
    ("creator unbans", room(members={CAROL: "ban"}), member(ALICE, CAROL, "leave"), ALLOW),
    ("mod unbans", room(members={CAROL: "ban"}), member(MOD, CAROL, "leave"), ALLOW),
    (
        "unban needs ban level",
        room(members={CAROL: "ban"}, power_levels=pl(ban=60)),
        member(MOD, CAROL, "leave"),
        "unban users in this room (need power level 60, you have 50)",
    ),
    (
        "unban needs kick level too",
        room(members={CAROL: "ban"}, power_levels=pl(kick=60)),
        member(MOD, CAROL, "leave"),
        "kick users from this room (need power level 60",
    ),
    (
        "unban needs higher level than target",
        room(members={CAROL: "ban"}, power_levels=pl(users={ALICE: 100, MOD: 50, CAROL: 50})),
        member(MOD, CAROL, "leave"),
        "cannot unban",
    ),
]

BAN_ROWS: list[Row] = [
    ("mod bans member", room(), member(MOD, BOB, "ban"), ALLOW),
    ("mod bans stranger", room(), member(MOD, CAROL, "ban"), ALLOW),
    ("re-ban banned user", room(members={CAROL: "ban"}), member(MOD, CAROL, "ban"), ALLOW),
    ("member bans", room(), member(BOB, CAROL, "ban"), "need power level 50, you have 0"),
    ("mod bans creator", room(), member(MOD, ALICE, "ban"), "not lower than yours"),
    (
        "banner not joined",
        room(members={MOD: "leave"}),
        member(MOD, BOB, "ban"),
        "must be in the room",
    ),
    (
        "ban level 51, mod 50",
        room(power_levels=pl(ban=51)),
        member(MOD, BOB, "ban"),
        "need power level 51",
    ),
    ("ban level 50, mod 50", room(power_levels=pl(ban=50)), member(MOD, BOB, "ban"), ALLOW),
]

KNOCK_ROWS: list[Row] = [
    ("knock on knock room", room(join_rule="knock"), member(CAROL, CAROL, "knock"), ALLOW),
    (
        "knock on knock_restricted room",
        room(join_rule="knock_restricted"),
        member(CAROL, CAROL, "knock"),
        ALLOW,
    ),
    (
        "knock after leaving",
        room(join_rule="knock", members={CAROL: "leave"}),
        member(CAROL, CAROL, "knock"),
        ALLOW,
    ),
    ("knock on invite room", room(), member(CAROL, CAROL, "knock"), "does not accept knocks"),
    (
        "knock on public room",
        room(join_rule="public"),
        member(CAROL, CAROL, "knock"),
        "does not accept knocks",
    ),
    ("knock for someone else", room(join_rule="knock"), member(BOB, CAROL, "knock"), "behalf"),
    (
        "knock when banned",
        room(join_rule="knock", members={CAROL: "ban"}),
        member(CAROL, CAROL, "knock"),
        "banned",
    ),
    (
        "knock when invited",
        room(join_rule="knock", members={CAROL: "invite"}),
        member(CAROL, CAROL, "knock"),
        "already invited",
    ),
    (
        "knock when joined",
        room(join_rule="knock"),
        member(BOB, BOB, "knock"),
        "already in this room",
    ),
]

SENDER_ROWS: list[Row] = [
    ("member sends message", room(), message(BOB), ALLOW),
    ("stranger sends message", room(), message(CAROL), "not a member"),
    ("invitee sends message", room(members={CAROL: "invite"}), message(CAROL), "not a member"),
    ("banned user sends message", room(members={BOB: "ban"}), message(BOB), "not a member"),
    (
        "stranger sends state",
        room(),
        state_event("m.room.topic", CAROL, {"topic": "x"}),
        "not a member",
    ),
]

THIRD_PARTY_INVITE_ROWS: list[Row] = [
    (
        "third-party invite event, invite level 0",
        room(),
        state_event("m.room.third_party_invite", BOB, {}, "token"),
        ALLOW,
    ),
    (
        "third-party invite event, invite level 50",
        room(power_levels=pl(invite=50)),
        state_event("m.room.third_party_invite", BOB, {}, "token"),
        "invite users to this room",
    ),
]

LEVEL_ROWS: list[Row] = [
    (
        "events_default 10, sender 0",
        room(power_levels=pl(events_default=10)),
        message(BOB),
        "send m.room.message events in this room (need power level 10, you have 0)",
    ),
    ("events_default 10, sender 50", room(power_levels=pl(events_default=10)), message(MOD), ALLOW),
    (
        "events override above sender",
        room(power_levels=pl(events={"m.room.message": 51})),
        message(MOD),
        "need power level 51, you have 50",
    ),
    (
        "events override equal to sender",
        room(power_levels=pl(events={"m.room.message": 50})),
        message(MOD),
        ALLOW,
    ),
    (
        "state_default 50, sender 0",
        room(),
        state_event("m.room.name", BOB, {"name": "x"}),
        "You do not have permission to send m.room.name events in this room "
        "(need power level 50, you have 0).",
    ),
    ("state_default 50, sender 50", room(), state_event("m.room.name", MOD, {"name": "x"}), ALLOW),
    (
        "state override lowered to 0",
        room(power_levels=pl(events={"m.room.topic": 0})),
        state_event("m.room.topic", BOB, {"topic": "x"}),
        ALLOW,
    ),
    (
        "users_default raised",
        room(power_levels=pl(users_default=50)),
        state_event("m.room.name", BOB, {"name": "x"}),
        ALLOW,
    ),
    (
        "no power levels, creator sends state",
        room(power_levels=None),
        state_event("m.room.name", ALICE, {"name": "x"}),
        ALLOW,
    ),
    (
        "no power levels, member sends state",
        room(power_levels=None),
        state_event("m.room.name", BOB, {"name": "x"}),
        "need power level 50, you have 0",
    ),
    ("no power levels, member sends message", room(power_levels=None), message(BOB), ALLOW),
    ("redaction as a message", room(), message(BOB, "m.room.redaction"), ALLOW),
    (
        "redaction level 50",
        room(power_levels=pl(events={"m.room.redaction": 50})),
        message(BOB, "m.room.redaction"),
        "send m.room.redaction events",
    ),
]

USER_STATE_KEY_ROWS: list[Row] = [
    (
        "own @ state key",
        room(power_levels=pl(events={"org.example.status": 0})),
        state_event("org.example.status", BOB, {}, BOB),
        ALLOW,
    ),
    (
        "other user's @ state key",
        room(),
        state_event("org.example.status", ALICE, {}, BOB),
        "belongs to another user",
    ),
    ("non-@ state key", room(), state_event("org.example.status", ALICE, {}, "bob"), ALLOW),
]

MOD_CAN_SET_PL = pl(events={"m.room.power_levels": 50})


def mod_pl(**changes: Any) -> AuthEvent:
    """MOD proposes MOD_CAN_SET_PL with ``changes`` applied."""
    return state_event("m.room.power_levels", MOD, {**MOD_CAN_SET_PL, **changes})


MOD_ROOM = room(power_levels=MOD_CAN_SET_PL)
USERS = {ALICE: 100, MOD: 50}

POWER_LEVELS_ROWS: list[Row] = [
    (
        "first power levels",
        room(power_levels=None),
        state_event("m.room.power_levels", ALICE, pl(ban=1000)),
        ALLOW,
    ),
    (
        "member cannot send power levels",
        room(),
        state_event("m.room.power_levels", BOB, pl()),
        "send m.room.power_levels events",
    ),
    (
        "string level rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(ban="50")),
        "'ban'",
    ),
    (
        "bool level rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(kick=True)),
        "'kick'",
    ),
    (
        "float level rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(users_default=1.0)),
        "'users_default'",
    ),
    (
        "out of range level rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(redact=2**53)),
        "'redact' field is out of range",
    ),
    (
        "string in events rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(events={"m.room.name": "50"})),
        "The power level of 'm.room.name' in 'events' must be an integer.",
    ),
    (
        "notifications not an object",
        room(),
        state_event("m.room.power_levels", ALICE, pl(notifications=50)),
        "'notifications'",
    ),
    (
        "invalid user id rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(users={ALICE: 100, "bob": 10})),
        "not a valid user ID",
    ),
    (
        "string user level rejected",
        room(),
        state_event("m.room.power_levels", ALICE, pl(users={ALICE: "100"})),
        "must be an integer",
    ),
    ("unchanged content", MOD_ROOM, mod_pl(), ALLOW),
    ("mod raises member to own level", MOD_ROOM, mod_pl(users={**USERS, BOB: 50}), ALLOW),
    (
        "mod raises member above own level",
        MOD_ROOM,
        mod_pl(users={**USERS, BOB: 51}),
        "cannot give @bob:tumar.test power level 51",
    ),
    ("mod lowers self", MOD_ROOM, mod_pl(users={ALICE: 100, MOD: 10}), ALLOW),
    ("mod removes own entry", MOD_ROOM, mod_pl(users={ALICE: 100}), ALLOW),
    ("mod raises self", MOD_ROOM, mod_pl(users={ALICE: 100, MOD: 51}), "above your own"),
    ("mod demotes creator", MOD_ROOM, mod_pl(users={ALICE: 0, MOD: 50}), "not below your own"),
    ("mod removes creator", MOD_ROOM, mod_pl(users={MOD: 50}), "not below your own"),
    (
        "mod demotes equal mod",
        room(power_levels=pl(users={**USERS, CAROL: 50}, events={"m.room.power_levels": 50})),
        mod_pl(users={**USERS, CAROL: 0}),
        "it is 50, which is not below your own (50)",
    ),
    (
        "mod demotes lower user",
        room(power_levels=pl(users={**USERS, CAROL: 49}, events={"m.room.power_levels": 50})),
        mod_pl(users={**USERS, CAROL: 0}),
        ALLOW,
    ),
    ("mod lowers kick", MOD_ROOM, mod_pl(kick=40), ALLOW),
    ("mod sets state_default to own level", MOD_ROOM, mod_pl(state_default=50), ALLOW),
    ("mod sets state_default above own", MOD_ROOM, mod_pl(state_default=51), "'state_default'"),
    ("mod adds invite at own level", MOD_ROOM, mod_pl(invite=50), ALLOW),
    ("mod adds invite above own", MOD_ROOM, mod_pl(invite=51), "'invite' power level to 51"),
    (
        "mod changes ban from above own",
        room(power_levels=pl(ban=100, events={"m.room.power_levels": 50})),
        mod_pl(ban=50),
        "'ban' power level from 100",
    ),
    (
        "mod removes ban from above own",
        room(power_levels=pl(ban=100, events={"m.room.power_levels": 50})),
        mod_pl(),
        "'ban' power level from 100",
    ),
    (
        "mod adds events entry at own level",
        MOD_ROOM,
        mod_pl(events={"m.room.power_levels": 50, "m.room.name": 50}),
        ALLOW,
    ),
    (
        "mod adds events entry above own",
        MOD_ROOM,
        mod_pl(events={"m.room.power_levels": 50, "m.room.name": 51}),
        "'m.room.name' in 'events'",
    ),
    (
        "mod lowers events entry from above own",
        room(power_levels=pl(events={"m.room.power_levels": 50, "m.room.name": 100})),
        mod_pl(events={"m.room.power_levels": 50, "m.room.name": 0}),
        "from 100",
    ),
    (
        "mod removes events entry from above own",
        room(power_levels=pl(events={"m.room.power_levels": 50, "m.room.name": 100})),
        mod_pl(),
        "'m.room.name' in 'events'",
    ),
    ("mod sets notifications at own level", MOD_ROOM, mod_pl(notifications={"room": 50}), ALLOW),
    (
        "mod sets notifications above own",
        MOD_ROOM,
        mod_pl(notifications={"room": 51}),
        "'room' in 'notifications'",
    ),
    (
        "mod cannot lock others out by raising power_levels entry",
        MOD_ROOM,
        mod_pl(events={"m.room.power_levels": 51}),
        "above your own",
    ),
]


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    rows(
        CREATE_ROWS
        + FEDERATE_ROWS
        + JOIN_ROWS
        + MEMBER_SHAPE_ROWS
        + INVITE_ROWS
        + LEAVE_ROWS
        + BAN_ROWS
        + KNOCK_ROWS
        + SENDER_ROWS
        + THIRD_PARTY_INVITE_ROWS
        + LEVEL_ROWS
        + USER_STATE_KEY_ROWS
        + POWER_LEVELS_ROWS
    ),
)
def test_check_event_auth(state: StateMap, event: AuthEvent, expected: bool | str) -> None:
    verdict = check_event_auth(event, state)
    assert_verdict(verdict.allowed, verdict.reason, expected)


REDACT_ROWS: list[tuple[str, StateMap, str, str, bool | str]] = [
    ("own event", room(), BOB, BOB, ALLOW),
    ("own event, redact level high", room(power_levels=pl(redact=100)), BOB, BOB, ALLOW),
    ("mod redacts member", room(), MOD, BOB, ALLOW),
    ("member redacts mod", room(), BOB, MOD, "redact other users' events"),
    ("redact level 51, mod 50", room(power_levels=pl(redact=51)), MOD, BOB, "need power level 51"),
    ("redact level 0, member", room(power_levels=pl(redact=0)), BOB, MOD, ALLOW),
    ("no power levels, creator", room(power_levels=None), ALICE, BOB, ALLOW),
    ("no power levels, member", room(power_levels=None), BOB, ALICE, "you have 0"),
]


@pytest.mark.parametrize(
    ("state", "redacter", "original_sender", "expected"),
    [pytest.param(s, r, o, e, id=name) for name, s, r, o, e in REDACT_ROWS],
)
def test_can_redact(
    state: StateMap, redacter: str, original_sender: str, expected: bool | str
) -> None:
    verdict = can_redact(state, redacter, original_sender)
    assert_verdict(verdict.allowed, verdict.reason, expected)


# --- properties ------------------------------------------------------------------------

POOL = [ALICE, MOD, BOB, CAROL, "@dave:tumar.test"]
levels = st.integers(min_value=-10, max_value=150)
user_levels = st.dictionaries(st.sampled_from(POOL), levels, max_size=5)
optional_ints = st.fixed_dictionaries(
    {}, optional={k: levels for k in ("ban", "kick", "invite", "redact", "state_default")}
)


@given(
    sender_level=st.integers(0, 100),
    old_users=user_levels,
    new_users=user_levels,
    old=optional_ints,
    new=optional_ints,
)
def test_power_level_change_never_exceeds_sender_level(
    sender_level: int,
    old_users: dict[str, int],
    new_users: dict[str, int],
    old: dict[str, int],
    new: dict[str, int],
) -> None:
    """An allowed power levels change never sets or touches a level above the sender's."""
    before = {**old_users, MOD: sender_level}
    events = {"m.room.power_levels": 0}
    state = room(power_levels={**old, "events": events, "users": before})
    proposal = {**new, "events": events, "users": new_users}
    verdict = check_event_auth(state_event("m.room.power_levels", MOD, proposal), state)
    if not verdict:
        return
    for user, level in new_users.items():
        if before.get(user) != level:
            assert level <= sender_level
    for user, level in before.items():
        if user != MOD and new_users.get(user) != level:
            assert level < sender_level
    for key in set(old) | set(new):
        if old.get(key) != new.get(key):
            assert old.get(key, sender_level) <= sender_level
            assert new.get(key, sender_level) <= sender_level


# Small fixed string pools keep generation fast (no Unicode tables to build).
strings = st.sampled_from(["", "join", "invite", "ban", "knock", "public", "11", BOB, "room"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=10,
)
contents = st.dictionaries(
    st.sampled_from(["membership", "users", "events", "ban", "join_rule", "room_version", "x"]),
    json_values,
    max_size=4,
)
event_types = st.sampled_from(
    ["m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.message"]
)


@given(
    event_type=event_types,
    content=contents,
    sender=st.sampled_from(POOL),
    key=st.sampled_from([None, "", BOB, CAROL]),
)
def test_arbitrary_content_never_crashes(
    event_type: str, content: dict[str, Any], sender: str, key: str | None
) -> None:
    """Malformed content yields a verdict (with a reason when denied), never an exception."""
    verdict = check_event_auth(AuthEvent(event_type, sender, content, key), room())
    assert verdict.allowed or verdict.reason
