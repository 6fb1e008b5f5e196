"""The end-to-end encryption sections of ``/sync``: ``to_device``, ``device_lists``,
``device_one_time_keys_count`` and ``device_unused_fallback_key_types``.

Read up to the sync's position P (``core/sync.py``). To-device messages are given at most
``TO_DEVICE_LIMIT`` at a time; when more are waiting, the sync token carries the position of
the last one delivered, so the next sync acknowledges exactly what was delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.core.device_lists import changes_between
from tumar.core.keys import OTK_COUNT_DEFAULTS
from tumar.core.tokens import SyncToken
from tumar.store import e2e_keys as key_store
from tumar.store import to_device as to_device_store
from tumar.store.sync_probe import EVERYTHING, Changed
from tumar.store.to_device import ToDeviceMessage

TO_DEVICE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class E2eeSections:
    body: dict[str, Any]
    to_device_pos: int | None
    """Position of the last to-device message delivered when more are waiting, else None."""
    acknowledged: int | None
    """When messages the ``since`` token acknowledged are still stored: delete up to here."""

    @property
    def has_content(self) -> bool:
        lists = self.body["device_lists"]
        return bool(self.body["to_device"]["events"] or lists["changed"] or lists["left"])


def acknowledged_position(since: SyncToken) -> int:
    """Every to-device message at or below this position was delivered before ``since``."""
    if since.to_device is not None:
        return min(since.to_device, since.pos)
    return since.pos


async def e2ee_sections(
    conn: AsyncConnection,
    user_id: str,
    device_id: str,
    since: SyncToken | None,
    upto: int,
    kinds: Changed = EVERYTHING,
    key_counts: tuple[dict[str, int], list[str]] | None = None,
) -> E2eeSections:
    """``kinds``: which kinds have anything to read; ``key_counts``: the one-time key counts
    when the sync's opening read them (``store/sync_probe.py``)."""
    acked = acknowledged_position(since) if since is not None else 0
    stale, messages, more = False, list[ToDeviceMessage](), False
    if kinds.to_device:
        stale, messages, more = await to_device_store.window(
            conn, user_id, device_id, acked, upto, TO_DEVICE_LIMIT
        )
    if since is not None and since.pos < upto and kinds.device_lists:
        delta = await changes_between(conn, user_id, since.pos, upto)
        changed, left = delta.changed, delta.left
    else:
        changed, left = [], []
    if key_counts is None:
        key_counts = await key_store.key_counts(conn, user_id, device_id)
    counts, fallback = key_counts
    body = {
        "to_device": {
            "events": [
                {"sender": m.sender, "type": m.type, "content": dict(m.content)} for m in messages
            ]
        },
        "device_lists": {"changed": changed, "left": left},
        "device_one_time_keys_count": {**OTK_COUNT_DEFAULTS, **counts},
        "device_unused_fallback_key_types": fallback,
    }
    last = messages[-1].stream_pos if messages else acked
    return E2eeSections(body, last if more else None, acked if stale else None)
