"""Turn stored events into the client format (the ``ClientEvent`` of the spec)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.retention import is_purged, purged_because
from tumar.store import events as event_store
from tumar.store import relations as relation_store
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
    elif is_purged(ev.redacted_by):  # purged by the retention job: no stored redaction
        unsigned["redacted_because"] = purged_because(
            ev.event_id, ev.room_id, ev.redacted_by, now_ms=now_ms, with_room_id=with_room_id
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
    aggregate: bool = False,
    visible_upto: int | None = None,
) -> list[dict[str, Any]]:
    """Events in the client format. With ``aggregate``, non-state events carry their bundled
    aggregations (``unsigned["m.relations"]``), counting only children at or below
    ``visible_upto`` (None: all), which is what the viewer may see."""
    redactions = await event_store.get_events(
        conn, (e.redacted_by for e in events if e.redacted_by)
    )
    out = [
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
    if aggregate:
        view = _Viewer(viewer_user, viewer_device, visible_upto, now_ms, with_room_id)
        bundles = await _bundles(conn, events, view, nested=True)
        for ev, body in zip(events, out, strict=True):
            if ev.event_id in bundles:
                body["unsigned"]["m.relations"] = bundles[ev.event_id]
    return out


@dataclass(frozen=True, slots=True)
class _Viewer:
    user: str | None
    device: str | None
    upto: int | None
    now_ms: int
    with_room_id: bool


async def _bundles(
    conn: AsyncConnection, events: Sequence[StoredEvent], view: _Viewer, *, nested: bool
) -> dict[str, dict[str, Any]]:
    """``m.relations`` per event: ``m.thread`` (latest event, count, whether the viewer took
    part), ``m.replace`` (the latest edit; none once the original is redacted) and
    ``m.reference`` (the referring event ids). Annotations are not bundled (spec v1.7)."""
    parents = {e.event_id: e for e in events if e.state_key is None}
    aggregates = await relation_store.aggregates(conn, parents, view.user, view.upto)
    if not aggregates:
        return {}
    wanted = [p for a in aggregates.values() for p in (a.thread_latest, a.replace_latest) if p]
    loaded = await relation_store.events_at(conn, wanted)
    latest_in_threads = [loaded[a.thread_latest] for a in aggregates.values() if a.thread_latest]
    # The latest event of a thread carries its own aggregations (its edits), one level deep.
    inner = await _bundles(conn, latest_in_threads, view, nested=False) if nested else {}
    out: dict[str, dict[str, Any]] = {}
    for parent_id, agg in aggregates.items():
        parent = parents[parent_id]
        relations: dict[str, Any] = {}
        latest = loaded.get(agg.thread_latest) if agg.thread_latest else None
        if latest is not None:
            latest_json = _plain(latest, view)
            if latest.event_id in inner:
                latest_json["unsigned"]["m.relations"] = inner[latest.event_id]
            relations["m.thread"] = {
                "latest_event": latest_json,
                "count": agg.thread_count,
                "current_user_participated": agg.thread_participated or parent.sender == view.user,
            }
        edit = loaded.get(agg.replace_latest) if agg.replace_latest else None
        if edit is not None and parent.redacted_by is None:
            relations["m.replace"] = _plain(edit, view)
        if agg.references:
            relations["m.reference"] = {"chunk": [{"event_id": i} for i in agg.references]}
        if relations:
            out[parent_id] = relations
    return out


def _plain(ev: StoredEvent, view: _Viewer) -> dict[str, Any]:
    return client_event(
        ev,
        now_ms=view.now_ms,
        viewer_user=view.user,
        viewer_device=view.device,
        with_room_id=view.with_room_id,
    )


def stripped_state(ev: StoredEvent) -> dict[str, Any]:
    return {
        "type": ev.type,
        "state_key": ev.state_key,
        "sender": ev.sender,
        "content": dict(ev.content),
    }
