"""The rollout dashboard, time series, overdue list, CSV export and reminders, on a small tree
with known numbers and a clock the tests move.

The tree (from ``two_ministries``): gov > {mof > mof-it, moh}. gov: register by 2026-03-01,
transition by 2026-06-30; mof overrides register by 2026-03-15 (mof-it inherits it; moh
inherits gov's).

| person | org | state |
| --- | --- | --- |
| 1001 | mof | registered 03-10 (used code), active; head of mof |
| 1002 | mof | unregistered, live code |
| 1003 | mof | registered, departed: not counted |
| 1004 | mof | external partner: not counted |
| 2001 | mof-it | registered 02-28, no device since: inactive |
| 2002 | mof-it | unregistered, live code |
| 2003 | mof-it | unregistered, expired code |
| 2004 | mof-it | unregistered, revoked code |
| 3001 | moh | unregistered |
| 3002 | moh | registered 03-10 (used code), active; head of moh |

Accounts are linked to people and activation codes written through the store: the activation
flow that does this for real lands separately.
"""

from __future__ import annotations

import csv
import datetime
import io
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from tests.support.admin import ADMIN, grant, person, two_ministries
from tests.support.harness import Api, User, q
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.directory import cli_actor
from tumar.core.rollout import RolloutService
from tumar.core.services import Services, build_services
from tumar.store import directory as directory_store
from tumar.store.schema import activation_codes, rollout_reminders, server_notice_rooms

ROLLOUT = f"{ADMIN}/rollout"
NOTICES = "@notices:tumar.test"
DAY_S = 86_400


def ms(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso + "+00:00").timestamp() * 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ms("2026-02-28T06:00:00"))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


def move_to(clock: FakeClock, iso: str) -> None:
    clock.advance((ms(iso) - clock.now_ms()) / 1000)


async def link(api: Api, person_id: str, user_id: str) -> None:
    assert api.services is not None
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, person_id, user_id=user_id)


async def issue_code(
    api: Api, person_id: str, *, used: bool = False, expired: bool = False, revoked: bool = False
) -> None:
    assert api.services is not None
    now = api.services.clock.now_ms()
    async with api.services.db.write() as conn:
        await conn.execute(
            insert(activation_codes).values(
                code_hash=secrets.token_hex(16),
                person_id=person_id,
                created_ts=now - DAY_S * 1000,
                expiry_ts=now - 1 if expired else now + 30 * DAY_S * 1000,
                used_ts=now if used else None,
                revoked_ts=now if revoked else None,
                created_by="test",
            )
        )


@dataclass
class World:
    root: User
    mof_admin: User
    moh_admin: User
    ids: dict[str, str]  # personnel number -> person id
    users: dict[str, User]  # personnel number -> account


async def build_world(api: Api, clock: FakeClock) -> World:
    root, mof_admin, moh_admin = await two_ministries(api)
    dates = {"register_by": "2026-03-01", "transition_by": "2026-06-30"}
    await api.call("PATCH", f"{ADMIN}/orgs/gov", user=root, json=dates)
    await api.call("PATCH", f"{ADMIN}/orgs/mof", user=root, json={"register_by": "2026-03-15"})
    ids: dict[str, str] = {}
    for number, org_code, extra in [
        ("1001", "mof", {"position": "Head"}),
        ("1002", "mof", {}),
        ("1003", "mof", {}),
        ("1004", "mof", {"kind": "external"}),
        ("2001", "mof-it", {}),
        ("2002", "mof-it", {"position": "=HYPERLINK(1)"}),
        ("2003", "mof-it", {}),
        ("2004", "mof-it", {}),
        ("3001", "moh", {"name_cyr": "Сейтқали Аружан"}),
        ("3002", "moh", {}),
    ]:
        ids[number] = (await person(api, root, number, org_code, **extra))["person_id"]
    users: dict[str, User] = {}

    async def account(number: str) -> None:
        users[number] = await api.register(f"u{number}")
        await link(api, ids[number], users[number].user_id)

    await account("2001")  # 2026-02-28
    move_to(clock, "2026-03-10T06:00:00")
    for number in ("1001", "3002", "1003"):
        await account(number)
    await api.call("PATCH", f"{ADMIN}/people/{ids['1003']}", user=root, json={"status": "departed"})
    await issue_code(api, ids["1001"], used=True)
    await issue_code(api, ids["3002"], used=True)
    await issue_code(api, ids["1002"])
    await issue_code(api, ids["2002"])
    await issue_code(api, ids["2002"])  # two live codes still count one person
    await issue_code(api, ids["2003"], expired=True)
    await issue_code(api, ids["2004"], revoked=True)
    await issue_code(api, ids["1004"])  # an external partner: not part of the rollout
    return World(root, mof_admin, moh_admin, ids, users)


