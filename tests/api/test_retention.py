"""Retention and legal hold, end to end on both backends with a clock the tests move.

Rooms are ``public`` by default here (10 days) and may be raised to ``internal`` (30 days,
with encryption at rest, so purging sealed content is covered too); ``official-use`` is kept
forever.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import ADMIN, grant, org, person, two_ministries
from tests.support.harness import Api, User, q
from tests.support.media import download, png_bytes, upload
from tumar.app import build_app
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.media import original_key
from tumar.core.services import Services, build_services
from tumar.store import directory as directory_store

DAY_S = 86_400
HOLDS = f"{ADMIN}/holds"
RETENTION = f"{ADMIN}/retention"
NOTICES = "@notices:tumar.test"
LABEL = "kz.tumar.classification"
_txn = itertools.count(1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_780_000_000_000)


@pytest.fixture
def retention_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "retention_days": {"public": 10, "internal": 30, "official-use": None},
            "classification_default_room": "public",
            "classification_default_direct": "public",
            "encrypt_at_rest_from": "internal",
            "default_clearance": "official-use",
        }
    )


@pytest.fixture
async def services(retention_settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(retention_settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = build_app(services.settings, services)
    async with Api.in_process(app, services) as client:
        yield client


async def send(api: Api, user: User, room: str, content: dict[str, Any], kind: str = "") -> str:
    body = await api.call(
        "PUT",
        f"/rooms/{q(room)}/send/{kind or 'm.room.message'}/r{next(_txn)}",
        user=user,
        json=content,
    )
    return str(body["event_id"])


def text(body: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body}


async def internal_room(api: Api, owner: User, *members: User) -> str:
    state = [{"type": LABEL, "state_key": "", "content": {"label": "internal"}}]
    room = await api.create_room(owner, preset="public_chat", initial_state=state)
    for member in members:
        await api.join(member, room)
    return room


async def public_room(api: Api, owner: User, *members: User, **extra: Any) -> str:
    room = await api.create_room(owner, preset="public_chat", **extra)
    for member in members:
        await api.join(member, room)
    return room


async def messages(api: Api, user: User, room: str) -> dict[str, dict[str, Any]]:
    body = await api.call(
        "GET", f"/rooms/{q(room)}/messages", user=user, params={"dir": "b", "limit": 100}
    )
    return {e["event_id"]: e for e in body["chunk"]}


async def search(api: Api, user: User, term: str) -> list[str]:
    body = await api.call(
        "POST",
        "/search",
        user=user,
        json={"search_categories": {"room_events": {"search_term": term}}},
    )
    return [r["result"]["event_id"] for r in body["search_categories"]["room_events"]["results"]]


async def audit(api: Api, by: User, action: str) -> list[dict[str, Any]]:
    body = await api.call("GET", f"{ADMIN}/audit", user=by, params={"action": action})
    entries: list[dict[str, Any]] = body["entries"]
    return entries


async def run(api: Api, by: User) -> dict[str, Any]:
    report: dict[str, Any] = await api.call("POST", f"{RETENTION}/run", user=by)
    return report


def assert_purged(event: dict[str, Any]) -> None:
    assert event["content"] == {}
    because = event["unsigned"]["redacted_because"]
    assert because["sender"] == NOTICES
    assert because["type"] == "m.room.redaction"
    assert because["content"]["redacts"] == event["event_id"]


def media_path(settings: Settings, mxc: str) -> Path:
    media_id = mxc.rsplit("/", 1)[-1]
    return settings.effective_media_dir / "objects" / original_key(media_id)


async def test_expired_messages_are_purged_with_their_media_and_derived_data(
    api: Api, clock: FakeClock, services: Services
) -> None:
    await services.accounts.do_create_user("op", "correct horse battery", admin=True)
    op = await api.login("op")
    alice = await api.register("alice")
    bob = await api.register("bob")
    pub = await public_room(api, alice, bob, name="Budget", topic="Quarterly budget")
    inner = await internal_room(api, alice, bob)
    forever = await api.create_room(
        alice,
        preset="public_chat",
        initial_state=[{"type": LABEL, "state_key": "", "content": {"label": "official-use"}}],
    )

    photo = await upload(api, alice, png_bytes(), "image/png")
    shared = await upload(api, alice, b"the plan, shared twice", "text/plain")
    image_id = await send(api, alice, pub, {"msgtype": "m.image", "body": "p.png", "url": photo})
    old_public = await send(api, alice, pub, text("zanzibar alpha plan"))
    reaction = await send(
        api,
        bob,
        pub,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": old_public, "key": "👍"}},
        "m.reaction",
    )
    await send(api, alice, pub, {"msgtype": "m.file", "body": "plan.txt", "url": shared})
    old_internal = await send(api, bob, inner, text("zanzibar internal memo"))
    await send(api, alice, inner, {"msgtype": "m.file", "body": "plan.txt", "url": shared})
    old_official = await send(api, alice, forever, text("zanzibar official record"))
    assert len(await search(api, bob, "zanzibar")) == 2  # official-use: alice only, not bob
    assert media_path(api.services.settings, photo).exists()  # type: ignore[union-attr]

    clock.advance(11 * DAY_S)  # public (10 days) expires, internal (30) does not
    fresh = await send(api, alice, pub, text("zanzibar fresh news"))
    since = (await api.sync(bob))["next_batch"]

    # A dry run counts and changes nothing.
    dry = await api.call("GET", f"{RETENTION}/report", user=op)
    assert dry["dry_run"] is True and dry["run_id"] is None
    rooms = {r["room_id"]: r for r in dry["rooms"]}
    assert rooms[pub]["purged"] == 4 and rooms[pub]["label"] == "public"
    assert rooms[inner]["purged"] == 0 and rooms[inner]["kept"] == {}
    assert forever not in rooms  # kept forever: not even looked at
    assert (await messages(api, bob, pub))[old_public]["content"]["body"] == "zanzibar alpha plan"

    report = await run(api, op)
    assert report["dry_run"] is False and report["run_id"] is not None
    assert report["events_purged"] == 4
    assert report["media_deleted"] == 1  # the photo; the shared file is still in `inner`

    # The timeline keeps every event; the purged ones read as redacted by the server.
    timeline = await messages(api, bob, pub)
    for event_id in (image_id, old_public, reaction):
        assert_purged(timeline[event_id])
    assert timeline[fresh]["content"]["body"] == "zanzibar fresh news"
    state_types = {e["type"] for e in timeline.values() if "state_key" in e}
    assert {"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"} <= state_types
    assert all(
        "redacted_because" not in e["unsigned"] for e in timeline.values() if "state_key" in e
    )
    single = await api.call("GET", f"/rooms/{q(pub)}/event/{q(old_public)}", user=bob)
    assert_purged(single)
    # Sync: a fresh initial sync shows them redacted; an incremental one still works.
    initial = await api.sync(bob, filter='{"room": {"timeline": {"limit": 50}}}')
    chunk = {e["event_id"]: e for e in initial["rooms"]["join"][pub]["timeline"]["events"]}
    assert_purged(chunk[old_public])
    assert chunk[fresh]["content"]["body"] == "zanzibar fresh news"
    later = await api.sync(bob, since=since)
    assert "next_batch" in later
    name = await api.call("GET", f"/rooms/{q(pub)}/state/m.room.name", user=bob)
    assert name == {"name": "Budget"}

    # Derived data is gone: search, relations, media.
    assert sorted(await search(api, bob, "zanzibar")) == sorted([old_internal, fresh])
    assert await search(api, alice, "alpha") == []
    relations = await api.call(
        "GET", f"/_matrix/client/v1/rooms/{q(pub)}/relations/{q(old_public)}", user=bob
    )
    assert relations["chunk"] == []
    assert (await download(api, alice, photo)).status_code == 404
    assert not media_path(api.services.settings, photo).exists()  # type: ignore[union-attr]
    assert (await download(api, bob, shared)).status_code == 200  # still shared in `inner`

    # Longer retention and "forever" are untouched.
    assert (await messages(api, bob, inner))[old_internal]["content"]["body"].startswith("zanz")
    assert (await messages(api, alice, forever))[old_official]["content"]["body"].endswith("record")

    # A second run finds nothing more; every run a person asked for is recorded and audited.
    again = await run(api, op)
    assert again["events_purged"] == 0 and again["run_id"] != report["run_id"]
    purges = await audit(api, op, "retention.purge")
    assert [(e["target_id"], e["after"]["events"]) for e in purges] == [(pub, 4)]
    assert purges[0]["actor"] == op.user_id
    assert purges[0]["after"]["media_deleted"] == [photo.rsplit("/", 1)[-1]]
    runs = await audit(api, op, "retention.run")
    assert [e["after"]["events_purged"] for e in runs] == [0, 4]
    policy = await api.call("GET", RETENTION, user=op)
    assert [(r["run_id"], r["events_purged"], r["status"]) for r in policy["recent_runs"]] == [
        (again["run_id"], 0, "done"),
        (report["run_id"], 4, "done"),
    ]
    assert {p["label"]: p["days"] for p in policy["labels"]} == {
        "public": 10,
        "internal": 30,
        "official-use": None,
    }

    # 20 more days: the internal room's month is over (the shared file goes with it), and the
    # "fresh" public message is 20 days old now.
    clock.advance(20 * DAY_S)
    third = await run(api, op)
    assert third["events_purged"] == 3 and third["media_deleted"] == 1
    assert_purged((await messages(api, bob, inner))[old_internal])
    assert (await download(api, alice, shared)).status_code == 404
    assert await search(api, alice, "zanzibar") == [old_official]


async def test_legal_holds_suspend_purging(api: Api, clock: FakeClock, services: Services) -> None:
    await services.accounts.do_create_user("op", "correct horse battery", admin=True)
    op = await api.login("op")
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    await org(api, op, "gov", kind="government")
    carol_person = await person(api, op, "7001", "gov")
    async with services.db.write() as conn:
        await directory_store.update_person(conn, carol_person["person_id"], user_id=carol.user_id)
    room = await public_room(api, alice, bob, carol)
    held_room = await public_room(api, alice, bob)
    ids = {
        "alice": await send(api, alice, room, text("from alice")),
        "bob": await send(api, bob, room, text("from bob")),
        "carol": await send(api, carol, room, text("from carol")),
        "held": await send(api, alice, held_room, text("in the held room")),
    }
    reason = "Case 2026-14: audit of procurement"

    async def place(kind: str, target: str) -> dict[str, Any]:
        body = {"target_type": kind, "target": target, "reason": reason}
        hold: dict[str, Any] = await api.call("POST", HOLDS, user=op, json=body, expect=201)
        return hold

    room_hold = await place("room", held_room)
    bob_hold = await place("person", bob.user_id)
    carol_hold = await place("person", carol_person["person_id"])
    assert (room_hold["target_type"], room_hold["active"]) == ("room", True)
    assert (bob_hold["target_type"], bob_hold["person_id"]) == ("user", None)
    assert (carol_hold["target_type"], carol_hold["org_code"]) == ("person", "gov")
    listed = await api.call("GET", HOLDS, user=op)
    assert {h["hold_id"] for h in listed["holds"]} == {
        room_hold["hold_id"],
        bob_hold["hold_id"],
        carol_hold["hold_id"],
    }

    clock.advance(11 * DAY_S)
    dry = await api.call("GET", f"{RETENTION}/report", user=op)
    kept = {r["room_id"]: r["kept"] for r in dry["rooms"]}
    assert kept[room] == {"sender_on_legal_hold": 2}
    assert kept[held_room] == {"room_on_legal_hold": 1}
    report = await run(api, op)
    assert report["events_purged"] == 1
    timeline = await messages(api, bob, room)
    assert_purged(timeline[ids["alice"]])
    assert timeline[ids["bob"]]["content"]["body"] == "from bob"
    assert timeline[ids["carol"]]["content"]["body"] == "from carol"
    assert (await messages(api, bob, held_room))[ids["held"]]["content"]["body"] == (
        "in the held room"
    )

    # Lifting needs a reason too; afterwards the next run purges what the holds kept.
    for hold in (room_hold, bob_hold, carol_hold):
        lifted = await api.call(
            "POST", f"{HOLDS}/{hold['hold_id']}/lift", user=op, json={"reason": "Case closed"}
        )
        assert (lifted["active"], lifted["lift_reason"], lifted["lifted_by"]) == (
            False,
            "Case closed",
            op.user_id,
        )
    assert (await api.call("GET", HOLDS, user=op))["holds"] == []
    every = await api.call("GET", HOLDS, user=op, params={"include_lifted": "true"})
    assert len(every["holds"]) == 3
    assert (await run(api, op))["events_purged"] == 3
    for event_id in (ids["bob"], ids["carol"]):
        assert_purged((await messages(api, bob, room))[event_id])

    placed = await audit(api, op, "legal_hold.place")
    assert sorted(e["target_id"] for e in placed) == sorted(
        [held_room, bob.user_id, carol_person["person_id"]]
    )
    assert all(e["after"]["reason"] == reason and e["actor"] == op.user_id for e in placed)
    lifts = await audit(api, op, "legal_hold.lift")
    assert [e["after"]["lift_reason"] for e in lifts] == ["Case closed"] * 3
    assert carol_hold["org_code"] in {e["org_code"] for e in placed}


async def test_bad_hold_input_changes_nothing(api: Api, services: Services) -> None:
    await services.accounts.do_create_user("op", "correct horse battery", admin=True)
    op = await api.login("op")
    alice = await api.register("alice")
    room = await public_room(api, alice)
    good = {"target_type": "room", "target": room, "reason": "Case 1"}
    bad_bodies = [
        ({**good, "reason": ""}, 400, "M_BAD_JSON"),
        ({"target_type": "room", "target": room}, 400, "M_BAD_JSON"),
        ({**good, "reason": "   "}, 400, "TUMAR_REASON_REQUIRED"),
        ({**good, "target_type": "org"}, 400, "M_BAD_JSON"),
        ({**good, "extra": 1}, 400, "M_BAD_JSON"),
        ({**good, "target": "!nope:tumar.test"}, 404, "M_NOT_FOUND"),
        ({**good, "target": "not a room id"}, 400, "M_INVALID_PARAM"),
        ({**good, "target_type": "person", "target": "@ghost:tumar.test"}, 404, "M_NOT_FOUND"),
        ({**good, "target_type": "person", "target": "p_0000"}, 404, "M_NOT_FOUND"),
    ]
    for body, status, errcode in bad_bodies:
        await api.error("POST", HOLDS, status, errcode, user=op, json=body)
    assert (await api.call("GET", HOLDS, user=op, params={"include_lifted": "true"}))["holds"] == []
    assert await audit(api, op, "legal_hold.") == []

    hold = await api.call("POST", HOLDS, user=op, json=good, expect=201)
    lift = f"{HOLDS}/{hold['hold_id']}/lift"
    await api.error("POST", lift, 400, "M_BAD_JSON", user=op, json={})
    await api.error("POST", lift, 400, "TUMAR_REASON_REQUIRED", user=op, json={"reason": " "})
    await api.error(
        "POST", f"{HOLDS}/h_nope/lift", 404, "M_NOT_FOUND", user=op, json={"reason": "x"}
    )
    await api.error("GET", f"{HOLDS}/h_nope", 404, "M_NOT_FOUND", user=op)
    assert (await api.call("GET", f"{HOLDS}/{hold['hold_id']}", user=op))["active"] is True
    await api.call("POST", lift, user=op, json={"reason": "done"})
    await api.error("POST", lift, 400, "TUMAR_HOLD_LIFTED", user=op, json={"reason": "again"})
    assert len(await audit(api, op, "legal_hold.lift")) == 1

    # Not an administrator at all.
    await api.error("GET", HOLDS, 403, "M_FORBIDDEN", user=alice)
    await api.error("POST", HOLDS, 403, "M_FORBIDDEN", user=alice, json=good)


async def test_officers_act_only_in_their_scope(api: Api, clock: FakeClock) -> None:
    root, mof_admin, _ = await two_ministries(api)
    officer = await api.register("moh_officer")
    await grant(api, root, officer.user_id, "security_officer", "moh")
    mof_person = await person(api, root, "1001", "mof")
    moh_person = await person(api, root, "3001", "moh")
    mof_user = await api.register("mofuser")
    moh_user = await api.register("mohuser")
    assert api.services is not None
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, mof_person["person_id"], user_id=mof_user.user_id)
        await directory_store.update_person(conn, moh_person["person_id"], user_id=moh_user.user_id)
    mof_room = await public_room(api, mof_user)
    moh_room = await public_room(api, moh_user)
    stray = await api.register("stray")  # no person: only a global holder may hold them
    why = "Case 9"

    def body(kind: str, target: str) -> dict[str, str]:
        return {"target_type": kind, "target": target, "reason": why}

    for kind, target in (
        ("person", mof_person["person_id"]),
        ("person", mof_user.user_id),
        ("room", mof_room),
        ("person", stray.user_id),
    ):
        await api.error(
            "POST", HOLDS, 403, "TUMAR_OUT_OF_SCOPE", user=officer, json=body(kind, target)
        )
    mine = await api.call(
        "POST", HOLDS, user=officer, json=body("person", moh_person["person_id"]), expect=201
    )
    room_hold = await api.call("POST", HOLDS, user=officer, json=body("room", moh_room), expect=201)
    assert room_hold["org_code"] == "moh"
    theirs = await api.call(
        "POST", HOLDS, user=root, json=body("person", mof_person["person_id"]), expect=201
    )
    listed = {h["hold_id"] for h in (await api.call("GET", HOLDS, user=officer))["holds"]}
    assert listed == {mine["hold_id"], room_hold["hold_id"]}
    await api.error("GET", f"{HOLDS}/{theirs['hold_id']}", 403, "TUMAR_OUT_OF_SCOPE", user=officer)
    await api.error(
        "POST",
        f"{HOLDS}/{theirs['hold_id']}/lift",
        403,
        "TUMAR_OUT_OF_SCOPE",
        user=officer,
        json={"reason": "not mine"},
    )
    assert (await api.call("GET", f"{HOLDS}/{theirs['hold_id']}", user=root))["active"] is True

    # An org admin has no legal_hold permission; the report and runs need more than a subtree.
    await api.error("GET", HOLDS, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin)
    refused = body("person", mof_person["person_id"])
    await api.error("POST", HOLDS, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin, json=refused)
    await api.error("GET", RETENTION, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin)
    assert (await api.call("GET", RETENTION, user=officer))["labels"]
    await api.error("GET", f"{RETENTION}/report", 403, "TUMAR_OUT_OF_SCOPE", user=officer)
    await api.error("POST", f"{RETENTION}/run", 403, "TUMAR_OUT_OF_SCOPE", user=officer)
    await api.error("POST", f"{RETENTION}/run", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin)
    assert len(await audit(api, root, "legal_hold.place")) == 3


async def test_the_server_runs_the_job_on_its_own(
    retention_settings: Settings, clock: FakeClock
) -> None:
    settings = retention_settings.model_copy(update={"retention_interval_seconds": 1})
    svc = build_services(settings, clock=clock)
    await svc.start()
    try:
        app = build_app(settings, svc)
        async with Api.in_process(app, svc) as api:
            alice = await api.register("alice")
            room = await public_room(api, alice)
            old = await send(api, alice, room, text("old news"))
            clock.advance(11 * DAY_S)
            for _ in range(100):
                await asyncio.sleep(0.1)
                event = (await messages(api, alice, room))[old]
                if event["content"] == {}:
                    break
            assert_purged(event)
            # The run's row gets its totals when the whole run ends, a moment after the batch
            # that purged the event has committed.
            for _ in range(100):
                runs = await svc.retention.list_runs()
                if runs and runs[0].status != "running":
                    break
                await asyncio.sleep(0.05)
            assert [(r.trigger, r.actor, r.status, r.events_purged) for r in runs] == [
                ("schedule", "system:retention", "done", 1)
            ]
    finally:
        await svc.close()
