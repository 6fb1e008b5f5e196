"""The audit log: append-only rows of who did what, when, from where, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.audit_chain import FIELDS, GENESIS, ChainRow, hash_row
from tumar.store import tx
from tumar.store.directory import subtree
from tumar.store.schema import audit_checkpoints, audit_log, organisations


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    ts: int
    actor: str
    action: str
    target_type: str
    target_id: str
    org_code: str | None
    ip: str | None
    before: str | None  # compact JSON text
    after: str | None
    prev_hash: str
    row_hash: str


async def insert_entry(conn: AsyncConnection, **values: Any) -> None:
    await insert_entries(conn, [values])


@dataclass(frozen=True, slots=True)
class AuditQuery:
    scopes: tuple[str, ...]  # "" = everything, including entries with no organisation
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("login." matches all logins)
    target_id: str | None = None
    text: str | None = None
    since_ts: int | None = None
    until_ts: int | None = None
    limit: int = 100
    before_seq: int | None = None  # paging: entries older than this
    target_type: str | None = None
    org_code: str | None = None  # exactly this organisation (not its subtree)
    after_seq: int | None = None  # paging forwards: entries newer than this
    oldest_first: bool = False


async def list_entries(conn: AsyncConnection, q: AuditQuery) -> list[AuditEntry]:
    """Newest first (``oldest_first`` for exports)."""
    conds: list[Any] = []
    source: Any = audit_log
    if "" not in q.scopes:
        if not q.scopes:
            return []
        source = audit_log.join(organisations, organisations.c.code == audit_log.c.org_code)
        conds.append(or_(*(subtree(p) for p in q.scopes)))
    if q.actor is not None:
        conds.append(audit_log.c.actor == q.actor)
    if q.action is not None:
        if q.action.endswith("."):
            conds.append(audit_log.c.action.startswith(q.action, autoescape=True))
        else:
            conds.append(audit_log.c.action == q.action)
    if q.target_id is not None:
        conds.append(audit_log.c.target_id == q.target_id)
    if q.text:
        pattern = (
            "%" + q.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        conds.append(
            or_(
                *(
                    func.lower(func.coalesce(c, "")).like(pattern, escape="\\")
                    for c in (audit_log.c.before, audit_log.c.after, audit_log.c.target_id)
                )
            )
        )
    if q.since_ts is not None:
        conds.append(audit_log.c.ts >= q.since_ts)
    if q.until_ts is not None:
        conds.append(audit_log.c.ts < q.until_ts)
    if q.before_seq is not None:
        conds.append(audit_log.c.seq < q.before_seq)
    if q.after_seq is not None:
        conds.append(audit_log.c.seq > q.after_seq)
    if q.target_type is not None:
        conds.append(audit_log.c.target_type == q.target_type)
    if q.org_code is not None:
        conds.append(audit_log.c.org_code == q.org_code)
    query = select(*audit_log.c).select_from(source)
    if conds:
        query = query.where(and_(*conds))
    order = audit_log.c.seq if q.oldest_first else audit_log.c.seq.desc()
    rows = await conn.execute(query.order_by(order).limit(q.limit))
    return [AuditEntry(**r._mapping) for r in rows]


async def count_entries(conn: AsyncConnection, actions: Sequence[str]) -> int:
    query = select(func.count()).where(audit_log.c.action.in_(actions))
    return int((await conn.execute(query)).scalar_one())


async def insert_entries(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> None:
    """Append rows (each a dict of every column but ``seq`` and the hashes) to the chain.

    Inside :meth:`Database.write` the rows are appended when the transaction commits (see
    ``store/tx.py``): the chain lock is then the last lock taken and is held only for the
    commit. Elsewhere they are appended at once."""
    if not entries:
        return
    state = tx.pending(conn)
    if state is None:
        await append_chained(conn, entries)
        return
    rows: list[dict[str, Any]] = state.data.setdefault(_PENDING, [])
    rows.extend(dict(e) for e in entries)
    state.hooks.setdefault(_PENDING, _flush)


_PENDING = "audit_chain"
# pg_advisory_xact_lock(class, object): class is this constant, object the schema's hash, so
# that deployments (and test schemas) sharing one PostgreSQL database do not wait on each other.
_LOCK_CLASS = 0x7475  # "tu"


async def _flush(conn: AsyncConnection) -> None:
    state = tx.pending(conn)
    rows = state.data.pop(_PENDING, []) if state is not None else []
    await append_chained(conn, rows)


async def lock_chain(conn: AsyncConnection) -> None:
    """Serialise appends to the chain until the transaction ends. SQLite writers are
    serialised already (one writer at a time, ``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:cls, hashtext(current_schema()))"),
            {"cls": _LOCK_CLASS},
        )


