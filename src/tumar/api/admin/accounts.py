"""Accounts in the admin API: activation codes for printed letters, suspending, restoring and
deactivating a person's account, and their sessions. Every route needs ``accounts.manage``
over the person's organisation (reading sessions: ``accounts.manage`` or ``audit.read``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.activation import MAX_PEOPLE_PER_REQUEST, iso_utc
from tumar.core.letters import letters_csv

router = APIRouter(tags=["accounts"])
NO_STORE = {"Cache-Control": "no-store"}  # the answer carries codes in the clear


class IssueIn(AdminBody):
    person_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PEOPLE_PER_REQUEST,
        description="Issue for these people (each must have no account)",
    )
    org_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Or: every active person of this subtree with no account and no live code",
    )
    reissue: bool = Field(
        default=False, description="Replace live codes (the earlier codes stop working)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> IssueIn:
        if (self.person_ids is None) == (self.org_code is None):
            raise ValueError("give either person_ids or org_code")
        return self


class IssuedOut(BaseModel):
    person_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    org_name_kk: str
    org_name_ru: str
    localpart: str
    user_id: str
    code: str = Field(description="Shown once: only a hash is kept")
    expiry_ts: int
    expires_utc: str


class IssuedList(BaseModel):
    codes: list[IssuedOut]
    count: int


class ReasonIn(AdminBody):
    reason: str | None = Field(default=None, max_length=500, description="Kept in the audit log")


class AccountStateOut(BaseModel):
    person_id: str | None
    user_id: str
    suspended: bool
    deactivated: bool
    changed: bool


class DeactivatedOut(BaseModel):
    person_id: str
    user_id: str | None
    rooms_left: int
    codes_revoked: bool


class SessionOut(BaseModel):
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


class SessionList(BaseModel):
    user_id: str
    sessions: list[SessionOut]


CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or CSV for printed letters with `format=csv` or `Accept: text/csv`",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


@router.post(
    "/activation-codes",
    response_model=IssuedList,
    responses=CSV_DOC,
    openapi_extra=body_doc(IssueIn),
)
async def issue_codes(
    request: Request,
    actor: AdminActor,
    svc: Svc,
    body: Body,
    fmt: Literal["json", "csv"] | None = Query(None, alias="format"),
) -> Response:
    req = parse(IssueIn, body)
    codes = await svc.activation.do_issue(
        actor, person_ids=req.person_ids, org_code=req.org_code, reissue=req.reissue
    )
    if _wants_csv(request, fmt):
        return Response(
            content=letters_csv(codes).encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                **NO_STORE,
                "Content-Disposition": 'attachment; filename="activation-codes.csv"',
            },
        )
    out = [{**asdict(c), "expires_utc": iso_utc(c.expiry_ts)} for c in codes]
    response = ok({"codes": out, "count": len(out)})
    response.headers.update(NO_STORE)
    return response


def _reason(body: dict[str, Any]) -> str | None:
    return parse(ReasonIn, body).reason


@router.post(
    "/people/{person_id}/suspend",
    response_model=AccountStateOut,
    openapi_extra=body_doc(ReasonIn),
)
async def suspend(person_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    state = await svc.account_admin.do_set_suspended(actor, person_id, True, _reason(body))
    return ok(asdict(state))


@router.post(
    "/people/{person_id}/restore",
    response_model=AccountStateOut,
    openapi_extra=body_doc(ReasonIn),
)
async def restore(person_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    state = await svc.account_admin.do_set_suspended(actor, person_id, False, _reason(body))
    return ok(asdict(state))


@router.post(
    "/people/{person_id}/deactivate",
    response_model=DeactivatedOut,
    openapi_extra=body_doc(ReasonIn),
)
async def deactivate(person_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    done = await svc.account_admin.do_deactivate(actor, person_id, _reason(body))
    return ok(asdict(done))


@router.get("/people/{person_id}/sessions", response_model=SessionList)
async def list_sessions(person_id: str, actor: AdminActor, svc: Svc) -> Response:
    user_id, devices = await svc.account_admin.list_sessions(actor, person_id)
    sessions = [
        {
            "device_id": d.device_id,
            "display_name": d.display_name,
            "last_seen_ts": d.last_seen_ts,
            "last_seen_ip": d.last_seen_ip,
        }
        for d in devices
    ]
    return ok({"user_id": user_id, "sessions": sessions})


@router.delete("/people/{person_id}/sessions/{device_id}", response_model=dict[str, Any])
async def revoke_session(person_id: str, device_id: str, actor: AdminActor, svc: Svc) -> Response:
    await svc.account_admin.do_revoke_session(actor, person_id, device_id)
    return ok()
