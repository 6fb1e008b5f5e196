"""``/_tumar/admin/v1``: the device dashboard for holders of ``devices.manage`` (security
officers): a policy's schedule preview ("restricted now? next change at ..."), enrolled devices
per organisation with a verdict filter, counts per organisation rolled up the tree, and
violations. Policies, enrolment tokens, device detail and commands are in ``devices.py``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from tumar.api.admin.base import AdminActor
from tumar.api.admin.notices import parse_time
from tumar.api.http import Svc, ok
from tumar.core.device_dashboard import Counts, Preview, Summary
from tumar.store.device_access import DeviceListRow, OpenViolation

router = APIRouter(tags=["devices"])
Verdict = Literal["compliant", "non_compliant", "unknown"]
OrgCode = Query(None, max_length=64, description="Only this organisation's subtree")


class ChangeOut(BaseModel):
    at_ts: int
    working_hours: bool


class PreviewOut(BaseModel):
    policy_id: str
    version: int
    name: str
    at_ts: int
    working_hours: bool
    restricted_on_premises: list[str]
    restricted_elsewhere: list[str]
    gated_labels: list[str]
    next_change_ts: int | None
    changes: list[ChangeOut]
    people: list[str]
    org_codes: list[str]
    starts_ts: int | None


class DeviceRowOut(BaseModel):
    device_id: str
    user_id: str
    name_cyr: str | None
    name_lat: str | None
    org_code: str | None
    platform: str
    model: str
    os_version: str
    management_mode: str
    ownership: str
    enrolled_ts: int
    last_checkin_ts: int | None
    verdict: str
    valid_until_ts: int | None
    findings: list[dict[str, Any]]


class DevicePage(BaseModel):
    devices: list[DeviceRowOut]
    total: int


class CountsOut(BaseModel):
    enrolled: int
    compliant: int
    non_compliant: int
    unknown: int


class OrgCountsOut(BaseModel):
    code: str
    parent_code: str | None
    path: str
    name_kk: str
    name_ru: str
    name_en: str
    own: CountsOut
    total: CountsOut


class SummaryOut(BaseModel):
    as_of_ts: int
    total: CountsOut
    outside_directory: CountsOut
    organisations: list[OrgCountsOut]


class ViolationRowOut(BaseModel):
    violation_id: str
    device_id: str
    user_id: str
    name_cyr: str | None
    name_lat: str | None
    org_code: str | None
    platform: str | None
    model: str | None
    opened_ts: int
    closed_ts: int | None
    findings: list[dict[str, Any]]


class ViolationPage(BaseModel):
    violations: list[ViolationRowOut]
    total: int


def preview_json(p: Preview) -> dict[str, Any]:
    return {
        "policy_id": p.stored.policy_id,
        "version": p.stored.version,
        "name": p.stored.name,
        "at_ts": p.at_ts,
        "working_hours": p.working_hours,
        "restricted_on_premises": list(p.restricted_on_premises),
        "restricted_elsewhere": list(p.restricted_elsewhere),
        "gated_labels": list(p.gated_labels),
        "next_change_ts": p.next_change_ts,
        "changes": [{"at_ts": c.at_ts, "working_hours": c.working_hours} for c in p.changes],
        "people": list(p.people),
        "org_codes": list(p.org_codes),
        "starts_ts": p.starts_ts,
    }


def row_json(r: DeviceListRow) -> dict[str, Any]:
    return {
        "device_id": r.device_id,
        "user_id": r.user_id,
        "name_cyr": r.name_cyr,
        "name_lat": r.name_lat,
        "org_code": r.org_code,
        "platform": r.platform,
        "model": r.model,
        "os_version": r.os_version,
        "management_mode": r.management_mode,
        "ownership": r.ownership,
        "enrolled_ts": r.enrolled_ts,
        "last_checkin_ts": r.last_checkin_ts,
        "verdict": r.verdict,
        "valid_until_ts": r.valid_until_ts,
        "findings": list(r.findings),
    }


def counts_json(c: Counts) -> dict[str, int]:
    return {
        "enrolled": c.enrolled,
        "compliant": c.compliant,
        "non_compliant": c.non_compliant,
        "unknown": c.unknown,
    }


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "as_of_ts": s.as_of_ts,
        "total": counts_json(s.total),
        "outside_directory": counts_json(s.outside_directory),
        "organisations": [
            {
                "code": o.org.code,
                "parent_code": o.org.parent_code,
                "path": o.org.path,
                "name_kk": o.org.name_kk,
                "name_ru": o.org.name_ru,
                "name_en": o.org.name_en,
                "own": counts_json(o.own),
                "total": counts_json(o.total),
            }
            for o in s.organisations
        ],
    }


def violation_json(v: OpenViolation) -> dict[str, Any]:
    return {
        "violation_id": v.violation_id,
        "device_id": v.device_id,
        "user_id": v.user_id,
        "name_cyr": v.name_cyr,
        "name_lat": v.name_lat,
        "org_code": v.org_code,
        "platform": v.platform,
        "model": v.model,
        "opened_ts": v.opened_ts,
        "closed_ts": v.closed_ts,
        "findings": list(v.findings),
    }


@router.get("/device-policies/{policy_id}/preview", response_model=PreviewOut)
async def preview(
    policy_id: str,
    actor: AdminActor,
    svc: Svc,
    at: str | None = Query(None, max_length=40, description="ISO 8601 date-time; default now"),
) -> Response:
    found = await svc.device_dashboard.preview(actor, policy_id, parse_time(at, "at"))
    return ok(preview_json(found))


@router.get("/devices/summary", response_model=SummaryOut)
async def summary(actor: AdminActor, svc: Svc, org: str | None = OrgCode) -> Response:
    return ok(summary_json(await svc.device_dashboard.summary(actor, org=org)))


@router.get("/devices", response_model=DevicePage)
async def list_devices(
    actor: AdminActor,
    svc: Svc,
    org: str | None = OrgCode,
    verdict: Verdict | None = Query(None, description="The verdict as it stands now"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Response:
    rows, total = await svc.device_dashboard.list_devices(
        actor, org=org, verdict=verdict, limit=limit, offset=offset
    )
    return ok({"devices": [row_json(r) for r in rows], "total": total})


@router.get("/device-violations", response_model=ViolationPage)
async def violations(
    actor: AdminActor,
    svc: Svc,
    open: bool = Query(True, description="Only violations not closed yet"),
    org: str | None = OrgCode,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Response:
    rows, total = await svc.device_dashboard.violations(
        actor, open_only=open, org=org, limit=limit, offset=offset
    )
    return ok({"violations": [violation_json(v) for v in rows], "total": total})
