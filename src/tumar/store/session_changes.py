"""Users whose sessions ended or changed, at a stream position each (``session_changes``).

Every writer allocates its position under the stream counter's row lock, held until it
commits, so rows become visible in the order of their positions: a reader that has seen
position P has seen every row at or below it, and reading ``pos > P`` next misses none.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.schema import session_changes as t

_SINCE = HotQuery(
    select(t.c.pos, t.c.user_id).where(t.c.pos > bindparam("after")).order_by(t.c.pos)
)
_LATEST = HotQuery(select(func.coalesce(func.max(t.c.pos), 0).label("pos")))


async def add(conn: AsyncConnection, user_id: str, pos: int, ts: int) -> None:
    await conn.execute(insert(t).values(pos=pos, user_id=user_id, ts=ts))


async def since(conn: AsyncConnection, after: int) -> list[tuple[int, str]]:
    """The changes after position ``after``, oldest first."""
    return [(int(r.pos), str(r.user_id)) for r in await _SINCE.rows(conn, {"after": after})]


async def latest(conn: AsyncConnection) -> int:
    return int((await _LATEST.rows(conn))[0].pos)


async def prune(conn: AsyncConnection, before_ts: int) -> None:
    """Forget changes older than every node's reading of them needs."""
    await conn.execute(delete(t).where(t.c.ts < before_ts))
