"""Push rules (CRUD and their delivery as account data), unread and highlight counts in
``/sync`` driven by them, ``/notifications``, and pushers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.everyday import in_thread, refused, rq, send_event, text
from tests.support.harness import Api, User, q
from tumar.core import notifications
from tumar.store import events as event_store

RULES = "/pushrules/global"


@dataclass
class World:
    alice: User
    bob: User
    room: str


@pytest.fixture
async def world(api: Api) -> World:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat", name="Office")
    await api.join(bob, room)
    carol = await api.register("carol")  # three members: not a one-to-one room
    await api.join(carol, room)
    return World(alice, bob, room)


def counts(sync: dict[str, Any], room: str) -> dict[str, int]:
    value: dict[str, int] = sync["rooms"]["join"][room]["unread_notifications"]
    return value


async def read_up_to(api: Api, user: User, room: str, event_id: str, **body: Any) -> None:
    await api.call("POST", f"{rq(room)}/receipt/m.read/{q(event_id)}", user=user, json=body)


# ---- counts ---------------------------------------------------------------------------------


async def test_counts_follow_messages_and_receipts(api: Api, world: World) -> None:
    w = world
    ids = [await api.send(w.bob, w.room, f"message {i}") for i in range(3)]
    await api.send(w.alice, w.room, "my own message never counts")
    sync = await api.sync(w.alice)
    assert counts(sync, w.room) == {"notification_count": 3, "highlight_count": 0}
    # The sender's own view: only the others' messages after joining.
    assert counts(await api.sync(w.bob), w.room)["notification_count"] == 1

    await read_up_to(api, w.alice, w.room, ids[1])
    later = await api.sync(w.alice, sync["next_batch"])
    assert counts(later, w.room) == {"notification_count": 1, "highlight_count": 0}
    await api.call(
        "POST",
        f"{rq(w.room)}/read_markers",
        user=w.alice,
        json={"m.fully_read": ids[2], "m.read.private": ids[2]},
    )
    latest = await api.sync(w.alice, later["next_batch"])
    assert counts(latest, w.room) == {"notification_count": 0, "highlight_count": 0}
    # New messages count again, incrementally.
    await api.send(w.bob, w.room, "one more")
    again = await api.sync(w.alice, latest["next_batch"])
    assert counts(again, w.room)["notification_count"] == 1


@pytest.mark.parametrize(
    "content",
    [
        text("hey alice, look"),  # the localpart (legacy content rule)
        text("Alice?"),  # the display name, any case
        text("ping", **{"m.mentions": {"user_ids": ["@alice:tumar.test"]}}),
        text("@room: meeting", **{"m.mentions": {"room": True}}),  # bob has power 0...
    ],
)
async def test_mentions_highlight(api: Api, world: World, content: dict[str, Any]) -> None:
    w = world
    if "room" in content.get("m.mentions", {}):
        # ...so @room needs the sender to reach notifications.room (50).
        levels = await api.call("GET", f"{rq(w.room)}/state/m.room.power_levels", user=w.alice)
        levels["users"][w.bob.user_id] = 50
        await api.call("PUT", f"{rq(w.room)}/state/m.room.power_levels", user=w.alice, json=levels)
    await send_event(api, w.bob, w.room, "m.room.message", content)
    await api.send(w.bob, w.room, "nothing special")
    sync = await api.sync(w.alice)
    assert counts(sync, w.room) == {"notification_count": 2, "highlight_count": 1}


async def test_room_mention_needs_power(api: Api, world: World) -> None:
    w = world
    content = text("@room: meeting", **{"m.mentions": {"room": True}})
    await send_event(api, w.bob, w.room, "m.room.message", content)
    assert counts(await api.sync(w.alice), w.room)["highlight_count"] == 0


async def test_member_count_rules_see_who_has_joined(api: Api, world: World) -> None:
    """``room_member_count`` counts joined members only: an invited user does not make the
    room larger, a member who leaves makes it smaller (the rules' room facts are read again
    after a state event)."""
    w = world
    three = {
        "conditions": [
            {"kind": "event_match", "key": "type", "pattern": "m.room.message"},
            {"kind": "room_member_count", "is": "3"},
        ],
        "actions": ["notify", {"set_tweak": "highlight"}],
    }
    await api.call("PUT", f"{RULES}/override/three", user=w.alice, json=three)
    dave = await api.register("dave")
    await api.call("POST", f"{rq(w.room)}/invite", user=w.alice, json={"user_id": dave.user_id})
    await api.send(w.bob, w.room, "three have joined, one is invited")
    first = await api.sync(w.alice)
    assert counts(first, w.room) == {"notification_count": 1, "highlight_count": 1}
    assert api.services is not None
    carol = f"@carol:{api.services.settings.server_name}"  # joined in the world fixture
    await api.call("POST", f"{rq(w.room)}/kick", user=w.alice, json={"user_id": carol})
    await api.send(w.bob, w.room, "two have joined now")
    later = await api.sync(w.alice, first["next_batch"])
    assert counts(later, w.room) == {"notification_count": 2, "highlight_count": 1}


async def test_user_rules_change_counts(api: Api, world: World) -> None:
    w = world
    highlight = ["notify", {"set_tweak": "highlight"}]
    await api.call(
        "PUT", f"{RULES}/content/cake", user=w.alice, json={"pattern": "cake", "actions": highlight}
    )
    await api.send(w.bob, w.room, "Who wants CAKE?")
    await api.send(w.bob, w.room, "cupcakes are not cake-free")  # word match: "cake" counts
    await api.send(w.bob, w.room, "pancakes")  # not a word match
    sync = await api.sync(w.alice)
    assert counts(sync, w.room) == {"notification_count": 3, "highlight_count": 2}

    # A room rule with no actions silences the room, but content rules come first.
    await api.call("PUT", f"{RULES}/room/{q(w.room)}", user=w.alice, json={"actions": []})
    assert counts(await api.sync(w.alice), w.room) == {
        "notification_count": 2,
        "highlight_count": 2,
    }
    await api.call("DELETE", f"{RULES}/room/{q(w.room)}", user=w.alice)

    # Switching the default message rule off: only the highlights still notify.
    await api.call(
        "PUT", f"{RULES}/underride/.m.rule.message/enabled", user=w.alice, json={"enabled": False}
    )
    assert counts(await api.sync(w.alice), w.room) == {
        "notification_count": 2,
        "highlight_count": 2,
    }


async def test_thread_counts_apart_with_the_filter(api: Api, world: World) -> None:
    w = world
    root = await api.send(w.alice, w.room, "root")
    await api.send(w.bob, w.room, "main")
    one = await send_event(api, w.bob, w.room, "m.room.message", in_thread(root, "t1"))
    await send_event(api, w.bob, w.room, "m.room.message", in_thread(root, "t2"))
    flt = json.dumps({"room": {"timeline": {"unread_thread_notifications": True}}})

    plain = await api.sync(w.alice)
    assert counts(plain, w.room)["notification_count"] == 3
    assert "unread_thread_notifications" not in plain["rooms"]["join"][w.room]

    split = await api.sync(w.alice, filter=flt)
    section = split["rooms"]["join"][w.room]
    assert section["unread_notifications"]["notification_count"] == 1
    assert section["unread_thread_notifications"] == {
        root: {"notification_count": 2, "highlight_count": 0}
    }
    # A threaded receipt reads the thread up to that event, not the main timeline.
    await read_up_to(api, w.alice, w.room, one, thread_id=root)
    after = await api.sync(w.alice, split["next_batch"], filter=flt)
    section = after["rooms"]["join"][w.room]
    assert section["unread_notifications"]["notification_count"] == 1
    assert section["unread_thread_notifications"][root]["notification_count"] == 1


async def test_counts_stop_at_the_limit(api: Api, world: World) -> None:
    assert api.services is not None
    api.services.counter._limit = 3  # events evaluated per room, notifying or not
    mine = await api.send(world.alice, world.room, "read from here")
    await read_up_to(api, world.alice, world.room, mine)
    for i in range(5):
        await api.send(world.bob, world.room, f"m{i}")
    assert counts(await api.sync(world.alice), world.room)["notification_count"] == 3


async def test_incremental_counts_reuse_the_synced_window(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A woken sync that read a room's new events whole counts them without reading them
    again; one whose timeline was cut reads the rest for the counts."""
    reads: list[str] = []

    class CountedStore:  # the counter's view of store.events; the sync's stays untouched
        def __getattr__(self, name: str) -> Any:
            return getattr(event_store, name)

        async def room_timeline(self, conn: Any, room_id: str, **kw: Any) -> Any:
            reads.append(room_id)
            return await event_store.room_timeline(conn, room_id, **kw)

    monkeypatch.setattr(notifications, "event_store", CountedStore())
    w = world
    token = (await api.sync(w.alice))["next_batch"]
    for expected in (1, 2):
        await api.send(w.bob, w.room, f"message {expected}")
        reads.clear()
        sync = await api.sync(w.alice, token)
        token = sync["next_batch"]
        assert counts(sync, w.room)["notification_count"] == expected
        assert reads == []  # the counts used the timeline the sync had read
    for i in range(3):
        await api.send(w.bob, w.room, f"burst {i}")
    cut = json.dumps({"room": {"timeline": {"limit": 1}}})
    sync = await api.sync(w.alice, token, filter=cut)
    assert sync["rooms"]["join"][w.room]["timeline"]["limited"] is True
    assert counts(sync, w.room)["notification_count"] == 5
    assert reads == [w.room]  # the timeline showed one of three: the counts read all three


