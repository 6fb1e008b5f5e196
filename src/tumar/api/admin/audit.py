"""``/_tumar/admin/v1/audit``: the audit log, newest first, within the reader's scope."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from tumar.api.admin.base import AdminActor
from tumar.api.admin.models import AuditPage
from tumar.api.http import Svc, ok
from tumar.store.audit import AuditQuery

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    actor: AdminActor,
    svc: Svc,
    actor_id: str | None = Query(None, alias="actor", max_length=255),
    action: str | None = Query(None, max_length=100, description="Exact, or a prefix ending '.'"),
    target: str | None = Query(None, max_length=255),
    q: str | None = Query(None, max_length=200),
    since: int | None = Query(None, ge=0, description="ms since the epoch"),
    until: int | None = Query(None, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="Page: entries older than this seq"),
) -> Response:
    query = AuditQuery(
        scopes=(),
        actor=actor_id,
        action=action,
        target_id=target,
        text=q,
        since_ts=since,
        until_ts=until,
        limit=limit,
        before_seq=before,
    )
    entries = await svc.audit.list_entries(actor, query)
    next_before = entries[-1]["seq"] if len(entries) == limit else None
    return ok({"entries": entries, "next_before": next_before})
