"""Verification of a letter and its export as a self-contained zip bundle.

Verification recomputes the canonical form from the letter as stored now, checks every stored
signature (and X.509 chain, at the time of signing, against the configured anchors) and hashes
every attachment as found in the media store now: a change to the stored letter or to an
attachment after signing shows as a failed check with its reason. It reads only the database
and the media store, so ``tumar letters verify`` works offline.

The bundle holds ``letter.json`` (the record), ``letter.html`` (readable), ``signatures.json``
and ``signatures/`` (each signature, certificate and chain), ``report.json`` and
``report.html`` (the verification report) and ``attachments/`` (the files as stored).
"""

from __future__ import annotations

import html
import io
import zipfile
from typing import Any

import orjson

from tumar.core.correspondence_access import Context
from tumar.core.correspondence_keys import SigningKeys
from tumar.policy.letter_signing import VerificationReport, from_ms, iso_ms
from tumar.policy.notice_markdown import UnsafeContent, render


def _iso(ts: int | None) -> str | None:
    return iso_ms(from_ms(ts)) if ts is not None else None


def letter_record(ctx: Context) -> dict[str, Any]:
    """The letter as stored, for ``letter.json``."""
    letter = ctx.letter
    return {
        "letter_id": letter.letter_id,
        "status": letter.status,
        "sender_org": letter.sender_org,
        "author": letter.author,
        "subject": letter.subject,
        "body": letter.body,
        "label": letter.label,
        "label_orgs": list(letter.label_orgs),
        "reply_to": letter.reply_to,
        "approval": letter.approval_mode,
        "approvers": list(letter.approvers),
        "signatory": letter.signatory,
        "outgoing_number": letter.outgoing_number,
        "registered_at": _iso(letter.registered_ts),
        "registered_by": letter.registered_by,
        "created_at": _iso(letter.created_ts),
        "recipients": [
            {
                "org": r.org_code,
                "status": r.status,
                "incoming_number": r.incoming_number,
                "registered_at": _iso(r.registered_ts),
                "resolution": r.resolution,
                "executors": list(r.executors),
                "controller": r.controller,
                "due_at": _iso(r.due_ts),
                "closed_at": _iso(r.closed_ts),
            }
            for r in ctx.recipients
        ],
        "attachments": [
            {"name": a.name, "size": a.size, "content_type": a.content_type, "sha256": a.sha256}
            for a in ctx.attachments
        ],
        "history": [
            {
                "at": _iso(h.ts),
                "actor": h.actor,
                "action": h.action,
                "org": h.org_code,
                "status": h.status,
                "comment": h.comment,
            }
            for h in ctx.history
        ],
    }


def signatures_record(ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            "seq": s.seq,
            "stage": s.stage,
            "signer": s.signer,
            "key_id": s.key_id,
            "kind": s.kind,
            "algorithm": s.algorithm,
            "signature": s.signature,
            "signed_at": _iso(s.signed_ts),
            "canonical_sha256": s.canonical_sha256,
            "public_key": s.public_key or None,
        }
        for s in ctx.signatures
    ]


def letter_html(ctx: Context) -> str:
    letter = ctx.letter
    e = html.escape
    try:
        body = render(letter.body, max_chars=10**7).html
    except UnsafeContent:
        body = f"<pre>{e(letter.body)}</pre>"
    rows = [
        ("Number", letter.outgoing_number or ""),
        ("Registered", _iso(letter.registered_ts) or ""),
        ("From", ctx.names.get(letter.sender_org) or letter.sender_org),
        ("To", ", ".join(ctx.names.get(r.org_code) or r.org_code for r in ctx.recipients)),
        ("Classification", letter.label),
        ("Signatory", letter.signatory),
    ]
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    files = "".join(
        f"<li>{e(a.name)} ({a.size} bytes, SHA-256 <code>{e(a.sha256 or '')}</code>)</li>"
        for a in ctx.attachments
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{e(letter.subject)}</title></head><body>"
        f"<h1>{e(letter.subject)}</h1><table>{table}</table>"
        f"<div>{body}</div>"
        + (f"<h2>Attachments</h2><ul>{files}</ul>" if files else "")
        + "</body></html>"
    )


def safe_name(name: str, used: set[str]) -> str:
    base = "".join(c if c.isprintable() and c not in '/\\:*?"<>|' else "_" for c in name)
    base = base.strip(". ") or "attachment"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{n}-{base}"
    used.add(candidate)
    return candidate


async def bundle(
    ctx: Context, report: VerificationReport, keys: SigningKeys, max_bytes: int
) -> bytes:
    """The zip bundle of a registered letter."""
    out = io.BytesIO()
    dump = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("letter.json", orjson.dumps(letter_record(ctx), option=dump))
        z.writestr("letter.html", letter_html(ctx))
        z.writestr("signatures.json", orjson.dumps(signatures_record(ctx), option=dump))
        for s in ctx.signatures:
            stem = f"signatures/{s.seq}-{s.stage}"
            z.writestr(f"{stem}.sig", s.signature + "\n")
            if s.certificate_pem:
                z.writestr(f"{stem}.cert.pem", s.certificate_pem)
            if s.chain_pem:
                z.writestr(f"{stem}.chain.pem", s.chain_pem)
        z.writestr("report.json", report.to_json())
        z.writestr("report.html", report.to_html())
        used: set[str] = set()
        for a in ctx.attachments:
            data = await keys.read_media(a.mxc, max_bytes)
            if data is not None:
                z.writestr(f"attachments/{safe_name(a.name, used)}", data)
    return out.getvalue()
