"""``/_tumar/admin/v1/compliance/export``: a room, a person or a time range as JSON Lines or
as a readable HTML document, with the audit proof (see ``core/compliance_export.py``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from tumar.api.admin.audit_models import NDJSON
from tumar.api.admin.base import AdminActor
from tumar.api.http import Svc
from tumar.core.compliance_export import ComplianceQuery

router = APIRouter(tags=["compliance"])

DOC: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The export: JSON Lines (manifest, events, audit rows, proof) or HTML.",
        "content": {
            NDJSON: {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/compliance/export", response_class=Response, responses=DOC)
async def compliance_export(
    actor: AdminActor,
    svc: Svc,
    room: str | None = Query(None, max_length=255, description="Room id"),
    user: str | None = Query(None, max_length=255, description="A person's user id"),
    since: int | None = Query(None, ge=0, description="ms since the epoch, inclusive"),
    until: int | None = Query(None, ge=0, description="ms since the epoch, exclusive"),
    format: Literal["jsonl", "html"] = "jsonl",
) -> Response:
    export = await svc.compliance.do_export(
        actor, ComplianceQuery(room_id=room, user_id=user, since_ts=since, until_ts=until)
    )
    headers = {"Cache-Control": "no-store"}
    if format == "html":
        return Response(export.html, media_type="text/html; charset=utf-8", headers=headers)
    return Response(export.jsonl, media_type=NDJSON, headers=headers)
