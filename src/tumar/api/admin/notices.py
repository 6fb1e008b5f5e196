"""``/_tumar/admin/v1/notices``: government notifications for communications officers:
preview of the recipient count, drafts, sending (now or scheduled), corrections, withdrawal,
reports per organisation (JSON or CSV), the pending list and the reminder run. Every route
needs the ``notify`` permission over the organisations the notification concerns."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.gov_notices import Correction, Draft
from tumar.core.gov_notices_content import iso
from tumar.core.gov_notices_report import Figures, Report
from tumar.errors import MatrixError
from tumar.policy.audience import AudienceSpec
from tumar.store.gov_notices import Notice, RecipientRow

router = APIRouter(tags=["notices"])
Priority = Literal["information", "important", "urgent"]
Code = Field(min_length=1, max_length=64)


class AudienceIn(AdminBody):
    everyone: bool = False
    orgs: list[str] = Field(default_factory=list, max_length=1000)
    exclude_orgs: list[str] = Field(default_factory=list, max_length=1000)
    roles: list[str] = Field(default_factory=list, max_length=10)
    people: list[str] = Field(default_factory=list, max_length=1000)

    def spec(self) -> AudienceSpec:
        return AudienceSpec(
            everyone=self.everyone,
            orgs=tuple(self.orgs),
            exclude_orgs=tuple(self.exclude_orgs),
            roles=tuple(self.roles),
            people=tuple(self.people),
        )


class AttachmentIn(AdminBody):
    url: str = Field(min_length=1, max_length=500, description="mxc URI of uploaded media")
    name: str = Field(min_length=1, max_length=255)
    mimetype: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, ge=0)


class NoticeIn(AdminBody):
    title: str = Field(description="Plain text, at most 200 characters")
    body: str = Field(description="Markdown subset (docs/notifications.md)")
    priority: Priority = "information"
    audience: AudienceIn
    ack_required: bool = False
    deadline: str | None = Field(default=None, description="ISO 8601 date-time with offset")
    send_at: str | None = Field(default=None, description="ISO 8601 date-time: schedule")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    send: bool = Field(default=False, description="Send (or schedule) at once")


class PreviewIn(AdminBody):
    audience: AudienceIn


class PreviewOut(BaseModel):
    recipients: int


class CorrectIn(AdminBody):
    title: str | None = None
    body: str | None = None
    priority: Priority | None = None
    deadline: str | None = None


class WithdrawIn(AdminBody):
    reason: str | None = Field(default=None, max_length=1000)


class RemindIn(AdminBody):
    dry_run: bool = False


class NoticeOut(BaseModel):
    notice_id: str
    author: str
    title: str
    body: str
    priority: str
    audience: dict[str, Any]
    ack_required: bool
    deadline: str | None
    send_at: str | None
    status: str
    version: int
    sent_at: str | None
    withdrawn_at: str | None
    withdraw_reason: str | None
    recipients_at_send: int | None
    attachments: list[dict[str, Any]]
    created_at: str | None
    content: dict[str, Any] = Field(description="The message recipients see")


class NoticeList(BaseModel):
    notices: list[NoticeOut]


class FiguresOut(BaseModel):
    audience: int
    delivered: int
    read: int
    acknowledged: int
    pending: int
    overdue: int


class OrgReportOut(BaseModel):
    code: str
    parent_code: str | None
    path: str
    name_kk: str
    name_ru: str
    name_en: str
    own: FiguresOut
    total: FiguresOut


class ReportOut(BaseModel):
    notice_id: str
    as_of: str | None
    deadline: str | None
    overdue: bool
    total: FiguresOut
    organisations: list[OrgReportOut]


class RecipientOut(BaseModel):
    person_id: str
    user_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    position: str | None
    delivered_at: str | None
    read: bool
    acknowledged_at: str | None
    acknowledged_via: str | None


class RecipientPage(BaseModel):
    people: list[RecipientOut]
    total: int


class RemindOut(BaseModel):
    dry_run: bool
    sent_scheduled: list[str]
    reminder_rounds: list[str]
    escalations: int
    escalated_people: int
    without_head: int


def parse_time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MatrixError(
            400, "M_INVALID_PARAM", f"{name} is not an ISO 8601 date-time: {value[:40]}"
        ) from None
    if parsed.tzinfo is None:
        raise MatrixError(
            400, "M_INVALID_PARAM", f"{name} needs a time-zone offset (e.g. +05:00 or Z)."
        )
    return int(parsed.timestamp() * 1000)


def notice_json(svc: Svc, n: Notice) -> dict[str, Any]:
    return {
        "notice_id": n.notice_id,
        "author": n.author,
        "title": n.title,
        "body": n.body,
        "priority": n.priority,
        "audience": n.audience.as_json(),
        "ack_required": n.ack_required,
        "deadline": iso(n.deadline_ts),
        "send_at": iso(n.send_at_ts),
        "status": n.status,
        "version": n.version,
        "sent_at": iso(n.sent_ts),
        "withdrawn_at": iso(n.withdrawn_ts),
        "withdraw_reason": n.withdraw_reason,
        "recipients_at_send": n.recipients_at_send,
        "attachments": n.attachments,
        "created_at": iso(n.created_ts),
        "content": svc.gov_notices.content_preview(n),
    }


def _figures(f: Figures) -> dict[str, int]:
    return {
        "audience": f.audience,
        "delivered": f.delivered,
        "read": f.read,
        "acknowledged": f.acknowledged,
        "pending": f.pending,
        "overdue": f.overdue,
    }


def report_json(r: Report) -> dict[str, Any]:
    return {
        "notice_id": r.notice.notice_id,
        "as_of": iso(r.as_of_ts),
        "deadline": iso(r.notice.deadline_ts),
        "overdue": r.overdue,
        "total": _figures(r.total),
        "organisations": [
            {
                "code": o.org.code,
                "parent_code": o.org.parent_code,
                "path": o.org.path,
                "name_kk": o.org.name_kk,
                "name_ru": o.org.name_ru,
                "name_en": o.org.name_en,
                "own": _figures(o.own),
                "total": _figures(o.total),
            }
            for o in r.organisations
        ],
    }


def recipient_json(r: RecipientRow) -> dict[str, Any]:
    return {
        "person_id": r.person_id,
        "user_id": r.user_id,
        "personnel_number": r.personnel_number,
        "name_cyr": r.name_cyr,
        "name_lat": r.name_lat,
        "org_code": r.org_code,
        "position": r.position,
        "delivered_at": iso(r.delivered_ts),
        "read": r.read,
        "acknowledged_at": iso(r.ack_ts),
        "acknowledged_via": r.ack_via,
    }


@router.post("/notices/preview", response_model=PreviewOut, openapi_extra=body_doc(PreviewIn))
async def preview(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(PreviewIn, body)
    return ok({"recipients": await svc.gov_notices.preview(actor, data.audience.spec())})


@router.post(
    "/notices", response_model=NoticeOut, status_code=201, openapi_extra=body_doc(NoticeIn)
)
async def create(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(NoticeIn, body)
    draft = Draft(
        title=data.title,
        body=data.body,
        priority=data.priority,
        audience=data.audience.spec(),
        ack_required=data.ack_required,
        deadline_ts=parse_time(data.deadline, "deadline"),
        send_at_ts=parse_time(data.send_at, "send_at"),
        attachments=tuple(a.model_dump(exclude_none=True) for a in data.attachments),
    )
    n = await svc.gov_notices.do_create(actor, draft, send=data.send)
    return ok(notice_json(svc, n), status=201)


@router.get("/notices", response_model=NoticeList)
async def list_notices(
    actor: AdminActor,
    svc: Svc,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=100_000),
) -> Response:
    found = await svc.gov_notices.list_notices(actor, limit=limit, offset=offset)
    return ok({"notices": [notice_json(svc, n) for n in found]})


@router.get("/notices/{notice_id}", response_model=NoticeOut)
async def get_notice(notice_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(notice_json(svc, await svc.gov_notices.get(actor, notice_id)))


@router.post("/notices/{notice_id}/send", response_model=NoticeOut)
async def send(notice_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(notice_json(svc, await svc.gov_notices.do_send(actor, notice_id)))


@router.post(
    "/notices/{notice_id}/correct", response_model=NoticeOut, openapi_extra=body_doc(CorrectIn)
)
async def correct(notice_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(CorrectIn, body)
    fix = Correction(
        title=data.title,
        body=data.body,
        priority=data.priority,
        deadline_ts=parse_time(data.deadline, "deadline"),
    )
    return ok(notice_json(svc, await svc.gov_notices.do_correct(actor, notice_id, fix)))


@router.post(
    "/notices/{notice_id}/withdraw", response_model=NoticeOut, openapi_extra=body_doc(WithdrawIn)
)
async def withdraw(notice_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(WithdrawIn, body)
    n = await svc.gov_notices.do_withdraw(actor, notice_id, data.reason)
    return ok(notice_json(svc, n))


@router.get("/notices/{notice_id}/report", response_model=ReportOut)
async def report(notice_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(report_json(await svc.notice_reports.report(actor, notice_id)))


@router.get("/notices/{notice_id}/recipients", response_model=RecipientPage)
async def recipients(
    notice_id: str,
    actor: AdminActor,
    svc: Svc,
    pending: bool = Query(False, description="Only those who have not acknowledged"),
    org: str | None = Query(None, max_length=64, description="Only this organisation's subtree"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    _n, rows, total = await svc.notice_reports.recipients(
        actor, notice_id, pending_only=pending, org=org, limit=limit, offset=offset
    )
    return ok({"people": [recipient_json(r) for r in rows], "total": total})


CSV_COLUMNS = (
    "personnel_number", "name_cyr", "name_lat", "org_code", "position", "delivered_at", "read",
    "acknowledged_at", "acknowledged_via",
)  # fmt: skip


def _cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/notices/{notice_id}/recipients.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def recipients_csv(
    notice_id: str,
    actor: AdminActor,
    svc: Svc,
    pending: bool = Query(False),
    org: str | None = Query(None, max_length=64),
) -> Response:
    n, rows, _total = await svc.notice_reports.recipients(
        actor, notice_id, pending_only=pending, org=org, limit=None
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        row = recipient_json(r)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    name = f"notice-{n.notice_id}{'-pending' if pending else ''}.csv"
    return Response(
        content=("\ufeff" + out.getvalue()).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/notices/remind", response_model=RemindOut, openapi_extra=body_doc(RemindIn))
async def remind(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(RemindIn, body)
    r = await svc.notice_reports.do_remind(actor, dry_run=data.dry_run)
    return ok(
        {
            "dry_run": r.dry_run,
            "sent_scheduled": r.sent_scheduled,
            "reminder_rounds": r.reminder_rounds,
            "escalations": r.escalations,
            "escalated_people": r.escalated_people,
            "without_head": r.without_head,
        }
    )
