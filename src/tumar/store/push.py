"""Push rules (the user's own and their changes to the defaults) and pushers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.push_rule_sets import StoredRule
from tumar.store.events import StoredEvent, events_from_rows
from tumar.store.hot import HotQuery
from tumar.store.json import dumps, loads
from tumar.store.schema import events, push_rules, pushers, receipts


def _list(text: str | None) -> list[Any] | None:
    if text is None:
        return None
    value = orjson.loads(text)
    return value if isinstance(value, list) else None


def _text(items: Sequence[Any] | None) -> str | None:
    return orjson.dumps(list(items)).decode() if items is not None else None


def _rule(row: Any) -> StoredRule:
    return StoredRule(
        kind=row.kind,
        rule_id=row.rule_id,
        is_default=row.is_default,
        position=row.position,
        pattern=row.pattern,
        conditions=_list(row.conditions),
        actions=_list(row.actions),
        enabled=row.enabled,
    )


async def list_rules(conn: AsyncConnection, user_id: str) -> list[StoredRule]:
    rows = await conn.execute(
        select(push_rules).where(push_rules.c.user_id == user_id).order_by(push_rules.c.position)
    )
    return [_rule(r) for r in rows]


async def put_rule(conn: AsyncConnection, user_id: str, rule: StoredRule) -> None:
    key = (
        (push_rules.c.user_id == user_id)
        & (push_rules.c.kind == rule.kind)
        & (push_rules.c.rule_id == rule.rule_id)
    )
    values = {
        "is_default": rule.is_default,
        "position": rule.position,
        "pattern": rule.pattern,
        "conditions": _text(rule.conditions),
        "actions": _text(rule.actions),
        "enabled": rule.enabled,
    }
    result = await conn.execute(update(push_rules).where(key).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            insert(push_rules).values(
                user_id=user_id, kind=rule.kind, rule_id=rule.rule_id, **values
            )
        )


async def set_positions(conn: AsyncConnection, user_id: str, kind: str, order: list[str]) -> None:
    for position, rule_id in enumerate(order):
        await conn.execute(
            update(push_rules)
            .where(
                push_rules.c.user_id == user_id,
                push_rules.c.kind == kind,
                push_rules.c.rule_id == rule_id,
            )
            .values(position=position)
        )


async def delete_rule(conn: AsyncConnection, user_id: str, kind: str, rule_id: str) -> bool:
    result = await conn.execute(
        delete(push_rules).where(
            push_rules.c.user_id == user_id,
            push_rules.c.kind == kind,
            push_rules.c.rule_id == rule_id,
        )
    )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class Pusher:
    user_id: str
    app_id: str
    pushkey: str
    kind: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: Mapping[str, Any]
    device_id: str | None
    created_ts: int


def _pusher(row: Any) -> Pusher:
    m = dict(row._mapping)
    m["data"] = loads(m["data"])
    return Pusher(**m)


async def list_pushers(conn: AsyncConnection, user_id: str) -> list[Pusher]:
    rows = await conn.execute(
        select(pushers).where(pushers.c.user_id == user_id).order_by(pushers.c.created_ts)
    )
    return [_pusher(r) for r in rows]


async def put_pusher(conn: AsyncConnection, p: Pusher) -> None:
    key = (
        (pushers.c.user_id == p.user_id)
        & (pushers.c.app_id == p.app_id)
        & (pushers.c.pushkey == p.pushkey)
    )
    values = {
        "kind": p.kind,
        "app_display_name": p.app_display_name,
        "device_display_name": p.device_display_name,
        "profile_tag": p.profile_tag,
        "lang": p.lang,
        "data": dumps(p.data),
        "device_id": p.device_id,
    }
    result = await conn.execute(update(pushers).where(key).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            insert(pushers).values(
                user_id=p.user_id,
                app_id=p.app_id,
                pushkey=p.pushkey,
                created_ts=p.created_ts,
                **values,
            )
        )


async def delete_pushers(
    conn: AsyncConnection,
    app_id: str,
    pushkey: str,
    *,
    user_id: str | None = None,
    except_user: str | None = None,
) -> int:
    query = delete(pushers).where(pushers.c.app_id == app_id, pushers.c.pushkey == pushkey)
    if user_id is not None:
        query = query.where(pushers.c.user_id == user_id)
    if except_user is not None:
        query = query.where(pushers.c.user_id != except_user)
    result = await conn.execute(query)
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    room_id: str
    thread_id: str  # "" unthreaded, "main", or a thread root
    stream_pos: int  # of the event the receipt points at


READ_RECEIPT_TYPES = ("m.read", "m.read.private")
"""The receipts that say where a user has read up to (the unread counts)."""

# Read by /sync for the unread counts when the receipts' version changed: built once.
_READ_RECEIPTS = HotQuery(
    select(receipts.c.room_id, receipts.c.thread_id, events.c.stream_pos)
    .join(events, events.c.event_id == receipts.c.event_id)
    .where(
        receipts.c.user_id == bindparam("user_id"),
        receipts.c.room_id.in_(bindparam("room_ids", expanding=True)),
        receipts.c.receipt_type.in_(READ_RECEIPT_TYPES),
    )
)


async def read_receipts(
    conn: AsyncConnection, user_id: str, room_ids: Sequence[str]
) -> list[ReadReceipt]:
    """The user's own read receipts (public and private) in these rooms, with positions."""
    if not room_ids:
        return []
    params = {"user_id": user_id, "room_ids": list(room_ids)}
    rows = await _READ_RECEIPTS.rows(conn, params)
    return [ReadReceipt(r.room_id, r.thread_id, int(r.stream_pos)) for r in rows]


async def recent_events(
    conn: AsyncConnection,
    room_ids: Sequence[str],
    *,
    before: int,
    not_sender: str,
    limit: int,
) -> list[StoredEvent]:
    """Other people's events in these rooms below ``before``, newest first."""
    if not room_ids:
        return []
    rows = await conn.execute(
        select(events)
        .where(
            events.c.room_id.in_(list(room_ids)),
            events.c.stream_pos < before,
            events.c.sender != not_sender,
        )
        .order_by(events.c.stream_pos.desc())
        .limit(limit)
    )
    return await events_from_rows(conn, rows)
