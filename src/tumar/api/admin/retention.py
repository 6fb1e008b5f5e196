"""``/_tumar/admin/v1/retention`` and ``/holds``: the retention policy, a dry-run report, a
run by hand, and legal holds (see ``docs/retention.md``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.legal_hold import MAX_REASON, hold_dict
from tumar.core.retention import RunReport
from tumar.store.retention import Run

router = APIRouter(tags=["retention"])

Reason = Field(min_length=1, max_length=MAX_REASON, description="Why (e.g. a case number)")


class LabelRetention(BaseModel):
    label: str
    days: int | None = Field(description="Days messages are kept; null: forever")
    configured: bool = Field(description="Whether the label is one of classification_labels")


class RunOut(BaseModel):
    run_id: int
    trigger: str
    actor: str
    started_ts: int
    finished_ts: int | None
    status: str
    events_purged: int
    media_deleted: int
    rooms: int


class RetentionPolicyOut(BaseModel):
    labels: list[LabelRetention]
    checkin_history_days: int = Field(
        description="Days device check-ins are kept (each device's newest is kept anyway)"
    )
    interval_seconds: int
    batch_size: int
    recent_runs: list[RunOut]


class RoomReport(BaseModel):
    room_id: str
    label: str
    retention_days: int
    cutoff_ts: int = Field(description="Messages sent before this (ms) have expired")
    purged: int = Field(description="Messages purged (in a dry run: that would be)")
    kept: dict[str, int] = Field(description="Expired messages kept anyway, by reason")
    media_refs: int


class RunReportOut(BaseModel):
    dry_run: bool
    run_id: int | None
    now_ts: int
    events_purged: int
    media_deleted: int
    rooms: list[RoomReport]
    checkins_purged: int = Field(
        description="Device check-ins deleted (in a dry run: that would be); 0 in a one-room run"
    )
    checkins_before_ts: int | None = Field(
        description="Check-ins received before this (ms) have expired; null in a one-room run"
    )


class HoldIn(AdminBody):
    target_type: Literal["room", "person"] = Field(
        description="room: a room id; person: a person id, or the user id of an account"
    )
    target: str = Field(min_length=1, max_length=255)
    reason: str = Reason


class LiftIn(AdminBody):
    reason: str = Reason


class HoldOut(BaseModel):
    hold_id: str
    target_type: Literal["room", "person", "user"]
    target_id: str
    person_id: str | None
    org_code: str | None
    reason: str
    placed_by: str
    placed_ts: int
    lifted_by: str | None
    lifted_ts: int | None
    lift_reason: str | None
    active: bool


class HoldList(BaseModel):
    holds: list[HoldOut]


def _run(r: Run) -> dict[str, Any]:
    return {k: getattr(r, k) for k in Run.__slots__}


def _report(report: RunReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "run_id": report.run_id,
        "now_ts": report.now_ms,
        "events_purged": report.events_purged,
        "media_deleted": report.media_deleted,
        "rooms": [
            {
                "room_id": r.room_id,
                "label": r.label,
                "retention_days": r.retention_days,
                "cutoff_ts": r.cutoff_ts,
                "purged": r.purged,
                "kept": dict(r.kept),
                "media_refs": r.media_refs,
            }
            for r in report.rooms
        ],
        "checkins_purged": report.checkins_purged,
        "checkins_before_ts": report.checkin_cutoff_ts,
    }


@router.get("/retention", response_model=RetentionPolicyOut)
async def policy(actor: AdminActor, svc: Svc) -> Response:
    svc.retention.check_reader(actor)
    s = svc.settings
    return ok(
        {
            "labels": [
                {"label": p.label, "days": p.days, "configured": p.configured}
                for p in svc.retention.policy_view()
            ],
            "checkin_history_days": s.device_checkin_history_days,
            "interval_seconds": s.retention_interval_seconds,
            "batch_size": s.retention_batch_size,
            "recent_runs": [_run(r) for r in await svc.retention.list_runs()],
        }
    )


@router.get("/retention/report", response_model=RunReportOut)
async def report(
    actor: AdminActor,
    svc: Svc,
    room_id: str | None = Query(None, max_length=255, description="Only this room"),
) -> Response:
    return ok(_report(await svc.retention.report(actor, room_id)))


@router.post("/retention/run", response_model=RunReportOut)
async def run(actor: AdminActor, svc: Svc) -> Response:
    return ok(_report(await svc.retention.run_as(actor)))


@router.get("/holds", response_model=HoldList)
async def list_holds(
    actor: AdminActor,
    svc: Svc,
    include_lifted: bool = Query(False, description="Also list lifted holds"),
) -> Response:
    holds = await svc.legal_holds.list(actor, active_only=not include_lifted)
    return ok({"holds": [hold_dict(h) for h in holds]})


@router.post("/holds", response_model=HoldOut, status_code=201, openapi_extra=body_doc(HoldIn))
async def place_hold(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(HoldIn, body)
    hold = await svc.legal_holds.do_place(actor, data.target_type, data.target, data.reason)
    return ok(hold_dict(hold), status=201)


@router.get("/holds/{hold_id}", response_model=HoldOut)
async def get_hold(hold_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(hold_dict(await svc.legal_holds.get(actor, hold_id)))


@router.post("/holds/{hold_id}/lift", response_model=HoldOut, openapi_extra=body_doc(LiftIn))
async def lift_hold(hold_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(LiftIn, body)
    return ok(hold_dict(await svc.legal_holds.do_lift(actor, hold_id, data.reason)))
