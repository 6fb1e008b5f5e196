"""Rooms through the API: creation, membership, state, sending, history, redaction, profiles,
account data, typing, receipts and the user directory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import Api, User, q


def rq(room_id: str) -> str:
    return f"/rooms/{q(room_id)}"


async def all_events(api: Api, user: User, room_id: str) -> list[dict[str, Any]]:
    """Every event of the room the user may see, oldest first."""
    body = await api.call(
        "GET", f"{rq(room_id)}/messages", user=user, params={"dir": "f", "limit": 1000}
    )
    return list(body["chunk"])


async def state_map(api: Api, user: User, room_id: str) -> dict[tuple[str, str], Any]:
    events = await api.call("GET", f"{rq(room_id)}/state", user=user)
    return {(e["type"], e["state_key"]): e["content"] for e in events}


async def membership(api: Api, viewer: User, room_id: str, user_id: str) -> str:
    content = await api.call("GET", f"{rq(room_id)}/state/m.room.member/{user_id}", user=viewer)
    return str(content["membership"])


# ---- createRoom ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "join_rule", "history", "guest_access", "invite_level"),
    [
        ({}, "invite", "shared", "can_join", 0),
        ({"preset": "private_chat"}, "invite", "shared", "can_join", 0),
        ({"preset": "trusted_private_chat"}, "invite", "shared", "can_join", 0),
        ({"preset": "public_chat"}, "public", "shared", "forbidden", 50),
        ({"visibility": "public"}, "public", "shared", "forbidden", 50),
        ({"visibility": "public", "preset": "private_chat"}, "invite", "shared", "can_join", 0),
    ],
)
async def test_create_room_presets(
    api: Api,
    request_body: dict[str, Any],
    join_rule: str,
    history: str,
    guest_access: str,
    invite_level: int,
) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice, **request_body)
    state = await state_map(api, alice, room)
    assert state[("m.room.join_rules", "")] == {"join_rule": join_rule}
    assert state[("m.room.history_visibility", "")] == {"history_visibility": history}
    assert state[("m.room.guest_access", "")] == {"guest_access": guest_access}
    levels = state[("m.room.power_levels", "")]
    assert levels["users"] == {alice.user_id: 100}
    assert levels["invite"] == invite_level
    assert levels["events"]["m.room.power_levels"] == 100
    assert levels["state_default"] == 50
    assert state[("m.room.create", "")]["room_version"] == "11"
    assert "creator" not in state[("m.room.create", "")]
    assert state[("m.room.member", alice.user_id)]["membership"] == "join"


async def test_trusted_private_chat_gives_invitees_full_power(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="trusted_private_chat", invite=[bob.user_id])
    levels = (await state_map(api, alice, room))[("m.room.power_levels", "")]
    assert levels["users"] == {alice.user_id: 100, bob.user_id: 100}


async def test_create_room_options(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    body = await api.call(
        "POST",
        "/createRoom",
        user=alice,
        json={
            "name": "Planning",
            "topic": "Q3 plans",
            "room_alias_name": "planning",
            "invite": [bob.user_id],
            "is_direct": True,
            "initial_state": [
                {"type": "m.room.join_rules", "content": {"join_rule": "public"}},
                {"type": "org.example.custom", "state_key": "k", "content": {"v": 1}},
            ],
            "power_level_content_override": {"events_default": 10, "kick": 75},
            "creation_content": {"m.federate": False},
        },
    )
    room = body["room_id"]
    assert body["room_alias"] == "#planning:tumar.test"
    state = await state_map(api, alice, room)
    assert state[("m.room.name", "")] == {"name": "Planning"}
    assert state[("m.room.topic", "")] == {"topic": "Q3 plans"}
    assert state[("m.room.canonical_alias", "")] == {"alias": "#planning:tumar.test"}
    assert state[("m.room.join_rules", "")] == {"join_rule": "public"}
    assert state[("org.example.custom", "k")] == {"v": 1}
    assert state[("m.room.create", "")]["m.federate"] is False
    levels = state[("m.room.power_levels", "")]
    assert levels["events_default"] == 10
    assert levels["kick"] == 75
    assert levels["users"] == {alice.user_id: 100}
    invite = state[("m.room.member", bob.user_id)]
    assert invite["membership"] == "invite"
    assert invite["is_direct"] is True
    assert invite["displayname"] == "bob"

    events = await all_events(api, alice, room)
    order = [(e["type"], e.get("state_key")) for e in events]
    assert order == [
        ("m.room.create", ""),
        ("m.room.member", alice.user_id),
        ("m.room.power_levels", ""),
        ("kz.tumar.classification", ""),  # the label the server sets (docs/classification.md)
        ("m.room.canonical_alias", ""),
        ("m.room.join_rules", ""),
        ("m.room.history_visibility", ""),
        ("m.room.guest_access", ""),
        ("m.room.join_rules", ""),
        ("org.example.custom", "k"),
        ("m.room.name", ""),
        ("m.room.topic", ""),
        ("m.room.member", bob.user_id),
    ]
    assert all(e["sender"] == alice.user_id for e in events)


async def test_create_room_minimal_event_order(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    events = await all_events(api, alice, room)
    assert [e["type"] for e in events] == [
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "kz.tumar.classification",
        "m.room.join_rules",
        "m.room.history_visibility",
        "m.room.guest_access",
    ]
    assert events[1]["content"] == {"membership": "join", "displayname": "alice"}


async def test_create_room_taken_alias(api: Api) -> None:
    alice = await api.register("alice")
    await api.create_room(alice, room_alias_name="general")
    await api.error(
        "POST", "/createRoom", 400, "M_ROOM_IN_USE", user=alice, json={"room_alias_name": "general"}
    )
    assert len((await api.call("GET", "/joined_rooms", user=alice))["joined_rooms"]) == 1


async def test_create_room_inviting_unknown_user_creates_nothing(api: Api) -> None:
    alice = await api.register("alice")
    await api.error(
        "POST",
        "/createRoom",
        404,
        "M_NOT_FOUND",
        user=alice,
        json={"invite": ["@ghost:tumar.test"], "room_alias_name": "ghosts"},
    )
    assert (await api.call("GET", "/joined_rooms", user=alice))["joined_rooms"] == []
    await api.error("GET", f"/directory/room/{q('#ghosts:tumar.test')}", 404, "M_NOT_FOUND")


async def test_create_room_unsupported_version(api: Api) -> None:
    alice = await api.register("alice")
    await api.error(
        "POST",
        "/createRoom",
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
        user=alice,
        json={"room_version": "1"},
    )


# ---- joining, aliases ---------------------------------------------------------------------


async def test_join_public_room_by_id(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    body = await api.call("POST", f"{rq(room)}/join", user=bob, json={"reason": "hi"})
    assert body == {"room_id": room}
    member = await api.call("GET", f"{rq(room)}/state/m.room.member/{bob.user_id}", user=alice)
    assert member == {"membership": "join", "displayname": "bob", "reason": "hi"}
    assert (await api.call("GET", "/joined_rooms", user=bob))["joined_rooms"] == [room]


async def test_join_by_alias_and_directory(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat", room_alias_name="lobby")
    alias = "#lobby:tumar.test"
    directory = await api.call("GET", f"/directory/room/{q(alias)}")
    assert directory == {"room_id": room, "servers": ["tumar.test"]}
    body = await api.call("POST", f"/join/{q(alias)}", user=bob, json={})
    assert body == {"room_id": room}
    assert await membership(api, alice, room, bob.user_id) == "join"
    carol = await api.register("carol")
    assert (await api.call("POST", f"/join/{q(room)}", user=carol, json={})) == {"room_id": room}


async def test_join_unknown_alias_and_room(api: Api) -> None:
    bob = await api.register("bob")
    await api.error("POST", f"/join/{q('#nowhere:tumar.test')}", 404, "M_NOT_FOUND", user=bob)
    await api.error("GET", f"/directory/room/{q('#nowhere:tumar.test')}", 404, "M_NOT_FOUND")
    await api.error("POST", f"/join/{q('!nowhere:tumar.test')}", 404, "M_NOT_FOUND", user=bob)
    await api.error("POST", f"{rq('!nowhere:tumar.test')}/join", 404, "M_NOT_FOUND", user=bob)


async def test_join_invite_only_room_uninvited(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    body = await api.error("POST", f"{rq(room)}/join", 403, "M_FORBIDDEN", user=bob)
    assert "invit" in body["error"]
    assert (await api.call("GET", "/joined_rooms", user=bob))["joined_rooms"] == []


# ---- membership transitions ---------------------------------------------------------------


async def test_invite_then_join_then_leave(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    await api.call("POST", f"{rq(room)}/invite", user=alice, json={"user_id": bob.user_id})
    assert await membership(api, alice, room, bob.user_id) == "invite"
    await api.join(bob, room)
    await api.error(
        "POST", f"{rq(room)}/invite", 403, "M_FORBIDDEN", user=alice, json={"user_id": bob.user_id}
    )
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    assert await membership(api, alice, room, bob.user_id) == "leave"
    assert (await api.call("GET", "/joined_rooms", user=bob))["joined_rooms"] == []
    await api.error("POST", f"{rq(room)}/leave", 403, "M_FORBIDDEN", user=bob, json={})
    await api.error("POST", f"{rq(room)}/join", 403, "M_FORBIDDEN", user=bob, json={})


async def test_reject_invite(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    assert await membership(api, alice, room, bob.user_id) == "leave"


async def test_invite_refusals(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.error(
        "POST",
        f"{rq(room)}/invite",
        404,
        "M_NOT_FOUND",
        user=alice,
        json={"user_id": "@ghost:tumar.test"},
    )
    await api.error(
        "POST",
        f"{rq(room)}/invite",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"user_id": "@bob:elsewhere.test"},
    )
    # Not in the room.
    await api.error(
        "POST", f"{rq(room)}/invite", 403, "M_FORBIDDEN", user=bob, json={"user_id": carol.user_id}
    )
    # In the room but below the public preset's invite level (50).
    await api.join(bob, room)
    body = await api.error(
        "POST", f"{rq(room)}/invite", 403, "M_FORBIDDEN", user=bob, json={"user_id": carol.user_id}
    )
    assert "power level" in body["error"]


async def test_kick(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.join(carol, room)
    refused = await api.error(
        "POST", f"{rq(room)}/kick", 403, "M_FORBIDDEN", user=bob, json={"user_id": carol.user_id}
    )
    assert "kick" in refused["error"]
    assert await membership(api, alice, room, carol.user_id) == "join"
    await api.error(
        "POST", f"{rq(room)}/kick", 403, "M_FORBIDDEN", user=bob, json={"user_id": alice.user_id}
    )
    await api.call(
        "POST", f"{rq(room)}/kick", user=alice, json={"user_id": carol.user_id, "reason": "spam"}
    )
    event = await api.call("GET", f"{rq(room)}/state/m.room.member/{carol.user_id}", user=alice)
    assert event == {"membership": "leave", "reason": "spam"}
    # A kicked user may come back to a public room.
    await api.join(carol, room)


async def test_ban_and_unban(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.error(
        "POST", f"{rq(room)}/ban", 403, "M_FORBIDDEN", user=bob, json={"user_id": alice.user_id}
    )
    await api.call("POST", f"{rq(room)}/ban", user=alice, json={"user_id": bob.user_id})
    assert await membership(api, alice, room, bob.user_id) == "ban"
    body = await api.error("POST", f"{rq(room)}/join", 403, "M_FORBIDDEN", user=bob, json={})
    assert "banned" in body["error"]
    await api.error(
        "POST", f"{rq(room)}/invite", 403, "M_FORBIDDEN", user=alice, json={"user_id": bob.user_id}
    )
    await api.error("POST", f"{rq(room)}/leave", 403, "M_FORBIDDEN", user=bob, json={})
    await api.call("POST", f"{rq(room)}/unban", user=alice, json={"user_id": bob.user_id})
    assert await membership(api, alice, room, bob.user_id) == "leave"
    await api.join(bob, room)


async def test_forget(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.error("POST", f"{rq(room)}/forget", 400, "M_UNKNOWN", user=bob, json={})
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    left = await api.sync(bob, filter=json.dumps({"room": {"include_leave": True}}))
    assert room in left["rooms"]["leave"]
    await api.call("POST", f"{rq(room)}/forget", user=bob, json={})
    forgotten = await api.sync(bob, filter=json.dumps({"room": {"include_leave": True}}))
    assert room not in forgotten["rooms"]["leave"]
    carol = await api.register("carol")
    await api.error("POST", f"{rq(room)}/forget", 404, "M_NOT_FOUND", user=carol, json={})
    # Joining again undoes the forget.
    await api.join(bob, room)
    assert room in (await api.sync(bob))["rooms"]["join"]


# ---- membership lists ---------------------------------------------------------------------


async def test_joined_rooms_members_and_joined_members(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    dave = await api.register("dave")
    room = await api.create_room(alice, preset="public_chat", invite=[carol.user_id])
    other = await api.create_room(alice)
    await api.join(bob, room)
    await api.join(dave, room)
    await api.call("POST", f"{rq(room)}/leave", user=dave, json={})

    assert sorted((await api.call("GET", "/joined_rooms", user=alice))["joined_rooms"]) == sorted(
        [room, other]
    )

    async def members(**params: str) -> dict[str, str]:
        body = await api.call("GET", f"{rq(room)}/members", user=bob, params=params)
        assert all(e["type"] == "m.room.member" for e in body["chunk"])
        return {e["state_key"]: e["content"]["membership"] for e in body["chunk"]}

    assert await members() == {
        alice.user_id: "join",
        bob.user_id: "join",
        carol.user_id: "invite",
        dave.user_id: "leave",
    }
    assert await members(membership="join") == {alice.user_id: "join", bob.user_id: "join"}
    assert await members(not_membership="join") == {
        carol.user_id: "invite",
        dave.user_id: "leave",
    }
    assert await members(membership="invite") == {carol.user_id: "invite"}

    joined = await api.call("GET", f"{rq(room)}/joined_members", user=bob)
    # Unknown fields may be absent or null.
    assert {
        u: {k: v for k, v in m.items() if v is not None} for u, m in joined["joined"].items()
    } == {
        alice.user_id: {"display_name": "alice"},
        bob.user_id: {"display_name": "bob"},
    }
    await api.error("GET", f"{rq(room)}/members", 403, "M_FORBIDDEN", user=carol)
    await api.error("GET", f"{rq(room)}/joined_members", 403, "M_FORBIDDEN", user=carol)
    await api.error("GET", f"{rq(other)}/members", 403, "M_FORBIDDEN", user=bob)


async def test_members_after_leaving_show_the_room_as_it_was(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    await api.join(carol, room)
    body = await api.call("GET", f"{rq(room)}/members", user=bob)
    assert {e["state_key"] for e in body["chunk"]} == {alice.user_id, bob.user_id}
    await api.error("GET", f"{rq(room)}/joined_members", 403, "M_FORBIDDEN", user=bob)


# ---- state --------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
async def test_state_with_empty_key(api: Api, slash: str) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    put = await api.call(
        "PUT", f"{rq(room)}/state/m.room.topic{slash}", user=alice, json={"topic": "hello"}
    )
    assert put["event_id"].startswith("$")
    assert await api.call("GET", f"{rq(room)}/state/m.room.topic{slash}", user=alice) == {
        "topic": "hello"
    }
    other = "/" if not slash else ""
    assert await api.call("GET", f"{rq(room)}/state/m.room.topic{other}", user=alice) == {
        "topic": "hello"
    }
    event = await api.call("GET", f"{rq(room)}/event/{q(put['event_id'])}", user=alice)
    assert event["state_key"] == ""


async def test_state_with_key_and_missing_state(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    await api.call("PUT", f"{rq(room)}/state/org.example.x/a%2Fb", user=alice, json={"n": 1})
    assert await api.call("GET", f"{rq(room)}/state/org.example.x/a%2Fb", user=alice) == {"n": 1}
    await api.error("GET", f"{rq(room)}/state/org.example.x/other", 404, "M_NOT_FOUND", user=alice)
    await api.error("GET", f"{rq(room)}/state/m.room.name", 404, "M_NOT_FOUND", user=alice)


async def test_state_changes_need_power(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat", name="Original")
    await api.join(bob, room)
    body = await api.error(
        "PUT", f"{rq(room)}/state/m.room.name", 403, "M_FORBIDDEN", user=bob, json={"name": "x"}
    )
    assert "m.room.name" in body["error"]
    await api.error(
        "PUT",
        f"{rq(room)}/state/m.room.power_levels",
        403,
        "M_FORBIDDEN",
        user=bob,
        json={"users": {bob.user_id: 100}},
    )
    await api.error(
        "PUT",
        f"{rq(room)}/state/org.example.owned/{q(alice.user_id)}",
        403,
        "M_FORBIDDEN",
        user=bob,
        json={},
    )
    assert await api.call("GET", f"{rq(room)}/state/m.room.name", user=bob) == {"name": "Original"}
    # Raising bob's level lets him rename the room.
    levels = await api.call("GET", f"{rq(room)}/state/m.room.power_levels", user=alice)
    levels["users"][bob.user_id] = 50
    await api.call("PUT", f"{rq(room)}/state/m.room.power_levels", user=alice, json=levels)
    await api.call("PUT", f"{rq(room)}/state/m.room.name", user=bob, json={"name": "Renamed"})
    assert await api.call("GET", f"{rq(room)}/state/m.room.name", user=alice) == {"name": "Renamed"}


async def test_state_of_room_not_joined(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, invite=[bob.user_id])
    await api.error("GET", f"{rq(room)}/state", 403, "M_FORBIDDEN", user=bob)
    await api.error("GET", f"{rq(room)}/state/m.room.create", 403, "M_FORBIDDEN", user=bob)
    await api.error(
        "PUT", f"{rq(room)}/state/m.room.topic", 403, "M_FORBIDDEN", user=bob, json={"topic": "x"}
    )


async def test_state_after_leaving_is_frozen(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat", topic="before")
    await api.join(bob, room)
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    await api.call("PUT", f"{rq(room)}/state/m.room.topic", user=alice, json={"topic": "after"})
    assert await api.call("GET", f"{rq(room)}/state/m.room.topic", user=bob) == {"topic": "before"}
    state = await state_map(api, bob, room)
    assert state[("m.room.topic", "")] == {"topic": "before"}
    assert state[("m.room.member", bob.user_id)]["membership"] == "leave"


# ---- sending ------------------------------------------------------------------------------


async def test_send_is_idempotent_per_device(api: Api) -> None:
    alice = await api.register("alice")
    laptop = await api.login("alice")
    room = await api.create_room(alice)
    first = await api.send(alice, room, "one", txn="same")
    again = await api.send(alice, room, "one (retry)", txn="same")
    assert again == first
    other_device = await api.send(laptop, room, "one", txn="same")
    assert other_device != first
    messages = [e for e in await all_events(api, alice, room) if e["type"] == "m.room.message"]
    assert [e["event_id"] for e in messages] == [first, other_device]
    assert messages[0]["content"]["body"] == "one"


async def test_txn_id_is_scoped_to_the_endpoint(api: Api) -> None:
    """The spec scopes a transaction id to one device and one HTTP endpoint: the same id in
    another room, or for a redaction, is a different request."""
    alice = await api.register("alice")
    room = await api.create_room(alice)
    other = await api.create_room(alice)
    first = await api.send(alice, room, "in room", txn="t-1")
    elsewhere = await api.send(alice, other, "in other", txn="t-1")
    assert elsewhere != first
    assert (await all_events(api, alice, other))[-1]["event_id"] == elsewhere
    redaction = await api.call("PUT", f"{rq(room)}/redact/{q(first)}/t-1", user=alice, json={})
    assert redaction["event_id"] not in (first, elsewhere)
    event = await api.call("GET", f"{rq(room)}/event/{q(first)}", user=alice)
    assert event["content"] == {}
    # Retries of each request still return their own event.
    assert await api.send(alice, room, "in room", txn="t-1") == first
    assert await api.send(alice, other, "in other", txn="t-1") == elsewhere


async def test_send_to_room_not_joined(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    await api.error(
        "PUT",
        f"{rq(room)}/send/m.room.message/x1",
        403,
        "M_FORBIDDEN",
        user=bob,
        json={"msgtype": "m.text", "body": "hi"},
    )


async def test_event_endpoint(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    event_id = await api.send(alice, room, "hello", txn="e1")
    event = await api.call("GET", f"{rq(room)}/event/{q(event_id)}", user=alice)
    assert event["event_id"] == event_id
    assert event["room_id"] == room
    assert event["sender"] == alice.user_id
    assert event["content"] == {"msgtype": "m.text", "body": "hello"}
    assert event["unsigned"]["transaction_id"] == "e1"
    await api.error("GET", f"{rq(room)}/event/{q(event_id)}", 403, "M_FORBIDDEN", user=bob)
    await api.join(bob, room)
    seen = await api.call("GET", f"{rq(room)}/event/{q(event_id)}", user=bob)
    assert "transaction_id" not in seen["unsigned"]
    await api.error("GET", f"{rq(room)}/event/{q('$nope')}", 404, "M_NOT_FOUND", user=bob)
    other = await api.create_room(bob)
    await api.error("GET", f"{rq(other)}/event/{q(event_id)}", 404, "M_NOT_FOUND", user=bob)


# ---- /messages ----------------------------------------------------------------------------


async def paginate(
    api: Api, user: User, room: str, direction: str, limit: int, **params: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Page through a room; returns the event ids in page order and the raw pages."""
    pages: list[dict[str, Any]] = []
    token: str | None = params.pop("start", None)
    ids: list[str] = []
    for _ in range(100):
        query = {"dir": direction, "limit": limit, **params}
        if token is not None:
            query["from"] = token
        page = await api.call("GET", f"{rq(room)}/messages", user=user, params=query)
        pages.append(page)
        ids += [e["event_id"] for e in page["chunk"]]
        if "end" not in page:
            return ids, pages
        assert page["end"] != token
        token = page["end"]
    raise AssertionError("pagination did not end")


