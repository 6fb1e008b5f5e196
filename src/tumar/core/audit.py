"""Writing audit rows inside the caller's transaction, so a change and its record commit or
roll back together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.errors import MatrixError
from tumar.policy.roles import Actor, Permission
from tumar.store import audit as audit_store
from tumar.store import directory as directory_store
from tumar.store.audit import AuditQuery
from tumar.store.db import Database
from tumar.store.json import dumps, loads


@dataclass(frozen=True, slots=True)
class Who:
    """The author of a change: a user id, or ``cli:<name>`` for the command line."""

    actor: str
    ip: str | None = None


async def record(
    conn: AsyncConnection,
    who: Who,
    ts: int,
    action: str,
    target_type: str,
    target_id: str,
    *,
    org_code: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    await audit_store.insert_entry(
        conn,
        ts=ts,
        actor=who.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        org_code=org_code,
        ip=who.ip,
        before=dumps(before) if before is not None else None,
        after=dumps(after) if after is not None else None,
    )


async def record_denial(
    db: Database,
    who: Who,
    ts: int,
    action: str,
    target_type: str,
    target_id: str,
    *,
    errcode: str,
    reason: str,
    org_code: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record a refused access (``action`` is ``denied.<what>``, e.g. ``denied.admin``,
    ``denied.join``, ``denied.send``) in its OWN short transaction: the refused command's
    transaction rolls back, and its audit row must not go with it. Call it after that
    transaction has ended (not while holding it, or SQLite waits on itself). ``org_code``
    defaults to the organisation of the person refused, so that security officers of that
    organisation see the refusal."""
    async with db.write() as conn:
        if org_code is None and who.actor.startswith("@"):
            person = await directory_store.person_by_user(conn, who.actor)
            org_code = person.org_code if person is not None else None
        await record(
            conn, who, ts, action, target_type, target_id, org_code=org_code,
            after={"errcode": errcode, "reason": reason, **(details or {})},
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit row of a bulk change (see :func:`record_many`)."""

    action: str
    target_type: str
    target_id: str
    org_code: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


async def record_many(conn: AsyncConnection, who: Who, ts: int, entries: Sequence[Entry]) -> None:
    """Like :func:`record` for many changes by one author at one time, in one statement."""
    await audit_store.insert_entries(
        conn,
        [
            {
                "ts": ts,
                "actor": who.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "org_code": e.org_code,
                "ip": who.ip,
                "before": dumps(e.before) if e.before is not None else None,
                "after": dumps(e.after) if e.after is not None else None,
            }
            for e in entries
        ],
    )


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """Only the fields that differ, as (before, after) dictionaries for an audit row."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


class AuditReader:
    """Reads the audit log for an administrator, limited to their AUDIT_READ scope; entries
    about no organisation (logins, deployment changes) are visible to global readers only."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_entries(self, actor: Actor, query: AuditQuery) -> list[dict[str, Any]]:
        scopes = tuple(actor.scopes(Permission.AUDIT_READ))
        if not scopes:
            raise MatrixError(403, "TUMAR_OUT_OF_SCOPE", "You may not read the audit log.")
        async with self._db.read() as conn:
            entries = await audit_store.list_entries(conn, replace(query, scopes=scopes))
        return [
            {
                **asdict(e),
                "before": loads(e.before) if e.before is not None else None,
                "after": loads(e.after) if e.after is not None else None,
            }
            for e in entries
        ]
