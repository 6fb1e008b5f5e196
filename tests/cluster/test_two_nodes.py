"""Two ``tumar serve`` processes on one PostgreSQL schema and one Redis behave as one server:
long-polls wake across nodes, a client can move between nodes mid-session, a killed node
loses no acknowledged message, and transaction ids, rate limits and sessions hold across
nodes. Each test starts its own cluster (``tests/support/cluster.py``)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import need
from tests.support.cluster import (
    LONG_POLL_MS,
    Cluster,
    bodies,
    postgres_available,
    redis_available,
    room_limited,
    room_messages,
    room_timeline,
    shared_room,
    sync,
    typing_users,
)
from tests.support.harness import Api, User, q

pytestmark = pytest.mark.postgres

# Fallback polling (``bus_fallback_poll_ms``) only runs while Redis is unreachable; set long
# here anyway, so that no delivery in these tests can come from it instead of pub/sub.
NO_FALLBACK = {"TUMAR_BUS_FALLBACK_POLL_MS": "30000"}
DELIVERY_S = 2.0
"""A delivery across nodes must take less than this; without the bus it takes the whole
long-poll timeout (``LONG_POLL_MS``, 20 s)."""


def _need_services() -> None:
    need(postgres_available(), "PostgreSQL is not reachable")
    need(redis_available(), "Redis is not reachable")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    _need_services()
    async with Cluster(tmp_path, nodes=2, env=NO_FALLBACK) as c:
        yield c


async def _until(
    api: Api, user: User, since: str, room_id: str, wanted: Any, deadline_s: float
) -> tuple[dict[str, Any], float]:
    """Long-poll until ``wanted(body)`` holds; returns that body and when it arrived
    (monotonic). Syncs that wake for something else are followed by the next one."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        body = await sync(api, user, since, timeout_ms=LONG_POLL_MS)
        if wanted(body):
            return body, time.monotonic()
        since = body["next_batch"]
    raise AssertionError(f"not delivered within {deadline_s} s")


async def _parked(task: asyncio.Task[Any]) -> None:
    """Give a long-poll time to reach the server and park; it must not have answered."""
    await asyncio.sleep(0.5)
    assert not task.done(), "the long-poll answered before anything happened"


async def test_long_poll_on_one_node_wakes_for_a_message_and_typing_on_the_other(
    cluster: Cluster,
) -> None:
    async with cluster[0].api() as on_a, cluster[1].api() as on_b:
        alice = await on_a.register("alice")
        bob = await on_b.register("bob")
        room = await shared_room(on_a, alice, [(on_b, bob)])
        since = (await sync(on_a, alice))["next_batch"]

        got = asyncio.create_task(
            _until(
                on_a, alice, since, room, lambda b: "across" in bodies(room_timeline(b, room)), 25
            )
        )
        await _parked(got)
        sent_at = time.monotonic()
        await on_b.send(bob, room, "across")
        body, arrived = await got
        assert arrived - sent_at < DELIVERY_S, f"took {arrived - sent_at:.2f} s\n{cluster.logs()}"

        since = body["next_batch"]
        got = asyncio.create_task(
            _until(on_a, alice, since, room, lambda b: bob.user_id in typing_users(b, room), 25)
        )
        await _parked(got)
        sent_at = time.monotonic()
        await on_b.call(
            "PUT",
            f"/rooms/{q(room)}/typing/{q(bob.user_id)}",
            user=bob,
            json={"typing": True, "timeout": 10_000},
        )
        _body, arrived = await got
        assert arrived - sent_at < DELIVERY_S, f"typing took {arrived - sent_at:.2f} s"


async def test_a_client_moving_between_nodes_sees_every_message_once_in_order(
    cluster: Cluster,
) -> None:
    per_sender = 20
    async with cluster[0].api() as on_a, cluster[1].api() as on_b:
        alice = await on_a.register("alice")
        bob = await on_b.register("bob")
        carol = await on_a.register("carol")
        room = await shared_room(on_a, alice, [(on_b, bob), (on_a, carol)])
        since = (await sync(on_a, carol))["next_batch"]

        async def send_all(api: Api, user: User, prefix: str) -> None:
            for i in range(per_sender):
                await api.send(user, room, f"{prefix}{i}")
                await asyncio.sleep(0.03)  # let the reader's syncs interleave with the sends

        senders = asyncio.gather(send_all(on_a, alice, "a"), send_all(on_b, bob, "b"))
        seen: list[dict[str, Any]] = []
        read_on = {"a": 0, "b": 0}
        node, api = "a", on_a
        deadline = time.monotonic() + 30
        while len(bodies(seen)) < 2 * per_sender and time.monotonic() < deadline:
            if node == "a" and len(bodies(seen)) >= per_sender // 2:
                node, api = "b", on_b  # move mid-session, carrying node A's next_batch
            body = await sync(api, carol, since, timeout_ms=2_000)
            assert not room_limited(body, room), "a gap in the timeline"
            events = room_timeline(body, room)
            read_on[node] += len(bodies(events))
            seen.extend(events)
            since = body["next_batch"]
        await senders

        messages = [e for e in seen if e["type"] == "m.room.message"]
        ids = [e["event_id"] for e in messages]
        assert len(ids) == len(set(ids)), "an event was delivered twice"
        expected = {f"{p}{i}" for p in "ab" for i in range(per_sender)}
        assert set(bodies(messages)) == expected
        assert read_on["a"] > 0 and read_on["b"] > 0, read_on
        # The room's own order (read from the node that did not serve the reader last):
        history = await room_messages(on_a, alice, room)
        assert ids == [e["event_id"] for e in history if e["type"] == "m.room.message"]