# ---- push rules -----------------------------------------------------------------------------


async def test_push_rule_crud_and_order(api: Api, world: World) -> None:
    a = world.alice
    cond = [{"kind": "event_match", "key": "content.body", "pattern": "x"}]
    for rule_id in ("one", "two"):
        await api.call(
            "PUT", f"{RULES}/override/{rule_id}", user=a, json={"conditions": cond, "actions": []}
        )
    await api.call(
        "PUT",
        f"{RULES}/override/three",
        user=a,
        params={"after": "two"},
        json={"conditions": cond, "actions": ["notify"]},
    )
    await api.call(
        "PUT",
        f"{RULES}/override/zero",
        user=a,
        params={"before": "two"},
        json={"conditions": cond, "actions": []},
    )
    rules = await api.call("GET", "/pushrules/", user=a)
    ids = [r["rule_id"] for r in rules["global"]["override"]]
    # The master rule first, then the user's rules, then the other defaults.
    assert ids[:5] == [".m.rule.master", "zero", "two", "three", "one"]
    # (the server defaults include tumar's urgent-notification rule, docs/notifications.md)
    assert ids[5:] and all(i.startswith((".m.rule.", ".kz.tumar.rule.")) for i in ids[5:])
    assert (await api.call("GET", "/pushrules/global/", user=a))["override"] == rules["global"][
        "override"
    ]

    got = await api.call("GET", f"{RULES}/override/three", user=a)
    assert got == {
        "rule_id": "three",
        "default": False,
        "enabled": True,
        "conditions": cond,
        "actions": ["notify"],
    }
    await api.call("PUT", f"{RULES}/override/three/actions", user=a, json={"actions": []})
    await api.call("PUT", f"{RULES}/override/three/enabled", user=a, json={"enabled": False})
    assert await api.call("GET", f"{RULES}/override/three/actions", user=a) == {"actions": []}
    assert await api.call("GET", f"{RULES}/override/three/enabled", user=a) == {"enabled": False}
    await api.call("DELETE", f"{RULES}/override/three", user=a)
    await api.error("GET", f"{RULES}/override/three", 404, "M_NOT_FOUND", user=a)

    # Default rules: actions and enabled change, nothing else.
    await api.call(
        "PUT", f"{RULES}/override/.m.rule.suppress_notices/enabled", user=a, json={"enabled": False}
    )
    default = await api.call("GET", f"{RULES}/override/.m.rule.suppress_notices", user=a)
    assert default["default"] is True and default["enabled"] is False

    # Other users' rules are their own.
    other = await api.call("GET", "/pushrules/", user=world.bob)
    assert "zero" not in [r["rule_id"] for r in other["global"]["override"]]

    # Room and sender rules appear without conditions; content rules with their pattern.
    await api.call("PUT", f"{RULES}/sender/{q(world.bob.user_id)}", user=a, json={"actions": []})
    sender = await api.call("GET", f"{RULES}/sender/{q(world.bob.user_id)}", user=a)
    assert "conditions" not in sender and sender["rule_id"] == world.bob.user_id


