"""Relations: replies, edits, reactions, threads and references; the relations index, the
``/relations`` and ``/threads`` endpoints, bundled aggregations wherever events are served,
redactions, visibility, and invalid relations refused with nothing stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.everyday import (
    V1,
    edit,
    get_event,
    in_thread,
    reaction,
    refused_send,
    relations_of,
    rq,
    send_event,
    text,
)
from tests.support.harness import Api, User, q


@dataclass
class Room:
    alice: User
    bob: User
    room: str
    root: str  # alice's message


@pytest.fixture
async def world(api: Api) -> Room:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    root = await send_event(api, alice, room, "m.room.message", text("root"))
    return Room(alice, bob, room, root)


async def relations(
    api: Api, user: User, room: str, event_id: str, *parts: str, **params: Any
) -> dict[str, Any]:
    path = f"{V1}{rq(room)}/relations/{q(event_id)}" + "".join(f"/{q(p)}" for p in parts)
    body: dict[str, Any] = await api.call("GET", path, user=user, params=params)
    return body


# ---- replies and edits ----------------------------------------------------------------------


async def test_reply_is_stored_as_sent(api: Api, world: Room) -> None:
    content = text("a reply", **{"m.relates_to": {"m.in_reply_to": {"event_id": world.root}}})
    reply = await send_event(api, world.bob, world.room, "m.room.message", content)
    event = await get_event(api, world.alice, world.room, reply)
    assert event["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": world.root}}
    # A reply has no rel_type: it is not in the relations index.
    assert (await relations(api, world.alice, world.room, world.root))["chunk"] == []


async def test_edit_is_bundled_with_the_original_everywhere(api: Api, world: Room) -> None:
    w = world
    first = await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v2"))
    second = await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v3"))

    original = await get_event(api, w.bob, w.room, w.root)
    assert original["content"]["body"] == "root"  # the server never replaces the content
    bundled = relations_of(original)["m.replace"]
    assert bundled["event_id"] == second
    assert bundled["content"]["m.new_content"]["body"] == "v3"
    assert bundled["sender"] == w.alice.user_id

    page = await api.call("GET", f"{rq(w.room)}/messages", user=w.bob, params={"limit": 50})
    by_id = {e["event_id"]: e for e in page["chunk"]}
    assert relations_of(by_id[w.root])["m.replace"]["event_id"] == second

    context = await api.call("GET", f"{rq(w.room)}/context/{q(first)}", user=w.bob)
    around = {e["event_id"]: e for e in context["events_before"]}
    assert relations_of(around[w.root])["m.replace"]["event_id"] == second

    sync = await api.sync(w.bob)
    timeline = sync["rooms"]["join"][w.room]["timeline"]["events"]
    synced = {e["event_id"]: e for e in timeline}
    assert relations_of(synced[w.root])["m.replace"]["event_id"] == second

    listed = await relations(api, w.bob, w.room, w.root, "m.replace")
    assert [e["event_id"] for e in listed["chunk"]] == [second, first]


async def test_redacting_the_latest_edit_falls_back_to_the_one_before(
    api: Api, world: Room
) -> None:
    w = world
    first = await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v2"))
    second = await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v3"))
    await api.call(
        "PUT", f"{rq(w.room)}/redact/{q(second)}/r1", user=w.alice, json={"reason": "typo"}
    )
    original = await get_event(api, w.bob, w.room, w.root)
    assert relations_of(original)["m.replace"]["event_id"] == first
    listed = await relations(api, w.bob, w.room, w.root)
    assert [e["event_id"] for e in listed["chunk"]] == [first]


async def test_redacted_original_has_no_edit_bundled(api: Api, world: Room) -> None:
    w = world
    await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v2"))
    await api.call("PUT", f"{rq(w.room)}/redact/{q(w.root)}/r1", user=w.alice, json={})
    original = await get_event(api, w.bob, w.room, w.root)
    assert original["content"] == {}
    assert "m.replace" not in relations_of(original)


@pytest.mark.parametrize(
    ("who", "event_type", "content", "errcode"),
    [
        # someone else's message
        ("bob", "m.room.message", "edit", "TUMAR_INVALID_RELATION"),
        # a different event type
        ("alice", "org.example.other", "edit", "TUMAR_INVALID_RELATION"),
        # no m.new_content
        ("alice", "m.room.message", "no_new_content", "TUMAR_INVALID_RELATION"),
        # unknown parent
        ("alice", "m.room.message", "unknown_parent", "TUMAR_INVALID_RELATION"),
        # m.relates_to of the wrong shape
        ("alice", "m.room.message", "not_an_object", "M_BAD_JSON"),
        ("alice", "m.room.message", "no_event_id", "M_BAD_JSON"),
    ],
)
async def test_invalid_edits_are_refused_and_nothing_is_stored(
    api: Api, world: Room, who: str, event_type: str, content: str, errcode: str
) -> None:
    w = world
    bodies: dict[str, dict[str, Any]] = {
        "edit": edit(w.root, "hijacked"),
        "no_new_content": text(
            "* x", **{"m.relates_to": {"rel_type": "m.replace", "event_id": w.root}}
        ),
        "unknown_parent": edit("$nope", "x"),
        "not_an_object": text("x", **{"m.relates_to": "m.replace"}),
        "no_event_id": text("x", **{"m.relates_to": {"rel_type": "m.replace"}}),
    }
    user = w.alice if who == "alice" else w.bob
    body = await refused_send(api, user, w.room, event_type, bodies[content], errcode)
    assert body["errcode"] == errcode


async def test_edit_of_a_state_event_or_an_edit_is_refused(api: Api, world: Room) -> None:
    w = world
    state = await api.call(
        "PUT", f"{rq(w.room)}/state/m.room.topic", user=w.alice, json={"topic": "t"}
    )
    bad = edit(state["event_id"], "x")
    await refused_send(api, w.alice, w.room, "m.room.topic", bad, "TUMAR_INVALID_RELATION")
    first = await send_event(api, w.alice, w.room, "m.room.message", edit(w.root, "v2"))
    await refused_send(
        api, w.alice, w.room, "m.room.message", edit(first, "v3"), "TUMAR_INVALID_RELATION"
    )
    # A state event cannot be an edit either.
    await api.error(
        "PUT",
        f"{rq(w.room)}/state/m.room.topic",
        400,
        "TUMAR_INVALID_RELATION",
        user=w.alice,
        json={"topic": "x", **edit(w.root, "x")},
    )


async def test_relation_to_an_event_of_another_room_is_refused(api: Api, world: Room) -> None:
    w = world
    other = await api.create_room(w.alice)
    foreign = await send_event(api, w.alice, other, "m.room.message", text("elsewhere"))
    for content in (edit(foreign, "x"), reaction(foreign, "👍"), in_thread(foreign, "x")):
        event_type = "m.reaction" if "key" in content["m.relates_to"] else "m.room.message"
        await refused_send(api, w.alice, w.room, event_type, content, "TUMAR_INVALID_RELATION")


# ---- reactions ------------------------------------------------------------------------------


async def test_duplicate_reaction_is_refused_until_redacted(api: Api, world: Room) -> None:
    w = world
    first = await send_event(api, w.bob, w.room, "m.reaction", reaction(w.root, "👍"))
    await refused_send(
        api, w.bob, w.room, "m.reaction", reaction(w.root, "👍"), "M_DUPLICATE_ANNOTATION"
    )
    # Another key, another sender, or another event type is no duplicate.
    await send_event(api, w.bob, w.room, "m.reaction", reaction(w.root, "🎉"))
    await send_event(api, w.alice, w.room, "m.reaction", reaction(w.root, "👍"))
    await send_event(api, w.bob, w.room, "org.example.vote", reaction(w.root, "👍"))
    await api.call("PUT", f"{rq(w.room)}/redact/{q(first)}/r1", user=w.bob, json={})
    again = await send_event(api, w.bob, w.room, "m.reaction", reaction(w.root, "👍"))

    listed = await relations(api, w.alice, w.room, w.root, "m.annotation", "m.reaction")
    assert len(listed["chunk"]) == 3
    assert listed["chunk"][0]["event_id"] == again
    assert {e["type"] for e in listed["chunk"]} == {"m.reaction"}
    # Annotations are not bundled (spec v1.7).
    assert relations_of(await get_event(api, w.alice, w.room, w.root)) == {}


async def test_reaction_needs_a_key_and_an_original(api: Api, world: Room) -> None:
    w = world
    no_key = {"m.relates_to": {"rel_type": "m.annotation", "event_id": w.root}}
    await refused_send(api, w.bob, w.room, "m.reaction", no_key, "M_BAD_JSON")
    number_key = {"m.relates_to": {"rel_type": "m.annotation", "event_id": w.root, "key": 1}}
    await refused_send(api, w.bob, w.room, "m.reaction", number_key, "M_BAD_JSON")
    first = await send_event(api, w.bob, w.room, "m.reaction", reaction(w.root, "👍"))
    await refused_send(
        api, w.bob, w.room, "m.reaction", reaction(first, "👍"), "TUMAR_INVALID_RELATION"
    )


# ---- threads --------------------------------------------------------------------------------


async def test_thread_summary_is_bundled_with_the_root(api: Api, world: Room) -> None:
    w = world
    one = await send_event(api, w.bob, w.room, "m.room.message", in_thread(w.root, "one"))
    two = await send_event(api, w.bob, w.room, "m.room.message", in_thread(w.root, "two"))
    await send_event(api, w.bob, w.room, "m.room.message", edit(two, "two, edited"))

    for viewer, participated in ((w.alice, True), (w.bob, True)):
        root = await get_event(api, viewer, w.room, w.root)
        thread = relations_of(root)["m.thread"]
        assert thread["count"] == 2
        assert thread["current_user_participated"] is participated
        latest = thread["latest_event"]
        assert latest["event_id"] == two
        assert latest["room_id"] == w.room
        # The latest event carries its own edit.
        assert relations_of(latest)["m.replace"]["content"]["m.new_content"]["body"] == (
            "two, edited"
        )

    carol = await api.register("carol")
    await api.join(carol, w.room)
    thread = relations_of(await get_event(api, carol, w.room, w.root))["m.thread"]
    assert thread["current_user_participated"] is False

    listed = await relations(api, w.alice, w.room, w.root, "m.thread")
    assert [e["event_id"] for e in listed["chunk"]] == [two, one]

    # Redacting the latest thread event moves the summary back.
    await api.call("PUT", f"{rq(w.room)}/redact/{q(two)}/r1", user=w.bob, json={})
    thread = relations_of(await get_event(api, w.alice, w.room, w.root))["m.thread"]
    assert (thread["count"], thread["latest_event"]["event_id"]) == (1, one)


async def test_thread_cannot_start_from_a_related_event(api: Api, world: Room) -> None:
    w = world
    reply = await send_event(api, w.bob, w.room, "m.room.message", in_thread(w.root, "x"))
    body = await refused_send(
        api, w.alice, w.room, "m.room.message", in_thread(reply, "nested"), "M_UNKNOWN"
    )
    assert "thread" in body["error"]


async def test_threads_list_orders_by_latest_and_filters_participation(
    api: Api, world: Room
) -> None:
    w = world
    second_root = await send_event(api, w.bob, w.room, "m.room.message", text("bob's root"))
    third_root = await send_event(api, w.bob, w.room, "m.room.message", text("no thread"))
    await send_event(api, w.alice, w.room, "m.room.message", in_thread(w.root, "a"))
    await send_event(api, w.bob, w.room, "m.room.message", in_thread(second_root, "b"))
    path = f"{V1}{rq(w.room)}/threads"

    listed = await api.call("GET", path, user=w.alice)
    assert [e["event_id"] for e in listed["chunk"]] == [second_root, w.root]
    assert "next_batch" not in listed
    assert relations_of(listed["chunk"][0])["m.thread"]["count"] == 1
    assert third_root not in [e["event_id"] for e in listed["chunk"]]

    # Paging one at a time.
    first = await api.call("GET", path, user=w.alice, params={"limit": 1})
    assert [e["event_id"] for e in first["chunk"]] == [second_root]
    rest = await api.call(
        "GET", path, user=w.alice, params={"limit": 1, "from": first["next_batch"]}
    )
    assert [e["event_id"] for e in rest["chunk"]] == [w.root]

    # A new thread event moves its thread to the top.
    await send_event(api, w.alice, w.room, "m.room.message", in_thread(w.root, "again"))
    listed = await api.call("GET", path, user=w.alice)
    assert [e["event_id"] for e in listed["chunk"]] == [w.root, second_root]

    mine = await api.call("GET", path, user=w.alice, params={"include": "participated"})
    assert [e["event_id"] for e in mine["chunk"]] == [w.root]
    carol = await api.register("carol")
    await api.join(carol, w.room)
    none = await api.call("GET", path, user=carol, params={"include": "participated"})
    assert none["chunk"] == []

    await api.error("GET", path, 400, "M_INVALID_PARAM", user=w.alice, params={"limit": 0})
    await api.error("GET", path, 400, "M_INVALID_PARAM", user=w.alice, params={"include": "mine"})
    await api.error("GET", path, 400, "M_INVALID_PARAM", user=carol, params={"from": "x"})


# ---- references, pagination, recursion ------------------------------------------------------


async def test_references_are_bundled(api: Api, world: Room) -> None:
    w = world
    ref = {"m.relates_to": {"rel_type": "m.reference", "event_id": w.root}}
    one = await send_event(api, w.bob, w.room, "org.example.answer", ref)
    two = await send_event(api, w.alice, w.room, "org.example.answer", ref)
    bundled = relations_of(await get_event(api, w.bob, w.room, w.root))["m.reference"]
    assert bundled == {"chunk": [{"event_id": one}, {"event_id": two}]}


async def test_relations_pagination_both_directions(api: Api, world: Room) -> None:
    w = world
    ids = [
        await send_event(api, w.bob, w.room, "m.reaction", reaction(w.root, str(i)))
        for i in range(5)
    ]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await relations(api, w.alice, w.room, w.root, **params)
        seen += [e["event_id"] for e in page["chunk"]]
        if "next_batch" not in page:
            break
        params["from"] = page["next_batch"]
        assert page["chunk"]
    assert seen == list(reversed(ids))

    forward = await relations(api, w.alice, w.room, w.root, dir="f", limit=3)
    assert [e["event_id"] for e in forward["chunk"]] == ids[:3]
    more = await relations(api, w.alice, w.room, w.root, dir="f", **{"from": forward["next_batch"]})
    assert [e["event_id"] for e in more["chunk"]] == ids[3:]
    assert more["prev_batch"] == forward["next_batch"]

    # `to` stops the page: backwards from the newest down to (excluding) the boundary.
    bounded = await relations(api, w.alice, w.room, w.root, to=forward["next_batch"])
    assert [e["event_id"] for e in bounded["chunk"]] == list(reversed(ids[3:]))

    for bad in ({"limit": -1}, {"dir": "x"}, {"from": "nonsense"}, {"recurse": "maybe"}):
        await api.error(
            "GET",
            f"{V1}{rq(w.room)}/relations/{q(w.root)}",
            400,
            "M_INVALID_PARAM",
            user=w.alice,
            params=bad,
        )


async def test_recurse_follows_relations_of_relations(api: Api, world: Room) -> None:
    w = world
    reply = await send_event(api, w.bob, w.room, "m.room.message", in_thread(w.root, "in"))
    react = await send_event(api, w.alice, w.room, "m.reaction", reaction(reply, "👀"))
    direct = await relations(api, w.alice, w.room, w.root, recurse="false")
    assert [e["event_id"] for e in direct["chunk"]] == [reply]
    assert direct["recursion_depth"] == 1
    deep = await relations(api, w.alice, w.room, w.root, recurse="true")
    assert [e["event_id"] for e in deep["chunk"]] == [react, reply]
    assert deep["recursion_depth"] >= 3
    assert "recursion_depth" not in await relations(api, w.alice, w.room, w.root)
    # A rel_type filter applies to every hop: the reaction hangs off a thread event.
    threads_only = await relations(api, w.alice, w.room, w.root, "m.thread", recurse="true")
    assert [e["event_id"] for e in threads_only["chunk"]] == [reply]


# ---- visibility -----------------------------------------------------------------------------


async def test_visibility_of_relations(api: Api, world: Room) -> None:
    w = world
    before = await send_event(api, w.bob, w.room, "m.room.message", in_thread(w.root, "seen"))
    await api.call("POST", f"{rq(w.room)}/leave", user=w.bob, json={})
    after = await send_event(api, w.alice, w.room, "m.room.message", in_thread(w.root, "unseen"))

    # Bob left: the thread he sees ends with what was there when he left.
    listed = await relations(api, w.bob, w.room, w.root)
    assert [e["event_id"] for e in listed["chunk"]] == [before]
    thread = relations_of(await get_event(api, w.bob, w.room, w.root))["m.thread"]
    assert (thread["count"], thread["latest_event"]["event_id"]) == (1, before)
    threads = await api.call("GET", f"{V1}{rq(w.room)}/threads", user=w.bob)
    summary = relations_of(threads["chunk"][0])["m.thread"]
    assert summary["latest_event"]["event_id"] == before
    await api.error("GET", f"{V1}{rq(w.room)}/relations/{q(after)}", 404, "M_NOT_FOUND", user=w.bob)

    # Someone who was never in the room sees nothing.
    carol = await api.register("carol")
    await api.error(
        "GET", f"{V1}{rq(w.room)}/relations/{q(w.root)}", 403, "M_FORBIDDEN", user=carol
    )
    await api.error("GET", f"{V1}{rq(w.room)}/threads", 403, "M_FORBIDDEN", user=carol)
    # An event id of another room is not found through this room.
    other = await api.create_room(w.alice)
    foreign = await send_event(api, w.alice, other, "m.room.message", text("x"))
    await api.error(
        "GET", f"{V1}{rq(w.room)}/relations/{q(foreign)}", 404, "M_NOT_FOUND", user=w.alice
    )


# ---- /context -------------------------------------------------------------------------------


async def test_context_around_an_event(api: Api, world: Room) -> None:
    w = world
    ids = [await api.send(w.alice, w.room, f"m{i}") for i in range(6)]
    middle = ids[3]
    body = await api.call(
        "GET", f"{rq(w.room)}/context/{q(middle)}", user=w.bob, params={"limit": 4}
    )
    assert body["event"]["event_id"] == middle
    assert [e["event_id"] for e in body["events_before"]] == [ids[2], ids[1]]
    assert [e["event_id"] for e in body["events_after"]] == [ids[4], ids[5]]
    state_types = {e["type"] for e in body["state"]}
    assert {"m.room.create", "m.room.member", "m.room.power_levels"} <= state_types

    # The tokens continue with /messages on both sides.
    older = await api.call(
        "GET", f"{rq(w.room)}/messages", user=w.bob, params={"from": body["start"], "limit": 1}
    )
    assert older["chunk"][0]["event_id"] == ids[0]
    newer = await api.call(
        "GET",
        f"{rq(w.room)}/messages",
        user=w.bob,
        params={"from": body["end"], "dir": "f", "limit": 5},
    )
    assert newer["chunk"] == []

    zero = await api.call(
        "GET", f"{rq(w.room)}/context/{q(middle)}", user=w.bob, params={"limit": 0}
    )
    assert (zero["events_before"], zero["events_after"]) == ([], [])
    assert zero["event"]["event_id"] == middle

    # A filter applies to the surrounding events and the state, never to the event itself.
    flt = json.dumps({"types": ["m.room.member"], "lazy_load_members": True})
    filtered = await api.call(
        "GET", f"{rq(w.room)}/context/{q(middle)}", user=w.bob, params={"filter": flt}
    )
    assert filtered["event"]["event_id"] == middle
    assert all(e["type"] == "m.room.member" for e in filtered["events_before"])
    assert {e["state_key"] for e in filtered["state"]} <= {w.alice.user_id, w.bob.user_id}


async def test_context_errors_and_visibility(api: Api, world: Room) -> None:
    w = world
    path = f"{rq(w.room)}/context/{q(w.root)}"
    await api.error("GET", path, 400, "M_INVALID_PARAM", user=w.bob, params={"limit": -1})
    await api.error("GET", path, 400, "M_BAD_JSON", user=w.bob, params={"filter": "{"})
    await api.error("GET", f"{rq(w.room)}/context/{q('$missing')}", 404, "M_NOT_FOUND", user=w.bob)
    await api.error("GET", f"{rq(w.room)}/context/nope", 404, "M_NOT_FOUND", user=w.bob)
    carol = await api.register("carol")
    await api.error("GET", path, 403, "M_FORBIDDEN", user=carol)

    await api.call("POST", f"{rq(w.room)}/leave", user=w.bob, json={})
    later = await api.send(w.alice, w.room, "after bob left")
    await api.error("GET", f"{rq(w.room)}/context/{q(later)}", 404, "M_NOT_FOUND", user=w.bob)
    body = await api.call("GET", path, user=w.bob, params={"limit": 20})
    assert later not in [e["event_id"] for e in body["events_after"]]
