"""Which room is each user's server-notice room."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.json import dumps
from tumar.store.schema import account_data, rooms, server_notice_rooms


async def notice_room(conn: AsyncConnection, user_id: str) -> str | None:
    query = select(server_notice_rooms.c.room_id).where(server_notice_rooms.c.user_id == user_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def insert_notice_room(conn: AsyncConnection, user_id: str, room_id: str) -> None:
    """Fails with an IntegrityError if the user has one already (a concurrent first notice)."""
    await conn.execute(insert(server_notice_rooms).values(user_id=user_id, room_id=room_id))


@dataclass(frozen=True, slots=True)
class NewNoticeRoom:
    user_id: str
    room_id: str
    tag_pos: int  # stream position of the room's ``m.tag`` account data


async def insert_notice_rooms(
    conn: AsyncConnection,
    new: Sequence[NewNoticeRoom],
    *,
    room_version: str,
    creator: str,
    tags: Mapping[str, Any],
    ts: int,
) -> None:
    """Many new notice rooms in three statements: the user's room, the room's row, and the
    user's ``m.tag`` account data for it (a new room has none yet). Fails with an
    IntegrityError if a user has a notice room already."""
    if not new:
        return
    await conn.execute(
        insert(server_notice_rooms), [{"user_id": r.user_id, "room_id": r.room_id} for r in new]
    )
    room = {"room_version": room_version, "creator": creator, "visibility": "private"}
    await conn.execute(
        insert(rooms), [{"room_id": r.room_id, "created_ts": ts, **room} for r in new]
    )
    tag = {"type": "m.tag", "content": dumps({"tags": dict(tags)})}
    await conn.execute(
        insert(account_data),
        [{"user_id": r.user_id, "room_id": r.room_id, "stream_pos": r.tag_pos, **tag} for r in new],
    )
