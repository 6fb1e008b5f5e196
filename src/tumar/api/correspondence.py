"""``/_tumar/letters/v1``: registered official correspondence for officials, with their Matrix
access token: drafting, approval, signing, registration, resolutions, replies, the journal,
control, verification and bundles, signing keys. Every route is one core call; who may do what
is decided by ``policy/letters.py`` in the core (``docs/correspondence.md``)."""

from __future__ import annotations

import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.core.correspondence import LetterView, Resolution
from tumar.core.correspondence_control import ControlReport, Counts, JournalEntry, LetterControl
from tumar.core.correspondence_drafts import LetterDraft
from tumar.core.gov_notices_content import iso
from tumar.errors import MatrixError
from tumar.store.correspondence import JournalQuery, Recipient, SigningKey

router = APIRouter(prefix="/_tumar/letters/v1", tags=["letters"])
OrgCode = Field(min_length=1, max_length=64)


class AttachmentIn(RequestBody):
    mxc: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=255)


class LetterIn(RequestBody):
    sender_org: str = OrgCode
    recipients: list[str] = Field(default_factory=list, max_length=5000)
    subject: str = Field(max_length=1000)
    body: str = Field(max_length=1_000_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=500)
    label: str | None = Field(default=None, max_length=100)
    label_orgs: list[str] = Field(default_factory=list, max_length=100)
    reply_to: str | None = Field(default=None, max_length=100)
    approvers: list[str] = Field(default_factory=list, max_length=100)
    approval: Literal["ordered", "parallel"] = "ordered"
    signatory: str = Field(default="", max_length=300)

    def draft(self) -> LetterDraft:
        return LetterDraft(
            sender_org=self.sender_org,
            recipients=tuple(self.recipients),
            subject=self.subject,
            body=self.body,
            attachments=tuple((a.mxc, a.name) for a in self.attachments),
            label=self.label,
            label_orgs=tuple(self.label_orgs),
            reply_to=self.reply_to,
            approvers=tuple(self.approvers),
            approval=self.approval,
            signatory=self.signatory,
        )


class CommentIn(RequestBody):
    comment: str | None = Field(default=None, max_length=5000)


class SignIn(RequestBody):
    key_id: str | None = Field(default=None, max_length=200)


class RoomIn(RequestBody):
    room_id: str | None = Field(default=None, max_length=300)


class ResolutionIn(RequestBody):
    text: str = Field(max_length=20_000)
    executors: list[str] = Field(max_length=100)
    due_date: str = Field(max_length=10, description="YYYY-MM-DD")
    controller: str | None = Field(default=None, max_length=300)


class ReplyIn(RequestBody):
    text: str = Field(max_length=20_000)
    reply_letter_id: str | None = Field(default=None, max_length=100)


class CertificateIn(RequestBody):
    certificate_pem: str = Field(max_length=200_000)
    private_key_pem: str = Field(max_length=200_000)
    chain_pem: str | None = Field(default=None, max_length=200_000)


# ---- serialisation -------------------------------------------------------------------------


def due_date(svc: Svc, due_ts: int | None) -> str | None:
    if due_ts is None:
        return None
    zone = svc.correspondence.numbering.zone
    return datetime.datetime.fromtimestamp((due_ts - 1) / 1000, zone).date().isoformat()


def recipient_json(svc: Svc, v: LetterView, r: Recipient) -> dict[str, Any]:
    resolution = None
    if r.resolution is not None:
        resolution = {
            "text": r.resolution,
            "executors": list(r.executors),
            "controller": r.controller,
            "due_date": due_date(svc, r.due_ts),
            "due_at": iso(r.due_ts),
            "resolved_by": r.resolved_by,
            "resolved_at": iso(r.resolved_ts),
        }
    replies = [
        {"executor": h.actor, "text": h.comment, "at": iso(h.ts)}
        for h in v.ctx.history
        if h.action == "reply" and h.org_code == r.org_code
    ]
    return {
        "org": r.org_code,
        "name": v.ctx.names.get(r.org_code),
        "status": r.status,
        "delivered_at": iso(r.delivered_ts),
        "incoming_number": r.incoming_number,
        "registered_at": iso(r.registered_ts),
        "registered_by": r.registered_by,
        "resolution": resolution,
        "replies": replies,
        "reply_letter_id": r.reply_letter_id,
        "closed_by": r.closed_by,
        "closed_at": iso(r.closed_ts),
        "overdue": bool(
            r.due_ts is not None
            and r.status in ("resolved", "in_execution")
            and r.due_ts <= svc.clock.now_ms()
        ),
        "allowed_actions": list(v.allowed_by_org.get(r.org_code, ())),
    }


