"""A node that restarts still answers old sync tokens from the database at once."""

from __future__ import annotations

import asyncio

from tests.support.harness import Api
from tumar.app import build_app
from tumar.config import Settings
from tumar.core.services import build_services


async def test_sync_token_from_before_a_restart_is_answered_at_once(settings: Settings) -> None:
    first = build_services(settings)
    await first.start()
    async with Api.in_process(build_app(settings, first), first) as api:
        alice = await api.register("alice")
        room = await api.create_room(alice)
        token = (await api.sync(alice))["next_batch"]
        event_id = await api.send(alice, room, "sent before the restart")
    await first.close()

    second = build_services(settings)
    await second.start()
    try:
        async with Api.in_process(build_app(settings, second), second) as api:
            # The new node has heard no doorbell for this user; it must read the database
            # instead of waiting out the long-poll.
            body = await asyncio.wait_for(api.sync(alice, token, timeout=8000), timeout=4)
    finally:
        await second.close()
    events = body["rooms"]["join"][room]["timeline"]["events"]
    assert [e["event_id"] for e in events] == [event_id]