async def test_push_rules_are_synced_as_account_data(api: Api, world: World) -> None:
    a = world.alice
    first = await api.sync(a)
    data = {e["type"]: e["content"] for e in first["account_data"]["events"]}
    assert ".m.rule.master" in [r["rule_id"] for r in data["m.push_rules"]["global"]["override"]]
    await api.call(
        "PUT", f"{RULES}/content/lunch", user=a, json={"pattern": "lunch", "actions": ["notify"]}
    )
    later = await api.sync(a, first["next_batch"])
    data = {e["type"]: e["content"] for e in later["account_data"]["events"]}
    assert "lunch" in [r["rule_id"] for r in data["m.push_rules"]["global"]["content"]]
    # The account-data endpoint cannot set it behind the rules' back.
    await api.error(
        "PUT",
        f"/user/{q(a.user_id)}/account_data/m.push_rules",
        400,
        "M_BAD_JSON",
        user=a,
        json={"global": {}},
    )


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status", "errcode"),
    [
        ("PUT", "override/.custom", {}, {"actions": []}, 400, "M_BAD_JSON"),
        ("PUT", "nonsense/x", {}, {"actions": []}, 400, "M_INVALID_PARAM"),
        ("PUT", "override/x", {}, {}, 400, "M_BAD_JSON"),
        ("PUT", "override/x", {}, {"actions": ["shout"]}, 400, "M_BAD_JSON"),
        ("PUT", "override/x", {}, {"actions": [{"set_tweak": 5}]}, 400, "M_BAD_JSON"),
        ("PUT", "override/x", {}, {"actions": [], "conditions": "all"}, 400, "M_BAD_JSON"),
        (
            "PUT",
            "override/x",
            {},
            {"actions": [], "conditions": [{"kind": "event_match"}]},
            400,
            "M_BAD_JSON",
        ),
        ("PUT", "content/x", {}, {"actions": []}, 400, "M_BAD_JSON"),
        ("PUT", "room/not-a-room", {}, {"actions": []}, 400, "M_BAD_JSON"),
        ("PUT", "override/x", {"before": "missing"}, {"actions": []}, 400, "M_UNKNOWN"),
        ("DELETE", "override/.m.rule.master", {}, None, 400, "M_UNKNOWN"),
        ("DELETE", "override/missing", {}, None, 404, "M_NOT_FOUND"),
        ("PUT", "override/missing/enabled", {}, {"enabled": True}, 404, "M_NOT_FOUND"),
        ("PUT", "override/.m.rule.master/enabled", {}, {"enabled": "yes"}, 400, "M_BAD_JSON"),
        ("PUT", "override/.m.rule.master/actions", {}, {}, 400, "M_MISSING_PARAM"),
        ("PUT", "override/.m.rule.master/actions", {}, {"actions": "notify"}, 400, "M_BAD_JSON"),
    ],
)
async def test_bad_push_rule_requests_change_nothing(
    api: Api,
    world: World,
    method: str,
    path: str,
    params: dict[str, str],
    body: Any,
    status: int,
    errcode: str,
) -> None:
    await refused(
        api, method, f"{RULES}/{path}", status, errcode, user=world.alice, params=params, json=body
    )