async def test_messages_backwards_and_forwards(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    sent = [await api.send(alice, room, f"m{i}") for i in range(7)]
    everything = [e["event_id"] for e in await all_events(api, alice, room)]
    assert everything[-7:] == sent

    back, pages = await paginate(api, alice, room, "b", 3)
    assert back == list(reversed(everything))
    assert all(len(p["chunk"]) <= 3 for p in pages)
    assert "end" not in pages[-1]
    assert len(pages[0]["chunk"]) == 3

    forward, pages = await paginate(api, alice, room, "f", 4)
    assert forward == everything
    assert "end" not in pages[-1]

    # A backwards page starting from a forward page's end continues from there.
    first = await api.call(
        "GET", f"{rq(room)}/messages", user=alice, params={"dir": "f", "limit": 4}
    )
    back_from = await api.call(
        "GET",
        f"{rq(room)}/messages",
        user=alice,
        params={"dir": "b", "from": first["end"], "limit": 2},
    )
    assert [e["event_id"] for e in back_from["chunk"]] == [everything[3], everything[2]]


async def test_messages_limit_and_to(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    for i in range(3):
        await api.send(alice, room, f"m{i}")
    page = await api.call("GET", f"{rq(room)}/messages", user=alice, params={"limit": 1})
    assert len(page["chunk"]) == 1
    assert page["chunk"][0]["content"]["body"] == "m2"
    assert page["start"] and page["end"]
    empty = await api.call("GET", f"{rq(room)}/messages", user=alice, params={"limit": 0})
    assert empty["chunk"] == []
    assert "end" not in empty
    # `to` stops a backwards page at a boundary.
    bounded = await api.call(
        "GET",
        f"{rq(room)}/messages",
        user=alice,
        params={"dir": "b", "to": page["end"], "limit": 50},
    )
    assert [e["content"]["body"] for e in bounded["chunk"]] == ["m2"]


async def test_messages_filter(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.send(alice, room, "from alice")
    await api.send(bob, room, "from bob")
    await api.call("PUT", f"{rq(room)}/send/org.example.ping/p1", user=bob, json={"n": 1})

    async def bodies(flt: dict[str, Any]) -> list[str]:
        page = await api.call(
            "GET",
            f"{rq(room)}/messages",
            user=alice,
            params={"dir": "f", "limit": 100, "filter": json.dumps(flt)},
        )
        return [e["type"] + ":" + e["sender"] for e in page["chunk"]]

    assert await bodies({"types": ["m.room.message"]}) == [
        f"m.room.message:{alice.user_id}",
        f"m.room.message:{bob.user_id}",
    ]
    assert await bodies({"types": ["org.*"]}) == [f"org.example.ping:{bob.user_id}"]
    assert await bodies({"types": ["m.room.message"], "senders": [bob.user_id]}) == [
        f"m.room.message:{bob.user_id}"
    ]
    everything = await bodies({})
    assert await bodies({"not_types": ["m.room.*", "kz.tumar.*"]}) == [
        f"org.example.ping:{bob.user_id}"
    ]
    assert len(await bodies({"limit": 2})) == 2
    assert len(everything) > 3


async def test_messages_for_a_user_who_left_stop_at_the_leave(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    before = await api.send(alice, room, "before")
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    after = await api.send(alice, room, "after")
    seen = [e["event_id"] for e in await all_events(api, bob, room)]
    assert before in seen
    assert after not in seen
    await api.error("GET", f"{rq(room)}/event/{q(after)}", 404, "M_NOT_FOUND", user=bob)


async def test_messages_of_a_stranger_refused(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    await api.error("GET", f"{rq(room)}/messages", 403, "M_FORBIDDEN", user=bob)


# ---- redaction ----------------------------------------------------------------------------


async def test_redact_own_event(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    event_id = await api.send(alice, room, "oops")
    body = await api.call(
        "PUT",
        f"{rq(room)}/redact/{q(event_id)}/r1",
        user=alice,
        json={"reason": "typo"},
    )
    redaction_id = body["event_id"]
    again = await api.call("PUT", f"{rq(room)}/redact/{q(event_id)}/r1", user=alice, json={})
    assert again["event_id"] == redaction_id
    event = await api.call("GET", f"{rq(room)}/event/{q(event_id)}", user=alice)
    assert event["content"] == {}
    because = event["unsigned"]["redacted_because"]
    assert because["event_id"] == redaction_id
    assert because["type"] == "m.room.redaction"
    assert because["content"] == {"redacts": event_id, "reason": "typo"}
    assert because["redacts"] == event_id
    timeline = await all_events(api, alice, room)
    assert timeline[-1]["event_id"] == redaction_id
    assert next(e for e in timeline if e["event_id"] == event_id)["content"] == {}


async def test_redact_others_events_needs_power(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    alices = await api.send(alice, room, "alice's words")
    bobs = await api.send(bob, room, "bob's words")
    body = await api.error(
        "PUT", f"{rq(room)}/redact/{q(alices)}/r1", 403, "M_FORBIDDEN", user=bob, json={}
    )
    assert "redact" in body["error"]
    still = await api.call("GET", f"{rq(room)}/event/{q(alices)}", user=bob)
    assert still["content"]["body"] == "alice's words"
    await api.call("PUT", f"{rq(room)}/redact/{q(bobs)}/r2", user=alice, json={})
    redacted = await api.call("GET", f"{rq(room)}/event/{q(bobs)}", user=bob)
    assert redacted["content"] == {}
    assert redacted["unsigned"]["redacted_because"]["sender"] == alice.user_id


async def test_redacted_state_event_keeps_protected_keys(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    event_id = (
        await api.call(
            "PUT",
            f"{rq(room)}/state/m.room.member/{q(alice.user_id)}",
            user=alice,
            json={"membership": "join", "displayname": "Alice A."},
        )
    )["event_id"]
    await api.call("PUT", f"{rq(room)}/redact/{q(event_id)}/r1", user=alice, json={})
    event = await api.call("GET", f"{rq(room)}/event/{q(event_id)}", user=alice)
    assert event["content"] == {"membership": "join"}


async def test_redact_unknown_event(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    other = await api.create_room(alice)
    elsewhere = await api.send(alice, other, "elsewhere")
    await api.error(
        "PUT", f"{rq(room)}/redact/{q('$nope')}/r1", 404, "M_NOT_FOUND", user=alice, json={}
    )
    await api.error(
        "PUT", f"{rq(room)}/redact/{q(elsewhere)}/r2", 404, "M_NOT_FOUND", user=alice, json={}
    )


async def test_redaction_via_send_endpoint(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    event_id = await api.send(alice, room, "oops")
    await api.call(
        "PUT",
        f"{rq(room)}/send/m.room.redaction/r1",
        user=alice,
        json={"redacts": event_id},
    )
    event = await api.call("GET", f"{rq(room)}/event/{q(event_id)}", user=alice)
    assert event["content"] == {}


# ---- profiles -----------------------------------------------------------------------------


async def test_profile_change_becomes_member_events(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    other = await api.create_room(alice)
    invited_only = await api.create_room(bob, invite=[alice.user_id])
    await api.join(bob, room)
    await api.call(
        "PUT", f"/profile/{q(alice.user_id)}/displayname", user=alice, json={"displayname": "Al"}
    )
    await api.call(
        "PUT",
        f"/profile/{q(alice.user_id)}/avatar_url",
        user=alice,
        json={"avatar_url": "mxc://tumar.test/abc"},
    )
    profile = await api.call("GET", f"/profile/{q(alice.user_id)}")
    assert profile == {"displayname": "Al", "avatar_url": "mxc://tumar.test/abc"}
    assert await api.call("GET", f"/profile/{q(alice.user_id)}/displayname") == {
        "displayname": "Al"
    }
    for r in (room, other):
        member = await api.call("GET", f"{rq(r)}/state/m.room.member/{alice.user_id}", user=alice)
        assert member == {
            "membership": "join",
            "displayname": "Al",
            "avatar_url": "mxc://tumar.test/abc",
        }
    timeline = await all_events(api, bob, room)
    changes = [e for e in timeline if e["type"] == "m.room.member" and e["sender"] == alice.user_id]
    assert changes[-1]["unsigned"]["prev_content"]["displayname"] == "Al"
    assert changes[-2]["unsigned"]["prev_content"]["displayname"] == "alice"
    invite = await api.call(
        "GET", f"{rq(invited_only)}/state/m.room.member/{alice.user_id}", user=bob
    )
    assert invite["membership"] == "invite"
    assert invite["displayname"] == "alice"
    joined = await api.call("GET", f"{rq(room)}/joined_members", user=bob)
    assert joined["joined"][alice.user_id] == {
        "display_name": "Al",
        "avatar_url": "mxc://tumar.test/abc",
    }


async def test_profile_refusals(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    await api.error(
        "PUT",
        f"/profile/{q(bob.user_id)}/displayname",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"displayname": "mallory"},
    )
    await api.error("GET", f"/profile/{q('@ghost:tumar.test')}", 404, "M_NOT_FOUND")
    assert (await api.call("GET", f"/profile/{q(bob.user_id)}")) == {"displayname": "bob"}


# ---- account data -------------------------------------------------------------------------


async def test_global_account_data(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    path = f"/user/{q(alice.user_id)}/account_data/org.example.settings"
    await api.error("GET", path, 404, "M_NOT_FOUND", user=alice)
    await api.call("PUT", path, user=alice, json={"theme": "dark"})
    assert await api.call("GET", path, user=alice) == {"theme": "dark"}
    await api.call("PUT", path, user=alice, json={"theme": "light"})
    assert await api.call("GET", path, user=alice) == {"theme": "light"}
    await api.error("GET", path, 403, "M_FORBIDDEN", user=bob)
    await api.error("PUT", path, 403, "M_FORBIDDEN", user=bob, json={"theme": "x"})
    sync = await api.sync(alice)
    assert {"type": "org.example.settings", "content": {"theme": "light"}} in sync["account_data"][
        "events"
    ]


async def test_room_account_data(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    path = f"/user/{q(alice.user_id)}/rooms/{q(room)}/account_data/m.tag"
    await api.call("PUT", path, user=alice, json={"tags": {"u.work": {}}})
    assert await api.call("GET", path, user=alice) == {"tags": {"u.work": {}}}
    global_path = f"/user/{q(alice.user_id)}/account_data/m.tag"
    await api.error("GET", global_path, 404, "M_NOT_FOUND", user=alice)
    sync = await api.sync(alice)
    assert sync["rooms"]["join"][room]["account_data"]["events"] == [
        {"type": "m.tag", "content": {"tags": {"u.work": {}}}}
    ]
    bob_path = f"/user/{q(bob.user_id)}/rooms/{q(room)}/account_data/m.tag"
    await api.error("PUT", bob_path, 403, "M_FORBIDDEN", user=bob, json={"tags": {}})


# ---- typing and receipts ------------------------------------------------------------------


async def test_typing_shows_in_the_other_users_sync(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    since = (await api.sync(bob))["next_batch"]
    path = f"{rq(room)}/typing/{q(alice.user_id)}"
    await api.call("PUT", path, user=alice, json={"typing": True, "timeout": 20000})
    after = await api.sync(bob, since)
    ephemeral = after["rooms"]["join"][room]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": [alice.user_id]}} in ephemeral
    await api.call("PUT", path, user=alice, json={"typing": False})
    stopped = await api.sync(bob, after["next_batch"])
    ephemeral = stopped["rooms"]["join"][room]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": []}} in ephemeral
    await api.error(
        "PUT",
        f"{rq(room)}/typing/{q(bob.user_id)}",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"typing": True},
    )
    carol = await api.register("carol")
    await api.error(
        "PUT",
        f"{rq(room)}/typing/{q(carol.user_id)}",
        403,
        "M_FORBIDDEN",
        user=carol,
        json={"typing": True},
    )


async def test_receipts_show_in_the_other_users_sync(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    event_id = await api.send(bob, room, "read me")
    since = (await api.sync(bob))["next_batch"]
    await api.call("POST", f"{rq(room)}/receipt/m.read/{q(event_id)}", user=alice, json={})
    after = await api.sync(bob, since)
    receipts = [
        e for e in after["rooms"]["join"][room]["ephemeral"]["events"] if e["type"] == "m.receipt"
    ]
    assert len(receipts) == 1
    entry = receipts[0]["content"][event_id]["m.read"][alice.user_id]
    assert isinstance(entry["ts"], int)
    # Private receipts are seen only by their owner.
    await api.call("POST", f"{rq(room)}/receipt/m.read.private/{q(event_id)}", user=alice, json={})
    private = await api.sync(bob, after["next_batch"])
    for ev in private["rooms"]["join"].get(room, {}).get("ephemeral", {}).get("events", []):
        if ev["type"] == "m.receipt":
            assert "m.read.private" not in ev["content"].get(event_id, {})
    own = await api.sync(alice)
    content = next(
        e["content"]
        for e in own["rooms"]["join"][room]["ephemeral"]["events"]
        if e["type"] == "m.receipt"
    )
    assert alice.user_id in content[event_id]["m.read.private"]


async def test_read_markers(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    event_id = await api.send(alice, room, "hi")
    await api.call(
        "POST",
        f"{rq(room)}/read_markers",
        user=alice,
        json={"m.fully_read": event_id, "m.read": event_id},
    )
    marker = await api.call(
        "GET", f"/user/{q(alice.user_id)}/rooms/{q(room)}/account_data/m.fully_read", user=alice
    )
    assert marker == {"event_id": event_id}
    await api.error(
        "PUT",
        f"/user/{q(alice.user_id)}/rooms/{q(room)}/account_data/m.fully_read",
        400,
        "M_BAD_JSON",
        user=alice,
        json={"event_id": event_id},
    )


async def test_receipt_refusals(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice)
    event_id = await api.send(alice, room, "hi")
    await api.error(
        "POST", f"{rq(room)}/receipt/m.read/{q(event_id)}", 403, "M_FORBIDDEN", user=bob, json={}
    )
    await api.error(
        "POST", f"{rq(room)}/receipt/m.read/{q('$nope')}", 404, "M_NOT_FOUND", user=alice, json={}
    )
    await api.error(
        "POST",
        f"{rq(room)}/receipt/m.unknown/{q(event_id)}",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={},
    )


# ---- user directory -----------------------------------------------------------------------


async def test_user_directory_finds_room_mates_only(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    await api.register("bobby")  # a stranger
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.call(
        "PUT", f"/profile/{q(bob.user_id)}/displayname", user=bob, json={"displayname": "Robert"}
    )

    async def search(term: str, user: User = alice) -> list[str]:
        body = await api.call(
            "POST", "/user_directory/search", user=user, json={"search_term": term}
        )
        assert body["limited"] is False
        return [r["user_id"] for r in body["results"]]

    assert await search("bob") == [bob.user_id]
    assert await search("ROBERT") == [bob.user_id]
    assert await search("nobody") == []
    assert await search("   ") == []
    body = await api.call("POST", "/user_directory/search", user=alice, json={"search_term": "rob"})
    assert [{k: v for k, v in r.items() if v is not None} for r in body["results"]] == [
        {"user_id": bob.user_id, "display_name": "Robert"}
    ]
    carol = await api.register("carol")
    assert await search("bob", carol) == []
    assert await search("carol", carol) == [carol.user_id]


async def test_user_directory_limit(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice, preset="public_chat")
    for name in ("ann1", "ann2", "ann3"):
        user = await api.register(name)
        await api.join(user, room)
    body = await api.call(
        "POST", "/user_directory/search", user=alice, json={"search_term": "ann", "limit": 2}
    )
    assert body["limited"] is True
    assert len(body["results"]) == 2


async def test_user_directory_treats_like_wildcards_literally(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    for term in ("%", "_", "b_b"):
        body = await api.call(
            "POST", "/user_directory/search", user=alice, json={"search_term": term}
        )
        assert body["results"] == [], term
