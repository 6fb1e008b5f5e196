"""``/_tumar/notices/v1``: the recipient side of government notifications, for any signed-in
user (no administrative role): the inbox, marking read, acknowledging. Standard Matrix clients
get the same notifications in their notice room and acknowledge by reacting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tumar.api.http import Auth, Svc, ok
from tumar.core.gov_notices import InboxItem
from tumar.core.gov_notices_content import iso, notice_content

router = APIRouter(prefix="/_tumar/notices/v1")


def item_json(svc: Svc, item: InboxItem) -> dict[str, Any]:
    n, d = item.notice, item.delivery
    content = notice_content(n, svc.gov_notices.delivery.shown_reactions)
    return {
        "notice_id": n.notice_id,
        "title": n.title,
        "priority": n.priority,
        "body": content["body"],
        "formatted_body": content["formatted_body"],
        "ack_required": n.ack_required,
        "deadline": iso(n.deadline_ts),
        "withdrawn": n.status == "withdrawn",
        "version": n.version,
        "room_id": d.room_id,
        "event_id": d.event_id,
        "delivered_at": iso(d.delivered_ts),
        "read": item.read,
        "acknowledged": d.ack_ts is not None,
        "acknowledged_at": iso(d.ack_ts),
        "overdue": bool(
            n.ack_required
            and d.ack_ts is None
            and n.deadline_ts is not None
            and n.deadline_ts < svc.clock.now_ms()
            and n.status == "sent"
        ),
    }


@router.get("/inbox")
async def inbox(svc: Svc, requester: Auth, limit: int = Query(100, ge=1, le=500)) -> Response:
    items = await svc.gov_notices.inbox(requester, limit=limit)
    body = [item_json(svc, i) for i in items]
    return ok(
        {
            "notices": body,
            "unread": sum(1 for i in body if not i["read"] and not i["withdrawn"]),
            "pending": sum(
                1
                for i in body
                if i["ack_required"] and not i["acknowledged"] and not i["withdrawn"]
            ),
        }
    )


@router.post("/notices/{notice_id}/ack")
async def acknowledge(notice_id: str, svc: Svc, requester: Auth) -> Response:
    d, before = await svc.gov_notices.do_acknowledge(requester, notice_id)
    return ok(
        {
            "notice_id": notice_id,
            "acknowledged_at": iso(d.ack_ts),
            "already_acknowledged": before,
        }
    )


@router.post("/notices/{notice_id}/read")
async def mark_read(notice_id: str, svc: Svc, requester: Auth) -> Response:
    d = await svc.gov_notices.do_mark_read(requester, notice_id)
    return ok({"notice_id": notice_id, "read_at": iso(d.read_ts)})
