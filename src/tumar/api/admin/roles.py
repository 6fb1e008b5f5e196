"""``/_tumar/admin/v1/roles``: who holds which administrative role, and where."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import GrantIn, GrantList, GrantOut, RoleName, WhoAmI
from tumar.api.http import Body, Svc, ok, parse
from tumar.policy.roles import Permission, Role
from tumar.store.directory import GrantRow

router = APIRouter(tags=["roles"])


def _grant(g: GrantRow) -> dict[str, object]:
    return {
        "user_id": g.user_id,
        "role": g.role,
        "org_code": g.org_code,
        "granted_by": g.granted_by,
        "created_ts": g.created_ts,
    }


@router.get("/whoami", response_model=WhoAmI)
async def whoami(actor: AdminActor) -> Response:
    grants = [{"role": g.role.value, "org_code": g.org_code} for g in actor.grants]
    permissions = sorted(p.value for p in Permission if actor.scopes(p))
    return ok({"user_id": actor.user_id, "grants": grants, "permissions": permissions})


@router.get("/roles", response_model=GrantList)
async def list_grants(actor: AdminActor, svc: Svc) -> Response:
    return ok({"grants": [_grant(g) for g in await svc.directory.list_grants(actor)]})


@router.post("/roles", response_model=GrantOut, status_code=201, openapi_extra=body_doc(GrantIn))
async def grant(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(GrantIn, body)
    row = await svc.directory.do_grant(actor, data.user_id, Role(data.role), data.org_code)
    return ok(_grant(row), status=201)


@router.delete("/roles/{user_id}/{role}")
async def revoke(
    user_id: str,
    role: RoleName,
    actor: AdminActor,
    svc: Svc,
    org_code: str = Query("", max_length=64),
) -> Response:
    await svc.directory.do_revoke(actor, user_id, Role(role), org_code)
    return ok()
