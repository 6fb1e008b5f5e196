"""The published room directory (``rooms.visibility``) and room aliases beyond creation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.json import loads
from tumar.store.schema import current_state, events, room_aliases, rooms

SUMMARY_TYPES = (
    "m.room.create",
    "m.room.name",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.avatar",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
)


async def visibility(conn: AsyncConnection, room_id: str) -> str | None:
    row = await conn.execute(select(rooms.c.visibility).where(rooms.c.room_id == room_id))
    value = row.scalar_one_or_none()
    return str(value) if value is not None else None


async def set_visibility(conn: AsyncConnection, room_id: str, value: str) -> None:
    await conn.execute(update(rooms).where(rooms.c.room_id == room_id).values(visibility=value))


async def published_rooms(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(select(rooms.c.room_id).where(rooms.c.visibility == "public"))
    return [r.room_id for r in rows]


@dataclass(frozen=True, slots=True)
class RoomSummary:
    room_id: str
    state: dict[str, dict[str, Any]]  # event type -> content (state key "")
    joined: int


async def summaries(conn: AsyncConnection, room_ids: Sequence[str]) -> list[RoomSummary]:
    """The directory fields of each room: its summary state and joined member count."""
    if not room_ids:
        return []
    ids = list(room_ids)
    state: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in ids}
    rows = await conn.execute(
        select(current_state.c.room_id, current_state.c.type, events.c.content)
        .join(events, events.c.event_id == current_state.c.event_id)
        .where(
            current_state.c.room_id.in_(ids),
            current_state.c.type.in_(SUMMARY_TYPES),
            current_state.c.state_key == "",
        )
    )
    for room_id, type_, content in rows:
        state[room_id][type_] = loads(content)
    counts: dict[str, int] = dict(
        (
            await conn.execute(
                select(current_state.c.room_id, func.count())
                .where(
                    current_state.c.room_id.in_(ids),
                    current_state.c.type == "m.room.member",
                    current_state.c.membership == "join",
                )
                .group_by(current_state.c.room_id)
            )
        ).all()
    )
    return [RoomSummary(r, state[r], int(counts.get(r, 0))) for r in ids]


@dataclass(frozen=True, slots=True)
class Alias:
    alias: str
    room_id: str
    creator: str


async def get_alias(conn: AsyncConnection, alias: str) -> Alias | None:
    row = (await conn.execute(select(room_aliases).where(room_aliases.c.alias == alias))).first()
    return Alias(row.alias, row.room_id, row.creator) if row else None


async def delete_alias(conn: AsyncConnection, alias: str) -> None:
    await conn.execute(delete(room_aliases).where(room_aliases.c.alias == alias))


async def aliases_of(conn: AsyncConnection, room_id: str) -> list[str]:
    rows = await conn.execute(
        select(room_aliases.c.alias)
        .where(room_aliases.c.room_id == room_id)
        .order_by(room_aliases.c.alias)
    )
    return [r.alias for r in rows]


async def move_aliases(conn: AsyncConnection, old_room: str, new_room: str) -> list[str]:
    moved = await aliases_of(conn, old_room)
    await conn.execute(
        update(room_aliases).where(room_aliases.c.room_id == old_room).values(room_id=new_room)
    )
    return moved
