"""Send-to-device messaging: ``PUT /sendToDevice/{eventType}/{txnId}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.errors import invalid_param

router = APIRouter()

MAX_TXN_ID = 255


class SendToDevice(RequestBody):
    messages: dict[str, dict[str, dict[str, Any]]]


@router.put("/sendToDevice/{event_type}/{txn_id}")
async def send_to_device(
    svc: Svc, requester: Auth, event_type: str, txn_id: str, body: Body
) -> Any:
    if not txn_id or len(txn_id) > MAX_TXN_ID:
        raise invalid_param("The transaction id must be 1 to 255 characters.")
    req = parse(SendToDevice, body)
    await svc.to_device.do_send(requester, event_type, txn_id, req.messages)
    return ok()
