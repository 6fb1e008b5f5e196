"""Conditional access by device (issue 8) through the Matrix API, on both backends, with a
clock the tests move: a room labelled official-use is readable by a covered official's session
only while its enrolled device is compliant (or the policy lets the client kind through from
the office network), and stays out of that session's sync until access returns.

The world: gov > {mof, moh}. ``a1`` and ``a2`` (mof) are covered by the policy; ``c1`` (moh)
is not. ``sec`` is mof's security officer. Monday 2 March 2026, 11:00 in Almaty (06:00 UTC):
working hours (Mon-Fri 09:00-18:00 Asia/Almaty).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.admin import ADMIN, grant, operator, org, person
from tests.support.harness import Api, User, q
from tests.support.statements import on_statement
from tumar.app import build_app
from tumar.cli_device_agent import Agent, Simulated
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.core.tokens import SyncToken
from tumar.errors import MatrixError

LABEL = "kz.tumar.classification"
NOT_COMPLIANT = "TUMAR_DEVICE_NOT_COMPLIANT"
T0 = "2026-03-02T06:00:00"  # Monday 11:00 in Almaty
RESTRICTED = {"camera", "screen_capture"}


def ms(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso + "+00:00").timestamp() * 1000)


def policy(**gate: Any) -> dict[str, Any]:
    return {
        "name": "Ministry of Finance: phones on the premises",
        "audience": {"orgs": ["mof"]},
        "schedules": [
            {
                "tz": "Asia/Almaty",
                "hours": [{"day": d, "start": "09:00", "end": "18:00"} for d in range(5)],
            }
        ],
        "restrictions": {"active": sorted(RESTRICTED)},
        "grace_seconds": 0,
        "gate": {"labels": ["official-use"], **gate},
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ms(T0))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    async with Api.in_process(build_app(services.settings, services), services) as client:
        yield client


@asynccontextmanager
async def another_node(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    """A second node on the same database, knowing nothing of the first's memory (or the
    first node after a restart)."""
    svc = build_services(settings, clock=clock)
    await svc.start()
    try:
        async with Api.in_process(build_app(settings, svc), svc) as client:
            yield client
    finally:
        await svc.close()


@dataclass
class World:
    root: User
    sec: User
    a1: User
    a2: User
    c1: User
    secret: str  # official-use room: a1, a2, c1
    plain: str  # internal room: a1, c1


async def staff(api: Api, root: User, name: str, org_code: str) -> User:
    user = await api.register(name)
    made = await person(api, root, f"n-{name}", org_code, clearance="official-use")
    await api.call(
        "PATCH", f"{ADMIN}/people/{made['person_id']}", user=root, json={"user_id": user.user_id}
    )
    return user


async def world(api: Api) -> World:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "moh", parent="gov")
    sec = await api.register("sec")
    await grant(api, root, sec.user_id, "security_officer", "mof")
    a1 = await staff(api, root, "a1", "mof")
    a2 = await staff(api, root, "a2", "mof")
    c1 = await staff(api, root, "c1", "moh")
    labelled = {"type": LABEL, "state_key": "", "content": {"label": "official-use"}}
    secret = await api.create_room(
        c1, name="Budget", initial_state=[labelled], invite=[a1.user_id, a2.user_id]
    )
    plain = await api.create_room(c1, name="Canteen", invite=[a1.user_id])
    for user, room in ((a1, secret), (a2, secret), (a1, plain)):
        await api.join(user, room)
    return World(root, sec, a1, a2, c1, secret, plain)


async def apply_policy(api: Api, w: World, **gate: Any) -> str:
    body = await api.call(
        "POST", f"{ADMIN}/device-policies", user=w.sec, json=policy(**gate), expect=201
    )
    return str(body["policy_id"])


async def agent_for(api: Api, clock: FakeClock, user: User, tmp_path: Path) -> Agent:
    """A reference agent enrolled for the user's session (its access token binds it)."""
    agent = Agent(
        api.client, tmp_path / f"{user.device_id}.json", now_ms=clock.now_ms, out=lambda _: None
    )
    token = await agent.own_token(user.token)
    await agent.enrol(token, user.token, Simulated())
    return agent


def compliant() -> Simulated:
    return Simulated(restricted=set(RESTRICTED))


