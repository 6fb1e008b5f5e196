"""``/_tumar/admin/v1/correspondence``: trust anchors for imported signing certificates
(operators), registration number formats per organisation, the registry journal and control
of any organisation in the administrator's ``letters.register`` scope, verification of a
letter, and the reminder run."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.correspondence import control_json, journal_query, journal_response
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.gov_notices_content import iso
from tumar.store.correspondence import TrustAnchor

router = APIRouter(tags=["correspondence"])
BASE = "/correspondence"


class AnchorIn(AdminBody):
    certificate_pem: str = Field(min_length=1, max_length=200_000)


class FormatIn(AdminBody):
    format: str | None = Field(
        max_length=200, description="e.g. {org}-{seq:05}/{yy}; null: the deployment's default"
    )


def anchor_json(a: TrustAnchor) -> dict[str, object]:
    return {
        "anchor_id": a.anchor_id,
        "subject": a.subject,
        "not_after": iso(a.not_after_ts),
        "added_by": a.added_by,
        "added_at": iso(a.added_ts),
        "certificate_pem": a.certificate_pem,
    }


@router.get(f"{BASE}/anchors")
async def list_anchors(actor: AdminActor, svc: Svc) -> Response:
    found = await svc.correspondence.keys.list_anchors(actor)
    return ok({"anchors": [anchor_json(a) for a in found]})


@router.post(f"{BASE}/anchors", status_code=201, openapi_extra=body_doc(AnchorIn))
async def add_anchor(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(AnchorIn, body)
    anchor = await svc.correspondence.keys.do_add_anchor(actor, data.certificate_pem)
    return ok(anchor_json(anchor), status=201)


@router.delete(f"{BASE}/anchors/{{anchor_id}}")
async def remove_anchor(anchor_id: str, actor: AdminActor, svc: Svc) -> Response:
    await svc.correspondence.keys.do_remove_anchor(actor, anchor_id)
    return ok({})


@router.get(f"{BASE}/formats/{{org}}")
async def get_format(org: str, actor: AdminActor, svc: Svc) -> Response:
    f = await svc.correspondence.numbering.get_format(actor, org)
    return ok({"org": f.org_code, "format": f.format, "own": f.own})


@router.put(f"{BASE}/formats/{{org}}", openapi_extra=body_doc(FormatIn))
async def set_format(org: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(FormatIn, body)
    f = await svc.correspondence.numbering.do_set_format(actor, org, data.format)
    return ok({"org": f.org_code, "format": f.format, "own": f.own})


@router.get(f"{BASE}/journal", response_class=Response)
async def journal(
    actor: AdminActor,
    svc: Svc,
    org: str = Query(..., min_length=1, max_length=64),
    direction: Literal["in", "out"] = Query("in"),
    q: str | None = Query(None, max_length=200),
    number: str | None = Query(None, max_length=100),
    date_from: str | None = Query(None, alias="from", max_length=10),
    date_to: str | None = Query(None, alias="to", max_length=10),
    format: Literal["json", "csv"] | None = Query(None),
) -> Response:
    query = journal_query(svc, org, direction, q, number, date_from, date_to)
    entries = await svc.correspondence.control.journal(actor, query)
    return journal_response(svc, org, direction, entries, format)


@router.get(f"{BASE}/control")
async def control(
    actor: AdminActor, svc: Svc, org: str = Query(..., min_length=1, max_length=64)
) -> Response:
    return ok(control_json(svc, await svc.correspondence.control.control(actor, org)))


@router.get(f"{BASE}/letters/{{letter_id}}/verify")
async def verify(letter_id: str, actor: AdminActor, svc: Svc) -> Response:
    report = await svc.correspondence.verify_as_admin(actor, letter_id)
    return ok(report.as_json())


@router.post(f"{BASE}/remind")
async def remind(actor: AdminActor, svc: Svc) -> Response:
    r = await svc.correspondence.remind_as_admin(actor)
    return ok(
        {
            "reminders": [{"letter_id": x, "org": o} for x, o in r.reminders],
            "escalations": [{"letter_id": x, "org": o} for x, o in r.escalations],
        }
    )
