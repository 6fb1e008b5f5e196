"""``/_tumar/admin/v1/audit``: the audit log, newest first, within the reader's scope."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from tumar.api.admin.audit_models import (
    NDJSON,
    CheckpointResult,
    PublicKeyOut,
    VerifyOut,
    stream_doc,
)
from tumar.api.admin.base import AdminActor
from tumar.api.admin.models import AuditPage
from tumar.api.http import Svc, ok
from tumar.core.audit_export import AuditFilter, export_scopes
from tumar.errors import MatrixError
from tumar.policy.roles import Permission
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


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses=stream_doc(NDJSON, "JSON Lines: one audit row per line, oldest first, as stored."),
)
async def export_audit(
    actor: AdminActor,
    svc: Svc,
    actor_id: str | None = Query(None, alias="actor", max_length=255),
    action: str | None = Query(None, max_length=100, description="Exact, or a prefix ending '.'"),
    target_type: str | None = Query(None, max_length=100),
    target: str | None = Query(None, max_length=255),
    org: str | None = Query(None, max_length=64, description="Rows about this organisation"),
    since: int | None = Query(None, ge=0, description="ms since the epoch, inclusive"),
    until: int | None = Query(None, ge=0, description="ms since the epoch, exclusive"),
) -> Response:
    f = AuditFilter(
        since_ts=since,
        until_ts=until,
        actor=actor_id,
        action=action,
        target_type=target_type,
        target_id=target,
        org_code=org,
    )
    lines = await svc.audit_export.start_export(actor, f)
    return StreamingResponse(lines, media_type=NDJSON, headers={"Cache-Control": "no-store"})


@router.get("/audit/verify", response_model=VerifyOut)
async def verify_audit(actor: AdminActor, svc: Svc) -> Response:
    report = await svc.audit_export.verify(actor)
    return ok(report.to_json())


@router.get("/audit/public-key", response_model=PublicKeyOut)
async def audit_public_key(actor: AdminActor, svc: Svc) -> Response:
    export_scopes(actor)
    return ok(await svc.audit_chain.public_key_info())


@router.post("/audit/checkpoint", response_model=CheckpointResult)
async def audit_checkpoint(actor: AdminActor, svc: Svc) -> Response:
    """Sign the chain's head now (``checkpoint`` is null when it is signed already)."""
    if not actor.is_global(Permission.AUDIT_EXPORT):
        raise MatrixError(
            403, "TUMAR_OUT_OF_SCOPE", "Checkpoints need deployment-wide audit export rights."
        )
    cp = await svc.audit_chain.do_checkpoint()
    return ok({"checkpoint": asdict(cp) if cp is not None else None})
