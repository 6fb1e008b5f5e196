"""Server-side full-text search: what it finds, in which rooms, in which order, with context,
paging, redactions and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.everyday import edit, refused, rq, send_event
from tests.support.harness import Api, User, q


async def search(api: Api, user: User, term: str, **extra: Any) -> dict[str, Any]:
    params = {"next_batch": extra.pop("next_batch")} if "next_batch" in extra else None
    body = await api.call(
        "POST",
        "/search",
        user=user,
        params=params,
        json={"search_categories": {"room_events": {"search_term": term, **extra}}},
    )
    result: dict[str, Any] = body["search_categories"]["room_events"]
    return result


def bodies(result: dict[str, Any]) -> list[str]:
    return [r["result"]["content"].get("body", "") for r in result["results"]]


async def test_search_finds_words_in_readable_rooms(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat", name="Бюджет")
    await api.join(bob, room)
    secret = await api.create_room(alice)
    await api.send(alice, room, "The quarterly report is ready")
    await api.send(bob, room, "Отчёт за квартал готов")
    await api.send(alice, secret, "secret report")
    await api.send(alice, room, "nothing here")

    found = await search(api, bob, "report")
    assert bodies(found) == ["The quarterly report is ready"]
    assert found["count"] == 1 and found["highlights"] == ["report"]
    assert found["results"][0]["result"]["room_id"] == room
    assert isinstance(found["results"][0]["rank"], float)
    # Cyrillic, any case, word prefixes.
    assert bodies(await search(api, bob, "ОТЧЁТ")) == ["Отчёт за квартал готов"]
    assert bodies(await search(api, bob, "кварт")) == ["Отчёт за квартал готов"]
    # All words must match.
    assert bodies(await search(api, bob, "quarterly ready")) == ["The quarterly report is ready"]
    assert bodies(await search(api, bob, "quarterly missing")) == []
    # Alice also finds her private room's message; Carol (in no room) nothing.
    assert sorted(bodies(await search(api, alice, "report"))) == [
        "The quarterly report is ready",
        "secret report",
    ]
    assert (await search(api, carol, "report"))["results"] == []
    # Room names are searchable with the right key.
    named = await search(api, bob, "бюджет", keys=["content.name"])
    assert [r["result"]["type"] for r in named["results"]] == ["m.room.name"]
    # Query syntax of the database never reaches it.
    for term in ('"', "report OR secret", "NEAR(a b)", "*", "a:*", "'; DROP TABLE events; --"):
        result = await search(api, bob, term)
        assert isinstance(result["results"], list)


async def test_search_after_leaving_sees_only_the_stay(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    await api.send(alice, room, "budget before")
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    await api.send(alice, room, "budget after")
    assert bodies(await search(api, bob, "budget")) == ["budget before"]
    assert bodies(await search(api, alice, "budget", order_by="recent")) == [
        "budget after",
        "budget before",
    ]
    # A forgotten room is not searched.
    await api.call("POST", f"{rq(room)}/forget", user=bob, json={})
    assert bodies(await search(api, bob, "budget")) == []


async def test_search_order_paging_filter_and_context(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    other = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    ids = [await api.send(alice, room, f"memo {i}") for i in range(5)]
    await api.send(bob, room, "memo from bob")
    await api.send(alice, other, "memo elsewhere")

    recent = await search(
        api, alice, "memo", order_by="recent", filter={"limit": 2, "rooms": [room]}
    )
    assert bodies(recent) == ["memo from bob", "memo 4"]
    assert recent["count"] == 6
    seen = bodies(recent)
    token = recent["next_batch"]
    while token:
        page = await search(
            api,
            alice,
            "memo",
            order_by="recent",
            filter={"limit": 2, "rooms": [room]},
            next_batch=token,
        )
        seen += bodies(page)
        token = page.get("next_batch")
    assert seen == ["memo from bob", "memo 4", "memo 3", "memo 2", "memo 1", "memo 0"]

    ranked = await search(api, alice, "memo", filter={"limit": 4})
    more = await search(api, alice, "memo", filter={"limit": 4}, next_batch=ranked["next_batch"])
    assert len(bodies(ranked) + bodies(more)) == 7
    assert set(bodies(ranked)).isdisjoint(bodies(more))

    by_sender = await search(api, alice, "memo", filter={"senders": [bob.user_id]})
    assert bodies(by_sender) == ["memo from bob"]
    not_room = await search(api, alice, "memo", filter={"not_rooms": [room]})
    assert bodies(not_room) == ["memo elsewhere"]

    with_context = await search(
        api,
        bob,
        "memo 2",
        event_context={"before_limit": 1, "after_limit": 1, "include_profile": True},
        include_state=True,
        groupings={"group_by": [{"key": "room_id"}]},
    )
    first = with_context["results"][0]
    assert first["result"]["event_id"] == ids[2]
    context = first["context"]
    assert [e["event_id"] for e in context["events_before"]] == [ids[1]]
    assert [e["event_id"] for e in context["events_after"]] == [ids[3]]
    assert context["profile_info"][alice.user_id]["displayname"] == "alice"
    assert "m.room.create" in {e["type"] for e in with_context["state"][room]}
    assert with_context["groups"]["room_id"][room]["results"][0] == ids[2]


async def test_redacted_and_edited_messages(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    gone = await api.send(alice, room, "confidential draft")
    await api.call("PUT", f"{rq(room)}/redact/{q(gone)}/r1", user=alice, json={})
    assert bodies(await search(api, alice, "confidential")) == []
    original = await api.send(alice, room, "first wording")
    await send_event(api, alice, room, "m.room.message", edit(original, "second wording"))
    found = await search(api, alice, "wording", order_by="recent")
    # The edit's fallback body is indexed; the original carries its edit bundled.
    assert bodies(found) == ["* second wording", "first wording"]
    relations = found["results"][1]["result"]["unsigned"]["m.relations"]
    assert relations["m.replace"]["content"]["m.new_content"]["body"] == "second wording"


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_BAD_JSON"),
        ({"search_categories": []}, "M_BAD_JSON"),
        ({"search_categories": {"room_events": {}}}, "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": 5}}}, "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": "x", "keys": ["sender"]}}},
         "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": "x", "order_by": "best"}}},
         "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": "x", "filter": {"limit": "a"}}}},
         "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": "x",
          "event_context": {"before_limit": -1}}}}, "M_BAD_JSON"),
        ({"search_categories": {"room_events": {"search_term": "x",
          "groupings": {"group_by": [{"key": "type"}]}}}}, "M_BAD_JSON"),
        ({"search_categories": {"people": {"search_term": "x"}}}, "M_BAD_JSON"),
    ],
)  # fmt: skip
async def test_bad_search_requests(api: Api, body: dict[str, Any], errcode: str) -> None:
    alice = await api.register("alice")
    await refused(api, "POST", "/search", 400, errcode, user=alice, json=body)


async def test_bad_search_token(api: Api) -> None:
    alice = await api.register("alice")
    body = {"search_categories": {"room_events": {"search_term": "x", "order_by": "recent"}}}
    for token in ("x", "o5", "p-1", "p" + "9" * 30):
        await api.error(
            "POST", "/search", 400, "M_INVALID_PARAM", user=alice, json=body,
            params={"next_batch": token},
        )  # fmt: skip
    await api.error("POST", "/search", 401, "M_MISSING_TOKEN", json=body)