async def test_sigkill_loses_no_acknowledged_message_and_txn_ids_hold_across_nodes(
    cluster: Cluster,
) -> None:
    survivor, victim = cluster[0], cluster[1]
    async with survivor.api() as on_a, victim.api(timeout=10) as on_b:
        alice = await on_a.register("alice")
        room = await on_a.create_room(alice)
        acked: dict[str, str] = {}  # txn id -> event id, for every 200 answer
        attempted: list[str] = []
        failure: list[BaseException] = []
        enough = asyncio.Event()

        async def sender() -> None:
            for i in itertools.count():
                txn = f"k{i}"
                attempted.append(txn)
                try:
                    r = await on_b.raw(
                        "PUT",
                        f"/rooms/{q(room)}/send/m.room.message/{txn}",
                        user=alice,
                        json={"msgtype": "m.text", "body": f"m{i}"},
                    )
                except httpx.TransportError as exc:
                    failure.append(exc)
                    return
                if r.status_code == 200:
                    acked[txn] = r.json()["event_id"]
                if len(acked) >= 15:
                    enough.set()
                if i > 2000:
                    return

        task = asyncio.create_task(sender())
        await asyncio.wait_for(enough.wait(), 30)
        victim.kill()  # while the sender is still sending
        await asyncio.wait_for(task, 15)
        assert failure, "the sender finished before the kill; nothing was in flight"

        history = {e["event_id"]: e for e in await room_messages(on_a, alice, room)}
        for txn, event_id in acked.items():
            assert event_id in history, f"acknowledged {txn} ({event_id}) is lost"
            assert history[event_id]["content"]["body"] == f"m{txn[1:]}"

        # The same transaction ids again, on the surviving node, with the same token (so the
        # same device): acknowledged ones answer their first event id and add nothing.
        for txn in attempted:
            event_id = await on_a.send(alice, room, f"m{txn[1:]}", txn=txn)
            if txn in acked:
                assert event_id == acked[txn], f"{txn} was sent twice"
        after = bodies(await room_messages(on_a, alice, room))
        assert len(after) == len(set(after)) == len(attempted), "duplicates or losses"


async def test_rate_limits_and_login_throttling_are_shared_by_the_nodes(tmp_path: Path) -> None:
    _need_services()
    burst = 10
    env = {
        **NO_FALLBACK,
        "TUMAR_RATE_LIMIT_ENABLED": "true",
        "TUMAR_RATE_LIMIT_BURST": str(burst),
        "TUMAR_RATE_LIMIT_PER_SECOND": "0.1",  # refills one send in 10 s: none in this test
        "TUMAR_LOGIN_RATE_BURST": "4",
        "TUMAR_LOGIN_RATE_PER_SECOND": "0.05",
    }
    async with (
        Cluster(tmp_path, nodes=2, env=env) as cluster,
        cluster[0].api() as on_a,
        cluster[1].api() as on_b,
    ):
        alice = await on_a.register("alice")
        room = await on_a.create_room(alice)
        answers: list[tuple[str, int, dict[str, Any]]] = []
        for i in range(3 * burst):
            node, api = ("a", on_a) if i % 2 == 0 else ("b", on_b)
            r = await api.raw(
                "PUT",
                f"/rooms/{q(room)}/send/m.room.message/r{i}",
                user=alice,
                json={"msgtype": "m.text", "body": f"r{i}"},
            )
            answers.append((node, r.status_code, r.json()))
        ok = [a for a in answers if a[1] == 200]
        limited = [a for a in answers if a[1] == 429]
        assert len(ok) + len(limited) == len(answers), answers
        # One bucket for both nodes: the burst once, not once per node (2 * burst).
        assert burst <= len(ok) <= burst + 1, f"{len(ok)} sends passed"
        assert {a[0] for a in limited} == {"a", "b"}
        assert all(a[2]["errcode"] == "M_LIMIT_EXCEEDED" for a in limited)

        logins = []
        for i in range(8):
            api = on_a if i % 2 == 0 else on_b
            r = await api.raw(
                "POST",
                "/login",
                json={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": "alice"},
                    "password": alice.password,
                },
            )
            logins.append(r.status_code)
        assert logins.count(200) == 4, logins
        assert logins.count(429) == 4, logins


async def test_logout_on_one_node_ends_the_session_on_the_other_at_once(
    cluster: Cluster,
) -> None:
    async with cluster[0].api() as on_a, cluster[1].api() as on_b:
        await on_a.register("alice")
        for _ in range(5):  # several rounds: a race between the bus and the request shows up
            alice = await on_b.login("alice")
            assert (await on_b.call("GET", "/account/whoami", user=alice))["user_id"]
            assert (await on_a.call("GET", "/account/whoami", user=alice))["user_id"]
            await on_a.call("POST", "/logout", user=alice, json={})
            await on_b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
