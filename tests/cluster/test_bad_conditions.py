"""tumar under bad conditions: Redis down (nodes keep serving, deliveries fall back to polling
the database, and are fast again once Redis returns), PostgreSQL restarting (a clear 503, no
acknowledged message lost, the pool recovers) and slow clients that never read their answers
(no memory growth). Every wait is bounded; the module runs in about a minute and a half."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg.exceptions
import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import need
from tests.support.cluster import (
    LONG_POLL_MS,
    POSTGRES_URL,
    Cluster,
    RedisServer,
    bodies,
    postgres_available,
    room_messages,
    room_timeline,
    sync,
    timeline_filter,
)
from tests.support.harness import CLIENT, Api, User, q
from tests.support.tcp_proxy import TcpProxy
from tumar.app import database_outage

pytestmark = pytest.mark.postgres

FALLBACK_MS = 500
"""``bus_fallback_poll_ms`` in the Redis test: how often a node polls the database while
Redis is down."""


async def _delivery(
    poller_api: Api, poller: User, sender_api: Api, sender: User, room: str, text: str
) -> float:
    """Seconds from a send through one node to its arrival in a long-poll parked on the
    other. The poll starts from a fresh ``since``, so only ``text`` can end it (or something
    unrelated, after which it polls again)."""
    since = (await sync(poller_api, poller))["next_batch"]

    async def wait() -> float:
        nonlocal since
        deadline = time.monotonic() + LONG_POLL_MS / 1000 + 5
        while time.monotonic() < deadline:
            body = await sync(poller_api, poller, since, timeout_ms=LONG_POLL_MS)
            if text in bodies(room_timeline(body, room)):
                return time.monotonic()
            since = body["next_batch"]
        raise AssertionError(f"{text!r} never arrived")

    task = asyncio.create_task(wait())
    await asyncio.sleep(0.3)  # parked
    assert not task.done()
    sent_at = time.monotonic()
    await sender_api.send(sender, room, text)
    return await task - sent_at


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    need(RedisServer.available(), "redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


async def test_redis_down_nodes_serve_and_poll_then_recover(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    need(postgres_available(), "PostgreSQL is not reachable")
    env = {"TUMAR_BUS_FALLBACK_POLL_MS": str(FALLBACK_MS)}
    async with (
        Cluster(tmp_path, nodes=2, redis_url=redis_server.url, env=env) as cluster,
        cluster[0].api() as on_a,
        cluster[1].api() as on_b,
    ):
        alice = await on_a.register("alice")
        bob = await on_b.register("bob")
        room = await on_a.create_room(alice, preset="public_chat")
        await on_b.join(bob, room)
        healthy = await _delivery(on_a, alice, on_b, bob, room, "redis up")
        assert healthy < 1.0, f"{healthy:.2f} s with Redis up\n{cluster.logs()}"

        redis_server.kill()
        # Every node keeps serving: sends, syncs and typing answer 200 on both.
        await on_a.send(alice, room, "down via a")
        await on_b.send(bob, room, "down via b")
        await sync(on_a, alice)
        await sync(on_b, bob)
        typing = {"typing": True, "timeout": 5_000}
        path = f"/rooms/{q(room)}/typing/{q(bob.user_id)}"
        await on_b.call("PUT", path, user=bob, json=typing)
        # Deliveries across nodes come from polling the database every FALLBACK_MS (without
        # it they would wait for the whole long-poll timeout, 20 s).
        for i in range(3):
            took = await _delivery(on_a, alice, on_b, bob, room, f"down {i}")
            assert took < 3.0, f"{took:.2f} s with Redis down\n{cluster.logs()}"

        redis_server.start()  # the same port: the nodes reconnect by themselves
        deadline = time.monotonic() + 20
        while redis_server.subscribers() < 2:
            assert time.monotonic() < deadline, f"nodes did not resubscribe\n{cluster.logs()}"
            await asyncio.sleep(0.2)
        # Fast again: every one of 8 deliveries well under the polling interval. Polling
        # alone would pass each with probability 0.6 (0.6 ** 8 < 2 %).
        times = [await _delivery(on_a, alice, on_b, bob, room, f"back {i}") for i in range(8)]
        assert max(times) < 0.3, [round(t, 3) for t in times]


async def test_postgres_restart_answers_503_and_the_pool_recovers(tmp_path: Path) -> None:
    need(postgres_available(), "PostgreSQL is not reachable")
    host_port = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    proxy = TcpProxy(host, int(port or 5432))
    proxied = POSTGRES_URL.replace(host_port, f"127.0.0.1:{proxy.start()}")
    try:
        async with (
            Cluster(
                tmp_path, nodes=1, redis_url=None, node_env=[{"TUMAR_DATABASE_URL": proxied}]
            ) as cluster,
            cluster[0].api(timeout=15) as api,
        ):
            alice = await api.register("alice")
            room = await api.create_room(alice)
            acked = [await api.send(alice, room, f"before {i}") for i in range(5)]

            proxy.cut()
            path = f"/rooms/{q(room)}/send/m.room.message/during"
            started = time.monotonic()
            for method, url, body in (
                ("PUT", path, {"msgtype": "m.text", "body": "during"}),
                ("GET", "/sync", None),
                ("GET", f"/rooms/{q(room)}/messages", None),
            ):
                r = await api.raw(method, url, user=alice, json=body)
                assert r.status_code == 503, f"{method} {url}: {r.status_code} {r.text}"
                assert r.json() == {
                    "errcode": "M_UNKNOWN",
                    "error": "The database is unavailable; try again shortly.",
                    "retry_after_ms": 2000,
                }
                assert r.headers["retry-after"] == "2"
            assert time.monotonic() - started < 10, "requests hung on the dead database"
            assert cluster[0].running

            proxy.restore()
            deadline = time.monotonic() + 10
            while True:  # the client retries with the same transaction id, as clients do
                r = await api.raw(
                    "PUT", path, user=alice, json={"msgtype": "m.text", "body": "during"}
                )
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                assert r.status_code == 503, r.text
                await asyncio.sleep(0.2)
            assert r.status_code == 200, f"the pool did not recover: {r.text}"
            acked.append(r.json()["event_id"])

            history = await room_messages(api, alice, room)
            ids = [e["event_id"] for e in history if e["type"] == "m.room.message"]
            assert ids == acked, "an acknowledged message was lost or repeated"
    finally:
        proxy.close()


# ---- slow clients ------------------------------------------------------------------------

SLOW_SOCKETS = 30
PIPELINED = 20  # requests written on each socket without reading a byte of the answers
BIG_BODY = "x" * 50_000
TIMELINE = 8  # events per sync answer: about 400 kB each
RSS_BOUND_KIB = 48 * 1024
"""Measured (2 shared cores, loopback): the node's RSS grows by about 7 MiB and then stays
flat while 30 sockets each hold 20 pipelined ~400 kB answers unread. uvicorn parses the next
pipelined request only once the previous answer is written, and waits for the transport to
drain before writing another, so each socket pins at most one or two answers in the process
(30 * 2 * 400 kB = 24 MB at worst; the kernel's socket buffers usually take most of it). A
server that kept answering into its own buffers would hold up to 30 * 20 * 400 kB = 240 MB
and keep growing while it worked through them. 48 MiB is twice the worst bounded case and a
fifth of the unbounded one."""
PLATEAU_S = 2.5
"""RSS steady (within 1 MiB) this long while messages keep coming ends the run."""


def _slow_socket(port: int, requests: list[bytes]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)  # no autotuning to many MB
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"".join(requests))  # a few kB: fits the server's receive buffer at once
    return s


def _unread_bytes(s: socket.socket) -> int:
    return int.from_bytes(fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0" * 4), "little")


def _request(path: str, token: str, params: dict[str, Any] | None = None) -> bytes:
    url = CLIENT + path + (f"?{urlencode(params)}" if params else "")
    return f"GET {url} HTTP/1.1\r\nHost: tumar\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


async def test_slow_clients_that_never_read_do_not_grow_memory(tmp_path: Path) -> None:
    need(postgres_available(), "PostgreSQL is not reachable")
    async with (
        Cluster(tmp_path, nodes=1, redis_url=None) as cluster,
        cluster[0].api() as api,
    ):
        node = cluster[0]
        alice = await api.register("alice")
        room = await api.create_room(alice)
        old = (await sync(api, alice))["next_batch"]
        for i in range(TIMELINE):
            await api.send(alice, room, f"{i} {BIG_BODY}")
        latest = (await sync(api, alice, old, limit=TIMELINE))["next_batch"]
        # Warm up: the same big answers, read normally, so that the baseline already holds
        # the caches and allocator arenas a busy node has.
        for _ in range(3):
            await asyncio.gather(*(sync(api, alice, old, limit=TIMELINE) for _ in range(8)))
        baseline = node.rss_kib()

        big = {"since": old, "timeout": LONG_POLL_MS, "filter": timeline_filter(TIMELINE)}
        parked = {"since": latest, "timeout": LONG_POLL_MS, "filter": timeline_filter(TIMELINE)}
        pipeline = [
            _request("/sync", alice.token, parked),  # parks until the next message
            *[_request("/sync", alice.token, big) for _ in range(PIPELINED - 3)],
            _request(f"/rooms/{q(room)}/messages", alice.token, {"dir": "b", "limit": 50}),
            _request("/account/whoami", alice.token),
        ]
        sockets = [_slow_socket(node.port, pipeline) for _ in range(SLOW_SOCKETS)]
        try:
            started = time.monotonic()
            peak = steady = baseline
            steady_since = started
            while time.monotonic() - steady_since < PLATEAU_S:
                assert time.monotonic() - started < 25, (
                    f"RSS still growing after 25 s: +{node.rss_kib() - baseline} KiB"
                )
                await api.send(alice, room, "more")  # parked syncs answer too
                await asyncio.sleep(0.2)
                rss = node.rss_kib()
                peak = max(peak, rss)
                if abs(rss - steady) > 1024:
                    steady, steady_since = rss, time.monotonic()
            growth = peak - baseline
            print(
                f"slow clients: baseline {baseline} KiB, peak +{growth} KiB, steady after "
                f"{steady_since - started:.1f} s"
            )
            assert growth < RSS_BOUND_KIB, f"RSS grew by {growth} KiB"
            # The server did answer them: each socket holds answer bytes it never read.
            assert all(_unread_bytes(s) > 0 for s in sockets)
            # The node still serves everyone else while the slow sockets stay open.
            await sync(api, alice, latest, limit=5)
        finally:
            for s in sockets:
                s.close()
        await asyncio.sleep(0.5)
        assert node.running
        await sync(api, alice, latest, limit=5)


def test_only_database_connection_failures_count_as_an_outage() -> None:
    """The 503 is for a database that cannot be reached; a bug or a failing media disk still
    answers 500, and a query error is not mistaken for an outage."""
    lost = DBAPIError("SELECT 1", None, Exception("connection is closed"))
    lost.connection_invalidated = True
    assert database_outage(lost)
    assert database_outage(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert database_outage(asyncpg.exceptions.AdminShutdownError("restarting"))
    assert database_outage(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    # A cancelled or timed-out query is a slow query, not an outage.
    assert not database_outage(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not database_outage(DBAPIError("SELECT 1", None, Exception("syntax error")))
    assert not database_outage(ValueError("bug"))
    try:
        raise ConnectionRefusedError("a media store or another service")
    except OSError as exc:  # raised outside the database driver
        assert not database_outage(exc)
