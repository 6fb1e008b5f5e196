"""Send-to-device messages: one row per recipient device until the device acknowledges it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.json import dumps, loads
from tumar.store.schema import to_device_messages, to_device_txns


@dataclass(frozen=True, slots=True)
class ToDeviceMessage:
    user_id: str
    device_id: str
    stream_pos: int
    sender: str
    type: str
    content: Mapping[str, Any]


async def insert_messages(conn: AsyncConnection, messages: Sequence[ToDeviceMessage]) -> None:
    if messages:
        await conn.execute(
            insert(to_device_messages),
            [
                {
                    "user_id": m.user_id,
                    "device_id": m.device_id,
                    "stream_pos": m.stream_pos,
                    "sender": m.sender,
                    "type": m.type,
                    "content": dumps(m.content),
                }
                for m in messages
            ],
        )


def stored_for_device() -> Select[Any]:
    """The device's messages at or below ``upto``, acknowledged or not: what ``/sync``'s
    window reads from; its probe (``store/sync_probe.py``) asks whether there are any."""
    c = to_device_messages.c
    return select(c.stream_pos).where(
        c.user_id == bindparam("user_id"),
        c.device_id == bindparam("device_id"),
        c.stream_pos <= bindparam("upto"),
    )


def _window_query() -> Any:
    c = to_device_messages.c
    fresh = c.stream_pos > bindparam("acked")
    return (
        stored_for_device()
        .add_columns(
            case((fresh, c.sender), else_=None),
            case((fresh, c.type), else_=None),
            case((fresh, c.content), else_=None),
        )
        .order_by(c.stream_pos)
        .limit(bindparam("limit", literal_execute=False))
    )


_WINDOW = HotQuery(_window_query())  # built once: /sync runs it for every request


async def window(
    conn: AsyncConnection, user_id: str, device_id: str, acked: int, upto: int, limit: int
) -> tuple[bool, list[ToDeviceMessage], bool]:
    """One query for ``/sync``: whether messages at or below ``acked`` (acknowledged, not yet
    deleted) are still stored, the messages in (acked, upto] oldest first (at most ``limit``),
    and whether more are waiting. Acknowledged rows come without their content."""
    query_limit = 2 * limit + 1  # room for a page of not yet deleted acknowledged rows
    params = {
        "user_id": user_id,
        "device_id": device_id,
        "acked": acked,
        "upto": upto,
        "limit": query_limit,
    }
    rows = await _WINDOW.rows(conn, params)
    stale = any(pos <= acked for pos, *_ in rows)
    messages = [
        ToDeviceMessage(user_id, device_id, pos, sender, type_, loads(content))
        for pos, sender, type_, content in rows
        if pos > acked
    ]
    more = len(messages) > limit or len(rows) == query_limit
    return stale, messages[:limit], more


async def delete_upto(conn: AsyncConnection, user_id: str, device_id: str, upto: int) -> int:
    c = to_device_messages.c
    result = await conn.execute(
        delete(to_device_messages).where(
            c.user_id == user_id, c.device_id == device_id, c.stream_pos <= upto
        )
    )
    return int(result.rowcount)


async def delete_for_devices(conn: AsyncConnection, user_id: str, device_ids: list[str]) -> None:
    for table in (to_device_messages, to_device_txns):
        await conn.execute(
            delete(table).where(table.c.user_id == user_id, table.c.device_id.in_(device_ids))
        )


async def txn_seen(
    conn: AsyncConnection, user_id: str, device_id: str, event_type: str, txn_id: str
) -> bool:
    c = to_device_txns.c
    row = await conn.execute(
        select(c.txn_id).where(
            c.user_id == user_id,
            c.device_id == device_id,
            c.event_type == event_type,
            c.txn_id == txn_id,
        )
    )
    return row.first() is not None


async def insert_txn(
    conn: AsyncConnection, user_id: str, device_id: str, event_type: str, txn_id: str, ts: int
) -> None:
    await conn.execute(
        insert(to_device_txns).values(
            user_id=user_id,
            device_id=device_id,
            event_type=event_type,
            txn_id=txn_id,
            created_ts=ts,
        )
    )
