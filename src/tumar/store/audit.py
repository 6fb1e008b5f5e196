"""The audit log: append-only rows of who did what, when, from where, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.directory import subtree
from tumar.store.schema import audit_log, organisations


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


async def insert_entry(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(audit_log).values(**values))


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


async def list_entries(conn: AsyncConnection, q: AuditQuery) -> list[AuditEntry]:
    """Newest first."""
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
    query = select(*audit_log.c).select_from(source)
    if conds:
        query = query.where(and_(*conds))
    rows = await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(q.limit))
    return [AuditEntry(**r._mapping) for r in rows]


async def count_entries(conn: AsyncConnection, actions: Sequence[str]) -> int:
    query = select(func.count()).where(audit_log.c.action.in_(actions))
    return int((await conn.execute(query)).scalar_one())


async def insert_entries(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> None:
    """Many rows in one statement (each a dict of every column but ``seq``)."""
    if entries:
        await conn.execute(insert(audit_log), list(entries))
