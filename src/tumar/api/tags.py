"""Room tags: ``/user/{userId}/rooms/{roomId}/tags``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, Body, Svc, ok

router = APIRouter()


@router.get("/user/{user_id}/rooms/{room_id}/tags")
async def get_tags(svc: Svc, requester: Auth, user_id: str, room_id: str) -> Any:
    return ok(await svc.tags.get(requester, user_id, room_id))


@router.put("/user/{user_id}/rooms/{room_id}/tags/{tag}")
async def put_tag(
    svc: Svc, requester: Auth, user_id: str, room_id: str, tag: str, body: Body
) -> Any:
    await svc.tags.do_put(requester, user_id, room_id, tag, body)
    return ok()


@router.delete("/user/{user_id}/rooms/{room_id}/tags/{tag}")
async def delete_tag(svc: Svc, requester: Auth, user_id: str, room_id: str, tag: str) -> Any:
    await svc.tags.do_delete(requester, user_id, room_id, tag)
    return ok()
