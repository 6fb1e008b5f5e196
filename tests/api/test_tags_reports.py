"""Room tags (delivered as ``m.tag`` room account data), reports of events and rooms, and the
third-party identifier endpoints (none exist here)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.everyday import refused, rq
from tests.support.harness import Api, User, q
from tumar.store.reports import Report


def tags_path(user: User, room: str, tag: str | None = None) -> str:
    base = f"/user/{q(user.user_id)}/rooms/{q(room)}/tags"
    return base if tag is None else f"{base}/{q(tag)}"


async def test_tags_round_trip_and_sync(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    first = await api.sync(alice)
    assert await api.call("GET", tags_path(alice, room), user=alice) == {"tags": {}}

    await api.call("PUT", tags_path(alice, room, "m.favourite"), user=alice, json={"order": 0.25})
    await api.call("PUT", tags_path(alice, room, "u.work"), user=alice, json={})
    assert await api.call("GET", tags_path(alice, room), user=alice) == {
        "tags": {"m.favourite": {"order": 0.25}, "u.work": {}}
    }
    later = await api.sync(alice, first["next_batch"])
    data = later["rooms"]["join"][room]["account_data"]["events"]
    assert {
        "type": "m.tag",
        "content": {"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}},
    } in (data)

    await api.call("DELETE", tags_path(alice, room, "u.work"), user=alice)
    await api.call("DELETE", tags_path(alice, room, "never-set"), user=alice)
    assert await api.call("GET", tags_path(alice, room), user=alice) == {
        "tags": {"m.favourite": {"order": 0.25}}
    }
    # The account-data endpoint reads the same thing.
    content = await api.call(
        "GET", f"/user/{q(alice.user_id)}/rooms/{q(room)}/account_data/m.tag", user=alice
    )
    assert content == {"tags": {"m.favourite": {"order": 0.25}}}


@pytest.mark.parametrize(
    ("who", "body", "status", "errcode"),
    [
        ("bob", {"order": 0.5}, 403, "M_FORBIDDEN"),  # someone else's tags
        ("alice", {"order": "0.5"}, 400, "M_BAD_JSON"),
        ("alice", {"order": 2}, 400, "M_BAD_JSON"),
        ("alice", {"order": True}, 400, "M_BAD_JSON"),
        ("alice", {"note": "x" * 5000}, 413, "M_TOO_LARGE"),
        ("carol", {}, 403, "M_FORBIDDEN"),  # her own tags, but not in the room
    ],
)
async def test_bad_tags_change_nothing(
    api: Api, who: str, body: dict[str, Any], status: int, errcode: str
) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice)
    users = {"alice": alice, "bob": bob, "carol": carol}
    owner = carol if who == "carol" else alice
    await refused(
        api,
        "PUT",
        tags_path(owner, room, "u.x"),
        status,
        errcode,
        user=users[who],
        json=body,
    )


async def test_reports(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    event = await api.send(alice, room, "offensive")
    await api.call(
        "POST",
        f"{rq(room)}/report/{q(event)}",
        user=bob,
        json={"reason": "rude", "score": -50},
    )
    await api.call("POST", f"{rq(room)}/report/{q(event)}", user=bob, json={})
    await api.call("POST", f"{rq(room)}/report", user=carol, json={"reason": ""})
    assert api.services is not None
    reports = await api.services.reports.list_reports(room)
    assert [(r.event_id, r.reporter, r.reason, r.score) for r in reports] == [
        (event, bob.user_id, "rude", -50),
        (event, bob.user_id, None, None),
        (None, carol.user_id, "", None),
    ]
    assert all(isinstance(r, Report) and r.ts > 0 for r in reports)


async def test_bad_reports_change_nothing(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    event = await api.send(alice, room, "hello")
    path = f"{rq(room)}/report/{q(event)}"
    # Carol cannot see the event: it is "not found" for her, like for a made-up one.
    await refused(api, "POST", path, 404, "M_NOT_FOUND", user=carol, json={"reason": "x"})
    await refused(
        api, "POST", f"{rq(room)}/report/{q('$nope')}", 404, "M_NOT_FOUND", user=bob, json={}
    )
    await refused(api, "POST", path, 400, "M_BAD_JSON", user=bob, json={"score": -101})
    await refused(api, "POST", path, 400, "M_BAD_JSON", user=bob, json={"score": "bad"})
    await refused(api, "POST", path, 400, "M_BAD_JSON", user=bob, json={"reason": 5})
    await refused(api, "POST", path, 400, "M_BAD_JSON", user=bob, json={"reason": "x" * 1001})
    # Bob leaves; what came later is out of his sight.
    await api.call("POST", f"{rq(room)}/leave", user=bob, json={})
    later = await api.send(alice, room, "after")
    await refused(
        api, "POST", f"{rq(room)}/report/{q(later)}", 404, "M_NOT_FOUND", user=bob, json={}
    )
    await api.call("POST", path, user=bob, json={"reason": "seen before leaving"})
    # Room reports: the room must exist, and a reason is required.
    await refused(
        api,
        "POST",
        f"{rq('!missing:tumar.test')}/report",
        404,
        "M_NOT_FOUND",
        user=carol,
        json={"reason": "x"},
    )
    await refused(api, "POST", f"{rq(room)}/report", 400, "M_MISSING_PARAM", user=carol, json={})


async def test_third_party_identifiers(api: Api) -> None:
    alice = await api.register("alice")
    assert await api.call("GET", "/account/3pid", user=alice) == {"threepids": []}
    body = {"client_secret": "s", "sid": "1"}
    await refused(api, "POST", "/account/3pid/add", 403, "M_FORBIDDEN", user=alice, json=body)
    await refused(api, "POST", "/account/3pid/bind", 403, "M_FORBIDDEN", user=alice, json=body)
    three = {"medium": "email", "address": "a@example.org"}
    await refused(
        api, "POST", "/account/3pid/delete", 400, "M_THREEPID_NOT_FOUND", user=alice, json=three
    )
    token = {"client_secret": "s", "email": "a@example.org", "send_attempt": 1}
    await refused(
        api, "POST", "/account/3pid/email/requestToken", 403, "M_THREEPID_DENIED", json=token
    )
    await refused(
        api, "POST", "/account/password/email/requestToken", 403, "M_THREEPID_DENIED", json=token
    )
    await api.error("GET", "/account/3pid", 401, "M_MISSING_TOKEN")
