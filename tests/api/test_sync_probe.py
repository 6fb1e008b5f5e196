"""The incremental ``/sync`` probe (``store/sync_probe.py``): one statement says which of
account data, to-device messages, presence and device lists have anything new, and only
those are read; each of them still arrives when it changes. The probe also reads the
position that ends the window, and a window where nothing relates to anything reads no
relations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY
from urllib.parse import quote

import pytest
from sqlalchemy import insert

from tests.support.e2ee import register, upload_device
from tests.support.harness import Api, User
from tests.support.statements import on_statement
from tumar.core.services import Services
from tumar.core.tokens import SyncToken
from tumar.store import sync_probe
from tumar.store.schema import device_list_changes, presence

QUIET = ("account_data", "to_device_messages", "presence", "device_list_changes")


@contextmanager
def reads(services: Services) -> Iterator[dict[str, int]]:
    """Per quiet table, how many statements read it, not counting the probe."""
    seen = dict.fromkeys(QUIET, 0)

    def note(statement: str, _params: Any) -> None:
        probe = all(table in statement for table in QUIET)
        for table in QUIET:
            if not probe and f"FROM {table}" in statement:
                seen[table] += 1

    with on_statement(services, note):
        yield seen


async def _pair(api: Api) -> tuple[User, User, str, str]:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    return alice, bob, room, (await api.sync(bob))["next_batch"]


async def test_a_message_reads_none_of_the_quiet_kinds(api: Api, services: Services) -> None:
    alice, bob, room, since = await _pair(api)
    await api.send(alice, room, "hello")
    with reads(services) as seen:
        sync = await api.sync(bob, since)
    assert [e["content"]["body"] for e in sync["rooms"]["join"][room]["timeline"]["events"]] == [
        "hello"
    ]
    assert seen == dict.fromkeys(QUIET, 0)
    assert sync["account_data"]["events"] == [] and sync["presence"]["events"] == []
    assert sync["to_device"]["events"] == []
    assert sync["device_lists"] == {"changed": [], "left": []}


async def test_each_kind_is_read_when_it_changed(api: Api, services: Services) -> None:
    alice, bob, _room, since = await _pair(api)
    path = f"/user/{quote(bob.user_id)}/account_data/org.example.note"
    await api.call("PUT", path, user=bob, json={"n": 1})
    with reads(services) as seen:
        sync = await api.sync(bob, since)
    assert {"type": "org.example.note", "content": {"n": 1}} in sync["account_data"]["events"]
    assert seen == {**dict.fromkeys(QUIET, 0), "account_data": 1}

    messages = {bob.user_id: {bob.device_id: {"n": 2}}}
    await api.call("PUT", "/sendToDevice/m.test/t1", user=alice, json={"messages": messages})
    with reads(services) as seen:
        sync = await api.sync(bob, sync["next_batch"])
    assert [m["content"] for m in sync["to_device"]["events"]] == [{"n": 2}]
    assert seen["to_device_messages"] == 1 and seen["account_data"] == 0

    await api.call(
        "PUT", f"/presence/{quote(alice.user_id)}/status", user=alice, json={"presence": "online"}
    )
    with reads(services) as seen:
        sync = await api.sync(bob, sync["next_batch"])
    assert alice.user_id in [p["sender"] for p in sync["presence"]["events"]]
    assert seen["presence"] == 1
    # This token acknowledged the to-device message: it is read once more, found
    # acknowledged and deleted; after that there is nothing left to read.
    assert seen["to_device_messages"] == 2

    await upload_device(api, alice)
    with reads(services) as seen:
        sync = await api.sync(bob, sync["next_batch"])
    assert sync["device_lists"]["changed"] == [alice.user_id]
    assert seen == {**dict.fromkeys(QUIET, 0), "device_list_changes": 1}


async def test_strangers_changes_are_not_read(api: Api, services: Services) -> None:
    """Presence and keys of someone who shares no room with the user: the probe says there
    is nothing, as the reads would; once they share a room, their key change is read."""
    _alice, bob, room, since = await _pair(api)
    carol = await register(api, "carol")
    await api.call(
        "PUT", f"/presence/{quote(carol.user_id)}/status", user=carol, json={"presence": "online"}
    )
    await upload_device(api, carol)
    with reads(services) as seen:
        sync = await api.sync(bob, since)
    assert seen == dict.fromkeys(QUIET, 0)
    assert sync["presence"]["events"] == [] and sync["device_lists"]["changed"] == []
    await api.join(carol, room)
    with reads(services) as seen:
        sync = await api.sync(bob, sync["next_batch"])
    assert carol.user_id in sync["device_lists"]["changed"]  # a new room-mate: track them
    assert seen["device_list_changes"] == 1


async def _changes(services: Services, table: Any, users: list[str]) -> None:
    """A presence or key change of each of ``users``, in this order, at new positions."""
    async with services.db.write() as conn:
        last = await services.db.allocate_positions(conn, len(users))
        rows = [
            {"user_id": u, "stream_pos": last - len(users) + 1 + i} for i, u in enumerate(users)
        ]
        if table is presence:
            rows = [{**r, "state": "online", "last_active_ts": 0} for r in rows]
        await conn.execute(insert(table), rows)


@pytest.mark.parametrize("table", [presence, device_list_changes], ids=["presence", "keys"])
@pytest.mark.parametrize("strangers", [3, sync_probe.WINDOW_ROWS, sync_probe.WINDOW_ROWS + 8])
async def test_narrow_and_wide_windows_tell_a_room_mate_from_strangers(
    api: Api, services: Services, table: Any, strangers: int
) -> None:
    """Only strangers changed: nothing to read, however many they are (a wide window is
    checked from the user's room-mates, not row by row). A room-mate's change after theirs,
    beyond the rows checked one by one: there is."""
    alice, bob, _room, since = await _pair(api)
    after = SyncToken.parse(since).pos
    await _changes(services, table, [f"@stranger{i}:tumar.test" for i in range(strangers)])
    kind = "presence" if table is presence else "device_lists"
    async with services.db.read() as conn:
        found = (await sync_probe.open_window(conn, bob.user_id, bob.device_id, after)).changed
    assert getattr(found, kind) is False
    await _changes(services, table, [alice.user_id])
    async with services.db.read() as conn:
        found = (await sync_probe.open_window(conn, bob.user_id, bob.device_id, after)).changed
    assert getattr(found, kind) is True


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []
    with on_statement(services, lambda sql, _params: seen.append(sql)):
        yield seen


async def _send_json(api: Api, user: User, room: str, content: dict[str, Any], txn: str) -> str:
    path = f"/rooms/{quote(room)}/send/m.room.message/{txn}"
    result = await api.call("PUT", path, user=user, json=content)
    return str(result["event_id"])


async def test_a_message_costs_no_position_or_relations_read(api: Api, services: Services) -> None:
    """The probe reads the position, and a window in which nothing relates to anything
    needs no relations read (a child is always in its parent's window)."""
    alice, bob, room, since = await _pair(api)
    await api.send(alice, room, "hello")
    with statements(services) as seen:
        sync = await api.sync(bob, since)
    assert len(sync["rooms"]["join"][room]["timeline"]["events"]) == 1
    probe = [s for s in seen if all(table in s for table in QUIET)]
    assert len(probe) == 1 and "stream_counter" in probe[0]
    assert not [s for s in seen if "stream_counter" in s and s not in probe]
    assert not [s for s in seen if "event_relations" in s]


async def test_the_opening_reads_the_key_counts(api: Api, services: Services) -> None:
    """An incremental sync answers with the device's one-time key counts and unused fallback
    keys, read by the opening; no statement of its own reads them. They change with uploads
    and claims like the initial sync's (read separately)."""
    alice, bob, room, since = await _pair(api)
    await upload_device(api, bob, 3, fallback=True)
    await api.send(alice, room, "hello")
    with statements(services) as seen:
        sync = await api.sync(bob, since)
    assert sync["device_one_time_keys_count"]["signed_curve25519"] == 3
    assert sync["device_unused_fallback_key_types"] == ["signed_curve25519"]
    probe = [s for s in seen if all(table in s for table in QUIET)]
    assert len(probe) == 1 and "e2e_one_time_keys" in probe[0]
    assert not [s for s in seen if "e2e_one_time_keys" in s and s not in probe]
    claim = {"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}}}
    for _ in range(4):  # three one-time keys, then the fallback key
        await api.call("POST", "/keys/claim", user=alice, json=claim)
    later = await api.sync(bob, sync["next_batch"])
    initial = await api.sync(bob)
    for answer in (later, initial):
        assert answer["device_one_time_keys_count"]["signed_curve25519"] == 0
        assert answer["device_unused_fallback_key_types"] == []


async def test_the_opening_reads_no_keys_of_another_device(api: Api, services: Services) -> None:
    alice, bob, _room, _since = await _pair(api)
    await upload_device(api, alice, 2, fallback=True)
    async with services.db.read() as conn:
        opening = await sync_probe.open_window(conn, bob.user_id, bob.device_id, 0)
        theirs = await sync_probe.open_window(conn, alice.user_id, alice.device_id, 0)
    assert opening.key_counts == ({}, [])
    assert theirs.key_counts == ({"signed_curve25519": 2}, ["signed_curve25519"])


async def test_children_in_the_same_window_are_bundled(api: Api, services: Services) -> None:
    alice, bob, room, since = await _pair(api)
    parent = await api.send(alice, room, "first")
    reply = {"msgtype": "m.text", "body": "in thread",
             "m.relates_to": {"rel_type": "m.thread", "event_id": parent}}  # fmt: skip
    await _send_json(api, alice, room, reply, "t-thread")
    edit = {"msgtype": "m.text", "body": "* fixed",
            "m.new_content": {"msgtype": "m.text", "body": "fixed"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": parent}}  # fmt: skip
    edit_id = await _send_json(api, alice, room, edit, "t-edit")
    with statements(services) as seen:
        sync = await api.sync(bob, since)
    assert [s for s in seen if "event_relations" in s]
    timeline = sync["rooms"]["join"][room]["timeline"]
    assert not timeline["limited"]
    first = next(e for e in timeline["events"] if e["event_id"] == parent)
    bundled = first["unsigned"]["m.relations"]
    assert bundled["m.thread"]["count"] == 1
    assert bundled["m.replace"]["event_id"] == edit_id


async def test_a_child_of_an_older_event_is_not_bundled_onto_new_ones(
    api: Api, services: Services
) -> None:
    alice, bob, room, _ = await _pair(api)
    parent = await api.send(alice, room, "old")
    since = (await api.sync(bob))["next_batch"]
    await api.send(alice, room, "new")
    edit = {"msgtype": "m.text", "body": "* old!",
            "m.new_content": {"msgtype": "m.text", "body": "old!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": parent}}  # fmt: skip
    await _send_json(api, alice, room, edit, "t-edit-old")
    sync = await api.sync(bob, since)
    events = sync["rooms"]["join"][room]["timeline"]["events"]
    assert len(events) == 2
    assert all("m.relations" not in e.get("unsigned", {}) for e in events)


def _read_receipt_reads(seen: list[str]) -> int:
    """Statements that read the user's own read receipts for the unread counts (the opening,
    which also names ``current_state``, not counted)."""
    return len([s for s in seen if "FROM receipts JOIN events" in s and "current_state" not in s])


async def test_unread_counts_read_the_receipts_again_only_when_they_changed(
    api: Api, services: Services
) -> None:
    """The opening gives the version of the user's read receipts in each room with news; the
    counts read the receipts when the version is one they have not read (a receipt written
    anywhere, not only through this node's counter)."""
    alice, bob, room, since = await _pair(api)
    counts = []
    for body in ("one", "two"):
        last = await api.send(alice, room, body)
        with statements(services) as seen:
            sync = await api.sync(bob, since)
        since = sync["next_batch"]
        counts.append(
            (sync["rooms"]["join"][room]["unread_notifications"]["notification_count"], seen)
        )
    assert counts[0][0] == 1 and _read_receipt_reads(counts[0][1]) == 1  # first look
    assert counts[1][0] == 2 and _read_receipt_reads(counts[1][1]) == 0  # the same receipts

    path = f"/rooms/{quote(room)}/receipt/m.read/{quote(last)}"
    await api.call("POST", path, user=bob, json={})
    last = await api.send(alice, room, "three")
    with statements(services) as seen:
        sync = await api.sync(bob, since)
    assert sync["rooms"]["join"][room]["unread_notifications"]["notification_count"] == 1
    assert _read_receipt_reads(seen) == 1
    # The same receipt moved on (a write in place, no new row): read again.
    path = f"/rooms/{quote(room)}/receipt/m.read/{quote(last)}"
    await api.call("POST", path, user=bob, json={})
    await api.send(alice, room, "four")
    with statements(services) as seen:
        sync = await api.sync(bob, sync["next_batch"])
    assert sync["rooms"]["join"][room]["unread_notifications"]["notification_count"] == 1
    assert _read_receipt_reads(seen) == 1


async def test_another_users_private_receipt_shows_no_room(api: Api) -> None:
    alice, bob, room, since = await _pair(api)
    message = await api.send(alice, room, "hello")
    since = (await api.sync(bob, since))["next_batch"]
    path = f"/rooms/{quote(room)}/receipt/m.read.private/{quote(message)}"
    await api.call("POST", path, user=alice, json={})
    assert room not in (await api.sync(bob, since))["rooms"]["join"]
    await api.call("POST", path.replace("m.read.private", "m.read"), user=alice, json={})
    receipts = (await api.sync(bob, since))["rooms"]["join"][room]["ephemeral"]["events"]
    assert [e["content"][message] for e in receipts if e["type"] == "m.receipt"] == [
        {"m.read": {alice.user_id: {"ts": ANY}}}
    ]


async def test_the_opening_lists_the_rooms_and_which_have_news(
    api: Api, services: Services
) -> None:
    alice, bob, room, since = await _pair(api)
    quiet = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, quiet)
    older = await api.send(alice, quiet, "before")
    left = await api.create_room(alice, invite=[bob.user_id])
    await api.join(bob, left)
    await api.call("POST", f"/rooms/{quote(left)}/leave", user=bob, json={})
    after = SyncToken.parse((await api.sync(bob, since))["next_batch"]).pos
    await api.send(alice, room, "news")
    await api.send(alice, left, "not for bob")
    path = f"/rooms/{quote(quiet)}/receipt/m.read/{quote(older)}"
    await api.call("POST", path, user=alice, json={})
    loner = await register(api, "loner")
    async with services.db.read() as conn:
        opening = await sync_probe.open_window(conn, bob.user_id, bob.device_id, after)
        nobody = await sync_probe.open_window(conn, loner.user_id, loner.device_id, after)
        position = await services.db.current_position(conn)
    assert opening.pos == position == nobody.pos
    assert {(m.room_id, m.membership) for m in opening.memberships} == {
        (room, "join"),
        (quiet, "join"),
        (left, "leave"),
    }
    assert opening.with_events == {room} and opening.with_receipts == {quiet}
    assert opening.read_versions == {room: 0, quiet: 0}  # bob has no read receipt of his own
    assert nobody.memberships == [] and nobody.with_events == frozenset()
