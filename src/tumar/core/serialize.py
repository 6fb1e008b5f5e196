"""Turn stored events into the client format (the ``ClientEvent`` of the spec)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store import events as event_store
from tumar.store.events import StoredEvent


def client_event(
    ev: StoredEvent,
    *,
    now_ms: int,
    viewer_user: str | None = None,
    viewer_device: str | None = None,
    redactions: dict[str, StoredEvent] | None = None,
    with_room_id: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": ev.type,
        "event_id": ev.event_id,
        "sender": ev.sender,
        "origin_server_ts": ev.origin_server_ts,
        "content": dict(ev.content),
    }
    if with_room_id:
        out["room_id"] = ev.room_id
    if ev.state_key is not None:
        out["state_key"] = ev.state_key
    if ev.type == "m.room.redaction" and "redacts" in ev.content:
        # Room version 11 keeps `redacts` in content; older clients read the top-level key.
        out["redacts"] = ev.content["redacts"]
    unsigned: dict[str, Any] = {"age": max(0, now_ms - ev.origin_server_ts)}
    if ev.prev_content is not None:
        unsigned["prev_content"] = dict(ev.prev_content)
    if ev.replaces_state is not None:
        unsigned["replaces_state"] = ev.replaces_state
    if (
        ev.txn_id is not None
        and viewer_user == ev.sender
        and viewer_device is not None
        and viewer_device == ev.txn_device_id
    ):
        unsigned["transaction_id"] = ev.txn_id
    if ev.redacted_by is not None and redactions and ev.redacted_by in redactions:
        unsigned["redacted_because"] = client_event(
            redactions[ev.redacted_by], now_ms=now_ms, with_room_id=with_room_id
        )
    out["unsigned"] = unsigned
    return out


async def client_events(
    conn: AsyncConnection,
    events: Sequence[StoredEvent],
    *,
    now_ms: int,
    viewer_user: str | None,
    viewer_device: str | None,
    with_room_id: bool = True,
) -> list[dict[str, Any]]:
    redactions = await event_store.get_events(
        conn, (e.redacted_by for e in events if e.redacted_by)
    )
    return [
        client_event(
            e,
            now_ms=now_ms,
            viewer_user=viewer_user,
            viewer_device=viewer_device,
            redactions=redactions,
            with_room_id=with_room_id,
        )
        for e in events
    ]


def stripped_state(ev: StoredEvent) -> dict[str, Any]:
    return {
        "type": ev.type,
        "state_key": ev.state_key,
        "sender": ev.sender,
        "content": dict(ev.content),
    }
