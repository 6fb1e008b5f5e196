"""Reading a room's classification label (see :mod:`tumar.policy.labels`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.labels import LABEL_EVENT
from tumar.store import events as event_store


async def room_label(conn: AsyncConnection, room_id: str, default: str) -> str:
    """The room's current label; ``default`` when the room has none."""
    state = await event_store.current_state_map(conn, room_id, [(LABEL_EVENT, "")])
    event = state.get((LABEL_EVENT, ""))
    label = event.content.get("label") if event is not None else None
    return label if isinstance(label, str) else default
