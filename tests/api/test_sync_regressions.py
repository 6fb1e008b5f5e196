"""Sync cases found in review: filtered timelines, profile changes, and writes that land
between the reads of one sync."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from tests.support.harness import Api, User, q
from tumar.core import sync as sync_module
from tumar.core.requester import Requester
from tumar.store import events as event_store

MESSAGES_ONLY = '{"room":{"timeline":{"types":["m.room.message"]}}}'


def _state(room: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["type"], e["state_key"]): e["content"] for e in room["state"]["events"]}


async def test_timeline_type_filter_keeps_room_state(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice, name="Lobby")
    await api.send(alice, room, "hello")
    first = await api.sync(alice, filter=MESSAGES_ONLY)
    joined = first["rooms"]["join"][room]
    assert [e["content"]["body"] for e in joined["timeline"]["events"]] == ["hello"]
    state = _state(joined)
    assert state[("m.room.name", "")] == {"name": "Lobby"}
    assert state[("m.room.member", alice.user_id)]["membership"] == "join"
    assert ("m.room.create", "") in state

    await api.call(
        "PUT", f"/rooms/{q(room)}/state/m.room.topic", user=alice, json={"topic": "Plans"}
    )
    later = await api.sync(alice, first["next_batch"], filter=MESSAGES_ONLY)
    assert _state(later["rooms"]["join"][room]) == {("m.room.topic", ""): {"topic": "Plans"}}


async def test_display_name_change_is_not_a_rejoin(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    await api.send(alice, room, "before")
    token = (await api.sync(alice))["next_batch"]
    await api.call(
        "PUT", f"/profile/{q(alice.user_id)}/displayname", user=alice, json={"displayname": "A"}
    )
    later = (await api.sync(alice, token))["rooms"]["join"][room]
    events = later["timeline"]["events"]
    assert [(e["type"], e["content"].get("displayname")) for e in events] == [
        ("m.room.member", "A")
    ]
    assert later["timeline"]["limited"] is False
    assert later["state"]["events"] == []


async def _pair(api: Api) -> tuple[User, User, str]:
    """Alice and Bob in a room of Alice's."""
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, room)
    return alice, bob, room


def _after_the_opening(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[], Awaitable[None]]
) -> list[bool]:
    """Run ``action`` once, right after the next incremental sync's first read
    (``store/sync_probe.py``) and before its others; the list gets ``True`` when it ran."""
    original = sync_module.sync_probe.open_window
    ran: list[bool] = []

    async def then_act(*args: Any, **kwargs: Any) -> Any:
        opening = await original(*args, **kwargs)
        if not ran:
            ran.append(True)
            await action()
        return opening

    monkeypatch.setattr(sync_module.sync_probe, "open_window", then_act)
    return ran


async def test_kick_between_the_reads_of_one_sync_loses_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.services is not None
    membership = api.services.membership
    alice, bob, room = await _pair(api)
    token = (await api.sync(bob))["next_batch"]
    message = await api.send(alice, room, "while bob is here")

    # The sync's first read finds bob joined; the kick comes before the next one.
    async def kick() -> None:
        kicker = Requester(alice.user_id, alice.device_id)
        await membership.do_membership(kicker, room, "leave", target=bob.user_id)

    kicked = _after_the_opening(monkeypatch, kick)
    first = await api.sync(bob, token)
    assert kicked
    # The sync read up to its position: bob was still joined, and the message is there.
    timeline = first["rooms"]["join"][room]["timeline"]["events"]
    assert message in [e["event_id"] for e in timeline]
    second = await api.sync(bob, first["next_batch"])
    left = second["rooms"]["leave"][room]["timeline"]["events"]
    assert left[-1]["content"]["membership"] == "leave"


async def test_an_incremental_sync_reads_up_to_its_position_without_a_transaction(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL an incremental sync reads outside a transaction (an initial one in
    one); a message committed between its first read and its timeline read comes in the next
    sync, once. SQLite reads in a snapshot either way."""
    assert api.services is not None
    alice, bob, room = await _pair(api)
    in_transaction: list[bool] = []  # per timeline read, on PostgreSQL
    original = event_store.room_timeline

    async def note_transaction(conn: Any, *args: Any, **kwargs: Any) -> Any:
        adapter = conn.sync_connection.connection.dbapi_connection
        if isinstance(adapter, AsyncAdapt_asyncpg_connection):
            in_transaction.append(adapter._transaction is not None)
        return await original(conn, *args, **kwargs)

    monkeypatch.setattr(sync_module.event_store, "room_timeline", note_transaction)
    token = (await api.sync(bob))["next_batch"]
    initial, in_transaction[:] = set(in_transaction), []
    message = await api.send(alice, room, "before")
    late: list[str] = []

    async def send() -> None:
        late.append(await api.send(alice, room, "between the reads"))

    _after_the_opening(monkeypatch, send)
    first = await api.sync(bob, token)
    ids = [e["event_id"] for e in first["rooms"]["join"][room]["timeline"]["events"]]
    assert ids == [message] and len(late) == 1
    second = await api.sync(bob, first["next_batch"])
    assert [e["event_id"] for e in second["rooms"]["join"][room]["timeline"]["events"]] == late
    if not api.services.db.is_sqlite:
        assert (initial, set(in_transaction)) == ({True}, {False})


async def test_writes_between_the_reads_of_one_sync_come_once_in_the_next(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """To-device messages, account data and receipts written after a sync's first read (at
    positions above its P) are not read by it, though it reads each kind, and come in the next
    sync exactly once; the token acknowledges only what was delivered."""
    alice, bob, room = await _pair(api)
    token = (await api.sync(bob))["next_batch"]
    message = await api.send(alice, room, "hello")

    async def write(tag: str) -> None:
        messages = {bob.user_id: {bob.device_id: {"n": tag}}}
        path = f"/sendToDevice/m.test/{tag}"
        await api.call("PUT", path, user=alice, json={"messages": messages})
        path = f"/user/{q(bob.user_id)}/account_data/org.example.{tag}"
        await api.call("PUT", path, user=bob, json={"n": tag})

    async def write_between() -> None:
        await write("between")
        await api.call("POST", f"/rooms/{q(room)}/receipt/m.read/{q(message)}", user=alice)

    await write("before")
    _after_the_opening(monkeypatch, write_between)
    first = await api.sync(bob, token)
    second = await api.sync(bob, first["next_batch"])
    third = await api.sync(bob, second["next_batch"])

    def seen(sync: dict[str, Any]) -> tuple[list[Any], list[str], bool]:
        joined = sync["rooms"]["join"].get(room, {})
        receipts = [
            e for e in joined.get("ephemeral", {}).get("events", []) if e["type"] == "m.receipt"
        ]
        return (
            [m["content"]["n"] for m in sync["to_device"]["events"]],
            [e["type"] for e in sync["account_data"]["events"] if e["type"].startswith("org.")],
            bool(receipts),
        )

    assert seen(first) == (["before"], ["org.example.before"], False)
    assert seen(second) == (["between"], ["org.example.between"], True)
    assert seen(third) == ([], [], False)
