"""Long-poll `/sync` over a real socket: a client that goes away stops its wait at once."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.harness import PASSWORD, LiveServer


def _waiting(server: LiveServer) -> int:
    return int(server.app.state.services.notifier.waiting)


async def test_abandoned_long_poll_stops_waiting(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        reg = await http.post(
            "/_matrix/client/v3/register",
            json={"username": "poller", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
        )
        token = reg.json()["access_token"]
        first = await http.get(
            "/_matrix/client/v3/sync", headers={"Authorization": f"Bearer {token}"}
        )
        since = first.json()["next_batch"]

    reader, writer = await asyncio.open_connection("127.0.0.1", live_server.port)
    writer.write(
        (
            f"GET /_matrix/client/v3/sync?since={since}&timeout=10000 HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    deadline = time.monotonic() + 5
    while _waiting(live_server) == 0:
        assert time.monotonic() < deadline, "the long-poll never started waiting"
        await asyncio.sleep(0.02)

    writer.close()
    await writer.wait_closed()
    deadline = time.monotonic() + 5
    while _waiting(live_server) != 0:
        assert time.monotonic() < deadline, "the abandoned long-poll kept waiting"
        await asyncio.sleep(0.02)
    del reader
