"""Migration 0005 indexes the events stored before it: going back to 0004 and up again
rebuilds the same relations, threads and search rows (and search still works)."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from tests.support.everyday import edit, in_thread, reaction, rq, send_event, text
from tests.support.harness import Api, q
from tumar.store.db import alembic_config
from tumar.store.schema import event_relations, event_search, event_threads


async def _rows(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    assert api.services is not None
    out = {}
    async with api.services.db.read() as conn:
        for table in (event_relations, event_threads, event_search):
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted(tuple(r) for r in rows)
    return out


async def test_backfill_rebuilds_the_indexes(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat", name="Архив", topic="Old notes")
    await api.join(bob, room)
    root = await send_event(api, alice, room, "m.room.message", text("root of the archive"))
    await send_event(api, alice, room, "m.room.message", edit(root, "root, edited"))
    reply = await send_event(api, bob, room, "m.room.message", in_thread(root, "a reply"))
    await send_event(api, alice, room, "m.reaction", reaction(reply, "👍"))
    gone = await api.send(bob, room, "redacted text")
    await api.call("PUT", f"{rq(room)}/redact/{q(gone)}/r1", user=bob, json={})
    before = await _rows(api)
    assert len(before["event_relations"]) == 3 and len(before["event_threads"]) == 1

    def down_and_up(connection: Connection) -> None:
        cfg = alembic_config(connection)
        command.downgrade(cfg, "0004")
        command.upgrade(cfg, "head")

    async with api.services.db.engine.begin() as conn:
        await conn.run_sync(down_and_up)
    assert await _rows(api) == before
    found = await api.call(
        "POST",
        "/search",
        user=bob,
        json={"search_categories": {"room_events": {"search_term": "archive"}}},
    )
    assert found["search_categories"]["room_events"]["count"] == 1
