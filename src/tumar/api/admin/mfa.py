"""``/_tumar/admin/v1/people/{person_id}/totp``: a person's authenticator (second factor), and
its reset by an administrator when the device is lost."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from tumar.api.admin.base import AdminActor
from tumar.api.http import Svc, ok

router = APIRouter(tags=["second factor"])


class TotpStatusOut(BaseModel):
    person_id: str
    user_id: str | None
    enrolled: bool
    pending: bool
    confirmed_ts: int | None
    mfa_required: bool


@router.get("/people/{person_id}/totp", response_model=TotpStatusOut)
async def totp_status(person_id: str, actor: AdminActor, svc: Svc) -> Response:
    """Whether the person has an authenticator, and whether their organisation (or one above
    it) requires one."""
    return ok(asdict(await svc.totp.status(actor, person_id)))


@router.post("/people/{person_id}/totp/reset", response_model=TotpStatusOut)
async def totp_reset(person_id: str, actor: AdminActor, svc: Svc) -> Response:
    """Remove the person's authenticator; they enrol a new one at their next sign-in through
    the SSO page if their organisation requires it. Answers the state before the reset."""
    return ok(asdict(await svc.totp.do_reset(actor, person_id)))