def figures(people: int, codes: int, registered: int, active: int, overdue: int) -> dict[str, Any]:
    return {
        "people": people,
        "codes_issued": codes,
        "registered": registered,
        "active_7d": active,
        "overdue": overdue,
        "percent_registered": round(100 * registered / people, 1) if people else None,
    }


async def test_dashboard_rolls_figures_up_the_tree(api: Api, clock: FakeClock) -> None:
    w = await build_world(api, clock)
    board = await api.call("GET", ROLLOUT, user=w.root)
    assert board["as_of"] == "2026-03-10"
    assert board["roots"] == ["gov"]
    orgs = {o["code"]: o for o in board["organisations"]}
    assert [o["code"] for o in board["organisations"]] == ["gov", "mof", "mof-it", "moh"]
    assert orgs["mof"]["own"] == figures(2, 2, 1, 1, 0)
    assert orgs["mof-it"]["own"] == figures(4, 1, 1, 0, 0)
    assert orgs["moh"]["own"] == figures(2, 1, 1, 1, 1)  # 3001 is late (gov's 03-01)
    assert orgs["gov"]["own"] == figures(0, 0, 0, 0, 0)
    assert orgs["mof"]["total"] == figures(6, 3, 2, 1, 0)
    assert orgs["gov"]["total"] == figures(8, 4, 3, 2, 1)
    assert board["total"] == orgs["gov"]["total"]
    assert orgs["gov"]["total"]["percent_registered"] == 37.5

    deadlines = {
        c: (o["register_by"], o["register_by_from"], o["transition_by"], o["transition_by_from"])
        for c, o in orgs.items()
    }
    assert deadlines == {
        "gov": ("2026-03-01", "gov", "2026-06-30", "gov"),
        "mof": ("2026-03-15", "mof", "2026-06-30", "gov"),
        "mof-it": ("2026-03-15", "mof", "2026-06-30", "gov"),
        "moh": ("2026-03-01", "gov", "2026-06-30", "gov"),
    }

    # After the 15th everyone unregistered in mof is late too. 1001 was last seen on 03-10
    # 06:00: still active on 03-16, no longer on 03-18.
    move_to(clock, "2026-03-16T06:00:00")
    later = {o["code"]: o for o in (await api.call("GET", ROLLOUT, user=w.root))["organisations"]}
    assert later["mof"]["total"] == figures(6, 3, 2, 1, 4)
    assert later["gov"]["total"]["overdue"] == 5
    move_to(clock, "2026-03-18T06:00:00")
    board = await api.call("GET", ROLLOUT, user=w.root)
    assert board["total"] == figures(8, 4, 3, 0, 5)

    # One subtree: the ministry's administrator sees it with inherited deadlines.
    mine = await api.call("GET", ROLLOUT, user=w.mof_admin)
    assert mine["roots"] == ["mof"]
    assert [o["code"] for o in mine["organisations"]] == ["mof", "mof-it"]
    assert mine["total"] == figures(6, 3, 2, 0, 4)
    sub = await api.call("GET", ROLLOUT, user=w.root, params={"org": "mof-it"})
    assert sub["roots"] == ["mof-it"] and sub["organisations"][0]["register_by_from"] == "mof"