def approvers_json(v: LetterView) -> list[dict[str, Any]]:
    letter = v.letter
    current = {a.user_id: a for a in v.ctx.approvals if a.round == letter.round}
    return [
        {
            "user_id": user_id,
            "status": current[user_id].decision if user_id in current else "pending",
            "comment": current[user_id].comment if user_id in current else None,
            "at": iso(current[user_id].ts) if user_id in current else None,
        }
        for user_id in letter.approvers
    ]


def summary_json(svc: Svc, v: LetterView) -> dict[str, Any]:
    letter = v.letter
    return {
        "letter_id": letter.letter_id,
        "status": letter.status,
        "sender_org": letter.sender_org,
        "sender_name": v.ctx.names.get(letter.sender_org),
        "author": letter.author,
        "subject": letter.subject,
        "label": letter.label,
        "outgoing_number": letter.outgoing_number,
        "registered_at": iso(letter.registered_ts),
        "recipients": [
            {
                "org": r.org_code,
                "status": r.status,
                "incoming_number": r.incoming_number,
                "due_date": due_date(svc, r.due_ts),
            }
            for r in v.ctx.recipients
        ],
        "created_at": iso(letter.created_ts),
        "updated_at": iso(letter.updated_ts),
        "allowed_actions": list(v.allowed),
    }


def letter_json(svc: Svc, v: LetterView) -> dict[str, Any]:
    letter = v.letter
    return {
        **summary_json(svc, v),
        "body": letter.body,
        "body_html": v.body_html,
        "label_orgs": list(letter.label_orgs),
        "reply_to": letter.reply_to,
        "approval": letter.approval_mode,
        "approvers": approvers_json(v),
        "signatory": letter.signatory,
        "registered_by": letter.registered_by,
        "room_id": letter.room_id,
        "recipients": [recipient_json(svc, v, r) for r in v.ctx.recipients],
        "attachments": [
            {
                "index": a.position,
                "mxc": a.mxc,
                "name": a.name,
                "size": a.size,
                "content_type": a.content_type,
                "sha256": a.sha256,
            }
            for a in v.ctx.attachments
        ],
        "signatures": [
            {
                "stage": s.stage,
                "signer": s.signer,
                "key_id": s.key_id,
                "kind": s.kind,
                "algorithm": s.algorithm,
                "signed_at": iso(s.signed_ts),
            }
            for s in v.ctx.signatures
        ],
        "history": [
            {
                "seq": h.seq,
                "at": iso(h.ts),
                "actor": h.actor,
                "action": h.action,
                "org": h.org_code,
                "status": h.status,
                "comment": h.comment,
            }
            for h in v.ctx.history
        ],
    }


def key_json(k: SigningKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "kind": k.kind,
        "algorithm": k.algorithm,
        "public_key": k.public_key or None,
        "certificate_pem": k.certificate_pem,
        "subject": k.subject,
        "issuer": k.issuer,
        "serial": k.serial,
        "not_before": iso(k.not_before_ts),
        "not_after": iso(k.not_after_ts),
        "created_at": iso(k.created_ts),
        "revoked_at": iso(k.revoked_ts),
    }


# ---- letters -------------------------------------------------------------------------------


@router.post("/letters", status_code=201)
async def create(svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(LetterIn, body)
    v = await svc.correspondence.do_create(requester, data.draft())
    return ok(letter_json(svc, v), status=201)


@router.get("/letters")
async def list_letters(
    svc: Svc,
    requester: Auth,
    box: str = Query("all", max_length=20),
    q: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=500),
) -> Response:
    found = await svc.correspondence.list_letters(requester, box, q, limit)
    return ok({"letters": [summary_json(svc, v) for v in found]})


@router.get("/letters/{letter_id}")
async def get_letter(letter_id: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.get(requester, letter_id)))