# ---- /notifications -------------------------------------------------------------------------


async def test_notifications_list(api: Api, world: World) -> None:
    w = world
    plain = await api.send(w.bob, w.room, "plain")
    mention = await api.send(w.bob, w.room, "alice: please look")
    await api.send(w.alice, w.room, "mine")
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": plain, "key": "x"}}
    await send_event(api, w.bob, w.room, "m.reaction", reaction)  # reactions do not notify
    await read_up_to(api, w.alice, w.room, plain)

    body = await api.call("GET", "/notifications", user=w.alice)
    listed = [(n["event"]["event_id"], n["read"]) for n in body["notifications"]]
    assert listed == [(mention, False), (plain, True)]
    first = body["notifications"][0]
    assert first["room_id"] == w.room and isinstance(first["ts"], int)
    assert "notify" in first["actions"]
    assert "next_token" not in body

    only = await api.call("GET", "/notifications", user=w.alice, params={"only": "highlight"})
    assert [n["event"]["event_id"] for n in only["notifications"]] == [mention]

    page = await api.call("GET", "/notifications", user=w.alice, params={"limit": 1})
    assert [n["event"]["event_id"] for n in page["notifications"]] == [mention]
    rest = await api.call(
        "GET", "/notifications", user=w.alice, params={"limit": 1, "from": page["next_token"]}
    )
    assert [n["event"]["event_id"] for n in rest["notifications"]] == [plain]

    # Events from before someone joined never notified them.
    dave = await api.register("dave")
    await api.join(dave, w.room)
    assert (await api.call("GET", "/notifications", user=dave))["notifications"] == []
    await api.error(
        "GET", "/notifications", 400, "M_INVALID_PARAM", user=w.alice, params={"from": "zzz"}
    )
    await api.error(
        "GET", "/notifications", 400, "M_INVALID_PARAM", user=w.alice, params={"limit": 0}
    )


# ---- pushers --------------------------------------------------------------------------------

