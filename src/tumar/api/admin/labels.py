"""``/_tumar/admin/v1/labels``: classification labels for security officers: the configured
labels, rooms by label, and setting a room's label (raising or lowering it) with a reason.
Every route needs ``labels.manage``; a room's routes need it over the organisation of the
room's creator (or globally)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody, PersonKind
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.classification_admin import RoomLabelView
from tumar.policy.labels import MAX_AUDIENCE_ORGS, LabelState

router = APIRouter(tags=["labels"])


class LabelSettingsOut(BaseModel):
    labels: list[str] = Field(description="Lowest first")
    default_room: str
    default_direct: str
    external_max: str | None
    e2ee: dict[str, str] = Field(description="End-to-end encryption mode of each label")
    rules: list[str] = Field(description="The policy chain, in order")


class RoomLabelOut(BaseModel):
    room_id: str
    label: str
    kinds: list[str] = Field(description="Person kinds the room admits (empty: any)")
    orgs: list[str] = Field(description="Organisation subtrees the room admits (empty: any)")
    labelled: bool = Field(description="False: the room has no label event; the default applies")
    e2ee: str
    creator: str
    creator_org: str | None
    updated_ts: int | None


class RoomLabelList(BaseModel):
    rooms: list[RoomLabelOut]
    next_after: str | None


class LabelChangeOut(BaseModel):
    room: RoomLabelOut
    changed: bool
    event_id: str | None


class LabelIn(AdminBody):
    label: str = Field(min_length=1, max_length=64)
    kinds: list[PersonKind] = Field(default_factory=list, max_length=2)
    orgs: list[str] = Field(default_factory=list, max_length=MAX_AUDIENCE_ORGS)
    reason: str = Field(min_length=1, max_length=1000, description="Kept in the audit log")


def _room(view: RoomLabelView) -> dict[str, Any]:
    out = asdict(view)
    out["kinds"] = list(view.kinds)
    out["orgs"] = list(view.orgs)
    return out


@router.get("/labels", response_model=LabelSettingsOut)
async def label_settings(actor: AdminActor, svc: Svc) -> Response:
    found = svc.labels.label_settings(actor)
    body = asdict(found)
    body["labels"] = list(found.labels)
    body["rules"] = list(found.rules)
    return ok(body)


@router.get("/labels/rooms", response_model=RoomLabelList)
async def list_rooms(
    actor: AdminActor,
    svc: Svc,
    label: str | None = Query(None, max_length=64, description="Only rooms with this label"),
    at_least: str | None = Query(None, max_length=64, description="Only rooms this high or above"),
    after: str | None = Query(None, max_length=255, description="Page: rooms after this id"),
    limit: int = Query(100, ge=1, le=500),
) -> Response:
    rooms = await svc.labels.list_rooms(
        actor, label=label, at_least=at_least, after=after, limit=limit
    )
    next_after = rooms[-1].room_id if len(rooms) == limit else None
    return ok({"rooms": [_room(r) for r in rooms], "next_after": next_after})


@router.get("/labels/rooms/{room_id}", response_model=RoomLabelOut)
async def get_room(room_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(_room(await svc.labels.get_room(actor, room_id)))


@router.put(
    "/labels/rooms/{room_id}", response_model=LabelChangeOut, openapi_extra=body_doc(LabelIn)
)
async def set_label(room_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    req = parse(LabelIn, body)
    new = LabelState(req.label, tuple(sorted(set(req.kinds))), tuple(sorted(set(req.orgs))))
    change = await svc.labels.do_set_label(actor, room_id, new, req.reason)
    return ok({"room": _room(change.room), "changed": change.changed, "event_id": change.event_id})
