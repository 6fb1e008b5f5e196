"""The published room directory, room aliases, and room upgrades."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.admin.test_user_directory import staff
from tests.support.admin import two_ministries
from tests.support.everyday import refused, rq, send_event, text
from tests.support.harness import Api, User, q


async def names(api: Api, user: User, **params: Any) -> list[str]:
    body = await api.call("GET", "/publicRooms", user=user, params=params)
    return [c.get("name", c["room_id"]) for c in body["chunk"]]


async def test_public_rooms_listing_filter_and_paging(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    big = await api.create_room(
        alice, visibility="public", name="Budget office", topic="Numbers", room_alias_name="budget"
    )
    await api.join(bob, big)
    small = await api.create_room(alice, visibility="public", name="Canteen")
    space = await api.create_room(
        alice, visibility="public", name="Ministry", creation_content={"type": "m.space"}
    )
    await api.create_room(alice, name="Secret")  # private: never listed

    body = await api.call("GET", "/publicRooms", user=bob)
    assert body["chunk"][0]["room_id"] == big  # most members first
    assert {c["room_id"] for c in body["chunk"]} == {big, small, space}
    assert body["total_room_count_estimate"] == 3
    first = body["chunk"][0]
    assert first == {
        "room_id": big,
        "name": "Budget office",
        "topic": "Numbers",
        "canonical_alias": "#budget:tumar.test",
        "num_joined_members": 2,
        "world_readable": False,
        "guest_can_join": False,
        "join_rule": "public",
    }
    spaces = [c for c in body["chunk"] if c["room_id"] == space]
    assert spaces[0]["room_type"] == "m.space"

    page = await api.call("GET", "/publicRooms", user=bob, params={"limit": 2})
    assert len(page["chunk"]) == 2 and "prev_batch" not in page
    rest = await api.call(
        "GET", "/publicRooms", user=bob, params={"limit": 2, "since": page["next_batch"]}
    )
    assert len(rest["chunk"]) == 1 and "next_batch" not in rest and rest["prev_batch"] == "o0"

    found = await api.call(
        "POST", "/publicRooms", user=bob, json={"filter": {"generic_search_term": "BUDG"}}
    )
    assert [c["room_id"] for c in found["chunk"]] == [big]
    by_alias = await api.call(
        "POST", "/publicRooms", user=bob, json={"filter": {"generic_search_term": "#budget"}}
    )
    assert [c["room_id"] for c in by_alias["chunk"]] == [big]
    only_spaces = await api.call(
        "POST", "/publicRooms", user=bob, json={"filter": {"room_types": ["m.space"]}}
    )
    assert [c["room_id"] for c in only_spaces["chunk"]] == [space]
    no_type = await api.call(
        "POST", "/publicRooms", user=bob, json={"filter": {"room_types": [None]}}
    )
    assert {c["room_id"] for c in no_type["chunk"]} == {big, small}

    await api.error("GET", "/publicRooms", 401, "M_MISSING_TOKEN")
    await api.error("GET", "/publicRooms", 400, "M_INVALID_PARAM", user=bob, params={"since": "x"})
    await api.error(
        "GET", "/publicRooms", 403, "M_FORBIDDEN", user=bob, params={"server": "matrix.org"}
    )
    await api.error("POST", "/publicRooms", 400, "M_BAD_JSON", user=bob, json={"limit": "5"})


async def test_directory_visibility(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    path = f"/directory/list/room/{q(room)}"
    assert await api.call("GET", path) == {"visibility": "private"}
    await refused(api, "PUT", path, 403, "M_FORBIDDEN", user=bob, json={"visibility": "public"})
    await refused(api, "PUT", path, 400, "M_BAD_JSON", user=alice, json={"visibility": "open"})
    await api.call("PUT", path, user=alice, json={"visibility": "public"})
    assert await api.call("GET", path) == {"visibility": "public"}
    assert room in [
        c["room_id"] for c in (await api.call("GET", "/publicRooms", user=bob))["chunk"]
    ]
    await api.call("PUT", path, user=alice, json={"visibility": "private"})
    assert (await api.call("GET", "/publicRooms", user=bob))["chunk"] == []
    await api.error("GET", f"/directory/list/room/{q('!nope:tumar.test')}", 404, "M_NOT_FOUND")
    await refused(
        api,
        "PUT",
        f"/directory/list/room/{q('!nope:tumar.test')}",
        404,
        "M_NOT_FOUND",
        user=alice,
        json={"visibility": "public"},
    )


async def test_aliases(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    alias = "#team:tumar.test"
    path = f"/directory/room/{q(alias)}"

    await api.call("PUT", path, user=bob, json={"room_id": room})
    assert (await api.call("GET", path))["room_id"] == room
    await refused(api, "PUT", path, 409, "M_UNKNOWN", user=alice, json={"room_id": room})
    other = "#other:tumar.test"
    await api.call("PUT", f"/directory/room/{q(other)}", user=alice, json={"room_id": room})
    aliases = await api.call("GET", f"{rq(room)}/aliases", user=bob)
    assert aliases == {"aliases": [other, alias]}
    await api.error("GET", f"{rq(room)}/aliases", 403, "M_FORBIDDEN", user=carol)

    # Refusals: someone outside the room, another server, bad aliases, unknown rooms.
    for bad_path, body, status, errcode, user in [
        ("/directory/room/%23x%3Atumar.test", {"room_id": room}, 403, "M_FORBIDDEN", carol),
        ("/directory/room/%23x%3Amatrix.org", {"room_id": room}, 400, "M_INVALID_PARAM", alice),
        ("/directory/room/%23a%20b%3Atumar.test", {"room_id": room}, 400, "M_INVALID_PARAM", alice),
        ("/directory/room/nope", {"room_id": room}, 400, "M_INVALID_PARAM", alice),
        ("/directory/room/%23x%3Atumar.test", {"room_id": "!no:tumar.test"}, 404, "M_NOT_FOUND",
         alice),
        ("/directory/room/%23x%3Atumar.test", {"room_id": 5}, 400, "M_BAD_JSON", alice),
    ]:  # fmt: skip
        await refused(api, "PUT", bad_path, status, errcode, user=user, json=body)

    # Deleting: not by an outsider; by the alias's creator; by a moderator for anyone's.
    await refused(api, "DELETE", path, 403, "M_FORBIDDEN", user=carol)
    await api.call("DELETE", path, user=bob)
    await api.error("GET", path, 404, "M_NOT_FOUND")
    await api.error("DELETE", path, 404, "M_NOT_FOUND", user=bob)
    await api.call("PUT", path, user=bob, json={"room_id": room})
    await api.call("DELETE", path, user=alice)


async def test_deleting_the_canonical_alias_updates_the_event(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice, room_alias_name="main")
    alt = "#alt:tumar.test"
    await api.call("PUT", f"/directory/room/{q(alt)}", user=alice, json={"room_id": room})
    await api.call(
        "PUT",
        f"{rq(room)}/state/m.room.canonical_alias",
        user=alice,
        json={"alias": "#main:tumar.test", "alt_aliases": [alt]},
    )
    await api.call("DELETE", f"/directory/room/{q('#main:tumar.test')}", user=alice)
    content = await api.call("GET", f"{rq(room)}/state/m.room.canonical_alias", user=alice)
    assert content == {"alt_aliases": [alt]}


# ---- upgrades -------------------------------------------------------------------------------


async def test_room_upgrade(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    old = await api.create_room(
        alice,
        visibility="public",
        name="Project",
        topic="Plans",
        room_alias_name="project",
        invite=[carol.user_id],
        creation_content={"type": "org.example.kind"},
    )
    await api.call(
        "PUT", f"{rq(old)}/state/m.room.join_rules", user=alice, json={"join_rule": "invite"}
    )
    await api.call("POST", f"{rq(old)}/invite", user=alice, json={"user_id": bob.user_id})
    await api.join(bob, old)
    last = await send_event(api, bob, old, "m.room.message", text("last words"))

    body = await api.call("POST", f"{rq(old)}/upgrade", user=alice, json={"new_version": "11"})
    new = body["replacement_room"]
    assert new != old

    state = {
        (e["type"], e["state_key"]): e
        for e in await api.call("GET", f"{rq(new)}/state", user=alice)
    }
    create = state[("m.room.create", "")]["content"]
    assert create["predecessor"] == {"room_id": old, "event_id": last}
    assert create["type"] == "org.example.kind" and create["room_version"] == "11"
    assert state[("m.room.name", "")]["content"] == {"name": "Project"}
    assert state[("m.room.topic", "")]["content"] == {"topic": "Plans"}
    assert state[("m.room.join_rules", "")]["content"] == {"join_rule": "invite"}
    assert state[("m.room.canonical_alias", "")]["content"]["alias"] == "#project:tumar.test"
    # The old power levels, restored after the copy.
    old_levels = await api.call("GET", f"{rq(old)}/state/m.room.power_levels", user=alice)
    assert state[("m.room.power_levels", "")]["content"]["users"] == {alice.user_id: 100}
    # Members and invitees are invited to follow (the room is invite-only).
    invited = {
        k[1]
        for k, e in state.items()
        if k[0] == "m.room.member" and e["content"]["membership"] == "invite"
    }
    assert invited == {bob.user_id, carol.user_id}
    await api.join(bob, new)

    tombstone = await api.call("GET", f"{rq(old)}/state/m.room.tombstone", user=bob)
    assert tombstone["replacement_room"] == new
    assert old_levels["events_default"] == 50 and old_levels["invite"] == 50
    await api.error(
        "PUT",
        f"{rq(old)}/send/m.room.message/late",
        403,
        "M_FORBIDDEN",
        user=bob,
        json={"msgtype": "m.text", "body": "too late"},
    )
    # The alias and the directory entry moved.
    assert (await api.call("GET", f"/directory/room/{q('#project:tumar.test')}"))["room_id"] == new
    assert await api.call("GET", f"/directory/list/room/{q(new)}") == {"visibility": "public"}
    assert await api.call("GET", f"/directory/list/room/{q(old)}") == {"visibility": "private"}


@pytest.mark.parametrize(
    ("who", "body", "status", "errcode"),
    [
        ("bob", {"new_version": "11"}, 403, "M_FORBIDDEN"),  # no power for a tombstone
        ("carol", {"new_version": "11"}, 403, "M_FORBIDDEN"),  # not in the room
        ("alice", {"new_version": "12"}, 400, "M_UNSUPPORTED_ROOM_VERSION"),
        ("alice", {"new_version": 11}, 400, "M_BAD_JSON"),
        ("alice", {}, 400, "M_BAD_JSON"),
    ],
)
async def test_refused_upgrades_change_nothing(
    api: Api, who: str, body: dict[str, Any], status: int, errcode: str
) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    user = {"alice": alice, "bob": bob, "carol": carol}[who]
    await refused(api, "POST", f"{rq(room)}/upgrade", status, errcode, user=user, json=body)


async def test_external_partner_cannot_upgrade(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    aida = await staff(api, root, "1", "mof-it", "Aida Nurlanova")
    ext = await staff(api, root, "9", "mof", "Erlan Partner", kind="external")
    room = await api.create_room(
        aida, invite=[ext.user_id], power_level_content_override={"users": {
            aida.user_id: 100, ext.user_id: 100}},
    )  # fmt: skip
    await api.join(ext, room)
    await refused(
        api, "POST", f"{rq(room)}/upgrade", 403, "TUMAR_EXTERNAL_RESTRICTED", user=ext,
        json={"new_version": "11"},
    )  # fmt: skip
