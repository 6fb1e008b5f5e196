"""Presence per user, and who shares a room with whom (whose presence a user sees)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, String, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.schema import current_state, presence


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: str
    state: str
    status_msg: str | None
    last_active_ts: int
    stream_pos: int


def room_mates_query(user_id: str | BindParameter[str]) -> Select[tuple[str]]:
    """Users joined to a room the user is joined to (the user included, if in any room): a
    subquery for ``IN``."""
    mine = select(current_state.c.room_id).where(
        current_state.c.state_key == user_id,
        current_state.c.type == "m.room.member",
        current_state.c.membership == "join",
    )
    return select(current_state.c.state_key).where(
        current_state.c.type == "m.room.member",
        current_state.c.membership == "join",
        current_state.c.room_id.in_(mine),
    )


async def room_mates(conn: AsyncConnection, user_id: str) -> set[str]:
    rows = await conn.execute(room_mates_query(user_id).distinct())
    return {str(r[0]) for r in rows} | {user_id}


_GET = HotQuery(select(presence).where(presence.c.user_id == bindparam("user_id")))
_TOUCH = (
    update(presence)
    .where(presence.c.user_id == bindparam("touched"))
    .values(last_active_ts=bindparam("ts"))
)


async def get(conn: AsyncConnection, user_id: str) -> Presence | None:
    rows = await _GET.rows(conn, {"user_id": user_id})
    return Presence(**rows[0]._mapping) if rows else None


async def put(conn: AsyncConnection, p: Presence) -> None:
    values = {
        "state": p.state,
        "status_msg": p.status_msg,
        "last_active_ts": p.last_active_ts,
        "stream_pos": p.stream_pos,
    }
    result = await conn.execute(
        update(presence).where(presence.c.user_id == p.user_id).values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(insert(presence).values(user_id=p.user_id, **values))


async def touch(conn: AsyncConnection, touches: dict[str, int]) -> None:
    """Record activity (user -> when) without anything room-mates must be told about at
    once: one statement for all of them."""
    if touches:
        rows = [{"touched": u, "ts": ts} for u, ts in sorted(touches.items())]
        await conn.execute(_TOUCH, rows)


async def changed_for(
    conn: AsyncConnection, user_id: str, after: int | None, upto: int, limit: int
) -> list[Presence]:
    """Presence of the user and their room-mates that changed in (after, upto]."""
    params = {"user_id": user_id, "after": after if after is not None else -1, "upto": upto}
    rows = await _CHANGED_FOR.rows(conn, {**params, "limit": limit})
    return [Presence(**r._mapping) for r in rows]


# Read by every /sync: built once, as building costs more than running it.
_CHANGED_FOR = HotQuery(
    select(presence)
    .where(
        presence.c.stream_pos <= bindparam("upto"),
        presence.c.stream_pos > bindparam("after"),
        presence.c.user_id.in_(
            room_mates_query(bindparam("user_id")).union(select(bindparam("user_id", type_=String)))
        ),
    )
    .order_by(presence.c.stream_pos.desc())
    .limit(bindparam("limit", literal_execute=False))
)