async def test_a_deadline_set_lower_down_wins_and_changes_follow(
    api: Api, clock: FakeClock
) -> None:
    w = await build_world(api, clock)
    await api.call("PATCH", f"{ADMIN}/orgs/moh", user=w.moh_admin, json={"register_by": None})
    await api.call(
        "PATCH", f"{ADMIN}/orgs/mof-it", user=w.mof_admin, json={"register_by": "2026-03-05"}
    )
    orgs = {o["code"]: o for o in (await api.call("GET", ROLLOUT, user=w.root))["organisations"]}
    assert (orgs["mof-it"]["register_by"], orgs["mof-it"]["register_by_from"]) == (
        "2026-03-05",
        "mof-it",
    )
    assert orgs["mof-it"]["own"]["overdue"] == 3
    assert orgs["mof"]["own"]["overdue"] == 0
    assert orgs["gov"]["total"]["overdue"] == 4  # mof-it's three and moh's one
    # Without any deadline nobody is overdue.
    await api.call("PATCH", f"{ADMIN}/orgs/gov", user=w.root, json={"register_by": None})
    await api.call("PATCH", f"{ADMIN}/orgs/mof", user=w.root, json={"register_by": None})
    await api.call("PATCH", f"{ADMIN}/orgs/mof-it", user=w.root, json={"register_by": None})
    board = await api.call("GET", ROLLOUT, user=w.root)
    assert board["total"]["overdue"] == 0
    assert {o["register_by"] for o in board["organisations"]} == {None}


async def test_registrations_per_day(api: Api, clock: FakeClock) -> None:
    w = await build_world(api, clock)
    series = await api.call("GET", f"{ROLLOUT}/timeseries", user=w.root, params={"days": 14})
    assert series["as_of"] == "2026-03-10"
    assert series["registered_before"] == 0
    days = {d["date"]: (d["registered"], d["cumulative"]) for d in series["days"]}
    assert len(days) == 14 and min(days) == "2026-02-25" and max(days) == "2026-03-10"
    assert days["2026-02-28"] == (1, 1)  # 2001
    assert days["2026-03-09"] == (0, 1)
    assert days["2026-03-10"] == (2, 3)  # 1001 and 3002; departed 1003 is not counted

    short = await api.call("GET", f"{ROLLOUT}/timeseries", user=w.root, params={"days": 3})
    assert short["registered_before"] == 1
    assert [d["cumulative"] for d in short["days"]] == [1, 1, 3]
    moh = await api.call("GET", f"{ROLLOUT}/timeseries", user=w.moh_admin, params={"days": 14})
    assert sum(d["registered"] for d in moh["days"]) == 1


