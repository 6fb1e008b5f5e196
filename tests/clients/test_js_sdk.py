"""matrix-js-sdk (Node) against a live tumar: initial sync, local echo, scrollback.

The scenario itself is ``tests/js/scenario.mjs``; this test makes its users through the API,
runs it with a hard timeout and checks the JSON line it prints against what the server holds.
Set-up: ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.harness import Api, LiveServer, q
from tests.support.js import require_node, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.node]

NODE_TIMEOUT_S = 120
EXTRA_MESSAGES = 30


async def test_js_sdk_scenario(live_server: LiveServer) -> None:
    require_node()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        api = Api(http)
        alice = await api.register("alice")
        bob = await api.register("bob")

        result = await run_scenario(
            "scenario",
            {
                "TUMAR_HS_URL": live_server.url,
                "TUMAR_USER1_ID": alice.user_id,
                "TUMAR_USER1_TOKEN": alice.token,
                "TUMAR_USER1_DEVICE": alice.device_id,
                "TUMAR_USER2_ID": bob.user_id,
                "TUMAR_USER2_TOKEN": bob.token,
                "TUMAR_USER2_DEVICE": bob.device_id,
                "TUMAR_JS_MESSAGES": str(EXTRA_MESSAGES),
            },
            timeout_s=NODE_TIMEOUT_S,
        )

        bodies = ["first message 0"] + [f"message {i}" for i in range(1, EXTRA_MESSAGES + 1)]
        assert result["sent_bodies"] == bodies

        # Local echo -> remote echo, matched through the transaction id.
        first = result["first"]
        assert first["local_id"].startswith("~")
        assert first["txn_id"]
        assert first["local_status"] == "sending"
        assert first["event_id"].startswith("$")
        assert first["final_id"] == first["event_id"]
        assert first["final_status"] is None
        assert first["sync_txn_event_id"] == first["event_id"]
        assert first["live_copies"] == 1
        assert first["transitions"], "no LocalEchoUpdated for the first message"
        assert first["transitions"][-1]["status"] is None

        # The sender's timeline ids are the server's ids, in order, without duplicates.
        alice_ids = result["alice_event_ids"]
        assert len(alice_ids) == len(bodies) == len(set(alice_ids))
        assert all(i.startswith("$") for i in alice_ids)
        assert alice_ids[0] == first["event_id"]

        # The invitee's fresh client scrolled back to the first message.
        bob_view = result["bob"]
        assert bob_view["initial_events"] <= 10
        assert bob_view["scrollbacks"] >= 1
        assert bob_view["bodies"] == bodies
        assert bob_view["event_ids"] == alice_ids
        assert bob_view["first_event_id"] == first["event_id"]
        assert bob_view["first_event_sender"] == alice.user_id
        assert "PREPARED" in result["alice_states"] and "PREPARED" in bob_view["states"]
        server_errors = [r for r in result["failed_requests"] if r["status"] >= 500]
        assert not server_errors, f"server errors during the scenario: {server_errors}"

        # Cross-check against the server's own view of the room.
        room_id = result["room_id"]
        page = await api.call(
            "GET",
            f"/rooms/{q(room_id)}/messages",
            user=bob,
            params={"dir": "b", "limit": 100, "filter": json.dumps({"types": ["m.room.message"]})},
        )
        server_ids = [e["event_id"] for e in reversed(page["chunk"])]
        assert server_ids == alice_ids
        assert [e["content"]["body"] for e in reversed(page["chunk"])] == bodies
