"""Real responses of the everyday-feature endpoints (relations, threads, context, push rules,
pushers, notifications, tags, reports, third-party ids, the room directory, aliases, upgrades,
presence, search), validated against the Matrix spec's schemas with the checker of
``test_spec_responses.py`` (kept apart: that module is long enough)."""

from __future__ import annotations

import json

import pytest

from tests.api import test_spec_responses as base
from tests.api.test_spec_responses import Checked, _auth_errors
from tests.support.everyday import V1, edit, in_thread, reaction, rq, text
from tests.support.harness import q

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# The checker's fixtures, shared with test_spec_responses.py.
validator = base.validator
error_schema = base.error_schema
checked = base.checked


async def _send(c: Checked, user: object, room: str, event_type: str, content: object) -> str:
    body = await c.call(
        "PUT",
        f"{rq(room)}/send/{event_type}/{abs(hash(json.dumps(content)))}",
        user=user,
        json=content,
    )
    return str(body["event_id"])


async def test_relations_threads_context(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    room = await c.api.create_room(alice, preset="public_chat")
    await c.api.join(bob, room)
    root = await _send(c, alice, room, "m.room.message", text("root"))
    await _send(c, alice, room, "m.room.message", edit(root, "root v2"))
    reply = await _send(c, bob, room, "m.room.message", in_thread(root, "in thread"))
    await _send(c, bob, room, "m.reaction", reaction(root, "👍"))
    await _send(c, alice, room, "m.reaction", reaction(reply, "👀"))

    base = f"{V1}{rq(room)}/relations/{q(root)}"
    for path in (base, f"{base}/m.thread", f"{base}/m.annotation/m.reaction"):
        page = await c.call("GET", path, user=bob, params={"limit": 1, "recurse": "true"})
        assert page["chunk"]
        if "next_batch" in page:
            await c.call("GET", path, user=bob, params={"from": page["next_batch"], "dir": "f"})
    await c.error("GET", f"{V1}{rq(room)}/relations/{q('$nope')}", 404, "M_NOT_FOUND", user=bob)
    await c.error("GET", base, 400, "M_INVALID_PARAM", user=bob, params={"from": "x"})
    await _auth_errors(c, "GET", base)

    threads = await c.call("GET", f"{V1}{rq(room)}/threads", user=bob)
    assert threads["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"] == 1
    await c.call("GET", f"{V1}{rq(room)}/threads", user=alice, params={"include": "participated"})
    await c.error(
        "GET", f"{V1}{rq(room)}/threads", 400, "M_INVALID_PARAM", user=bob, params={"from": "x"}
    )
    carol = await c.api.register("carol")
    await c.error("GET", f"{V1}{rq(room)}/threads", 403, "M_FORBIDDEN", user=carol)

    context = await c.call(
        "GET",
        f"{rq(room)}/context/{q(reply)}",
        user=bob,
        params={"limit": 4, "filter": json.dumps({"lazy_load_members": True})},
    )
    assert context["event"]["event_id"] == reply
    await c.error("GET", f"{rq(room)}/context/{q('$nope')}", 404, "M_NOT_FOUND", user=bob)
    await c.error("GET", f"{rq(room)}/context/{q(reply)}", 403, "M_FORBIDDEN", user=carol)

    # Bundled aggregations in /sync, /messages and /event keep the spec's event shape.
    await c.sync(bob)
    await c.messages(bob, room, limit=20)
    await c.call("GET", f"{rq(room)}/event/{q(root)}", user=bob)
    # Invalid relations are refused with errors of the standard shape.
    await c.error(
        "PUT",
        f"{rq(room)}/send/m.room.message/bad1",
        400,
        "TUMAR_INVALID_RELATION",
        user=bob,
        json=edit(root, "not yours"),
    )
    await c.error(
        "PUT",
        f"{rq(room)}/send/m.reaction/bad2",
        400,
        "M_DUPLICATE_ANNOTATION",
        user=bob,
        json=reaction(root, "👍"),
    )


async def test_push_rules_pushers_notifications(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    room = await c.api.create_room(alice, preset="public_chat")
    await c.api.join(bob, room)
    await c.api.send(bob, room, "alice, lunch?")

    await c.call("GET", "/pushrules/", user=alice)
    await c.call("GET", "/pushrules/global/", user=alice)
    rule = "/pushrules/global/content/lunch"
    await c.call("PUT", rule, user=alice, json={"pattern": "lunch", "actions": ["notify"]})
    await c.call("GET", rule, user=alice)
    await c.call("PUT", f"{rule}/enabled", user=alice, json={"enabled": False})
    await c.call("GET", f"{rule}/enabled", user=alice)
    await c.call("PUT", f"{rule}/actions", user=alice, json={"actions": []})
    await c.call("GET", f"{rule}/actions", user=alice)
    await c.call("DELETE", rule, user=alice)
    await c.error("GET", rule, 404, "M_NOT_FOUND", user=alice)
    await c.error("DELETE", rule, 404, "M_NOT_FOUND", user=alice)
    await c.error(
        "PUT",
        rule,
        400,
        "M_UNKNOWN",
        user=alice,
        params={"before": "x"},
        json={"pattern": "x", "actions": []},
    )
    await _auth_errors(c, "GET", "/pushrules/")

    sync = await c.sync(alice)
    assert sync["rooms"]["join"][room]["unread_notifications"]["highlight_count"] == 1
    flt = json.dumps({"room": {"timeline": {"unread_thread_notifications": True}}})
    await c.sync(alice, filter=flt)

    notified = await c.call("GET", "/notifications", user=alice, params={"limit": 5})
    assert notified["notifications"]
    await c.call("GET", "/notifications", user=alice, params={"only": "highlight"})

    pusher = {
        "pushkey": "k",
        "kind": "http",
        "app_id": "kz.example",
        "app_display_name": "App",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {"url": "https://push.example/_matrix/push/v1/notify"},
    }
    await c.call("POST", "/pushers/set", user=alice, json=pusher)
    assert (await c.call("GET", "/pushers", user=alice))["pushers"]
    await c.error(
        "POST", "/pushers/set", 400, "M_BAD_JSON", user=alice, json={**pusher, "data": {}}
    )


async def test_tags_reports_threepids_presence(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    room = await c.api.create_room(alice, preset="public_chat")
    await c.api.join(bob, room)
    event = await c.api.send(alice, room, "hello")

    tags = f"/user/{q(alice.user_id)}/rooms/{q(room)}/tags"
    await c.call("PUT", f"{tags}/u.work", user=alice, json={"order": 0.5})
    assert (await c.call("GET", tags, user=alice))["tags"] == {"u.work": {"order": 0.5}}
    await c.call("DELETE", f"{tags}/u.work", user=alice)

    await c.call("POST", f"{rq(room)}/report/{q(event)}", user=bob, json={"reason": "spam"})
    await c.call("POST", f"{rq(room)}/report", user=bob, json={"reason": "spam room"})
    await c.error("POST", f"{rq(room)}/report/{q('$nope')}", 404, "M_NOT_FOUND", user=bob, json={})
    await c.error(
        "POST", f"{rq('!nope:tumar.test')}/report", 404, "M_NOT_FOUND", user=bob,
        json={"reason": "x"},
    )  # fmt: skip

    assert await c.call("GET", "/account/3pid", user=alice) == {"threepids": []}
    token = {"client_secret": "s", "email": "a@example.org", "send_attempt": 1}
    await c.error("POST", "/account/3pid/email/requestToken", 403, "M_THREEPID_DENIED", json=token)
    await c.error(
        "POST", "/account/password/email/requestToken", 403, "M_THREEPID_DENIED", json=token
    )

    status = f"/presence/{q(alice.user_id)}/status"
    await c.call("PUT", status, user=alice, json={"presence": "online", "status_msg": "here"})
    assert (await c.call("GET", status, user=bob))["presence"] == "online"
    carol = await c.api.register("carol")
    await c.error("GET", status, 403, "M_FORBIDDEN", user=carol)
    presence = (await c.sync(bob))["presence"]["events"]
    assert alice.user_id in {e["sender"] for e in presence}


async def test_directory_aliases_upgrade_search(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    room = await c.api.create_room(
        alice, visibility="public", name="Lobby", topic="Welcome", room_alias_name="lobby"
    )
    await c.api.join(bob, room)
    await c.api.send(alice, room, "the annual plan is attached")

    listed = await c.call("GET", "/publicRooms", user=bob, params={"limit": 1})
    assert listed["chunk"][0]["room_id"] == room
    await c.call(
        "POST",
        "/publicRooms",
        user=bob,
        json={"limit": 5, "filter": {"generic_search_term": "lobby", "room_types": [None]}},
    )
    await c.call("GET", f"/directory/list/room/{q(room)}")
    await c.call(
        "PUT", f"/directory/list/room/{q(room)}", user=alice, json={"visibility": "private"}
    )
    await c.error("GET", f"/directory/list/room/{q('!nope:tumar.test')}", 404, "M_NOT_FOUND")

    alias = f"/directory/room/{q('#hall:tumar.test')}"
    await c.call("PUT", alias, user=bob, json={"room_id": room})
    await c.call("GET", alias)
    await c.error("PUT", alias, 409, "M_UNKNOWN", user=alice, json={"room_id": room})
    await c.call("GET", f"{rq(room)}/aliases", user=bob)
    await c.call("DELETE", alias, user=bob)
    await c.error("DELETE", alias, 404, "M_NOT_FOUND", user=bob)

    found = await c.call(
        "POST",
        "/search",
        user=bob,
        json={
            "search_categories": {
                "room_events": {
                    "search_term": "annual plan",
                    "order_by": "recent",
                    "event_context": {"before_limit": 2, "after_limit": 2, "include_profile": True},
                    "include_state": True,
                    "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]},
                }
            }
        },
    )
    assert found["search_categories"]["room_events"]["count"] == 1

    upgraded = await c.call("POST", f"{rq(room)}/upgrade", user=alice, json={"new_version": "11"})
    assert upgraded["replacement_room"].startswith("!")
    await c.error(
        "POST",
        f"{rq(upgraded['replacement_room'])}/upgrade",
        400,
        "M_UNSUPPORTED_ROOM_VERSION",
        user=alice,
        json={"new_version": "1"},
    )
    await c.error(
        "POST",
        f"{rq(upgraded['replacement_room'])}/upgrade",
        403,
        "M_FORBIDDEN",
        user=bob,
        json={"new_version": "11"},
    )
    versions = await c.call("GET", "/_matrix/client/versions")
    assert "v1.4" in versions["versions"]