async def test_overdue_list_and_csv(api: Api, clock: FakeClock) -> None:
    w = await build_world(api, clock)
    page = await api.call("GET", f"{ROLLOUT}/overdue", user=w.root)
    assert page["total"] == 1
    (late,) = page["people"]
    assert (late["personnel_number"], late["org_code"], late["register_by"]) == (
        "3001",
        "moh",
        "2026-03-01",
    )
    assert late["days_overdue"] == 9 and late["name_cyr"] == "Сейтқали Аружан"
    assert (await api.call("GET", f"{ROLLOUT}/overdue", user=w.mof_admin))["total"] == 0

    move_to(clock, "2026-03-16T06:00:00")
    page = await api.call("GET", f"{ROLLOUT}/overdue", user=w.root)
    assert [p["personnel_number"] for p in page["people"]] == [
        "1002", "2002", "2003", "2004", "3001",
    ]  # fmt: skip
    assert [p["days_overdue"] for p in page["people"]] == [1, 1, 1, 1, 15]
    paged = await api.call(
        "GET", f"{ROLLOUT}/overdue", user=w.root, params={"limit": 2, "offset": 2}
    )
    assert [p["personnel_number"] for p in paged["people"]] == ["2003", "2004"]
    assert paged["total"] == 5

    for path, params in ((f"{ROLLOUT}/overdue.csv", {}), (f"{ROLLOUT}/overdue", {"format": "csv"})):
        resp = await api.raw("GET", path, user=w.mof_admin, params=params)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        assert resp.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert [r["personnel_number"] for r in rows] == ["1002", "2002", "2003", "2004"]
        assert rows[1]["position"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
        assert rows[0]["org_name_ru"] == "mof ru" and rows[0]["days_overdue"] == "1"
        assert rows[0]["register_by"] == "2026-03-15"


async def sync_notices(api: Api, user: User) -> tuple[str | None, list[dict[str, Any]]]:
    """The user's server-notice room (by its tag) and the notices in it."""
    sync = await api.sync(user)
    for room_id, room in sync["rooms"]["join"].items():
        tags = [e for e in room["account_data"]["events"] if e["type"] == "m.tag"]
        if tags and "m.server_notice" in tags[0]["content"]["tags"]:
            messages = await api.call(
                "GET", f"/rooms/{q(room_id)}/messages", user=user,
                params={"dir": "f", "limit": 100},
            )  # fmt: skip
            notices = [
                e
                for e in messages["chunk"]
                if e["type"] == "m.room.message" and e["sender"] == NOTICES
            ]
            # /sync itself carries the newest notice (the rest are further back in history).
            assert notices[-1]["event_id"] in [e["event_id"] for e in room["timeline"]["events"]]
            return room_id, [e["content"] for e in notices]
    return None, []


async def reminders(api: Api) -> set[tuple[str, str, str]]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = await conn.execute(
            select(rollout_reminders.c.person_id, rollout_reminders.c.kind,
                   rollout_reminders.c.deadline)
        )  # fmt: skip
        return {(r.person_id, r.kind, r.deadline) for r in rows}


async def notice_room_count(api: Api) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        query = select(func.count()).select_from(server_notice_rooms)
        return int((await conn.execute(query)).scalar_one())


async def set_heads(api: Api, w: World) -> None:
    await api.call(
        "PATCH", f"{ADMIN}/orgs/mof", user=w.root, json={"head_person_id": w.ids["1001"]}
    )
    await api.call(
        "PATCH", f"{ADMIN}/orgs/moh", user=w.root, json={"head_person_id": w.ids["3002"]}
    )


async def test_reminders_go_to_unit_heads_once_per_window(api: Api, clock: FakeClock) -> None:
    w = await build_world(api, clock)
    remind = f"{ROLLOUT}/remind"

    # No heads yet: nobody to tell, nothing recorded.
    report = await api.call("POST", remind, user=w.root, json={})
    assert (report["head_notices"], report["without_head"]) == (0, 5)
    assert await reminders(api) == set()

    await set_heads(api, w)
    dry = await api.call("POST", remind, user=w.root, json={"dry_run": True})
    assert (dry["head_notices"], dry["staff_listed"], dry["personal_notices"]) == (2, 5, 0)
    assert dry["recipients"] == [w.users["1001"].user_id, w.users["3002"].user_id]
    assert await reminders(api) == set() and await notice_room_count(api) == 0

    report = await api.call("POST", remind, user=w.root, json={})
    assert (report["head_notices"], report["staff_listed"], report["skipped"]) == (2, 5, 0)
    room, notices = await sync_notices(api, w.users["1001"])
    assert room is not None and len(notices) == 1
    digest = notices[0]
    assert digest["msgtype"] == "m.notice"
    assert digest["tumar.rollout"] == {
        "kind": "register.7",
        "deadline": "2026-03-15",
        "count": 4,
        "people": ["1002", "2002", "2003", "2004"],
    }
    assert "2026-03-15" in digest["body"] and "3001" not in digest["body"]
    _, moh_notices = await sync_notices(api, w.users["3002"])
    assert [n["tumar.rollout"]["kind"] for n in moh_notices] == ["register.overdue"]
    assert "Сейтқали Аружан" in moh_notices[0]["body"]

    # The head reads but cannot answer into the notice room.
    await api.error(
        "PUT", f"/rooms/{q(room)}/send/m.room.message/x1", 403, "M_FORBIDDEN",
        user=w.users["1001"], json={"msgtype": "m.text", "body": "ok"},
    )  # fmt: skip

    # A second run the same day sends nothing.
    again = await api.call("POST", remind, user=w.root, json={})
    assert (again["head_notices"], again["personal_notices"], again["staff_listed"]) == (0, 0, 0)
    assert len((await sync_notices(api, w.users["1001"]))[1]) == 1

    # The day before the deadline: the 1-day window, for those still unregistered.
    await link(api, w.ids["2002"], (await api.register("u2002")).user_id)
    move_to(clock, "2026-03-14T06:00:00")
    report = await api.call("POST", remind, user=w.root, json={})
    assert (report["head_notices"], report["staff_listed"]) == (1, 3)
    same_room, notices = await sync_notices(api, w.users["1001"])
    assert same_room == room
    assert notices[-1]["tumar.rollout"]["kind"] == "register.1"
    assert notices[-1]["tumar.rollout"]["people"] == ["1002", "2003", "2004"]
    assert len(await reminders(api)) == 5 + 3

    log = await api.call("GET", f"{ADMIN}/audit", user=w.root, params={"action": "rollout."})
    assert {e["target_id"] for e in log["entries"]} == {
        w.users["1001"].user_id,
        w.users["3002"].user_id,
    }


async def test_registered_but_inactive_officials_are_reminded_of_the_transition(
    api: Api, clock: FakeClock
) -> None:
    w = await build_world(api, clock)
    await set_heads(api, w)
    move_to(clock, "2026-06-25T06:00:00")  # 5 days before transition_by; nobody seen since
    report = await api.call("POST", f"{ROLLOUT}/remind", user=w.root, json={})
    assert report["personal_notices"] == 3  # 1001, 2001, 3002 (1003 has departed)
    assert report["head_notices"] == 2  # everyone unregistered is overdue by now
    room, notices = await sync_notices(api, w.users["2001"])
    assert room is not None
    (reminder,) = notices
    assert reminder["tumar.rollout"] == {"kind": "transition.7", "deadline": "2026-06-30"}
    assert "2026-06-30" in reminder["body"]
    _, head_notices = await sync_notices(api, w.users["1001"])
    kinds = sorted(n["tumar.rollout"]["kind"] for n in head_notices)
    assert kinds == ["register.overdue", "transition.7"]

    # Reading the notices (any authenticated request) is using tumar: after the deadline
    # only 3002, who has not been seen since March, is reminded again.
    move_to(clock, "2026-07-01T06:00:00")
    report = await api.call("POST", f"{ROLLOUT}/remind", user=w.root, json={})
    assert (report["personal_notices"], report["head_notices"]) == (1, 0)
    assert report["recipients"] == [w.users["3002"].user_id]
    board = await api.call("GET", ROLLOUT, user=w.root)
    assert board["total"]["active_7d"] == 2


async def test_an_administrator_cannot_see_or_remind_another_ministry(
    api: Api, clock: FakeClock
) -> None:
    w = await build_world(api, clock)
    await set_heads(api, w)
    denied: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("GET", ROLLOUT, {"org": "moh"}, None),
        ("GET", ROLLOUT, {"org": "gov"}, None),
        ("GET", f"{ROLLOUT}/timeseries", {"org": "moh"}, None),
        ("GET", f"{ROLLOUT}/overdue", {"org": "moh"}, None),
        ("GET", f"{ROLLOUT}/overdue", {"org": "moh", "format": "csv"}, None),
        ("GET", f"{ROLLOUT}/overdue.csv", {"org": "moh"}, None),
        ("POST", f"{ROLLOUT}/remind", None, {"org": "moh"}),
        ("POST", f"{ROLLOUT}/remind", None, {"org": "gov", "dry_run": True}),
    ]
    for method, path, params, body in denied:
        await api.error(
            method, path, 403, "TUMAR_OUT_OF_SCOPE", user=w.mof_admin, params=params, json=body
        )
    assert await reminders(api) == set() and await notice_room_count(api) == 0

    # Their own reminders touch only their own subtree.
    report = await api.call("POST", f"{ROLLOUT}/remind", user=w.mof_admin, json={})
    assert report["recipients"] == [w.users["1001"].user_id]
    assert {p for p, _, _ in await reminders(api)} == {
        w.ids[n] for n in ("1002", "2002", "2003", "2004")
    }
    assert (await sync_notices(api, w.users["3002"]))[0] is None

    # Roles without the rollout permission, and people without a role, are refused.
    clerk = await api.register("clerk")
    await grant(api, w.root, clerk.user_id, "security_officer", "mof")
    await api.error("GET", ROLLOUT, 403, "TUMAR_OUT_OF_SCOPE", user=clerk)
    await api.error("POST", f"{ROLLOUT}/remind", 403, "TUMAR_OUT_OF_SCOPE", user=clerk, json={})
    nobody = await api.register("nobody")
    for path in ("", "/timeseries", "/overdue", "/overdue.csv"):
        await api.error("GET", ROLLOUT + path, 403, "M_FORBIDDEN", user=nobody)
        await api.error("GET", ROLLOUT + path, 401, "M_MISSING_TOKEN")
    await api.error("POST", f"{ROLLOUT}/remind", 403, "M_FORBIDDEN", user=nobody, json={})


