"""matrix-js-sdk (Node) against a live tumar: initial sync, local echo, scrollback.

The scenario itself is ``tests/js/scenario.mjs``; this test makes its users through the API,
runs it with a hard timeout and checks the JSON line it prints against what the server holds.
Set-up: ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import need
from tests.support.harness import Api, LiveServer, q

pytestmark = [pytest.mark.slow, pytest.mark.node]

JS_DIR = Path(__file__).resolve().parents[1] / "js"
SCENARIO = JS_DIR / "scenario.mjs"
NODE_TIMEOUT_S = 120
EXTRA_MESSAGES = 30


def _node() -> str:
    node = shutil.which("node")
    need(node is not None, "node is not installed (Node.js 20+ is needed for matrix-js-sdk tests)")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = version.stdout.strip().lstrip("v").split(".")[0]
    need(major.isdigit() and int(major) >= 20, f"Node.js 20+ is needed, found {version.stdout!r}")
    need(
        (JS_DIR / "node_modules" / "matrix-js-sdk" / "package.json").is_file(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js`",
    )
    return node


async def _run_scenario(node: str, env: dict[str, str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCENARIO),
        cwd=JS_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), NODE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node scenario did not finish within {NODE_TIMEOUT_S} s")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON result (exit {proc.returncode})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert proc.returncode == 0 and result.get("ok") is True, (
        f"scenario failed (exit {proc.returncode}): {result.get('error')}\n"
        f"failed requests: {result.get('failed_requests')}\nstderr (js-sdk log tail):\n{stderr}"
    )
    return result


async def test_js_sdk_scenario(live_server: LiveServer) -> None:
    node = _node()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        api = Api(http)
        alice = await api.register("alice")
        bob = await api.register("bob")

        result = await _run_scenario(
            node,
            {
                "TUMAR_HS_URL": live_server.url,
                "TUMAR_USER1_ID": alice.user_id,
                "TUMAR_USER1_TOKEN": alice.token,
                "TUMAR_USER1_DEVICE": alice.device_id,
                "TUMAR_USER2_ID": bob.user_id,
                "TUMAR_USER2_TOKEN": bob.token,
                "TUMAR_USER2_DEVICE": bob.device_id,
                "TUMAR_JS_MESSAGES": str(EXTRA_MESSAGES),
                "TUMAR_JS_TIMEOUT_MS": str((NODE_TIMEOUT_S - 15) * 1000),
            },
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