def camera_on() -> Simulated:
    return Simulated(restricted={"screen_capture"})


def timeline_bodies(sync: dict[str, Any], room: str) -> list[str]:
    section = sync["rooms"]["join"].get(room, {})
    return [e["content"].get("body", "") for e in section.get("timeline", {}).get("events", [])]


async def refused(api: Api, user: User, path: str, **kwargs: Any) -> str:
    body = await api.error("GET", path, 403, NOT_COMPLIANT, user=user, **kwargs)
    return str(body["error"])


async def search(api: Api, user: User, term: str, **flt: Any) -> Any:
    room_events: dict[str, Any] = {"search_term": term}
    if flt:
        room_events["filter"] = flt
    return await api.raw(
        "POST", "/search", user=user, json={"search_categories": {"room_events": room_events}}
    )


async def test_gated_room_is_refused_held_back_in_sync_and_delivered_when_access_returns(
    api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    early = await api.send(w.c1, w.secret, "budget draft zero")
    assert (await api.call("GET", f"/rooms/{q(w.secret)}/messages", user=w.a1))["chunk"]
    await apply_policy(api, w)

    # No enrolled device: every read path of the gated room is refused, with the reason.
    reason = await refused(api, w.a1, f"/rooms/{q(w.secret)}/messages")
    assert "official-use" in reason and "no enrolled device" in reason
    for path in (
        f"/rooms/{q(w.secret)}/state",
        f"/rooms/{q(w.secret)}/members",
        f"/rooms/{q(w.secret)}/joined_members",
        f"/rooms/{q(w.secret)}/event/{q(early)}",
        f"/rooms/{q(w.secret)}/context/{q(early)}",
        f"/rooms/{q(w.secret)}/state/m.room.name/",
        f"/_matrix/client/v1/rooms/{q(w.secret)}/relations/{q(early)}",
    ):
        await refused(api, w.a1, path)
    # The internal room is unaffected; so is c1 (moh), whom the policy does not cover.
    await api.call("GET", f"/rooms/{q(w.plain)}/messages", user=w.a1)
    await api.call("GET", f"/rooms/{q(w.secret)}/messages", user=w.c1)
    # Search leaves the gated room out, and refuses a search of that room alone.
    await api.send(w.c1, w.plain, "budget lunch menu")
    found = (await search(api, w.a1, "budget")).json()
    results = found["search_categories"]["room_events"]["results"]
    assert [r["result"]["room_id"] for r in results] == [w.plain]
    only = await search(api, w.a1, "budget", rooms=[w.secret])
    assert (only.status_code, only.json()["errcode"]) == (403, NOT_COMPLIANT)
    theirs = (await search(api, w.c1, "budget")).json()["search_categories"]["room_events"]
    assert w.secret in {r["result"]["room_id"] for r in theirs["results"]}

    # Sync: the gated room stays out, the other room comes.
    first = await api.sync(w.a1)
    assert w.secret not in first["rooms"]["join"] and w.plain in first["rooms"]["join"]
    await api.send(w.c1, w.secret, "budget figures one")
    await api.send(w.c1, w.plain, "soup today")
    second = await api.sync(w.a1, first["next_batch"])
    assert w.secret not in second["rooms"]["join"]
    assert timeline_bodies(second, w.plain) == ["soup today"]

    # The device enrols and reports compliance: the next sync brings the room whole.
    agent = await agent_for(api, clock, w.a1, tmp_path)
    answer = await agent.checkin(compliant())
    assert answer["verdict"] == "compliant"
    third = await api.sync(w.a1, second["next_batch"])
    section = third["rooms"]["join"][w.secret]
    assert section["timeline"]["limited"] is True
    assert timeline_bodies(third, w.secret)[-2:] == ["budget draft zero", "budget figures one"]
    shown = [*section["state"]["events"], *section["timeline"]["events"]]
    assert {"m.room.create", "m.room.name", LABEL} <= {e["type"] for e in shown}
    await api.call("GET", f"/rooms/{q(w.secret)}/messages", user=w.a1)
    await api.call("GET", f"/rooms/{q(w.secret)}/event/{q(early)}", user=w.a1)
    # Further syncs are incremental again.
    await api.send(w.c1, w.secret, "budget figures two")
    fourth = await api.sync(w.a1, third["next_batch"])
    assert timeline_bodies(fourth, w.secret) == ["budget figures two"]
    assert fourth["rooms"]["join"][w.secret]["timeline"]["limited"] is False

    # Another user's device does not count, nor does another session of the same official.
    await refused(api, w.a2, f"/rooms/{q(w.secret)}/messages")
    other = await api.login("a1")
    await refused(api, other, f"/rooms/{q(w.secret)}/messages")

    # The camera is switched on: refused again, naming it; sync holds the room back.
    answer = await agent.checkin(camera_on())
    assert answer["verdict"] == "non_compliant"
    reason = await refused(api, w.a1, f"/rooms/{q(w.secret)}/messages")
    assert "camera is enabled" in reason.lower()
    await api.send(w.c1, w.secret, "budget figures three")
    fifth = await api.sync(w.a1, fourth["next_batch"])
    assert w.secret not in fifth["rooms"]["join"]
    await agent.checkin(compliant())
    sixth = await api.sync(w.a1, fifth["next_batch"])
    assert "budget figures three" in timeline_bodies(sixth, w.secret)


async def test_access_expires_when_the_check_in_grows_stale_and_at_the_schedule_boundary(
    api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    await apply_policy(api, w)
    agent = await agent_for(api, clock, w.a1, tmp_path)
    answer = await agent.checkin(compliant())
    assert answer["valid_until_ts"] == clock.now_ms() + 1800 * 1000  # stale after 30 minutes
    messages = f"/rooms/{q(w.secret)}/messages"
    await api.call("GET", messages, user=w.a1)
    clock.advance(1799)
    await api.call("GET", messages, user=w.a1)
    clock.advance(2)
    reason = await refused(api, w.a1, messages)
    assert "expired" in reason
    sync = await api.sync(w.a1)
    assert w.secret not in sync["rooms"]["join"]
    await agent.checkin(compliant())
    await api.call("GET", messages, user=w.a1)

    # Outside working hours the room is not gated (the policy does not gate after hours) ...
    clock.advance(7 * 3600)  # 18:00 Almaty and later
    await api.call("GET", messages, user=w.a1)
    await api.call("GET", messages, user=w.a2)
    # ... and a check-in before 09:00 gives access that ends at 09:00, when the gate starts.
    clock.advance((ms("2026-03-03T03:50:00") - clock.now_ms()) / 1000)  # Tuesday 08:50 Almaty
    answer = await agent.checkin(compliant())
    assert answer["valid_until_ts"] == ms("2026-03-03T04:00:00")
    await api.call("GET", messages, user=w.a2)  # not yet gated
    clock.advance(11 * 60)
    await refused(api, w.a1, messages)
    await refused(api, w.a2, messages)
    await agent.checkin(compliant())
    await api.call("GET", messages, user=w.a1)


async def test_a_desktop_session_from_the_office_network_passes_without_a_device(
    api: Api,
) -> None:
    w = await world(api)
    # The test client connects from 127.0.0.1.
    policy_id = await apply_policy(
        api, w, allow=[{"kind": "desktop", "networks": ["ip:127.0.0.0/8"]}]
    )
    messages = f"/rooms/{q(w.secret)}/messages"
    desktop = {"User-Agent": "tumar-desktop/1.0 (Windows NT 10.0)"}
    phone = {"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36"}
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
    await api.call("GET", messages, user=w.a1, headers=desktop)
    assert (await api.raw("GET", "/sync", user=w.a1, headers=desktop)).json()["rooms"]["join"][
        w.secret
    ]
    await refused(api, w.a1, messages, headers=phone)
    await refused(api, w.a1, messages, headers=browser)
    # Only from the office network.
    doc = policy(allow=[{"kind": "desktop", "networks": ["ip:10.20.0.0/16"]}])
    await api.call("PUT", f"{ADMIN}/device-policies/{policy_id}", user=w.sec, json=doc)
    await refused(api, w.a1, messages, headers=desktop)


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []
    with on_statement(services, lambda sql, _params: seen.append(sql)):
        yield seen


async def test_without_a_gating_policy_reads_cost_no_device_query(
    api: Api, services: Services, clock: FakeClock
) -> None:
    w = await world(api)
    since = (await api.sync(w.a1))["next_batch"]
    with statements(services) as seen:
        for n in range(3):
            await api.send(w.c1, w.secret, f"note {n}")
            since = (await api.sync(w.a1, since))["next_batch"]
            await api.call("GET", f"/rooms/{q(w.secret)}/messages", user=w.a1)
    assert not [s for s in seen if "managed_devices" in s]
    assert len([s for s in seen if "device_policies" in s]) <= 1  # the policy cache, once
    # A policy that gates no label costs no device query either.
    doc = policy()
    doc["gate"] = {"labels": []}
    await api.call("POST", f"{ADMIN}/device-policies", user=w.sec, json=doc, expect=201)
    with statements(services) as seen:
        await api.sync(w.a1, since)
        await api.call("GET", f"/rooms/{q(w.secret)}/messages", user=w.a1)
    assert not [s for s in seen if "managed_devices" in s]


async def test_gated_media_follow_the_room_where_they_were_posted(
    api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    upload = await api.raw(
        "POST",
        "/_matrix/media/v3/upload",
        user=w.c1,
        content=b"%PDF-1.4 budget",
        headers={"Content-Type": "application/pdf"},
    )
    mxc = upload.json()["content_uri"]
    await api.call(
        "PUT",
        f"/rooms/{q(w.secret)}/send/m.room.message/f1",
        user=w.c1,
        json={"msgtype": "m.file", "body": "budget.pdf", "url": mxc},
    )
    path = "/_matrix/client/v1/media/download/" + mxc.removeprefix("mxc://")
    assert (await api.raw("GET", path, user=w.a1)).status_code == 200
    await apply_policy(api, w)
    await refused(api, w.a1, path)
    assert (await api.raw("GET", path, user=w.c1)).status_code == 200
    agent = await agent_for(api, clock, w.a1, tmp_path)
    await agent.checkin(compliant())
    assert (await api.raw("GET", path, user=w.a1)).status_code == 200


async def test_a_room_left_while_gated_shows_only_the_leave(api: Api, clock: FakeClock) -> None:
    w = await world(api)
    since = (await api.sync(w.a1))["next_batch"]
    await apply_policy(api, w)
    await api.send(w.c1, w.secret, "budget figures before the leave")
    await api.call("POST", f"/rooms/{q(w.secret)}/leave", user=w.a1, json={})
    body = await api.sync(w.a1, since)
    section = body["rooms"]["leave"][w.secret]
    events = section["timeline"]["events"]
    assert [(e["type"], e["state_key"]) for e in events] == [("m.room.member", w.a1.user_id)]
    assert section["state"]["events"] == []


def delivered_whole(sync: dict[str, Any], room: str) -> dict[str, Any]:
    """The room's section, checked to come as if newly joined: its state and a limited
    timeline (the client pages back from ``prev_batch``)."""
    section: dict[str, Any] = sync["rooms"]["join"][room]
    assert section["timeline"]["limited"] is True
    shown = [*section["state"]["events"], *section["timeline"]["events"]]
    assert {"m.room.create", "m.room.name", LABEL} <= {e["type"] for e in shown}
    return section


async def test_a_room_held_back_on_one_node_comes_whole_through_another(
    api: Api, services: Services, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    await api.send(w.c1, w.secret, "budget draft zero")
    await apply_policy(api, w)
    first = await api.sync(w.a1)
    assert w.secret not in first["rooms"]["join"]
    assert SyncToken.parse(first["next_batch"]).hold is not None
    for n in (1, 2, 3):
        await api.send(w.c1, w.secret, f"budget while held {n}")
    with statements(services) as seen:  # the same withheld set: known, not written again
        second = await api.sync(w.a1, first["next_batch"])
    assert w.secret not in second["rooms"]["join"]
    assert SyncToken.parse(second["next_batch"]).hold == SyncToken.parse(first["next_batch"]).hold
    assert not [s for s in seen if "sync_holds" in s]

    agent = await agent_for(api, clock, w.a1, tmp_path)
    assert (await agent.checkin(compliant()))["verdict"] == "compliant"
    # The official's next sync reaches another node (or this one, restarted).
    small = json.dumps({"room": {"timeline": {"limit": 2}}})
    async with another_node(settings, clock) as node2:
        third = await node2.sync(w.a1, second["next_batch"], filter=small)
        section = delivered_whole(third, w.secret)
        assert timeline_bodies(third, w.secret) == ["budget while held 2", "budget while held 3"]
        assert SyncToken.parse(third["next_batch"]).hold is None
        # The rest of what was held back is reachable from prev_batch.
        older = await node2.call(
            "GET",
            f"/rooms/{q(w.secret)}/messages",
            user=w.a1,
            params={"from": section["timeline"]["prev_batch"], "dir": "b", "limit": 10},
        )
        bodies = [e["content"].get("body") for e in older["chunk"] if e["type"] == "m.room.message"]
        assert bodies == ["budget while held 1", "budget draft zero"]
        # Then incremental again.
        await api.send(w.c1, w.secret, "budget after")
        fourth = await node2.sync(w.a1, third["next_batch"])
        assert timeline_bodies(fourth, w.secret) == ["budget after"]
        assert fourth["rooms"]["join"][w.secret]["timeline"]["limited"] is False


async def test_a_retried_sync_after_the_release_gets_the_room_whole_again(
    api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    w = await world(api)
    await apply_policy(api, w)
    held = (await api.sync(w.a1))["next_batch"]
    await api.send(w.c1, w.secret, "budget while held")
    agent = await agent_for(api, clock, w.a1, tmp_path)
    await agent.checkin(compliant())
    released = await api.sync(w.a1, held)
    delivered_whole(released, w.secret)
    # The answer was lost on the way: the client repeats the request with the same token.
    again = await api.sync(w.a1, held)
    delivered_whole(again, w.secret)
    assert timeline_bodies(again, w.secret) == timeline_bodies(released, w.secret)
    assert "budget while held" in timeline_bodies(again, w.secret)
    assert again["next_batch"] == released["next_batch"]


HOLD = "0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("s5_3", SyncToken(5, 3)),
        ("s5_3_7", SyncToken(5, 3, 7)),
        (f"s5_3_h{HOLD}", SyncToken(5, 3, None, HOLD)),
        (f"s5_3_7_h{HOLD}", SyncToken(5, 3, 7, HOLD)),
    ],
)
def test_sync_tokens_round_trip(text: str, token: SyncToken) -> None:
    assert str(token) == text
    assert SyncToken.parse(text) == token


@pytest.mark.parametrize(
    ("text", "token"),
    [("s5", SyncToken(5)), ("s5_", SyncToken(5)), ("s5_3_", SyncToken(5, 3)), ("t9", SyncToken(9))],
)
def test_older_token_forms_still_parse(text: str, token: SyncToken) -> None:
    assert SyncToken.parse(text) == token


@pytest.mark.parametrize(
    "text",
    [
        "s5_h" + HOLD,  # no typing serial
        "s5__h" + HOLD,
        "s5_3_h" + HOLD.upper(),
        "s5_3_h" + HOLD[:-1],
        "s5_3_h" + HOLD + "0",
        "s5_3_h",
        "s5_3_7_h",
        "s5_3_h" + HOLD + "_1",
        "s5_3_7_8",
        "t5_h" + HOLD,
    ],
)
def test_malformed_hold_parts_are_refused(text: str) -> None:
    with pytest.raises(MatrixError) as refused:
        SyncToken.parse(text)
    assert (refused.value.status, refused.value.errcode) == (400, "M_INVALID_PARAM")


async def test_sync_refuses_a_malformed_hold_and_ignores_an_unknown_one(api: Api) -> None:
    user = await api.register("u1")
    room = await api.create_room(user, name="Plain")
    since = SyncToken.parse((await api.sync(user))["next_batch"])
    bad = f"{since}_h{HOLD[:-2]}"
    await api.error("GET", "/sync", 400, "M_INVALID_PARAM", user=user, params={"since": bad})
    # A well-formed id that names no stored set releases nothing: an ordinary incremental sync.
    await api.send(user, room, "hello")
    unknown = await api.sync(user, f"{since}_h{HOLD}")
    assert timeline_bodies(unknown, room) == ["hello"]
    assert unknown["rooms"]["join"][room]["timeline"]["limited"] is False
    assert SyncToken.parse(unknown["next_batch"]).hold is None
