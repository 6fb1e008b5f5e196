"""The published room directory (``/publicRooms``, ``/directory/list/room``) and room aliases
(``/directory/room``, ``/rooms/{roomId}/aliases``).

Publishing a room and deleting someone else's alias need the power to change the room's
``m.room.canonical_alias`` (as in the reference server), or a server administrator. Creating
an alias needs membership of the room. Deleting an alias the room's canonical alias event
names also updates that event, when the deleter may.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.core.requester import Requester
from tumar.core.rooms import NewEvent, RoomService
from tumar.errors import MatrixError, forbidden, invalid_param, not_found
from tumar.ids import RoomAlias, RoomId
from tumar.policy.power_levels import PowerLevels
from tumar.store import events as event_store
from tumar.store import room_directory as directory_store
from tumar.store import rooms as room_store
from tumar.store.db import Database
from tumar.store.room_directory import RoomSummary

MAX_PAGE = 500
CANONICAL_ALIAS = "m.room.canonical_alias"


class RoomDirectory:
    def __init__(self, db: Database, rooms: RoomService, settings: Settings) -> None:
        self._db = db
        self._rooms = rooms
        self._server_name = settings.server_name

    async def _may_edit_aliases(
        self, conn: AsyncConnection, requester: Requester, room_id: str
    ) -> bool:
        """A joined member with the power to change the canonical alias."""
        state = await event_store.current_state_map(
            conn, room_id, [("m.room.member", requester.user_id), ("m.room.power_levels", "")]
        )
        member = state.get(("m.room.member", requester.user_id))
        if member is None or member.membership != "join":
            return False
        levels_event = state.get(("m.room.power_levels", ""))
        levels = PowerLevels.from_content(
            levels_event.content if levels_event is not None else None, None
        )
        return levels.user_level(requester.user_id) >= levels.event_level(CANONICAL_ALIAS, True)

    # ---- the published room directory ------------------------------------------------------

    async def get_visibility(self, room_id: str) -> str:
        RoomId.parse(room_id)
        async with self._db.read() as conn:
            value = await directory_store.visibility(conn, room_id)
        if value is None:
            raise not_found("The room is not known to this server.")
        return "public" if value == "public" else "private"

    async def do_set_visibility(self, requester: Requester, room_id: str, value: str) -> None:
        RoomId.parse(room_id)
        async with self._db.write() as conn:
            if await directory_store.visibility(conn, room_id) is None:
                raise not_found("The room is not known to this server.")
            if not requester.is_admin and not await self._may_edit_aliases(
                conn, requester, room_id
            ):
                raise forbidden("Publishing a room needs the power to change its canonical alias.")
            await directory_store.set_visibility(conn, room_id, value)

    async def public_rooms(
        self,
        *,
        limit: int | None,
        since: str | None,
        search_term: str | None = None,
        room_types: Sequence[str | None] | None = None,
        server: str | None = None,
    ) -> dict[str, Any]:
        if server is not None and server != self._server_name:
            raise forbidden("Federation is disabled: only this server's directory is listed.")
        offset = _offset(since)
        limit = MAX_PAGE if limit is None else max(0, min(limit, MAX_PAGE))
        async with self._db.read() as conn:
            found = await directory_store.summaries(
                conn, await directory_store.published_rooms(conn)
            )
        chunks = [_chunk(s) for s in found]
        term = (search_term or "").strip().casefold()
        if term:
            chunks = [c for c in chunks if term in _searchable(c)]
        if room_types is not None:
            chunks = [c for c in chunks if c.get("room_type") in room_types]
        chunks.sort(key=lambda c: (-c["num_joined_members"], c["room_id"]))
        body: dict[str, Any] = {
            "chunk": chunks[offset : offset + limit],
            "total_room_count_estimate": len(chunks),
        }
        if offset + limit < len(chunks):
            body["next_batch"] = f"o{offset + limit}"
        if offset > 0:
            body["prev_batch"] = f"o{max(0, offset - limit)}"
        return body

    # ---- aliases --------------------------------------------------------------------------

    def _local_alias(self, alias: str) -> str:
        parsed = RoomAlias.parse(alias)
        if parsed.server_name != self._server_name:
            raise invalid_param("Federation is disabled: aliases must be on this server.")
        if any(c.isspace() or not c.isprintable() for c in parsed.localpart):
            raise invalid_param("A room alias cannot contain spaces or control characters.")
        return str(parsed)

    async def do_create_alias(self, requester: Requester, alias: str, room_id: str) -> None:
        alias = self._local_alias(alias)
        RoomId.parse(room_id)
        try:
            async with self._db.write() as conn:
                if not await room_store.room_exists(conn, room_id):
                    raise not_found("The room is not known to this server.")
                members = await event_store.room_members(conn, room_id, ("join",))
                if requester.user_id not in members and not requester.is_admin:
                    raise forbidden("You can only add aliases for rooms you are in.")
                if await room_store.alias_room(conn, alias) is not None:
                    raise MatrixError(409, "M_UNKNOWN", f"The room alias {alias} already exists.")
                await room_store.insert_alias(conn, alias, room_id, requester.user_id)
        except IntegrityError:  # a concurrent request took it first
            raise MatrixError(409, "M_UNKNOWN", f"The room alias {alias} already exists.") from None

    async def do_delete_alias(self, requester: Requester, alias: str) -> None:
        alias = self._local_alias(alias)
        async with self._db.read() as conn:
            found = await directory_store.get_alias(conn, alias)
            if found is None:
                raise not_found(f"The room alias {alias} is unknown.")
            may_edit = await self._may_edit_aliases(conn, requester, found.room_id)
            state = await event_store.current_state_map(
                conn, found.room_id, [(CANONICAL_ALIAS, "")]
            )
        if not (may_edit or requester.is_admin or found.creator == requester.user_id):
            raise forbidden("Only the alias's creator or a room moderator can delete it.")
        canonical = state.get((CANONICAL_ALIAS, ""))
        updated = _without(dict(canonical.content), alias) if canonical is not None else None

        async def remove(conn: AsyncConnection) -> None:
            await directory_store.delete_alias(conn, alias)

        if may_edit and updated is not None:
            # The canonical alias event must not keep naming a deleted alias.
            await self._rooms.append_events(
                found.room_id,
                requester.user_id,
                [NewEvent(CANONICAL_ALIAS, updated, "")],
                also=remove,
            )
            return
        async with self._db.write() as conn:
            await remove(conn)

    async def local_aliases(self, requester: Requester, room_id: str) -> list[str]:
        RoomId.parse(room_id)
        async with self._db.read() as conn:
            members = await event_store.room_members(conn, room_id, ("join",))
            if requester.user_id not in members and not requester.is_admin:
                raise forbidden("You can only list the aliases of rooms you are in.")
            return await directory_store.aliases_of(conn, room_id)


def _offset(since: str | None) -> int:
    if since is None:
        return 0
    if not since.startswith("o") or not since[1:].isdigit() or len(since) > 12:
        raise invalid_param(f"Invalid pagination token {since[:40]!r}.")
    return int(since[1:])


def _chunk(s: RoomSummary) -> dict[str, Any]:
    state = s.state
    out: dict[str, Any] = {
        "room_id": s.room_id,
        "num_joined_members": s.joined,
        "world_readable": state.get("m.room.history_visibility", {}).get("history_visibility")
        == "world_readable",
        "guest_can_join": state.get("m.room.guest_access", {}).get("guest_access") == "can_join",
        "join_rule": state.get("m.room.join_rules", {}).get("join_rule", "invite"),
    }
    for field, (type_, key) in {
        "name": ("m.room.name", "name"),
        "topic": ("m.room.topic", "topic"),
        "canonical_alias": ("m.room.canonical_alias", "alias"),
        "avatar_url": ("m.room.avatar", "url"),
        "room_type": ("m.room.create", "type"),
    }.items():
        value = state.get(type_, {}).get(key)
        if isinstance(value, str) and value:
            out[field] = value
    if not isinstance(out["join_rule"], str):
        out["join_rule"] = "invite"
    return out


def _searchable(chunk: dict[str, Any]) -> str:
    parts = [chunk.get(k) for k in ("name", "topic", "canonical_alias", "room_id")]
    return " ".join(p for p in parts if isinstance(p, str)).casefold()


def _without(content: dict[str, Any], alias: str) -> dict[str, Any] | None:
    """The canonical alias content without ``alias``; None when it does not name it."""
    changed = False
    if content.get("alias") == alias:
        del content["alias"]
        changed = True
    alt = content.get("alt_aliases")
    if isinstance(alt, list) and alias in alt:
        content["alt_aliases"] = [a for a in alt if a != alias]
        changed = True
    return content if changed else None
