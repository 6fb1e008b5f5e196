"""Room upgrades (``/rooms/{roomId}/upgrade``): a replacement room, the tombstone, all in one
transaction, as the spec's "Server behaviour" lists:

1. the upgrader must be allowed to send ``m.room.tombstone`` in the old room;
2. the new room's create event names its ``predecessor`` and copies the room ``type``;
3. the transferable state is copied (power levels, join rules, history visibility, guest
   access, name, topic, avatar, encryption, server ACL, canonical alias, pinned events);
   while it is written the upgrader holds power 100, then the old power levels are restored;
4. local aliases move to the new room, and so does the room's place in the directory;
5. the old room gets the tombstone, and its power levels stop ordinary members from sending
   and inviting (``events_default`` and ``invite`` raised to ``max(50, users_default + 1)``);
6. unless the room is public, its members and pending invitees are invited to the new room,
   so they can follow the tombstone (an invite-only room could not be joined otherwise).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus
from tumar.clock import Clock
from tumar.core.membership import MembershipService
from tumar.core.requester import Requester
from tumar.core.room_creation import SUPPORTED_ROOM_VERSIONS
from tumar.core.rooms import NewEvent, RoomBatch, RoomService
from tumar.core.user_directory import UserDirectory
from tumar.errors import MatrixError, forbidden
from tumar.ids import RoomId
from tumar.policy.event_auth import AuthEvent, check_event_auth
from tumar.policy.power_levels import PowerLevels
from tumar.store import events as event_store
from tumar.store import room_directory as directory_store
from tumar.store import rooms as room_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent

TOMBSTONE = "m.room.tombstone"
POWER_LEVELS = "m.room.power_levels"
TRANSFERRED = (
    "kz.tumar.classification",  # the label first: the events after it are checked against it
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.canonical_alias",
    "m.room.pinned_events",
)
MAX_INVITES = 5_000


class RoomUpgrader:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        rooms: RoomService,
        membership: MembershipService,
        server_name: str,
        guard: UserDirectory | None = None,
    ) -> None:
        self._guard = guard  # external partners may not create rooms, so not upgrade them
        self._db = db
        self._bus = bus
        self._clock = clock
        self._rooms = rooms
        self._membership = membership
        self._server_name = server_name

    async def do_upgrade(self, requester: Requester, room_id: str, new_version: str) -> str:
        RoomId.parse(room_id)
        if new_version not in SUPPORTED_ROOM_VERSIONS:
            raise MatrixError(
                400,
                "M_UNSUPPORTED_ROOM_VERSION",
                f"Room version {new_version} is not supported; this server has "
                f"{', '.join(SUPPORTED_ROOM_VERSIONS)}.",
            )
        sender = requester.user_id
        new_room = str(RoomId.generate(self._server_name))
        async with self._db.write() as conn:
            if not await self._db.lock_room(conn, room_id):
                raise forbidden(f"You cannot upgrade {room_id}: it does not exist.")
            if self._guard is not None:
                await self._guard.check_may_create_room(conn, sender)
            old = RoomBatch(conn, room_id)
            tombstone = NewEvent(
                TOMBSTONE,
                {"body": "This room has been replaced", "replacement_room": new_room},
                "",
            )
            await old.load([("m.room.create", ""), ("m.room.power_levels", ""),
                            ("m.room.join_rules", ""), ("m.room.member", sender),
                            (TOMBSTONE, "")])  # fmt: skip
            decision = check_event_auth(
                AuthEvent(TOMBSTONE, sender, tombstone.content, ""), old.auth_state()
            )
            if not decision:
                raise forbidden(f"You cannot upgrade this room: {decision.reason}")
            state = {
                (e.type, e.state_key): e
                for e in await event_store.current_state_events(conn, room_id)
            }
            last = await event_store.room_timeline(conn, room_id, limit=1)
            new = await self._create_replacement(conn, requester, room_id, new_room, new_version,
                                                 state, last[0].event_id)  # fmt: skip
            await directory_store.move_aliases(conn, room_id, new_room)
            if await directory_store.visibility(conn, room_id) == "public":
                await directory_store.set_visibility(conn, new_room, "public")
                await directory_store.set_visibility(conn, room_id, "private")
            await self._rooms.append_one(old, sender, tombstone, device_id=requester.device_id)
            await self._restrict(old, sender, state.get((POWER_LEVELS, "")))
            bells = [
                await self._rooms.doorbell_for(conn, room_id, old),
                await self._rooms.doorbell_for(conn, new_room, new),
            ]
        for bell in bells:
            await self._bus.publish(bell)
        return new_room

    async def _create_replacement(
        self,
        conn: AsyncConnection,
        requester: Requester,
        old_room: str,
        new_room: str,
        version: str,
        state: dict[tuple[str, str | None], StoredEvent],
        last_event_id: str,
    ) -> RoomBatch:
        sender = requester.user_id
        old_create = state[("m.room.create", "")].content
        create: dict[str, Any] = {
            "room_version": version,
            "predecessor": {"room_id": old_room, "event_id": last_event_id},
        }
        if "type" in old_create:
            create["type"] = old_create["type"]
        await room_store.insert_room(conn, new_room, version, sender, "private",
                                     self._clock.now_ms())  # fmt: skip
        new = RoomBatch(conn, new_room)
        profile = await self._membership.profile_content(conn, sender)
        levels_event = state.get((POWER_LEVELS, ""))
        levels = dict(levels_event.content) if levels_event is not None else {}
        raised = {**levels, "users": {**levels.get("users", {}), sender: 100}}
        events = [
            NewEvent("m.room.create", create, ""),
            NewEvent("m.room.member", {"membership": "join", **profile}, sender),
            NewEvent(POWER_LEVELS, raised, ""),
        ]
        events += [
            NewEvent(t, dict(state[(t, "")].content), "")
            for t in TRANSFERRED
            if (t, "") in state and state[(t, "")].content
        ]
        for ev in events:
            await self._rooms.append_one(new, sender, ev)
        join_rule = state.get(("m.room.join_rules", ""))
        if join_rule is None or join_rule.content.get("join_rule") != "public":
            invitees = [
                e.state_key
                for e in state.values()
                if e.type == "m.room.member"
                and e.membership in ("join", "invite")
                and e.state_key not in (None, sender)
            ][:MAX_INVITES]
            for user in sorted(invitees):
                content = {"membership": "invite"}
                content.update(await self._membership.profile_content(conn, user))
                await self._rooms.append_one(new, sender, NewEvent("m.room.member", content, user))
        if raised != levels and levels:
            await self._rooms.append_one(new, sender, NewEvent(POWER_LEVELS, levels, ""))
        return new

    async def _restrict(
        self, old: RoomBatch, sender: str, levels_event: StoredEvent | None
    ) -> None:
        """Stop ordinary members of the old room from sending and inviting, if the upgrader
        may change its power levels (else the tombstone alone has to do)."""
        levels = dict(levels_event.content) if levels_event is not None else {}
        current = PowerLevels.from_content(levels, None)
        floor = max(50, current.users_default + 1)
        restricted = {
            **levels,
            "events_default": max(floor, current.events_default),
            "invite": max(floor, current.invite),
        }
        if restricted == levels:
            return
        change = AuthEvent(POWER_LEVELS, sender, restricted, "")
        if check_event_auth(change, old.auth_state()):
            await self._rooms.append_one(old, sender, NewEvent(POWER_LEVELS, restricted, ""))
