"""Server-side search: ``POST /search``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, Body, Svc, ok
from tumar.core.search import parse_room_events
from tumar.errors import bad_json

router = APIRouter()


@router.post("/search")
async def search(svc: Svc, requester: Auth, body: Body, next_batch: str | None = None) -> Any:
    categories = body.get("search_categories")
    if not isinstance(categories, dict):
        raise bad_json("The body needs `search_categories`, an object.")
    unknown = sorted(set(categories) - {"room_events"})
    if unknown:
        raise bad_json(f"Unknown search categories: {', '.join(unknown)}.")
    if "room_events" not in categories:
        return ok({"search_categories": {}})
    query = parse_room_events(categories["room_events"])
    return ok(await svc.search.search(requester, query, next_batch))
