"""Profile changes, propagated as member events into every room the user has joined."""

from __future__ import annotations

from typing import Any

from tumar.core.accounts import AccountService
from tumar.core.requester import Requester
from tumar.core.rooms import NewEvent, RoomService
from tumar.core.user_directory import UserDirectory
from tumar.errors import MatrixError, not_found
from tumar.store import accounts as account_store
from tumar.store import events as event_store
from tumar.store.db import Database

MAX_PROFILE_FIELD = 1024


class ProfileService:
    def __init__(
        self,
        db: Database,
        accounts: AccountService,
        rooms: RoomService,
        directory: UserDirectory | None = None,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._rooms = rooms
        self._directory = directory

    async def get_profile(self, user_id: str, viewer: str | None = None) -> dict[str, Any]:
        """Display name and avatar; with a ``viewer`` who may find this person in the
        directory, also their position and organisation (namespaced fields)."""
        user = await self._accounts.get_user(user_id)
        if user is None or user.deactivated:
            raise not_found("This user has no profile.")
        out: dict[str, Any] = {}
        if user.displayname is not None:
            out["displayname"] = user.displayname
        if user.avatar_url is not None:
            out["avatar_url"] = user.avatar_url
        if viewer is not None and self._directory is not None:
            out.update(await self._directory.profile_fields(viewer, user_id))
        return out

    async def do_set_field(self, requester: Requester, field: str, value: object) -> None:
        if value is not None and not isinstance(value, str):
            raise MatrixError(400, "M_BAD_JSON", f"`{field}` must be a string.")
        if isinstance(value, str) and len(value) > MAX_PROFILE_FIELD:
            raise MatrixError(400, "M_TOO_LARGE", f"`{field}` is too long.")
        if field == "avatar_url" and value == "":
            value = None  # clients clear the avatar with an empty string
        if field == "avatar_url" and isinstance(value, str) and not value.startswith("mxc://"):
            raise MatrixError(400, "M_INVALID_PARAM", "`avatar_url` must be an mxc:// URI.")
        await self._accounts.do_set_profile_field(requester.user_id, field, value)
        async with self._db.read() as conn:
            joined = await event_store.memberships_of(conn, requester.user_id, ("join",))
            user = await account_store.get_user(conn, requester.user_id)
        assert user is not None
        for membership in joined:
            async with self._db.read() as conn:
                current = await event_store.current_state_map(
                    conn, membership.room_id, [("m.room.member", requester.user_id)]
                )
            member = current.get(("m.room.member", requester.user_id))
            if member is None or member.membership != "join":
                continue
            content = {
                k: v for k, v in member.content.items() if k not in ("displayname", "avatar_url")
            }
            if user.displayname is not None:
                content["displayname"] = user.displayname
            if user.avatar_url is not None:
                content["avatar_url"] = user.avatar_url
            await self._rooms.append_events(
                membership.room_id,
                requester.user_id,
                [NewEvent("m.room.member", content, requester.user_id)],
            )
