"""Presence: set, read, delivered in ``/sync`` to people who share a room, and switched off."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.support.accounts import server
from tests.support.everyday import refused
from tests.support.harness import Api, User, q
from tests.support.statements import on_statement
from tumar.app import build_app
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core import presence as presence_service
from tumar.core.services import build_services
from tumar.store.schema import presence


def presence_of(sync: dict[str, Any], user: User) -> list[dict[str, Any]]:
    return [e["content"] for e in sync["presence"]["events"] if e["sender"] == user.user_id]


async def test_presence_set_read_and_synced(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)

    first = await api.sync(bob, set_presence="offline")
    await api.call(
        "PUT",
        f"/presence/{q(alice.user_id)}/status",
        user=alice,
        json={"presence": "unavailable", "status_msg": "in a meeting"},
    )
    seen = await api.call("GET", f"/presence/{q(alice.user_id)}/status", user=bob)
    assert seen["presence"] == "unavailable"
    assert seen["status_msg"] == "in a meeting"
    assert isinstance(seen["last_active_ago"], int) and seen["currently_active"] is False

    later = await api.sync(bob, first["next_batch"], set_presence="offline")
    assert presence_of(later, alice)[-1]["presence"] == "unavailable"
    # A sync marks the client online (and keeps the status message).
    await api.sync(alice)
    again = await api.sync(bob, later["next_batch"], set_presence="offline")
    content = presence_of(again, alice)[-1]
    assert (content["presence"], content["status_msg"]) == ("online", "in a meeting")
    assert content["currently_active"] is True

    # Someone sharing no room sees neither the status nor the events.
    await api.error("GET", f"/presence/{q(alice.user_id)}/status", 403, "M_FORBIDDEN", user=carol)
    assert presence_of(await api.sync(carol), alice) == []
    # An initial sync carries the room-mates' current presence.
    assert presence_of(await api.sync(bob, set_presence="offline"), alice)[-1]["presence"] == (
        "online"
    )


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_MISSING_PARAM"),
        ({"presence": "busy"}, "M_BAD_JSON"),
        ({"presence": "online", "status_msg": 5}, "M_BAD_JSON"),
        ({"presence": "online", "status_msg": "x" * 1001}, "M_BAD_JSON"),
    ],
)
async def test_bad_presence_is_refused(api: Api, body: dict[str, Any], errcode: str) -> None:
    alice = await api.register("alice")
    await refused(
        api, "PUT", f"/presence/{q(alice.user_id)}/status", 400, errcode, user=alice, json=body
    )


async def test_presence_of_others_and_unknown_users(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    await refused(
        api,
        "PUT",
        f"/presence/{q(bob.user_id)}/status",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"presence": "online"},
    )
    await api.error("GET", "/presence/@ghost:tumar.test/status", 404, "M_NOT_FOUND", user=alice)
    await api.error("GET", "/presence/nobody/status", 400, "M_INVALID_PARAM", user=alice)
    await api.error(
        "GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params={"set_presence": "busy"}
    )
    # Nobody set anything yet: offline.
    assert await api.call("GET", f"/presence/{q(alice.user_id)}/status", user=alice) == {
        "presence": "offline"
    }


async def test_presence_switched_off(settings: Settings) -> None:
    off = settings.model_copy(update={"presence_enabled": False})
    services = build_services(off)
    await services.start()
    try:
        async with Api.in_process(build_app(off, services), services) as api:
            alice = await api.register("alice")
            bob = await api.register("bob")
            room = await api.create_room(alice, preset="public_chat")
            await api.join(bob, room)
            await api.call(
                "PUT",
                f"/presence/{q(alice.user_id)}/status",
                user=alice,
                json={"presence": "online", "status_msg": "here"},
            )
            await api.sync(alice)
            assert await api.call("GET", f"/presence/{q(alice.user_id)}/status", user=bob) == {
                "presence": "offline"
            }
            assert (await api.sync(bob))["presence"]["events"] == []
            async with services.db.read() as conn:
                assert (
                    await conn.execute(select(func.count()).select_from(presence))
                ).scalar() == 0
    finally:
        await services.close()


def test_make_settings_has_presence_on() -> None:
    assert make_settings().presence_enabled is True


async def test_activity_is_refreshed_for_every_syncing_user_in_one_write(
    settings: Settings,
) -> None:
    """A sync a minute or more after the last one refreshes the user's activity without a
    new presence event; the refreshes the node collected are written together, and each
    user's own time is kept."""
    clock = FakeClock()
    async with server(settings, clock=clock) as api:
        users = [await api.register(name) for name in ("alice", "bob", "carol")]
        for user in users:
            await api.sync(user)  # online: one presence event each
        started = clock.now_ms()
        clock.advance(presence_service.TOUCH_EVERY_MS / 1000)
        await api.sync(users[0])  # the node's first refresh: written at once
        clock.advance(1)
        await api.sync(users[1])  # collected: the last write was a second ago
        clock.advance(presence_service.FLUSH_TOUCHES_MS / 1000)
        positions = await presence_rows(api)
        assert positions[users[1].user_id][0] == started  # not written yet
        updates: list[str] = []
        assert api.services is not None
        with on_statement(api.services, lambda sql, _p: updates.append(sql)):
            await api.sync(users[2])  # the interval is over: bob's and carol's written
        assert len([sql for sql in updates if sql.startswith("UPDATE presence")]) == 1
        rows = await presence_rows(api)
        touched = {u.user_id: rows[u.user_id][0] - started for u in users}
        assert touched == {
            users[0].user_id: presence_service.TOUCH_EVERY_MS,
            users[1].user_id: presence_service.TOUCH_EVERY_MS + 1_000,
            users[2].user_id: presence_service.TOUCH_EVERY_MS
            + 1_000
            + presence_service.FLUSH_TOUCHES_MS,
        }
        # Mere activity takes no stream position: nobody is woken for it.
        assert {u: pos for u, (_ts, pos) in rows.items()} == {
            u: pos for u, (_ts, pos) in positions.items()
        }


async def presence_rows(api: Api) -> dict[str, tuple[int, int]]:
    async with api.services.db.read() as conn:
        rows = await conn.execute(
            select(presence.c.user_id, presence.c.last_active_ts, presence.c.stream_pos)
        )
        return {r.user_id: (r.last_active_ts, r.stream_pos) for r in rows}
