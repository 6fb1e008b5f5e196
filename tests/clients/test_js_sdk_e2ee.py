"""matrix-js-sdk (Rust crypto) and matrix-nio together against a live tumar, on both backends:
an encrypted message sent by js-sdk decrypts in nio and the other way round; js-sdk sets up
cross-signing and a server-side key backup, and a second js-sdk device restores the room keys
from the backup and decrypts messages it was never sent the keys for.

The js-sdk side is ``tests/js/e2ee.mjs``; nio runs here, concurrently.
Set-up: ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from nio import AsyncClient

from tests.clients.test_nio_e2ee import (
    crypto_sync,
    decrypted_text,
    new_client,
    send_encrypted,
    until,
)
from tests.support.harness import PASSWORD, Api, LiveServer, User
from tests.support.js import require_node, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.node]

NODE_TIMEOUT_S = 150


async def bob_side(bob: AsyncClient, alice_id: str, node_done: asyncio.Event) -> dict[str, Any]:
    """Accept alice's invite, decrypt her message, answer encrypted, and keep syncing (so that
    key requests and to-device traffic are served) until the js-sdk side is done."""
    invite = await until(
        bob,
        lambda r: next(iter(r.rooms.invite), None),
        "an invite from alice",
    )
    room_id = str(invite)
    await bob.join(room_id)
    await until(bob, lambda r: room_id in r.rooms.join, "the joined room")
    seen = await until(bob, decrypted_text(room_id, "from js-sdk"), "alice's encrypted message")
    assert seen.sender == alice_id and seen.decrypted
    event_id = await send_encrypted(bob, room_id, "from nio")
    while not node_done.is_set():
        await crypto_sync(bob)
    return {"room_id": room_id, "seen_id": seen.event_id, "sent_id": event_id}


async def test_js_sdk_and_nio_decrypt_each_other_and_backup_round_trips(
    live_server: LiveServer,
) -> None:
    require_node()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        api = Api(http)
        alice = await api.register("alice")
        alice2 = await api.login("alice")
        bob = await new_client(live_server.url, "bob", register=True)
        node_done = asyncio.Event()
        try:
            bob_task = asyncio.create_task(bob_side(bob, alice.user_id, node_done))
            try:
                result = await run_scenario(
                    "e2ee",
                    {
                        "TUMAR_HS_URL": live_server.url,
                        "TUMAR_ALICE_ID": alice.user_id,
                        "TUMAR_ALICE_TOKEN": alice.token,
                        "TUMAR_ALICE_DEVICE": alice.device_id,
                        "TUMAR_ALICE2_TOKEN": alice2.token,
                        "TUMAR_ALICE2_DEVICE": alice2.device_id,
                        "TUMAR_ALICE_PASSWORD": PASSWORD,
                        "TUMAR_BOB_ID": bob.user_id or "",
                    },
                    timeout_s=NODE_TIMEOUT_S,
                )
            finally:
                node_done.set()
            bob_view = await asyncio.wait_for(bob_task, 60)
        finally:
            await bob.close()

        # nio decrypted js-sdk's message, and js-sdk decrypted nio's.
        assert bob_view["room_id"] == result["room_id"]
        assert bob_view["seen_id"] == result["js_event_id"]
        assert result["nio_event_id"] == bob_view["sent_id"]
        # The backup held both room keys and the second device decrypted both messages.
        assert result["restored"]["imported"] >= 2
        assert result["restored_bodies"] == ["from js-sdk", "from nio"]
        server_errors = [r for r in result["failed_requests"] if r["status"] >= 500]
        assert not server_errors, server_errors

        # What the server holds: cross-signing keys, a signed device, an opaque backup.
        keys = await api.call(
            "POST", "/keys/query", user=bob_user(bob), json={"device_keys": {alice.user_id: []}}
        )
        master = keys["master_keys"][alice.user_id]
        ssk = keys["self_signing_keys"][alice.user_id]
        (ssk_id,) = ssk["keys"]
        device = keys["device_keys"][alice.user_id][alice.device_id]
        assert ssk_id in device["signatures"][alice.user_id]
        assert master["usage"] == ["master"]
        backup = await api.call("GET", "/room_keys/version", user=alice)
        assert backup["version"] == result["backup_version"] and backup["count"] >= 2
        stored = await api.call(
            "GET", "/room_keys/keys", user=alice, params={"version": backup["version"]}
        )
        sessions = stored["rooms"][result["room_id"]]["sessions"]
        assert len(sessions) >= 2
        assert all("ciphertext" in s["session_data"] for s in sessions.values())
        assert "from nio" not in json.dumps(stored) and "from js-sdk" not in json.dumps(stored)


def bob_user(bob: AsyncClient) -> User:
    return User(bob.user_id, bob.access_token, bob.device_id)
