"""Rooms, aliases and forgotten rooms."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import forgotten_rooms, room_aliases, rooms


async def insert_room(
    conn: AsyncConnection, room_id: str, version: str, creator: str, visibility: str, ts: int
) -> None:
    await conn.execute(
        insert(rooms).values(
            room_id=room_id,
            room_version=version,
            creator=creator,
            visibility=visibility,
            created_ts=ts,
        )
    )


async def room_exists(conn: AsyncConnection, room_id: str) -> bool:
    row = await conn.execute(select(rooms.c.room_id).where(rooms.c.room_id == room_id))
    return row.first() is not None


async def alias_room(conn: AsyncConnection, alias: str) -> str | None:
    row = await conn.execute(select(room_aliases.c.room_id).where(room_aliases.c.alias == alias))
    return row.scalar_one_or_none()


async def insert_alias(conn: AsyncConnection, alias: str, room_id: str, creator: str) -> None:
    await conn.execute(insert(room_aliases).values(alias=alias, room_id=room_id, creator=creator))


async def forget(conn: AsyncConnection, user_id: str, room_id: str) -> None:
    if not await is_forgotten(conn, user_id, room_id):
        await conn.execute(insert(forgotten_rooms).values(user_id=user_id, room_id=room_id))


async def unforget(conn: AsyncConnection, user_id: str, room_id: str) -> None:
    await conn.execute(
        delete(forgotten_rooms).where(
            forgotten_rooms.c.user_id == user_id, forgotten_rooms.c.room_id == room_id
        )
    )


async def is_forgotten(conn: AsyncConnection, user_id: str, room_id: str) -> bool:
    row = await conn.execute(
        select(forgotten_rooms.c.room_id).where(
            forgotten_rooms.c.user_id == user_id, forgotten_rooms.c.room_id == room_id
        )
    )
    return row.first() is not None


async def forgotten_set(conn: AsyncConnection, user_id: str) -> set[str]:
    rows = await conn.execute(
        select(forgotten_rooms.c.room_id).where(forgotten_rooms.c.user_id == user_id)
    )
    return {r.room_id for r in rows}
