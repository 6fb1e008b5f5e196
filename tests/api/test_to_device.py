"""Send-to-device messages through the API, on both databases: delivery by ``/sync`` at least
once, deletion when acknowledged, idempotent transaction ids, the ``*`` wildcard, the
per-sender rate limit, long-poll wake-up, and large backlogs delivered in pages."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.test_bad_input import refused, snapshot
from tests.support.e2ee import api_with, register
from tests.support.harness import Api, User
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.e2ee_sync import TO_DEVICE_LIMIT


async def send(
    api: Api, sender: User, messages: dict[str, Any], txn: str, event_type: str = "m.test"
) -> None:
    await api.call(
        "PUT", f"/sendToDevice/{event_type}/{txn}", user=sender, json={"messages": messages}
    )


def received(sync: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sync["to_device"]["events"]
    return events


async def test_message_is_delivered_until_acknowledged(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    start = (await api.sync(bob))["next_batch"]
    await send(api, alice, {bob.user_id: {bob.device_id: {"n": 1}}}, "t1")

    first = await api.sync(bob, start)
    assert received(first) == [{"sender": alice.user_id, "type": "m.test", "content": {"n": 1}}]
    # The response was lost: a retry with the same token gets the message again.
    again = await api.sync(bob, start)
    assert received(again) == received(first)
    # A sync with the new token acknowledges it: never delivered again, deleted.
    after = await api.sync(bob, first["next_batch"])
    assert received(after) == []
    assert (await snapshot(api.services))["to_device_messages"] == []
    assert received(await api.sync(bob)) == []  # not even to a fresh initial sync


async def test_initial_sync_delivers_waiting_messages(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await send(api, alice, {bob.user_id: {bob.device_id: {"n": 1}}}, "t1")
    initial = await api.sync(bob)
    assert [m["content"] for m in received(initial)] == [{"n": 1}]


async def test_only_the_addressed_device_receives(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    bob2 = await api.login("bob")
    await send(api, alice, {bob.user_id: {bob2.device_id: {"for": "bob2"}}}, "t1")
    assert received(await api.sync(bob)) == []
    assert [m["content"] for m in received(await api.sync(bob2))] == [{"for": "bob2"}]


async def test_wildcard_reaches_every_device_and_explicit_entries_win(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    bob2 = await api.login("bob")
    bob3 = await api.login("bob")
    await send(
        api, alice, {bob.user_id: {"*": {"for": "all"}, bob3.device_id: {"for": "bob3"}}}, "t1"
    )
    assert [m["content"] for m in received(await api.sync(bob))] == [{"for": "all"}]
    assert [m["content"] for m in received(await api.sync(bob2))] == [{"for": "all"}]
    assert [m["content"] for m in received(await api.sync(bob3))] == [{"for": "bob3"}]


async def test_transaction_ids_make_sends_idempotent(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    messages = {bob.user_id: {bob.device_id: {"n": 1}}}
    await send(api, alice, messages, "same")
    await send(api, alice, messages, "same")  # a retry
    await send(api, alice, messages, "same", event_type="m.other")  # another endpoint
    alice2 = await api.login("alice")
    await send(api, alice2, messages, "same")  # another device's transaction
    types = [m["type"] for m in received(await api.sync(bob))]
    assert sorted(types) == ["m.other", "m.test", "m.test"]


async def test_unknown_recipients_are_ignored(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await send(
        api,
        alice,
        {
            bob.user_id: {"NOSUCHDEVICE": {"n": 1}},
            "@nobody:tumar.test": {"*": {"n": 2}},
            "@carol:elsewhere.example": {"DEV": {"n": 3}},
        },
        "t1",
    )
    assert (await snapshot(api.services))["to_device_messages"] == []
    assert received(await api.sync(bob)) == []


async def test_oversized_message_is_refused(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    big = {"data": "x" * 70_000}
    await refused(
        api,
        "PUT",
        "/sendToDevice/m.test/t1",
        413,
        "M_TOO_LARGE",
        user=alice,
        json={"messages": {bob.user_id: {bob.device_id: big}}},
    )


async def test_long_poll_wakes_on_to_device(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    start = (await api.sync(bob))["next_batch"]
    poll = asyncio.ensure_future(api.sync(bob, start, timeout=8_000))
    await asyncio.sleep(0.2)  # let the long-poll start waiting (not an assertion on time)
    assert not poll.done()
    await send(api, alice, {bob.user_id: {bob.device_id: {"wake": True}}}, "t1")
    woken = await asyncio.wait_for(poll, 20)
    assert [m["content"] for m in received(woken)] == [{"wake": True}]


async def test_backlog_is_delivered_in_pages_without_loss(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    total = TO_DEVICE_LIMIT + 30
    for i in range(total):
        await send(api, alice, {bob.user_id: {bob.device_id: {"i": i}}}, f"t{i}")
    await api.send(alice, await api.create_room(alice), "unrelated")  # the stream moves on

    got: list[int] = []
    token = None
    pages = 0
    while True:
        sync = await api.sync(bob, token, timeout=0)
        page = [m["content"]["i"] for m in received(sync)]
        if not page:
            break
        assert len(page) <= TO_DEVICE_LIMIT
        got += page
        token = sync["next_batch"]
        pages += 1
        assert pages < 5
    assert got == list(range(total))
    assert pages == 2


async def test_a_to_device_flood_hits_the_per_sender_rate_limit(settings: Settings) -> None:
    clock = FakeClock()  # the bucket refills only when the test says so
    async with api_with(
        settings, clock=clock, rate_limit_enabled=True, to_device_rate_burst=3
    ) as api:
        alice = await register(api, "alice")
        bob = await register(api, "bob")
        carol = await register(api, "carol")
        messages = {bob.user_id: {bob.device_id: {"n": 1}}}
        for i in range(3):
            await send(api, alice, messages, f"t{i}")
        body = await refused(
            api,
            "PUT",
            "/sendToDevice/m.test/flood",
            429,
            "M_LIMIT_EXCEEDED",
            user=alice,
            json={"messages": messages},
        )
        assert body["retry_after_ms"] > 0
        # A retry of a request that went through is still answered (it queues nothing new).
        await send(api, alice, messages, "t0")
        # Another sender is not affected.
        await send(api, carol, messages, "t0")
        assert len(received(await api.sync(bob))) == 4
        # Once the bucket has refilled, alice may send again.
        clock.advance(1.0)
        await send(api, alice, messages, "after")
        assert len(received(await api.sync(bob))) == 5
