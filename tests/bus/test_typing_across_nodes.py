"""Typing with Redis: two nodes sharing one database and one Redis show the same typing state,
number it with one global serial, and wake each other's long-polls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.bus.waiting import eventually
from tests.conftest import make_settings
from tests.support.harness import Api, q
from tumar.app import build_app
from tumar.bus.redis import RedisBus
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.core.tokens import SyncToken


@pytest.fixture
def node_settings(redis_url: str, sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url=sqlite_url,
        data_dir=tmp_path,
        redis_url=redis_url,
        redis_channel_prefix=f"tumar-test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
async def two_nodes(node_settings: Settings) -> AsyncIterator[tuple[Api, Api]]:
    async with AsyncExitStack() as stack:
        apis = []
        for _ in range(2):
            svc = build_services(node_settings)
            await svc.start()
            stack.push_async_callback(svc.close)
            apis.append(
                await stack.enter_async_context(Api.in_process(build_app(node_settings, svc), svc))
            )
        yield apis[0], apis[1]


def _svc(api: Api) -> Services:
    assert api.services is not None
    return api.services


def _typing(body: dict[str, object], room: str) -> list[object] | None:
    events = body["rooms"]["join"].get(room, {}).get("ephemeral", {}).get("events", [])  # type: ignore[attr-defined]
    for event in events:
        if event["type"] == "m.typing":
            return list(event["content"]["user_ids"])
    return None


async def test_typing_on_one_node_reaches_a_long_poll_on_the_other(
    two_nodes: tuple[Api, Api],
) -> None:
    a, b = two_nodes
    assert isinstance(_svc(a).bus, RedisBus) and isinstance(_svc(b).bus, RedisBus)
    alice = await a.register("alice")
    bob = await a.register("bob")
    room = await a.create_room(alice, preset="public_chat")
    await a.join(bob, room)
    since = (await b.sync(bob))["next_batch"]

    # Bob long-polls on node B; Alice types through node A.
    poll = asyncio.create_task(b.sync(bob, since, timeout=8000))
    await asyncio.sleep(0.2)
    assert not poll.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    path = f"/rooms/{q(room)}/typing/{q(alice.user_id)}"
    await a.call("PUT", path, user=alice, json={"typing": True, "timeout": 20000})
    woke = await asyncio.wait_for(poll, 5)
    assert loop.time() - started < 2.0
    assert _typing(woke, room) == [alice.user_id]
    assert _svc(b).typing.typing_users(room) == [alice.user_id]
    # One global serial: both nodes agree, and a token from one node is valid on the other.
    assert _svc(a).typing.serial == _svc(b).typing.serial > 0
    token = woke["next_batch"]
    assert SyncToken.parse(token).typing == _svc(b).typing.serial
    quiet = await a.sync(bob, token)  # node A: nothing new, and no typing replayed
    assert _typing(quiet, room) is None

    # Alice stops through node B: node A's state follows, and Bob's sync on A shows it.
    poll = asyncio.create_task(a.sync(bob, token, timeout=8000))
    await asyncio.sleep(0.2)
    await b.call("PUT", path, user=alice, json={"typing": False})
    stopped = await asyncio.wait_for(poll, 5)
    assert _typing(stopped, room) == []
    assert _svc(a).typing.typing_users(room) == []


async def test_expiry_set_on_one_node_reaches_the_other(two_nodes: tuple[Api, Api]) -> None:
    a, b = two_nodes
    room = "!room:tumar.test"
    members = ["@alice:tumar.test", "@bob:tumar.test"]
    await _svc(a).typing.set_typing(room, members[0], True, 1000, members)  # the minimum cap
    await eventually(lambda: _svc(b).typing.typing_users(room) == [members[0]])
    serial = _svc(b).typing.serial
    # Node A expires it after a second and tells node B, whose members' syncs change.
    await eventually(lambda: _svc(b).typing.changed_since(room, serial), timeout=3.0)
    assert _svc(b).typing.typing_users(room) == []
    assert _svc(a).typing.typing_users(room) == []


async def test_renewal_on_the_other_node_keeps_the_user_typing(two_nodes: tuple[Api, Api]) -> None:
    a, b = two_nodes
    room = "!room:tumar.test"
    members = ["@alice:tumar.test", "@bob:tumar.test"]
    await _svc(a).typing.set_typing(room, members[0], True, 1000, members)
    serial = _svc(a).typing.serial
    # The client's next request lands on node B: it renews for longer; node A's timer yields.
    await _svc(b).typing.set_typing(room, members[0], True, 20000, members)
    assert not _svc(b).typing.changed_since(room, serial)  # a renewal wakes nobody
    await asyncio.sleep(1.5)
    assert _svc(a).typing.typing_users(room) == [members[0]]
    assert _svc(b).typing.typing_users(room) == [members[0]]
    assert not _svc(a).typing.changed_since(room, serial)


async def test_a_node_started_later_begins_at_the_global_serial(
    two_nodes: tuple[Api, Api], node_settings: Settings
) -> None:
    a, _b = two_nodes
    for n in range(3):
        await _svc(a).typing.set_typing("!r:tumar.test", f"@u{n}:tumar.test", True, 5000, [])
    late = build_services(node_settings)
    await late.start()
    try:
        assert late.typing.serial == _svc(a).typing.serial >= 3
    finally:
        await late.close()
