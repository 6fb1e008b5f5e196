"""Membership: invite, join, leave, kick, ban, unban, forget, through the room writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.core.requester import Requester
from tumar.core.rooms import NewEvent, RoomService
from tumar.core.user_directory import UserDirectory
from tumar.errors import MatrixError, forbidden, not_found
from tumar.ids import RoomAlias, RoomId, UserId
from tumar.store import accounts as account_store
from tumar.store import events as event_store
from tumar.store import rooms as room_store
from tumar.store.db import Database


class MembershipService:
    def __init__(
        self,
        db: Database,
        rooms: RoomService,
        server_name: str,
        guard: UserDirectory | None = None,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self._server_name = server_name
        self._guard = guard  # limits on whom external partners may invite

    async def profile_content(self, conn: AsyncConnection, user_id: str) -> dict[str, Any]:
        user = await account_store.get_user(conn, user_id)
        content: dict[str, Any] = {}
        if user is not None:
            if user.displayname is not None:
                content["displayname"] = user.displayname
            if user.avatar_url is not None:
                content["avatar_url"] = user.avatar_url
        return content

    async def check_local_user(self, conn: AsyncConnection, user_id: str, *, active: bool) -> None:
        """Refuse remote users (no federation) and, with ``active``, unknown or deactivated
        ones (an invitation needs someone to receive it; a kick or ban does not)."""
        parsed = UserId.parse(user_id)
        if parsed.server_name != self._server_name:
            raise forbidden("Federation is disabled: only local users can take part.")
        if active:
            user = await account_store.get_user(conn, user_id)
            if user is None or user.deactivated:
                raise not_found(f"The user {user_id} does not exist.")

    async def do_membership(
        self,
        requester: Requester,
        room_id: str,
        membership: str,
        *,
        target: str | None = None,
        reason: object = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """invite / join / leave / kick (leave of another) / ban / unban (leave of a banned)."""
        RoomId.parse(room_id)
        target = target or requester.user_id
        content: dict[str, Any] = {"membership": membership, **(extra or {})}
        if reason is not None:
            if not isinstance(reason, str):
                raise MatrixError(400, "M_BAD_JSON", "`reason` must be a string.")
            content["reason"] = reason
        async with self._db.read() as conn:
            if target != requester.user_id:
                await self.check_local_user(conn, target, active=membership == "invite")
                if membership == "invite" and self._guard is not None:
                    await self._guard.check_may_invite(conn, requester.user_id, target)
            if membership in ("join", "invite"):
                content.update(await self.profile_content(conn, target))
            if not await room_store.room_exists(conn, room_id):
                raise not_found(f"The room {room_id} does not exist.")

        async def unforget(conn: AsyncConnection) -> None:
            await room_store.unforget(conn, target, room_id)

        written = await self._rooms.append_events(
            room_id,
            requester.user_id,
            [NewEvent("m.room.member", content, target)],
            also=unforget if membership == "join" else None,
        )
        return written[0].event_id

    async def resolve_room(self, room_id_or_alias: str) -> str:
        if room_id_or_alias.startswith("#"):
            RoomAlias.parse(room_id_or_alias)
            async with self._db.read() as conn:
                room_id = await room_store.alias_room(conn, room_id_or_alias)
            if room_id is None:
                raise not_found(f"The room alias {room_id_or_alias} is unknown.")
            return room_id
        RoomId.parse(room_id_or_alias)
        return room_id_or_alias

    async def do_forget(self, requester: Requester, room_id: str) -> None:
        RoomId.parse(room_id)
        async with self._db.write() as conn:
            state = await event_store.current_state_map(
                conn, room_id, [("m.room.member", requester.user_id)]
            )
            member = state.get(("m.room.member", requester.user_id))
            if member is None:
                raise not_found("You have never been in this room.")
            if member.membership in ("join", "invite"):
                raise MatrixError(400, "M_UNKNOWN", "Leave the room before forgetting it.")
            await room_store.forget(conn, requester.user_id, room_id)
