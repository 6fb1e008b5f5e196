"""Which room is each user's server-notice room."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import server_notice_rooms


async def notice_room(conn: AsyncConnection, user_id: str) -> str | None:
    query = select(server_notice_rooms.c.room_id).where(server_notice_rooms.c.user_id == user_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def insert_notice_room(conn: AsyncConnection, user_id: str, room_id: str) -> None:
    """Fails with an IntegrityError if the user has one already (a concurrent first notice)."""
    await conn.execute(insert(server_notice_rooms).values(user_id=user_id, room_id=room_id))
