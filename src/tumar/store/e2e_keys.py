"""End-to-end encryption keys as the clients uploaded them: device identity keys, one-time and
fallback keys, cross-signing keys and their signatures, and device-list changes.

The server never uses these keys; it stores the JSON objects (compact text) and hands them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

from tumar.store.hot import HotQuery
from tumar.store.json import dumps, loads
from tumar.store.presence import room_mates_query
from tumar.store.schema import (
    current_state,
    device_list_changes,
    devices,
    e2e_cross_signing_keys,
    e2e_cross_signing_signatures,
    e2e_device_keys,
    e2e_fallback_keys,
    e2e_one_time_keys,
    events,
)


@dataclass(frozen=True, slots=True)
class OneTimeKey:
    algorithm: str
    key_id: str
    key: Mapping[str, Any] | str  # a signed key object, or a bare key string


@dataclass(frozen=True, slots=True)
class FallbackKey:
    algorithm: str
    key_id: str
    key: Mapping[str, Any] | str
    used: bool


@dataclass(frozen=True, slots=True)
class CrossSigningKey:
    user_id: str
    key_type: str  # master | self_signing | user_signing
    public_key: str
    key: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Signature:
    target_user_id: str
    target_key_id: str
    signer_user_id: str
    signer_key_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class MembershipChange:
    room_id: str
    user_id: str
    membership: str
    stream_pos: int


def _key_text(value: Mapping[str, Any] | str) -> str:
    return dumps({"k": value})


def _key_value(text: str) -> Mapping[str, Any] | str:
    value = loads(text)["k"]
    assert isinstance(value, dict | str)
    return value


# ---- device keys ----------------------------------------------------------------------------


async def get_device_keys(
    conn: AsyncConnection, user_id: str, device_id: str
) -> dict[str, Any] | None:
    row = await conn.execute(
        select(e2e_device_keys.c.key_json).where(
            e2e_device_keys.c.user_id == user_id, e2e_device_keys.c.device_id == device_id
        )
    )
    text = row.scalar_one_or_none()
    return loads(text) if text is not None else None


async def put_device_keys(
    conn: AsyncConnection, user_id: str, device_id: str, keys: Mapping[str, Any], ts: int
) -> None:
    c = e2e_device_keys.c
    result = await conn.execute(
        update(e2e_device_keys)
        .where(c.user_id == user_id, c.device_id == device_id)
        .values(key_json=dumps(keys))
    )
    if result.rowcount == 0:
        await conn.execute(
            insert(e2e_device_keys).values(
                user_id=user_id, device_id=device_id, key_json=dumps(keys), created_ts=ts
            )
        )


async def device_keys_of(
    conn: AsyncConnection, user_ids: Sequence[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every uploaded device key of these users: user -> device -> key object."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if not user_ids:
        return out
    rows = await conn.execute(
        select(e2e_device_keys.c.user_id, e2e_device_keys.c.device_id, e2e_device_keys.c.key_json)
        .where(e2e_device_keys.c.user_id.in_(user_ids))
        .order_by(e2e_device_keys.c.user_id, e2e_device_keys.c.device_id)
    )
    for user_id, device_id, text in rows:
        out.setdefault(user_id, {})[device_id] = loads(text)
    return out


async def device_names(
    conn: AsyncConnection, user_ids: Sequence[str]
) -> dict[tuple[str, str], str | None]:
    """(user, device) -> display name, for every device of these users."""
    if not user_ids:
        return {}
    rows = await conn.execute(
        select(devices.c.user_id, devices.c.device_id, devices.c.display_name).where(
            devices.c.user_id.in_(user_ids)
        )
    )
    return {(u, d): name for u, d, name in rows}


async def delete_device_keys(conn: AsyncConnection, user_id: str, device_ids: list[str]) -> None:
    """Every key of these devices: identity, one-time and fallback keys, and signatures."""
    for table in (e2e_device_keys, e2e_one_time_keys, e2e_fallback_keys):
        await conn.execute(
            delete(table).where(table.c.user_id == user_id, table.c.device_id.in_(device_ids))
        )
    s = e2e_cross_signing_signatures.c
    await conn.execute(
        delete(e2e_cross_signing_signatures).where(
            s.target_user_id == user_id, s.target_key_id.in_(device_ids)
        )
    )


# ---- one-time and fallback keys -------------------------------------------------------------


async def get_one_time_keys(
    conn: AsyncConnection, user_id: str, device_id: str, ids: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Mapping[str, Any] | str]:
    """The stored one-time keys among ``(algorithm, key_id)`` pairs."""
    wanted = set(ids)
    if not wanted:
        return {}
    c = e2e_one_time_keys.c
    rows = await conn.execute(
        select(c.algorithm, c.key_id, c.key_json).where(
            c.user_id == user_id,
            c.device_id == device_id,
            c.key_id.in_({key_id for _, key_id in wanted}),
        )
    )
    return {
        (alg, key_id): _key_value(text) for alg, key_id, text in rows if (alg, key_id) in wanted
    }


async def insert_one_time_keys(
    conn: AsyncConnection, user_id: str, device_id: str, keys: Sequence[OneTimeKey], ts: int
) -> None:
    if keys:
        await conn.execute(
            insert(e2e_one_time_keys),
            [
                {
                    "user_id": user_id,
                    "device_id": device_id,
                    "algorithm": k.algorithm,
                    "key_id": k.key_id,
                    "key_json": _key_text(k.key),
                    "created_ts": ts,
                }
                for k in keys
            ],
        )


async def one_time_key_counts(
    conn: AsyncConnection, user_id: str, device_id: str
) -> dict[str, int]:
    c = e2e_one_time_keys.c
    rows = await conn.execute(
        select(c.algorithm, func.count())
        .where(c.user_id == user_id, c.device_id == device_id)
        .group_by(c.algorithm)
    )
    return {alg: int(n) for alg, n in rows}


async def claim_one_time_key(
    conn: AsyncConnection, user_id: str, device_id: str, algorithm: str
) -> OneTimeKey | None:
    """Take the oldest one-time key of an algorithm. A key is handed out at most once: it is
    deleted here; on PostgreSQL a concurrent claim skips the row another claim has locked, and
    one that lost the race for a row tries the next."""
    c = e2e_one_time_keys.c
    query = (
        select(c.key_id, c.key_json)
        .where(c.user_id == user_id, c.device_id == device_id, c.algorithm == algorithm)
        .order_by(c.created_ts, c.key_id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":  # concurrent claims take different keys at once
        query = query.with_for_update(skip_locked=True)
    for _attempt in range(5):
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        taken = await conn.execute(
            delete(e2e_one_time_keys).where(
                c.user_id == user_id,
                c.device_id == device_id,
                c.algorithm == algorithm,
                c.key_id == row.key_id,
            )
        )
        if taken.rowcount == 1:
            return OneTimeKey(algorithm, row.key_id, _key_value(row.key_json))
    return None


async def get_fallback_keys(
    conn: AsyncConnection, user_id: str, device_id: str
) -> dict[str, FallbackKey]:
    c = e2e_fallback_keys.c
    rows = await conn.execute(
        select(c.algorithm, c.key_id, c.key_json, c.used).where(
            c.user_id == user_id, c.device_id == device_id
        )
    )
    return {
        alg: FallbackKey(alg, key_id, _key_value(text), bool(used))
        for alg, key_id, text, used in rows
    }


async def put_fallback_key(
    conn: AsyncConnection, user_id: str, device_id: str, key: FallbackKey
) -> None:
    c = e2e_fallback_keys.c
    await conn.execute(
        delete(e2e_fallback_keys).where(
            c.user_id == user_id, c.device_id == device_id, c.algorithm == key.algorithm
        )
    )
    await conn.execute(
        insert(e2e_fallback_keys).values(
            user_id=user_id,
            device_id=device_id,
            algorithm=key.algorithm,
            key_id=key.key_id,
            key_json=_key_text(key.key),
            used=key.used,
        )
    )


async def mark_fallback_key_used(
    conn: AsyncConnection, user_id: str, device_id: str, algorithm: str
) -> None:
    c = e2e_fallback_keys.c
    await conn.execute(
        update(e2e_fallback_keys)
        .where(c.user_id == user_id, c.device_id == device_id, c.algorithm == algorithm)
        .values(used=True)
    )


def _key_counts_query() -> Any:
    o, f = e2e_one_time_keys.c, e2e_fallback_keys.c
    user: Any = bindparam("user_id")
    device: Any = bindparam("device_id")
    otks = (
        select(o.algorithm, func.count().label("n"), literal(0).label("fallback"))
        .where(o.user_id == user, o.device_id == device)
        .group_by(o.algorithm)
    )
    fallbacks = select(f.algorithm, literal(0).label("n"), literal(1).label("fallback")).where(
        f.user_id == user, f.device_id == device, f.used.is_(False)
    )
    return union_all(otks, fallbacks)


class _JsonRows(FunctionElement[str]):
    """An aggregate: the group's rows as the text of a JSON array of arrays (``[]`` for
    none)."""

    type = Text()
    name = "json_rows"
    inherit_cache = True


@compiles(_JsonRows)
def _json_rows_other(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    raise NotImplementedError(f"json_rows on {compiler.dialect.name}: SQLite and PostgreSQL only")


@compiles(_JsonRows, "sqlite")
def _json_rows_sqlite(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(_JsonRows, "postgresql")
def _json_rows_postgresql(element: _JsonRows, compiler: SQLCompiler, **kw: Any) -> str:
    cells = compiler.process(element.clauses, **kw)
    return f"coalesce(json_agg(json_build_array({cells}))::text, '[]')"


def key_counts_column() -> Any:
    """The one-time key counts and unused fallback keys of the device (parameters
    ``user_id`` and ``device_id``) as one value, for a statement that reads them beside
    other things (the opening of an incremental ``/sync``, ``store/sync_probe.py``); read it
    back with :func:`parse_key_counts`."""
    rows = _key_counts_query().subquery("key_rows")
    return select(_JsonRows(rows.c.algorithm, rows.c.n, rows.c.fallback)).scalar_subquery()


def parse_key_counts(text: str) -> tuple[dict[str, int], list[str]]:
    return _counts_of(orjson.loads(text))


def _counts_of(rows: Iterable[Sequence[Any]]) -> tuple[dict[str, int], list[str]]:
    counts: dict[str, int] = {}
    unused: list[str] = []
    for algorithm, n, is_fallback in rows:
        if is_fallback:
            unused.append(algorithm)
        else:
            counts[algorithm] = int(n)
    return counts, sorted(unused)


# Built once: /sync runs these for every request, and building a statement costs more than
# running it on a small table.
_KEY_COUNTS = HotQuery(_key_counts_query())


async def key_counts(
    conn: AsyncConnection, user_id: str, device_id: str
) -> tuple[dict[str, int], list[str]]:
    """One query for an initial ``/sync`` (an incremental one reads them in its opening):
    unclaimed one-time keys per algorithm, and the algorithms whose fallback key is unused."""
    return _counts_of(await _KEY_COUNTS.rows(conn, {"user_id": user_id, "device_id": device_id}))


async def cross_signing_keys_of(
    conn: AsyncConnection, user_ids: Sequence[str]
) -> dict[str, dict[str, CrossSigningKey]]:
    """user -> key type -> key."""
    out: dict[str, dict[str, CrossSigningKey]] = {}
    if not user_ids:
        return out
    c = e2e_cross_signing_keys.c
    rows = await conn.execute(
        select(c.user_id, c.key_type, c.public_key, c.key_json).where(c.user_id.in_(user_ids))
    )
    for user_id, key_type, public_key, text in rows:
        out.setdefault(user_id, {})[key_type] = CrossSigningKey(
            user_id, key_type, public_key, loads(text)
        )
    return out


async def put_cross_signing_key(conn: AsyncConnection, key: CrossSigningKey, ts: int) -> None:
    c = e2e_cross_signing_keys.c
    await conn.execute(
        delete(e2e_cross_signing_keys).where(c.user_id == key.user_id, c.key_type == key.key_type)
    )
    await conn.execute(
        insert(e2e_cross_signing_keys).values(
            user_id=key.user_id,
            key_type=key.key_type,
            public_key=key.public_key,
            key_json=dumps(key.key),
            created_ts=ts,
        )
    )


async def signatures_on(conn: AsyncConnection, target_user_ids: Sequence[str]) -> list[Signature]:
    if not target_user_ids:
        return []
    c = e2e_cross_signing_signatures.c
    rows = await conn.execute(
        select(e2e_cross_signing_signatures).where(c.target_user_id.in_(target_user_ids))
    )
    return [Signature(**r._mapping) for r in rows]


async def put_signature(conn: AsyncConnection, sig: Signature) -> None:
    c = e2e_cross_signing_signatures.c
    await conn.execute(
        delete(e2e_cross_signing_signatures).where(
            c.target_user_id == sig.target_user_id,
            c.target_key_id == sig.target_key_id,
            c.signer_user_id == sig.signer_user_id,
            c.signer_key_id == sig.signer_key_id,
        )
    )
    await conn.execute(
        insert(e2e_cross_signing_signatures).values(
            target_user_id=sig.target_user_id,
            target_key_id=sig.target_key_id,
            signer_user_id=sig.signer_user_id,
            signer_key_id=sig.signer_key_id,
            signature=sig.signature,
        )
    )


# ---- device-list changes and who shares a room with whom -----------------------------------


async def mark_device_list_change(conn: AsyncConnection, user_id: str, pos: int) -> None:
    c = device_list_changes.c
    result = await conn.execute(
        update(device_list_changes).where(c.user_id == user_id).values(stream_pos=pos)
    )
    if result.rowcount == 0:
        await conn.execute(insert(device_list_changes).values(user_id=user_id, stream_pos=pos))


async def room_mates(conn: AsyncConnection, user_id: str) -> set[str]:
    """Users who share a joined room with ``user_id`` (including the user, if in any room)."""
    rows = await conn.execute(room_mates_query(user_id).distinct())
    return {str(r[0]) for r in rows}


def membership_moves() -> Select[Any]:
    """Membership events in (after, upto] of the rooms the user has any membership of: what
    their device tracking depends on besides key changes. ``/sync`` reads them with the key
    changes; its probe (``store/sync_probe.py``) asks whether there are any."""
    e, m = events.c, current_state.c
    my_rooms = select(m.room_id).where(
        m.state_key == bindparam("user_id"), m.type == "m.room.member"
    )
    return select(e.state_key, e.room_id, func.coalesce(e.membership, ""), e.stream_pos).where(
        e.room_id.in_(my_rooms),
        e.type == "m.room.member",
        e.stream_pos > bindparam("after"),
        e.stream_pos <= bindparam("upto"),
    )


def _device_list_activity_query() -> Any:
    c = device_list_changes.c
    user: Any = bindparam("user_id")
    keys = select(
        c.user_id.label("user_id"),
        literal("").label("room_id"),
        literal("").label("membership"),
        c.stream_pos.label("stream_pos"),
    ).where(
        c.stream_pos > bindparam("after"),
        c.stream_pos <= bindparam("upto"),
        or_(c.user_id == user, c.user_id.in_(room_mates_query(user))),
    )
    return union_all(keys, membership_moves()).order_by("stream_pos")


_DEVICE_LIST_ACTIVITY = HotQuery(_device_list_activity_query())


async def device_list_activity(
    conn: AsyncConnection, user_id: str, after: int, upto: int
) -> tuple[set[str], list[MembershipChange]]:
    """What happened in (after, upto] that ``user_id``'s device tracking depends on, in one
    query: the users whose keys changed and who now share a joined room with them (or the
    user themselves), and the membership events of the rooms the user has any membership of
    (oldest first)."""
    changed: set[str] = set()
    changes: list[MembershipChange] = []
    params = {"user_id": user_id, "after": after, "upto": upto}
    for user, room_id, membership, pos in await _DEVICE_LIST_ACTIVITY.rows(conn, params):
        if room_id:
            changes.append(MembershipChange(room_id, user, membership, pos))
        else:
            changed.add(user)
    return changed, changes


async def joined_members(conn: AsyncConnection, room_ids: Sequence[str]) -> set[str]:
    if not room_ids:
        return set()
    m = current_state.c
    rows = await conn.execute(
        select(m.state_key)
        .where(m.type == "m.room.member", m.membership == "join", m.room_id.in_(room_ids))
        .distinct()
    )
    return {u for (u,) in rows}
