"""Compliance export of a room, a person or a time range: JSON Lines plus a readable HTML
document, with the audit proof.

What it holds:

- the events (room: every event of the room; person: every event they sent; both limited
  to the time range if one is given; time range alone: every event in it), content decrypted;
- the audit rows about the room, or by or about the person, or in the range, exactly as
  stored (``before``/``after`` as their JSON text) with ``prev_hash`` and ``row_hash``;
- the proof: the export is audited first (``compliance.export``), then a checkpoint is signed
  at the chain's head, which covers that row and every exported row; the proof names that
  checkpoint (seq, hash, time, key id, signature), the Ed25519 public key to check it with,
  the chain's verification at export time, and the SHA-256 of the JSON Lines before it.

JSON Lines: one object per line with ``"kind"``: ``manifest`` first, then ``event`` lines,
``audit`` lines, and ``proof`` last, whose ``sha256`` is the hash of every byte before it.

Scope: ``audit.export``. A room or a bare time range needs it deployment-wide (rooms belong
to no organisation); a person's export needs it over the person's organisation. The whole
export is built in memory; limit the time range for very large rooms.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tumar.clock import Clock
from tumar.core import audit
from tumar.core.audit_chain import AuditChain
from tumar.core.audit_verify import verify_chain
from tumar.errors import MatrixError
from tumar.ids import RoomId, UserId
from tumar.policy.audit_chain import key_id_of
from tumar.policy.roles import Actor, Permission
from tumar.store import audit as audit_store
from tumar.store import compliance as store
from tumar.store import directory as directory_store
from tumar.store.audit import AuditEntry
from tumar.store.db import Database
from tumar.store.events import StoredEvent

PAGE = 1000


@dataclass(frozen=True, slots=True)
class ComplianceQuery:
    room_id: str | None = None
    user_id: str | None = None
    since_ts: int | None = None
    until_ts: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class ComplianceExport:
    jsonl: bytes
    html: str
    proof: Mapping[str, Any]
    events: int
    audit_rows: int


def _check_query(q: ComplianceQuery) -> None:
    if q.room_id is None and q.user_id is None and (q.since_ts is None or q.until_ts is None):
        raise MatrixError(
            400, "M_INVALID_PARAM", "Name a room, a person, or a time range (since and until)."
        )
    if q.room_id is not None and q.user_id is not None:
        raise MatrixError(400, "M_INVALID_PARAM", "Export a room or a person, not both at once.")
    if q.room_id is not None:
        RoomId.parse(q.room_id)
    if q.user_id is not None:
        UserId.parse(q.user_id)
    if q.since_ts is not None and q.until_ts is not None and q.until_ts <= q.since_ts:
        raise MatrixError(400, "M_INVALID_PARAM", "The time range ends before it starts.")


class ComplianceExporter:
    def __init__(self, db: Database, clock: Clock, chain: AuditChain) -> None:
        self._db = db
        self._clock = clock
        self._chain = chain

    async def _check_scope(self, actor: Actor, q: ComplianceQuery) -> str | None:
        """Refuse what the actor may not export; returns the person's organisation."""
        scopes = actor.scopes(Permission.AUDIT_EXPORT)
        if not scopes:
            raise MatrixError(403, "TUMAR_OUT_OF_SCOPE", "You may not make compliance exports.")
        org_code = None
        if q.user_id is not None:
            async with self._db.read() as conn:
                person = await directory_store.person_by_user(conn, q.user_id)
                org = (
                    await directory_store.get_org(conn, person.org_code)
                    if person is not None
                    else None
                )
            if org is not None:
                org_code = org.code
                if not actor.may(Permission.AUDIT_EXPORT, org.path):
                    raise MatrixError(
                        403, "TUMAR_OUT_OF_SCOPE", "That person is outside your audit scope."
                    )
                return org_code
        if not actor.is_global(Permission.AUDIT_EXPORT):
            raise MatrixError(
                403,
                "TUMAR_OUT_OF_SCOPE",
                "Exports of rooms and time ranges need deployment-wide audit export rights.",
            )
        return org_code

    async def do_export(self, actor: Actor, q: ComplianceQuery) -> ComplianceExport:
        _check_query(q)
        org_code = await self._check_scope(actor, q)
        now = self._clock.now_ms()
        target_type, target_id = (
            ("room", q.room_id)
            if q.room_id is not None
            else ("user", q.user_id)
            if q.user_id is not None
            else ("range", f"{q.since_ts}-{q.until_ts}")
        )
        async with self._db.write() as conn:
            head = await audit_store.head(conn)
            head_seq = head[0] if head is not None else 0
            await audit.record(
                conn, audit.Who(actor.user_id, actor.ip), now, "compliance.export",
                target_type, target_id or "", org_code=org_code,
                after={"query": q.as_dict(), "head_seq": head_seq},
            )  # fmt: skip
        checkpoint = await self._chain.do_checkpoint()
        events = await self._events(q)
        rows = await self._audit_rows(q, head_seq)
        raw = await self._chain.public_key()
        report = await verify_chain(self._db, {key_id_of(raw): raw})
        async with self._db.read() as conn:
            if checkpoint is None:  # another node signed the head first
                checkpoint = await audit_store.checkpoint_covering(conn, head_seq + 1)
        manifest = {
            "kind": "manifest",
            "format": "kz.tumar.compliance_export.v1",
            "query": q.as_dict(),
            "exported_by": actor.user_id,
            "exported_ts": now,
            "events": len(events),
            "audit_rows": len(rows),
        }
        body = bytearray(orjson.dumps(manifest) + b"\n")
        for ev in events:
            body += orjson.dumps({"kind": "event", **_event_json(ev)}) + b"\n"
        for row in rows:
            body += orjson.dumps({"kind": "audit", **asdict(row)}) + b"\n"
        proof = {
            "kind": "proof",
            "sha256": hashlib.sha256(bytes(body)).hexdigest(),
            "checkpoint": asdict(checkpoint) if checkpoint is not None else None,
            "public_key": {"algorithm": "ed25519", "key_id": key_id_of(raw),
                           "public_key": _b64(raw)},
            "chain": {"ok": report.ok, "head_seq": report.head_seq,
                      "head_hash": report.head_hash,
                      "first_break": asdict(report.first_break) if report.first_break else None,
                      "bad_checkpoint": asdict(report.bad_checkpoint)
                      if report.bad_checkpoint else None},
        }  # fmt: skip
        body += orjson.dumps(proof) + b"\n"
        return ComplianceExport(
            jsonl=bytes(body),
            html=render_html(manifest, events, rows, proof),
            proof=proof,
            events=len(events),
            audit_rows=len(rows),
        )

    async def _events(self, q: ComplianceQuery) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        after = 0
        while True:
            async with self._db.read() as conn:
                page = await store.events_page(
                    conn, room_id=q.room_id, sender=q.user_id, since_ts=q.since_ts,
                    until_ts=q.until_ts, after_pos=after, limit=PAGE,
                )  # fmt: skip
            out.extend(page)
            if len(page) < PAGE:
                return out
            after = page[-1].stream_pos

    async def _audit_rows(self, q: ComplianceQuery, head_seq: int) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        after = 0
        while True:
            async with self._db.read() as conn:
                page = await store.audit_page(
                    conn, target_id=q.room_id, person=q.user_id, since_ts=q.since_ts,
                    until_ts=q.until_ts, after_seq=after, until_seq=head_seq, limit=PAGE,
                )  # fmt: skip
            out.extend(page)
            if len(page) < PAGE:
                return out
            after = page[-1].seq


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def _event_json(ev: StoredEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event_id": ev.event_id,
        "room_id": ev.room_id,
        "type": ev.type,
        "sender": ev.sender,
        "origin_server_ts": ev.origin_server_ts,
        "content": dict(ev.content),
        "stream_pos": ev.stream_pos,
    }
    if ev.state_key is not None:
        out["state_key"] = ev.state_key
    if ev.redacted_by is not None:
        out["redacted_by"] = ev.redacted_by
    return out


