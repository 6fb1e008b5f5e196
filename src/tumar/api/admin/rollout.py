"""``/_tumar/admin/v1/rollout``: the registration rollout dashboard, registrations over time,
the overdue list (JSON or CSV) and reminders. Every route needs the ``rollout`` permission over
the organisation asked for (by default: every subtree the administrator holds it on)."""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.rollout import OrgRollout, OverduePerson
from tumar.policy.rollout import Figures

router = APIRouter(tags=["rollout"])

OrgParam = Query(
    None, max_length=64, description="Organisation code (default: your whole rollout scope)"
)


class FiguresOut(BaseModel):
    people: int = Field(description="Active officials")
    codes_issued: int = Field(description="Of them, with a live or used activation code")
    registered: int = Field(description="Of them, with an account")
    active_7d: int = Field(description="Of them, with a device seen in the last 7 days")
    overdue: int = Field(description="Not registered after the effective register_by")
    percent_registered: float | None = Field(description="registered / people, one decimal")


class OrgRolloutOut(BaseModel):
    code: str
    parent_code: str | None
    path: str
    kind: str
    name_kk: str
    name_ru: str
    name_en: str
    register_by: str | None = Field(description="Effective deadline (own or inherited)")
    register_by_from: str | None = Field(description="Organisation the deadline is set on")
    transition_by: str | None
    transition_by_from: str | None
    total: FiguresOut = Field(description="The organisation and everything below it")
    own: FiguresOut = Field(description="The organisation's own staff only")


class DashboardOut(BaseModel):
    as_of: str = Field(description="Today in the rollout time zone")
    roots: list[str]
    total: FiguresOut
    organisations: list[OrgRolloutOut]


class DayOut(BaseModel):
    date: str
    registered: int
    cumulative: int


class TimeseriesOut(BaseModel):
    as_of: str
    registered_before: int
    days: list[DayOut]


class OverdueOut(BaseModel):
    person_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    org_name_kk: str
    org_name_ru: str
    position: str | None
    register_by: str
    days_overdue: int


class OverduePage(BaseModel):
    as_of: str
    people: list[OverdueOut]
    total: int


class RemindIn(AdminBody):
    org: str | None = Field(default=None, min_length=1, max_length=64)
    dry_run: bool = False


class RemindOut(BaseModel):
    as_of: str
    dry_run: bool
    head_notices: int
    staff_listed: int
    personal_notices: int
    without_head: int
    skipped: int
    recipients: list[str]


def _figures(f: Figures) -> dict[str, Any]:
    return {
        "people": f.people,
        "codes_issued": f.codes_issued,
        "registered": f.registered,
        "active_7d": f.active_7d,
        "overdue": f.overdue,
        "percent_registered": f.percent_registered,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _org(entry: OrgRollout) -> dict[str, Any]:
    o, d = entry.org, entry.deadlines
    return {
        "code": o.code,
        "parent_code": o.parent_code,
        "path": o.path,
        "kind": o.kind,
        "name_kk": o.name_kk,
        "name_ru": o.name_ru,
        "name_en": o.name_en,
        "register_by": _iso(d.register_by),
        "register_by_from": d.register_by_from,
        "transition_by": _iso(d.transition_by),
        "transition_by_from": d.transition_by_from,
        "total": _figures(entry.total),
        "own": _figures(entry.own),
    }


def _overdue(p: OverduePerson) -> dict[str, Any]:
    return {
        "person_id": p.person.person_id,
        "personnel_number": p.person.personnel_number,
        "name_cyr": p.person.name_cyr,
        "name_lat": p.person.name_lat,
        "org_code": p.org.code,
        "org_name_kk": p.org.name_kk,
        "org_name_ru": p.org.name_ru,
        "position": p.person.position,
        "register_by": p.register_by.isoformat(),
        "days_overdue": p.days_overdue,
    }


@router.get("/rollout", response_model=DashboardOut)
async def dashboard(actor: AdminActor, svc: Svc, org: str | None = OrgParam) -> Response:
    board = await svc.rollout.dashboard(actor, org)
    return ok(
        {
            "as_of": board.as_of.isoformat(),
            "roots": list(board.roots),
            "total": _figures(board.total),
            "organisations": [_org(e) for e in board.organisations],
        }
    )


@router.get("/rollout/timeseries", response_model=TimeseriesOut)
async def timeseries(
    actor: AdminActor,
    svc: Svc,
    org: str | None = OrgParam,
    days: int = Query(30, ge=1, le=366, description="Days back from today, today included"),
) -> Response:
    series = await svc.rollout.timeseries(actor, org, days)
    return ok(
        {
            "as_of": series.as_of.isoformat(),
            "registered_before": series.registered_before,
            "days": [
                {"date": d.date.isoformat(), "registered": d.registered, "cumulative": d.cumulative}
                for d in series.days
            ],
        }
    )


CSV_COLUMNS = (
    "personnel_number",
    "name_cyr",
    "name_lat",
    "org_code",
    "org_name_kk",
    "org_name_ru",
    "position",
    "register_by",
    "days_overdue",
)
CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or CSV with `format=csv`",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(people: list[OverduePerson], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in people:
        row = _overdue(p)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    # A byte-order mark, so that spreadsheet programs read the Cyrillic names as UTF-8.
    return Response(
        content=("\ufeff" + out.getvalue()).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _overdue_response(
    actor: AdminActor, svc: Svc, org: str | None, fmt: str, limit: int, offset: int
) -> Response:
    if fmt == "csv":
        everyone = await svc.rollout.overdue(actor, org, limit=None)
        return _csv(everyone.people, f"overdue-{org or 'all'}-{everyone.as_of.isoformat()}.csv")
    page = await svc.rollout.overdue(actor, org, limit=limit, offset=offset)
    return ok(
        {
            "as_of": page.as_of.isoformat(),
            "people": [_overdue(p) for p in page.people],
            "total": page.total,
        }
    )


@router.get("/rollout/overdue", response_model=OverduePage, responses=CSV_DOC)
async def overdue(
    actor: AdminActor,
    svc: Svc,
    org: str | None = OrgParam,
    fmt: Literal["json", "csv"] = Query("json", alias="format"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    return await _overdue_response(actor, svc, org, fmt, limit, offset)


@router.get(
    "/rollout/overdue.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def overdue_csv(actor: AdminActor, svc: Svc, org: str | None = OrgParam) -> Response:
    return await _overdue_response(actor, svc, org, "csv", 0, 0)


@router.post("/rollout/remind", response_model=RemindOut, openapi_extra=body_doc(RemindIn))
async def remind(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(RemindIn, body)
    report = await svc.rollout.do_remind(actor, data.org, dry_run=data.dry_run)
    return ok(
        {
            "as_of": report.as_of.isoformat(),
            "dry_run": report.dry_run,
            "head_notices": report.head_notices,
            "staff_listed": report.staff_listed,
            "personal_notices": report.personal_notices,
            "without_head": report.without_head,
            "skipped": report.skipped,
            "recipients": report.recipients,
        }
    )