async def head(conn: AsyncConnection) -> tuple[int, str] | None:
    """The last row's seq and hash."""
    row = (
        await conn.execute(
            select(audit_log.c.seq, audit_log.c.row_hash).order_by(audit_log.c.seq.desc()).limit(1)
        )
    ).first()
    return (int(row.seq), str(row.row_hash)) if row is not None else None


async def append_chained(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> None:
    """Lock the chain, then append ``entries`` after its head with consecutive seqs."""
    if not entries:
        return
    await lock_chain(conn)
    last = await head(conn)
    seq, prev = last if last is not None else (0, GENESIS)
    values = []
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {name: entry.get(name) for name in FIELDS}
        row["seq"] = seq
        digest = hash_row(prev, ChainRow(**row, prev_hash=prev, row_hash=None))
        values.append({**row, "prev_hash": prev, "row_hash": digest})
        prev = digest
    await conn.execute(insert(audit_log), values)


# ---- reading the chain -------------------------------------------------------------------


async def chain_rows(
    conn: AsyncConnection, after_seq: int, limit: int, *, until_seq: int | None = None
) -> list[ChainRow]:
    """Rows with seq above ``after_seq`` (and at most ``until_seq``), oldest first."""
    query = select(*audit_log.c).where(audit_log.c.seq > after_seq)
    if until_seq is not None:
        query = query.where(audit_log.c.seq <= until_seq)
    rows = await conn.execute(query.order_by(audit_log.c.seq).limit(limit))
    return [ChainRow(**r._mapping) for r in rows]


async def rows_before(conn: AsyncConnection, seq: int, limit: int) -> list[ChainRow]:
    """Up to ``limit`` rows just below ``seq``, oldest first."""
    query = select(*audit_log.c).where(audit_log.c.seq < seq)
    rows = await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit))
    return [ChainRow(**r._mapping) for r in rows][::-1]


# ---- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    row_hash: str
    ts: int
    key_id: str
    signature: str  # base64


async def last_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    query = select(*audit_checkpoints.c).order_by(audit_checkpoints.c.seq.desc()).limit(1)
    row = (await conn.execute(query)).first()
    return Checkpoint(**row._mapping) if row is not None else None


async def checkpoint_covering(conn: AsyncConnection, seq: int) -> Checkpoint | None:
    """The first checkpoint at or after ``seq`` (it vouches for every row up to ``seq``)."""
    query = (
        select(*audit_checkpoints.c)
        .where(audit_checkpoints.c.seq >= seq)
        .order_by(audit_checkpoints.c.seq)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return Checkpoint(**row._mapping) if row is not None else None


async def list_checkpoints(conn: AsyncConnection) -> list[Checkpoint]:
    rows = await conn.execute(select(*audit_checkpoints.c).order_by(audit_checkpoints.c.seq))
    return [Checkpoint(**r._mapping) for r in rows]


async def insert_checkpoint(conn: AsyncConnection, cp: Checkpoint) -> bool:
    """Record a checkpoint unless one exists at that seq already (another node's)."""
    if (
        await conn.scalar(select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == cp.seq))
        is not None
    ):
        return False
    await conn.execute(insert(audit_checkpoints).values(**asdict(cp)))
    return True
