"""``/_tumar/admin/v1/orgs``: the organisation tree."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import OrgIn, OrgList, OrgOut, OrgPatch
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.directory import NewOrg

router = APIRouter(tags=["organisations"])


@router.get("/orgs", response_model=OrgList)
async def list_orgs(actor: AdminActor, svc: Svc) -> Response:
    orgs = await svc.directory.list_orgs(actor)
    return ok({"organisations": [o.as_dict() for o in orgs]})


@router.post("/orgs", response_model=OrgOut, status_code=201, openapi_extra=body_doc(OrgIn))
async def create_org(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(OrgIn, body)
    org = await svc.directory.do_create_org(actor, NewOrg(**data.model_dump()))
    return ok(org.as_dict(), status=201)


@router.get("/orgs/{code}", response_model=OrgOut)
async def get_org(code: str, actor: AdminActor, svc: Svc) -> Response:
    return ok((await svc.directory.get_org(actor, code)).as_dict())


@router.patch("/orgs/{code}", response_model=OrgOut, openapi_extra=body_doc(OrgPatch))
async def update_org(code: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    changes = parse(OrgPatch, body).model_dump(exclude_unset=True)
    return ok((await svc.directory.do_update_org(actor, code, changes)).as_dict())


@router.delete("/orgs/{code}")
async def delete_org(code: str, actor: AdminActor, svc: Svc) -> Response:
    await svc.directory.do_delete_org(actor, code)
    return ok()
