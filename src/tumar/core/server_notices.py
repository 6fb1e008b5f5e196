"""Server notices: a read-only room per user in which the server posts messages (rollout
reminders now, notifications later).

The room belongs to a system account, ``@<server_notices_localpart>:<server_name>``, created on
demand without a password (nobody can log in as it; ordinary registration refuses the name).
The first notice to a user creates the room, invites and joins the user, tags the room
``m.server_notice`` in the user's account data and posts the notice, all in one transaction
through the normal event path, so ``/sync`` delivers it like any message. The user's power
level (0) is below every event's (100): they read, they cannot post. A user who leaves is
invited again with their next notice (they choose whether to rejoin; history stays readable).
The server writes these rooms itself, so they are never end-to-end encrypted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.membership import MembershipService
from tumar.core.room_creation import RoomPlan, initial_events
from tumar.core.rooms import NewEvent, RoomBatch, RoomService
from tumar.errors import MatrixError, bad_json, not_found
from tumar.ids import RoomId, UserId
from tumar.store import accounts as account_store
from tumar.store import events as event_store
from tumar.store import rooms as room_store
from tumar.store import server_notices as notice_store
from tumar.store import userdata as data_store
from tumar.store.db import Database

SERVER_NOTICE_TAG = "m.server_notice"
Also = Callable[[AsyncConnection], Awaitable[None]]

# Everything but reading needs power 100, which only the system account holds.
NOTICE_ROOM_POWER_LEVELS: dict[str, Any] = {
    "users_default": 0,
    "events_default": 100,
    "state_default": 100,
    "invite": 100,
    "kick": 100,
    "ban": 100,
    "redact": 100,
    "events": {},
    "notifications": {"room": 100},
}


class ServerNotices:
    def __init__(
        self,
        db: Database,
        rooms: RoomService,
        membership: MembershipService,
        bus: Bus,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._membership = membership
        self._bus = bus
        self._clock = clock
        self._settings = settings

    @property
    def system_user_id(self) -> str:
        return f"@{self._settings.server_notices_localpart}:{self._settings.server_name}"

    async def room_for(self, user_id: str) -> str | None:
        """The user's server-notice room, if a notice was ever sent to them."""
        async with self._db.read() as conn:
            return await notice_store.notice_room(conn, user_id)

    async def send(
        self,
        user_id: str,
        content: Mapping[str, Any],
        *,
        also: Also | None = None,
    ) -> str:
        """Post ``content`` (an ``m.room.message`` content with ``msgtype`` and ``body``) into
        the user's server-notice room, creating the room first if needed; returns the event id.

        ``also`` runs in the same transaction as the message, for the caller's own record of
        it (so the message and the record commit or roll back together).
        """
        if not isinstance(content.get("msgtype"), str) or not isinstance(content.get("body"), str):
            raise bad_json("A server notice needs a string `msgtype` and `body`.")
        await self._check_recipient(user_id)
        for attempt in (1, 2):
            async with self._db.read() as conn:
                room_id = await notice_store.notice_room(conn, user_id)
                member = None
                if room_id is not None:
                    state = await event_store.current_state_map(
                        conn, room_id, [("m.room.member", user_id)]
                    )
                    found = state.get(("m.room.member", user_id))
                    member = found.membership if found is not None else None
            try:
                if room_id is None:
                    return await self._create_and_send(user_id, content, also)
            except IntegrityError:  # a concurrent first notice created the room (or account)
                if attempt == 2:
                    raise
                continue
            assert room_id is not None
            events = [NewEvent("m.room.message", content)]
            if member not in ("join", "invite"):  # they left: invite them back
                async with self._db.read() as conn:
                    invitee = await self._membership.profile_content(conn, user_id)
                invite = NewEvent("m.room.member", {"membership": "invite", **invitee}, user_id)
                events.insert(0, invite)
            written = await self._rooms.append_events(
                room_id, self.system_user_id, events, also=also
            )
            return written[-1].event_id
        raise AssertionError("unreachable")

    async def _check_recipient(self, user_id: str) -> None:
        parsed = UserId.parse(user_id)
        if parsed.server_name != self._settings.server_name or user_id == self.system_user_id:
            raise MatrixError(400, "M_INVALID_PARAM", f"{user_id} cannot receive server notices.")
        async with self._db.read() as conn:
            user = await account_store.get_user(conn, user_id)
        if user is None or user.deactivated:
            raise not_found(f"The user {user_id} does not exist.")

    async def ensure_system_account(self, conn: AsyncConnection) -> None:
        existing = await account_store.get_user(conn, self.system_user_id)
        if existing is None:
            await account_store.insert_user(
                conn,
                user_id=self.system_user_id,
                localpart=self._settings.server_notices_localpart,
                password_hash=None,
                is_admin=False,
                displayname=self._settings.server_notices_display_name,
                created_ts=self._clock.now_ms(),
            )
        elif existing.password_hash is not None or existing.deactivated:
            raise MatrixError(
                500,
                "TUMAR_SERVER_NOTICES_UNAVAILABLE",
                f"{self.system_user_id} is an ordinary account, not the server-notices "
                "account; set server_notices_localpart to an unused name.",
            )

    async def _create_and_send(
        self, user_id: str, content: Mapping[str, Any], also: Also | None
    ) -> str:
        system = self.system_user_id
        plan = RoomPlan(
            creator=system,
            preset="private_chat",
            name=self._settings.server_notices_room_name,
            power_level_override={**NOTICE_ROOM_POWER_LEVELS, "users": {system: 100}},
            label={"label": self._settings.classification_labels[0]},  # notices reach everyone
        )
        room_id = str(RoomId.generate(self._settings.server_name))
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            await self.ensure_system_account(conn)
            await notice_store.insert_notice_room(conn, user_id, room_id)
            await room_store.insert_room(conn, room_id, plan.room_version, system, "private", now)
            profile = {"displayname": self._settings.server_notices_display_name}
            batch = RoomBatch(conn, room_id)
            for ev in initial_events(plan, profile):
                await self._rooms.append_one(batch, system, ev)
            invitee = await self._membership.profile_content(conn, user_id)
            await self._rooms.append_one(
                batch,
                system,
                NewEvent("m.room.member", {"membership": "invite", **invitee}, user_id),
            )
            await self._rooms.append_one(
                batch,
                user_id,
                NewEvent("m.room.member", {"membership": "join", **invitee}, user_id),
            )
            message = await self._rooms.append_one(
                batch, system, NewEvent("m.room.message", content)
            )
            tag_pos = await self._db.allocate_positions(conn)
            await data_store.put_account_data(
                conn, user_id, room_id, "m.tag", {"tags": {SERVER_NOTICE_TAG: {}}}, tag_pos
            )
            if also is not None:
                await also(conn)
            bell = await self._rooms.doorbell_for(conn, room_id, batch)
        await self._bus.publish(Doorbell(position=tag_pos, users=bell.users))
        return message.event_id