async def test_bad_rollout_requests(api: Api, clock: FakeClock) -> None:
    w = await build_world(api, clock)
    await set_heads(api, w)
    cases: list[tuple[str, str, dict[str, Any] | None, Any, int, str]] = [
        ("GET", ROLLOUT, {"org": "nowhere"}, None, 404, "M_NOT_FOUND"),
        ("GET", ROLLOUT, {"org": "x" * 65}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/timeseries", {"days": 0}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/timeseries", {"days": 367}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/timeseries", {"days": "week"}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/overdue", {"format": "xlsx"}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/overdue", {"limit": 0}, None, 400, "M_INVALID_PARAM"),
        ("GET", f"{ROLLOUT}/overdue", {"offset": -1}, None, 400, "M_INVALID_PARAM"),
        ("POST", f"{ROLLOUT}/remind", None, {"dry_run": "yes"}, 400, "M_BAD_JSON"),
        ("POST", f"{ROLLOUT}/remind", None, {"org": 5}, 400, "M_BAD_JSON"),
        ("POST", f"{ROLLOUT}/remind", None, {"orgg": "mof"}, 400, "M_BAD_JSON"),
        ("POST", f"{ROLLOUT}/remind", None, [], 400, "M_BAD_JSON"),
        ("POST", f"{ROLLOUT}/remind", None, {"org": "nowhere"}, 404, "M_NOT_FOUND"),
    ]
    for method, path, params, body, status, errcode in cases:
        await api.error(method, path, status, errcode, user=w.root, params=params, json=body)
    assert await reminders(api) == set() and await notice_room_count(api) == 0


async def test_openapi_documents_the_rollout_routes(api: Api) -> None:
    doc = await api.call("GET", f"{ADMIN}/openapi.json")
    for path in ("/rollout", "/rollout/timeseries", "/rollout/overdue", "/rollout/remind"):
        assert f"{ADMIN}{path}" in doc["paths"], path
    remind = doc["paths"][f"{ADMIN}/rollout/remind"]["post"]
    schema = remind["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"org", "dry_run"}
    overdue = doc["paths"][f"{ADMIN}/rollout/overdue"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in overdue


async def test_today_follows_the_rollout_time_zone(
    api: Api, clock: FakeClock, services: Services
) -> None:
    w = await build_world(api, clock)
    move_to(clock, "2026-03-15T20:30:00")  # already 03-16, 01:30 in Almaty (UTC+5)
    utc = await api.call("GET", ROLLOUT, user=w.root)
    assert (utc["as_of"], utc["total"]["overdue"]) == ("2026-03-15", 1)
    almaty = RolloutService(
        services.db,
        clock,
        services.settings.model_copy(update={"rollout_timezone": "Asia/Almaty"}),
        services.notices,
    )
    board = await almaty.dashboard(cli_actor("test"))
    assert (board.as_of, board.total.overdue) == (datetime.date(2026, 3, 16), 5)
    series = await almaty.timeseries(cli_actor("test"), None, 7)
    assert [d.date.isoformat() for d in series.days][-1] == "2026-03-16"
    # 1001 and 3002 registered at 06:00 UTC on 03-10, i.e. 11:00 on 03-10 in Almaty.
    assert {d.date.isoformat(): d.registered for d in series.days}["2026-03-10"] == 2
