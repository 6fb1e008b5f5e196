"""Exports of the audit log (JSON Lines) and verification of its chain, for holders of
``audit.export`` (security officers and operators).

Scope: a deployment-wide holder exports every row; a holder scoped to an organisation subtree
exports only the rows about organisations in that subtree (rows about no organisation, such as
deployment changes, stay with deployment-wide holders), exactly as the audit search scopes
``audit.read``. Verification reads the whole chain and reports only seqs, hashes and counts,
so every holder of ``audit.export`` may run it.

Every export is itself audited (``audit.export``, with its filters and the head seq it covers)
before the first line is produced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from tumar.clock import Clock
from tumar.core import audit
from tumar.core.audit_chain import AuditChain
from tumar.core.audit_verify import VerifyReport, verify_chain
from tumar.errors import MatrixError
from tumar.policy.audit_chain import key_id_of
from tumar.policy.roles import Actor, Permission, contains
from tumar.store import audit as audit_store
from tumar.store import directory as directory_store
from tumar.store.audit import AuditEntry, AuditQuery
from tumar.store.db import Database

PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since_ts: int | None = None  # inclusive, ms
    until_ts: int | None = None  # exclusive, ms
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "."
    target_type: str | None = None
    target_id: str | None = None
    org_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def entry_json(e: AuditEntry) -> dict[str, Any]:
    """One exported row: every column as stored (``before`` and ``after`` as their JSON
    text), so anyone can recompute ``row_hash`` (see ``policy/audit_chain.py``)."""
    return asdict(e)


def line(e: AuditEntry) -> bytes:
    return orjson.dumps(entry_json(e)) + b"\n"


def export_scopes(actor: Actor) -> tuple[str, ...]:
    scopes = tuple(actor.scopes(Permission.AUDIT_EXPORT))
    if not scopes:
        raise MatrixError(403, "TUMAR_OUT_OF_SCOPE", "You may not export the audit log.")
    return scopes


class AuditExporter:
    def __init__(self, db: Database, clock: Clock, chain: AuditChain) -> None:
        self._db = db
        self._clock = clock
        self._chain = chain

    async def check_org_filter(self, scopes: tuple[str, ...], org_code: str | None) -> None:
        if org_code is None or "" in scopes:
            return
        async with self._db.read() as conn:
            org = await directory_store.get_org(conn, org_code)
        if org is None or not any(contains(s, org.path) for s in scopes):
            raise MatrixError(
                403, "TUMAR_OUT_OF_SCOPE", "That organisation is outside your audit scope."
            )

    async def start_export(self, actor: Actor, f: AuditFilter) -> AsyncIterator[bytes]:
        """Check scope, audit the export, and return its lines (oldest first). Errors are
        raised here, before the first line, so an API answers them as plain errors."""
        scopes = export_scopes(actor)
        if any(isinstance(v, str) and "\x00" in v for v in asdict(f).values()):
            raise MatrixError(400, "M_INVALID_PARAM", "Text must not contain NUL (U+0000).")
        await self.check_org_filter(scopes, f.org_code)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            head = await audit_store.head(conn)
            head_seq = head[0] if head is not None else 0
            await audit.record(
                conn, audit.Who(actor.user_id, actor.ip), now, "audit.export", "audit", "log",
                after={"filters": f.as_dict(), "head_seq": head_seq},
            )  # fmt: skip
        return self._lines(scopes, f, head_seq)

    async def _lines(
        self, scopes: tuple[str, ...], f: AuditFilter, head_seq: int
    ) -> AsyncIterator[bytes]:
        async for e in self.entries(scopes, f, head_seq):
            yield line(e)

    async def entries(
        self, scopes: tuple[str, ...], f: AuditFilter, head_seq: int
    ) -> AsyncIterator[AuditEntry]:
        """Matching rows up to ``head_seq``, oldest first, a page per read transaction."""
        query = AuditQuery(
            scopes=scopes,
            actor=f.actor,
            action=f.action,
            target_id=f.target_id,
            target_type=f.target_type,
            org_code=f.org_code,
            since_ts=f.since_ts,
            until_ts=f.until_ts,
            limit=PAGE,
            before_seq=head_seq + 1,
            after_seq=0,
            oldest_first=True,
        )
        while True:
            async with self._db.read() as conn:
                page = await audit_store.list_entries(conn, query)
            for e in page:
                yield e
            if len(page) < PAGE:
                return
            query = replace(query, after_seq=page[-1].seq)

    async def verify(self, actor: Actor | None, public_key: bytes | None = None) -> VerifyReport:
        """Verify the whole chain (``actor`` None: the command line). ``public_key``: check
        signatures against this key instead of the deployment's own (offline verification)."""
        if actor is not None:
            export_scopes(actor)
        raw = public_key if public_key is not None else await self._chain.public_key()
        return await verify_chain(self._db, {key_id_of(raw): raw})