# ---- the readable document ---------------------------------------------------------------


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return html.escape(value, quote=True)


def _event_summary(ev: StoredEvent) -> str:
    body = ev.content.get("body")
    if isinstance(body, str):
        return body
    return orjson.dumps(dict(ev.content), option=orjson.OPT_SORT_KEYS).decode()


def render_html(
    manifest: Mapping[str, Any],
    events: Sequence[StoredEvent],
    rows: Sequence[AuditEntry],
    proof: Mapping[str, Any],
) -> str:
    """A self-contained HTML page; every value from users or the log is escaped."""
    query = manifest["query"]
    subject = ", ".join(f"{k}: {v}" for k, v in query.items())
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Compliance export: {_text(subject)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "width:100%}td,th{border:1px solid #999;padding:4px;vertical-align:top;"
        "text-align:left}code{word-break:break-all}</style></head><body>",
        f"<h1>Compliance export</h1><p>{_text(subject)}</p>",
        f"<p>Exported by {_text(manifest['exported_by'])} at "
        f"{_text(_when(manifest['exported_ts']))}: {len(events)} event(s), "
        f"{len(rows)} audit row(s).</p>",
        "<h2>Messages and events</h2><table><tr><th>time</th><th>room</th><th>sender</th>"
        "<th>type</th><th>content</th></tr>",
    ]
    for ev in events:
        out.append(
            f"<tr><td>{_text(_when(ev.origin_server_ts))}</td><td>{_text(ev.room_id)}</td>"
            f"<td>{_text(ev.sender)}</td><td>{_text(ev.type)}</td>"
            f"<td>{_text(_event_summary(ev))}</td></tr>"
        )
    out.append(
        "</table><h2>Audit log</h2><table><tr><th>seq</th><th>time</th><th>actor</th>"
        "<th>action</th><th>target</th><th>before</th><th>after</th><th>row hash</th></tr>"
    )
    for row in rows:
        out.append(
            f"<tr><td>{row.seq}</td><td>{_text(_when(row.ts))}</td><td>{_text(row.actor)}</td>"
            f"<td>{_text(row.action)}</td><td>{_text(row.target_type)} "
            f"{_text(row.target_id)}</td><td>{_text(row.before)}</td><td>{_text(row.after)}</td>"
            f"<td><code>{_text(row.row_hash)}</code></td></tr>"
        )
    out.append("</table><h2>Audit proof</h2>")
    cp = proof.get("checkpoint")
    chain = proof["chain"]
    if cp:
        out.append(
            f"<p>Signed checkpoint at seq {int(cp['seq'])} ({_text(_when(cp['ts']))}), "
            f"covering every audit row above: hash <code>{_text(cp['row_hash'])}</code>, "
            f"key <code>{_text(cp['key_id'])}</code>, signature "
            f"<code>{_text(cp['signature'])}</code>.</p>"
        )
    else:
        out.append("<p>No signed checkpoint covers this export.</p>")
    out.append(
        f"<p>Public key (Ed25519, base64): <code>{_text(proof['public_key']['public_key'])}"
        f"</code>.</p><p>Chain verified at export time: "
        f"{'intact' if chain['ok'] else 'NOT INTACT'} (head seq {_text(chain['head_seq'])}, "
        f"hash <code>{_text(chain['head_hash'])}</code>).</p>"
        f"<p>SHA-256 of the JSON Lines file before its proof line: "
        f"<code>{_text(proof['sha256'])}</code>.</p></body></html>"
    )
    return "\n".join(out)
