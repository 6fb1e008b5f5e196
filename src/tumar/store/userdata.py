"""Per-user data that sync carries: account data, receipts, stored filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.json import dumps, loads
from tumar.store.schema import account_data, filters, receipts


@dataclass(frozen=True, slots=True)
class AccountData:
    room_id: str  # "" for global
    type: str
    content: Mapping[str, Any]
    stream_pos: int


@dataclass(frozen=True, slots=True)
class Receipt:
    room_id: str
    receipt_type: str
    user_id: str
    thread_id: str
    event_id: str
    ts: int
    stream_pos: int


async def put_account_data(
    conn: AsyncConnection,
    user_id: str,
    room_id: str,
    type_: str,
    content: Mapping[str, Any],
    pos: int,
) -> None:
    key = (
        (account_data.c.user_id == user_id)
        & (account_data.c.room_id == room_id)
        & (account_data.c.type == type_)
    )
    result = await conn.execute(
        update(account_data).where(key).values(content=dumps(content), stream_pos=pos)
    )
    if result.rowcount == 0:
        await conn.execute(
            insert(account_data).values(
                user_id=user_id, room_id=room_id, type=type_, content=dumps(content), stream_pos=pos
            )
        )


async def get_account_data(
    conn: AsyncConnection, user_id: str, room_id: str, type_: str
) -> Mapping[str, Any] | None:
    row = await conn.execute(
        select(account_data.c.content).where(
            account_data.c.user_id == user_id,
            account_data.c.room_id == room_id,
            account_data.c.type == type_,
        )
    )
    text = row.scalar_one_or_none()
    return loads(text) if text is not None else None


# Read by every /sync: built once (building a statement costs more than running it).
def account_data_changed() -> Select[Any]:
    """The user's account data changed in (after, upto]: what ``/sync`` reads; its probe
    (``store/sync_probe.py``) asks whether there is any."""
    c = account_data.c
    return select(account_data).where(
        c.user_id == bindparam("user_id"),
        c.stream_pos > bindparam("after"),
        c.stream_pos <= bindparam("upto"),
    )


_ACCOUNT_DATA_SINCE = HotQuery(account_data_changed())
_RECEIPTS_SINCE = HotQuery(
    select(receipts).where(
        receipts.c.room_id.in_(bindparam("room_ids", expanding=True)),
        receipts.c.stream_pos > bindparam("after"),
        receipts.c.stream_pos <= bindparam("upto"),
    )
)


async def account_data_since(
    conn: AsyncConnection, user_id: str, after: int, upto: int
) -> list[AccountData]:
    params = {"user_id": user_id, "after": after, "upto": upto}
    rows = await _ACCOUNT_DATA_SINCE.rows(conn, params)
    return [AccountData(r.room_id, r.type, loads(r.content), r.stream_pos) for r in rows]


async def put_receipt(conn: AsyncConnection, r: Receipt) -> None:
    """Store a receipt at ``r.stream_pos``, which must be a newly allocated position: the
    latest position of a user's receipts in a room is the version by which the unread counts
    know their cached receipts still hold (``store/sync_probe.py``); receipts are never
    deleted."""
    key = (
        (receipts.c.room_id == r.room_id)
        & (receipts.c.receipt_type == r.receipt_type)
        & (receipts.c.user_id == r.user_id)
        & (receipts.c.thread_id == r.thread_id)
    )
    values = {"event_id": r.event_id, "ts": r.ts, "stream_pos": r.stream_pos}
    result = await conn.execute(update(receipts).where(key).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            insert(receipts).values(
                room_id=r.room_id,
                receipt_type=r.receipt_type,
                user_id=r.user_id,
                thread_id=r.thread_id,
                **values,
            )
        )


async def receipts_since(
    conn: AsyncConnection, room_ids: Sequence[str], after: int, upto: int
) -> list[Receipt]:
    if not room_ids:
        return []
    params = {"room_ids": list(room_ids), "after": after, "upto": upto}
    rows = await _RECEIPTS_SINCE.rows(conn, params)
    return [Receipt(**r._mapping) for r in rows]


async def insert_filter(conn: AsyncConnection, user_id: str, filter_json: str) -> int:
    current = await conn.execute(
        select(func.max(filters.c.filter_id)).where(filters.c.user_id == user_id)
    )
    filter_id = (current.scalar_one_or_none() or 0) + 1
    await conn.execute(
        insert(filters).values(user_id=user_id, filter_id=filter_id, filter_json=filter_json)
    )
    return filter_id


async def get_filter(conn: AsyncConnection, user_id: str, filter_id: int) -> str | None:
    row = await conn.execute(
        select(filters.c.filter_json).where(
            filters.c.user_id == user_id, filters.c.filter_id == filter_id
        )
    )
    return row.scalar_one_or_none()
