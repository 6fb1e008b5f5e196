"""`/createRoom`: the initial events in the order the spec gives (pure), and the command
that writes them with the invites in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from tumar.bus.base import Bus
from tumar.clock import Clock
from tumar.core.membership import MembershipService
from tumar.core.requester import Requester
from tumar.core.rooms import NewEvent, RoomBatch, RoomService
from tumar.core.user_directory import UserDirectory
from tumar.errors import MatrixError, PolicyDenied
from tumar.ids import RoomId
from tumar.policy.e2ee import encryption_for_new_room
from tumar.policy.labels import LABEL_EVENT
from tumar.policy.power_levels import validate_power_levels_content
from tumar.store import rooms as room_store
from tumar.store.db import Database

ROOM_VERSION = "11"
SUPPORTED_ROOM_VERSIONS = ("11",)
Preset = Literal["private_chat", "public_chat", "trusted_private_chat"]

_PRESETS: dict[str, dict[str, str]] = {
    "private_chat": {"join_rule": "invite", "history": "shared", "guest": "can_join"},
    "trusted_private_chat": {"join_rule": "invite", "history": "shared", "guest": "can_join"},
    "public_chat": {"join_rule": "public", "history": "shared", "guest": "forbidden"},
}


@dataclass(frozen=True, slots=True)
class RoomPlan:
    creator: str
    preset: Preset
    name: str | None = None
    topic: str | None = None
    alias: str | None = None
    invite: Sequence[str] = ()
    is_direct: bool = False
    creation_content: Mapping[str, Any] = field(default_factory=dict)
    initial_state: Sequence[NewEvent] = ()
    power_level_override: Mapping[str, Any] | None = None
    room_version: str = ROOM_VERSION
    label: Mapping[str, Any] | None = None  # kz.tumar.classification content (set by the server)


def default_power_levels(plan: RoomPlan) -> dict[str, Any]:
    users = {plan.creator: 100}
    if plan.preset == "trusted_private_chat":
        users.update({u: 100 for u in plan.invite})
    return {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
            LABEL_EVENT: 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if plan.preset == "public_chat" else 0,
        "historical": 100,
        "notifications": {"room": 50},
    }


def initial_events(plan: RoomPlan, creator_profile: Mapping[str, Any]) -> list[NewEvent]:
    """create, creator join, power levels, the classification label, canonical alias, preset
    events, initial_state, name, topic; invites are sent afterwards as membership events."""
    preset = _PRESETS[plan.preset]
    create_content = {**plan.creation_content, "room_version": plan.room_version}
    create_content.pop("creator", None)
    power_levels = default_power_levels(plan)
    if plan.power_level_override:
        power_levels.update(plan.power_level_override)
    out = [
        NewEvent("m.room.create", create_content, ""),
        NewEvent("m.room.member", {"membership": "join", **creator_profile}, plan.creator),
        NewEvent("m.room.power_levels", power_levels, ""),
    ]
    if plan.label is not None:
        out.append(NewEvent(LABEL_EVENT, plan.label, ""))
    if plan.alias is not None:
        out.append(NewEvent("m.room.canonical_alias", {"alias": plan.alias}, ""))
    out += [
        NewEvent("m.room.join_rules", {"join_rule": preset["join_rule"]}, ""),
        NewEvent("m.room.history_visibility", {"history_visibility": preset["history"]}, ""),
        NewEvent("m.room.guest_access", {"guest_access": preset["guest"]}, ""),
    ]
    out += list(plan.initial_state)
    if plan.name is not None:
        out.append(NewEvent("m.room.name", {"name": plan.name}, ""))
    if plan.topic is not None:
        out.append(NewEvent("m.room.topic", {"topic": plan.topic}, ""))
    return out


class RoomCreator:
    """``/createRoom``: all initial events and invites in one transaction."""

    def __init__(
        self,
        rooms: RoomService,
        membership: MembershipService,
        db: Database,
        bus: Bus,
        clock: Clock,
        server_name: str,
        guard: UserDirectory | None = None,
    ) -> None:
        self._guard = guard  # external partners may not create rooms
        self._rooms = rooms
        self._membership = membership
        self._db = db
        self._bus = bus
        self._clock = clock
        self._server_name = server_name

    async def do_create_room(self, requester: Requester, plan: RoomPlan, visibility: str) -> str:
        if self._guard is not None:
            async with self._db.read() as conn:
                await self._guard.check_may_create_room(conn, requester.user_id)
        try:
            label, initial_state = self._rooms.labels.creation_label(
                plan.initial_state, plan.is_direct
            )
        except PolicyDenied as exc:
            raise exc.bind(requester.user_id, "", "create") from None
        plan = replace(plan, initial_state=initial_state, label=label.content())
        encryption = encryption_for_new_room(
            self._rooms.labels.e2ee_mode(label.label),
            [(ev.type, ev.state_key) for ev in plan.initial_state],
        )
        if encryption is not None:  # E2EE policy `required`: every new room is encrypted
            extra = NewEvent("m.room.encryption", encryption, "")
            plan = replace(plan, initial_state=[*plan.initial_state, extra])
        if plan.room_version not in SUPPORTED_ROOM_VERSIONS:
            raise MatrixError(
                400,
                "M_UNSUPPORTED_ROOM_VERSION",
                f"Room version {plan.room_version} is not supported.",
            )
        overrides = [plan.power_level_override] if plan.power_level_override else []
        # Initial state is checked like the same state sent later (a 400, not an auth refusal).
        overrides += [ev.content for ev in plan.initial_state if ev.type == "m.room.power_levels"]
        for levels in overrides:
            verdict = validate_power_levels_content(levels)
            if not verdict:
                raise MatrixError(400, "M_BAD_JSON", verdict.reason)
        room_id = str(RoomId.generate(self._server_name))
        now = self._clock.now_ms()
        try:
            async with self._db.write() as conn:
                for user in plan.invite:
                    await self._membership.check_local_user(conn, user, active=True)
                if plan.alias is not None and await room_store.alias_room(conn, plan.alias):
                    raise MatrixError(400, "M_ROOM_IN_USE", f"The alias {plan.alias} is taken.")
                profile = await self._membership.profile_content(conn, requester.user_id)
                await room_store.insert_room(
                    conn, room_id, plan.room_version, requester.user_id, visibility, now
                )
                if plan.alias is not None:
                    await room_store.insert_alias(conn, plan.alias, room_id, requester.user_id)
                batch = RoomBatch(conn, room_id)
                for ev in initial_events(plan, profile):
                    await self._rooms.append_one(batch, requester.user_id, ev)
                for user in plan.invite:
                    content: dict[str, Any] = {"membership": "invite"}
                    content.update(await self._membership.profile_content(conn, user))
                    if plan.is_direct:
                        content["is_direct"] = True
                    await self._rooms.append_one(
                        batch, requester.user_id, NewEvent("m.room.member", content, user)
                    )
                bell = await self._rooms.doorbell_for(conn, room_id, batch)
        except IntegrityError:  # a concurrent request took the alias first
            raise MatrixError(400, "M_ROOM_IN_USE", f"The alias {plan.alias} is taken.") from None
        await self._bus.publish(bell)
        return room_id
