"""Reporting content: ``/rooms/{roomId}/report/{eventId}`` and ``/rooms/{roomId}/report``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, Body, Svc, ok
from tumar.errors import not_found
from tumar.ids import RoomId, valid_event_id

router = APIRouter()


@router.post("/rooms/{room_id}/report/{event_id}")
async def report_event(svc: Svc, requester: Auth, room_id: str, event_id: str, body: Body) -> Any:
    RoomId.parse(room_id)
    if not valid_event_id(event_id):
        raise not_found("There is no such event, or you cannot see it.")
    await svc.reports.do_report_event(
        requester, room_id, event_id, body.get("reason"), body.get("score")
    )
    return ok()


@router.post("/rooms/{room_id}/report")
async def report_room(svc: Svc, requester: Auth, room_id: str, body: Body) -> Any:
    RoomId.parse(room_id)
    await svc.reports.do_report_room(requester, room_id, body.get("reason"))
    return ok()
