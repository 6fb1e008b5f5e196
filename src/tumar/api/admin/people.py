"""``/_tumar/admin/v1/people``: officials and external partners."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import PeoplePage, PersonIn, PersonOut, PersonPatch
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.directory import NewPerson
from tumar.store.directory import PeopleQuery

router = APIRouter(tags=["people"])


@router.get("/people", response_model=PeoplePage)
async def list_people(
    actor: AdminActor,
    svc: Svc,
    org: str | None = Query(None, max_length=64, description="Only this organisation subtree"),
    q: str | None = Query(None, max_length=200, description="Text in names, number, position"),
    status: Literal["active", "departed"] | None = None,
    kind: Literal["official", "external"] | None = None,
    registered: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    org_path = None
    if org is not None:
        org_path = (await svc.directory.get_org(actor, org)).path
    query = PeopleQuery(
        scopes=(),
        org_path=org_path,
        text=q,
        status=status,
        kind=kind,
        registered=registered,
        limit=limit,
        offset=offset,
    )
    found, total = await svc.directory.list_people(actor, query)
    return ok({"people": [p.as_dict() for p in found], "total": total})


@router.post("/people", response_model=PersonOut, status_code=201, openapi_extra=body_doc(PersonIn))
async def create_person(actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(PersonIn, body)
    person = await svc.directory.do_create_person(actor, NewPerson(**data.model_dump()))
    return ok(person.as_dict(), status=201)


@router.get("/people/{person_id}", response_model=PersonOut)
async def get_person(person_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok((await svc.directory.get_person(actor, person_id)).as_dict())


@router.patch("/people/{person_id}", response_model=PersonOut, openapi_extra=body_doc(PersonPatch))
async def update_person(person_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    changes = parse(PersonPatch, body).model_dump(exclude_unset=True)
    return ok((await svc.directory.do_update_person(actor, person_id, changes)).as_dict())