@router.put("/letters/{letter_id}")
async def edit(letter_id: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(LetterIn, body)
    return ok(
        letter_json(svc, await svc.correspondence.do_edit(requester, letter_id, data.draft()))
    )


@router.post("/letters/{letter_id}/submit")
async def submit(letter_id: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.do_submit(requester, letter_id)))


@router.post("/letters/{letter_id}/approve")
async def approve(letter_id: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(CommentIn, body)
    v = await svc.correspondence.do_approve(requester, letter_id, data.comment)
    return ok(letter_json(svc, v))


@router.post("/letters/{letter_id}/return")
async def return_letter(letter_id: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(CommentIn, body)
    v = await svc.correspondence.do_return(requester, letter_id, data.comment or "")
    return ok(letter_json(svc, v))


@router.post("/letters/{letter_id}/withdraw")
async def withdraw(letter_id: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.do_withdraw(requester, letter_id)))


@router.post("/letters/{letter_id}/sign")
async def sign(letter_id: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(SignIn, body)
    return ok(letter_json(svc, await svc.correspondence.do_sign(requester, letter_id, data.key_id)))


@router.post("/letters/{letter_id}/register")
async def register(letter_id: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.do_register(requester, letter_id)))


@router.post("/letters/{letter_id}/room")
async def link_room(letter_id: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(RoomIn, body)
    v = await svc.correspondence.do_link_room(requester, letter_id, data.room_id)
    return ok(letter_json(svc, v))


@router.post("/letters/{letter_id}/recipients/{org}/register")
async def register_in(letter_id: str, org: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.do_register_in(requester, letter_id, org)))


@router.post("/letters/{letter_id}/recipients/{org}/resolution")
async def resolve(letter_id: str, org: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(ResolutionIn, body)
    res = Resolution(data.text, tuple(data.executors), data.due_date, data.controller)
    return ok(letter_json(svc, await svc.correspondence.do_resolve(requester, letter_id, org, res)))


@router.post("/letters/{letter_id}/recipients/{org}/reply")
async def reply(letter_id: str, org: str, svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(ReplyIn, body)
    v = await svc.correspondence.do_reply(
        requester, letter_id, org, data.text, data.reply_letter_id
    )
    return ok(letter_json(svc, v))


@router.post("/letters/{letter_id}/recipients/{org}/close")
async def close(letter_id: str, org: str, svc: Svc, requester: Auth) -> Response:
    return ok(letter_json(svc, await svc.correspondence.do_close(requester, letter_id, org)))


# ---- signing keys --------------------------------------------------------------------------


@router.get("/signing-keys")
async def list_keys(svc: Svc, requester: Auth) -> Response:
    found = await svc.correspondence.keys.list_keys(requester)
    return ok({"keys": [key_json(k) for k in found]})


@router.post("/signing-keys", status_code=201)
async def create_key(svc: Svc, requester: Auth) -> Response:
    return ok(key_json(await svc.correspondence.keys.do_create_ed25519(requester)), status=201)


@router.post("/signing-keys/certificate", status_code=201)
async def import_certificate(svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(CertificateIn, body)
    k = await svc.correspondence.keys.do_import_certificate(
        requester, data.certificate_pem, data.private_key_pem, data.chain_pem
    )
    return ok(key_json(k), status=201)


@router.delete("/signing-keys/{key_id}")
async def revoke_key(key_id: str, svc: Svc, requester: Auth) -> Response:
    await svc.correspondence.keys.do_revoke(requester, key_id)
    return ok({})


# ---- verification, bundles, attachments ------------------------------------------------------


@router.get("/letters/{letter_id}/verify")
async def verify(letter_id: str, svc: Svc, requester: Auth) -> Response:
    report = await svc.correspondence.verify(requester, letter_id)
    return ok(report.as_json())


@router.get("/letters/{letter_id}/bundle", response_class=Response)
async def export_bundle(letter_id: str, svc: Svc, requester: Auth) -> Response:
    ctx, data = await svc.correspondence.export(requester, letter_id)
    name = bundle_name(ctx.letter.outgoing_number or letter_id)
    return Response(
        content=data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def bundle_name(number: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in number)
    return f"letter-{safe}.zip"


@router.get("/letters/{letter_id}/attachments/{index}", response_class=Response)
async def attachment(letter_id: str, index: int, svc: Svc, requester: Auth) -> Response:
    name, content_type, data = await svc.correspondence.attachment(requester, letter_id, index)
    return Response(
        content=data,
        media_type=content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---- journal and control ---------------------------------------------------------------------


def parse_day(svc: Svc, value: str | None, name: str, *, end: bool = False) -> int | None:
    """A date (YYYY-MM-DD) as the start of that day (``end``: of the next) in the letters'
    time zone."""
    if value is None:
        return None
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} is a date: YYYY-MM-DD.") from None
    if end:
        day += datetime.timedelta(days=1)
    start = datetime.datetime.combine(day, datetime.time(), svc.correspondence.numbering.zone)
    return int(start.timestamp() * 1000)


def journal_query(
    svc: Svc,
    org: str,
    direction: str,
    q: str | None,
    number: str | None,
    date_from: str | None,
    date_to: str | None,
) -> JournalQuery:
    return JournalQuery(
        org_code=org,
        direction=direction,
        text=q or None,
        number=number or None,
        from_ts=parse_day(svc, date_from, "from"),
        to_ts=parse_day(svc, date_to, "to", end=True),
        limit=10_000,
    )


def journal_json(svc: Svc, e: JournalEntry) -> dict[str, Any]:
    rec = e.recipient
    return {
        "number": e.number,
        "registered_at": iso(e.registered_ts),
        "letter_id": e.letter.letter_id,
        "subject": e.letter.subject,
        "sender_org": e.letter.sender_org,
        "recipients": list(e.recipients),
        "outgoing_number": e.letter.outgoing_number,
        "status": rec.status if rec is not None else e.letter.status,
        "label": e.letter.label,
        "due_date": due_date(svc, rec.due_ts) if rec is not None else None,
        "executors": list(rec.executors) if rec is not None else [],
    }


def journal_response(
    svc: Svc, org: str, direction: str, entries: list[JournalEntry], fmt: str | None
) -> Response:
    if fmt == "csv":
        text = LetterControl.journal_csv(entries, iso, lambda ts: due_date(svc, ts))
        return Response(
            content=text.encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="journal-{org}-{direction}.csv"'
            },
        )
    return ok(
        {"org": org, "direction": direction, "entries": [journal_json(svc, e) for e in entries]}
    )


def control_json(svc: Svc, r: ControlReport) -> dict[str, Any]:
    def counts(c: Counts) -> dict[str, int]:
        return {"open": c.open, "overdue": c.overdue, "due_soon": c.due_soon}

    return {
        "org": r.org_code,
        "as_of": iso(r.as_of_ts),
        "units": [
            {
                "code": u.org.code,
                "parent_code": u.org.parent_code,
                "name_en": u.org.name_en,
                "name_ru": u.org.name_ru,
                "name_kk": u.org.name_kk,
                "own": counts(u.own),
                "total": counts(u.total),
            }
            for u in r.units
        ],
        "items": [
            {
                "letter_id": letter.letter_id,
                "subject": letter.subject,
                "org": rec.org_code,
                "incoming_number": rec.incoming_number,
                "status": rec.status,
                "executors": list(rec.executors),
                "controller": rec.controller,
                "due_date": due_date(svc, rec.due_ts),
                "overdue": rec.due_ts is not None and rec.due_ts <= r.as_of_ts,
            }
            for letter, rec in r.items
        ],
    }


@router.get("/journal", response_class=Response)
async def journal(
    svc: Svc,
    requester: Auth,
    org: str = Query(..., min_length=1, max_length=64),
    direction: Literal["in", "out"] = Query("in"),
    q: str | None = Query(None, max_length=200),
    number: str | None = Query(None, max_length=100),
    date_from: str | None = Query(None, alias="from", max_length=10),
    date_to: str | None = Query(None, alias="to", max_length=10),
    format: Literal["json", "csv"] | None = Query(None),
) -> Response:
    actor = await svc.correspondence.actor(requester)
    query = journal_query(svc, org, direction, q, number, date_from, date_to)
    entries = await svc.correspondence.control.journal(actor, query)
    return journal_response(svc, org, direction, entries, format)


@router.get("/control")
async def control(
    svc: Svc, requester: Auth, org: str = Query(..., min_length=1, max_length=64)
) -> Response:
    actor = await svc.correspondence.actor(requester)
    return ok(control_json(svc, await svc.correspondence.control.control(actor, org)))