PUSHER = {
    "pushkey": "device-token-1",
    "kind": "http",
    "app_id": "kz.gov.messenger",
    "app_display_name": "Messenger",
    "device_display_name": "Phone",
    "lang": "kk",
    "data": {"url": "https://push.gov.example/_matrix/push/v1/notify", "format": "event_id_only"},
}


async def test_pushers_set_list_replace_delete(api: Api, world: World) -> None:
    w = world
    assert await api.call("GET", "/pushers", user=w.alice) == {"pushers": []}
    await api.call("POST", "/pushers/set", user=w.alice, json=PUSHER)
    listed = await api.call("GET", "/pushers", user=w.alice)
    expected = {k: v for k, v in PUSHER.items()}
    assert listed == {"pushers": [expected]}

    # The same app and key for another user replaces the first one (append: false)...
    await api.call("POST", "/pushers/set", user=w.bob, json=PUSHER)
    assert (await api.call("GET", "/pushers", user=w.alice))["pushers"] == []
    # ...unless appended.
    await api.call("POST", "/pushers/set", user=w.alice, json={**PUSHER, "append": True})
    assert len((await api.call("GET", "/pushers", user=w.bob))["pushers"]) == 1
    assert len((await api.call("GET", "/pushers", user=w.alice))["pushers"]) == 1

    # Updating keeps one pusher; kind null deletes it.
    await api.call("POST", "/pushers/set", user=w.alice, json={**PUSHER, "lang": "ru"})
    assert [p["lang"] for p in (await api.call("GET", "/pushers", user=w.alice))["pushers"]] == [
        "ru"
    ]
    await api.call("POST", "/pushers/set", user=w.alice, json={**PUSHER, "kind": None})
    assert (await api.call("GET", "/pushers", user=w.alice))["pushers"] == []


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"kind": "email"}, "TUMAR_UNSUPPORTED_PUSHER"),
        ({"kind": "sms"}, "M_BAD_JSON"),
        ({"pushkey": ""}, "M_BAD_JSON"),
        ({"pushkey": "k" * 600}, "M_BAD_JSON"),
        ({"app_id": "a" * 65}, "M_BAD_JSON"),
        ({"data": {"url": "ftp://x/_matrix/push/v1/notify"}}, "M_BAD_JSON"),
        ({"data": {"url": "https://push.example/elsewhere"}}, "M_BAD_JSON"),
        ({"data": {}}, "M_BAD_JSON"),
        ({"data": "url"}, "M_BAD_JSON"),
        ({"lang": 5}, "M_BAD_JSON"),
        ({"append": "yes"}, "M_BAD_JSON"),
        ({"app_display_name": None}, "M_MISSING_PARAM"),
    ],
)
async def test_bad_pushers_are_refused(
    api: Api, world: World, change: dict[str, Any], errcode: str
) -> None:
    body = {**PUSHER, **change}
    await refused(api, "POST", "/pushers/set", 400, errcode, user=world.alice, json=body)


async def test_pusher_without_kind_is_refused(api: Api, world: World) -> None:
    body = {k: v for k, v in PUSHER.items() if k != "kind"}
    await refused(api, "POST", "/pushers/set", 400, "M_MISSING_PARAM", user=world.alice, json=body)


async def test_threaded_receipts_must_point_into_their_thread(api: Api, world: World) -> None:
    w = world
    root = await api.send(w.alice, w.room, "root")
    main = await api.send(w.bob, w.room, "main")
    threaded = await send_event(api, w.bob, w.room, "m.room.message", in_thread(root, "t"))
    react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": threaded, "key": "+"}}
    reaction = await send_event(api, w.alice, w.room, "m.reaction", react)

    def path(event_id: str, receipt: str = "m.read") -> str:
        return f"{rq(w.room)}/receipt/{receipt}/{q(event_id)}"

    # Accepted: the main timeline (the root included), the thread's events and reactions.
    for event_id, thread in ((main, "main"), (root, "main"), (root, root), (threaded, root),
                             (reaction, root)):  # fmt: skip
        await api.call("POST", path(event_id), user=w.bob, json={"thread_id": thread})
    # Refused: a main event in a thread, a thread event as main, empty ids, fully-read.
    for event_id, body, receipt in (
        (main, {"thread_id": root}, "m.read"),
        (threaded, {"thread_id": "main"}, "m.read"),
        (threaded, {"thread_id": "$other"}, "m.read"),
        (main, {"thread_id": ""}, "m.read"),
        (main, {"thread_id": "main"}, "m.fully_read"),
    ):
        await refused(
            api, "POST", path(event_id, receipt), 400, "M_INVALID_PARAM", user=w.bob, json=body
        )
