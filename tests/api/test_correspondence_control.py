"""Registry journal (filters, CSV), control of execution rolled up the organisation tree,
reminders before the due date and escalation after it (FakeClock), on both backends."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.admin import ADMIN
from tests.support.harness import Api, User
from tests.support.letters_world import LETTERS, World, build_world, registered_letter, step
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store.schema import audit_log

T0 = datetime.datetime(2026, 3, 2, 6, tzinfo=datetime.UTC)


def at(day: str) -> int:
    return int(datetime.datetime.fromisoformat(day + "+00:00").timestamp() * 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(int(T0.timestamp() * 1000))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def world(api: Api) -> World:
    return await build_world(api)


async def assigned(api: Api, w: World, **extra: Any) -> str:
    letter = await registered_letter(api, w, approvers=[], **extra)
    lid = str(letter["letter_id"])
    await step(api, w["clerk2"], lid, "recipients/moh/register")
    await step(
        api, w["head2"], lid, "recipients/moh/resolution", text="Prepare the answer.",
        executors=[w["exec2"].user_id], due_date="2026-03-10", controller=w["ctrl2"].user_id,
    )  # fmt: skip
    return lid


async def notice_bodies(api: Api, user: User) -> list[str]:
    sync = await api.sync(user)
    return [
        ev["content"].get("body", "")
        for room in sync["rooms"]["join"].values()
        for ev in room["timeline"]["events"]
        if ev["type"] == "m.room.message"
    ]


async def audited(api: Api, action: str) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = await conn.execute(select(audit_log.c.action).where(audit_log.c.action == action))
        return len(rows.all())


async def test_reminder_then_escalation(api: Api, world: World, clock: FakeClock) -> None:
    assert api.services is not None
    control = api.services.correspondence.control
    lid = await assigned(api, world)
    r = await control.do_remind()
    assert (r.reminders, r.escalations) == ([], [])
    clock.advance((at("2026-03-09T01:00:00") - clock.now_ms()) / 1000)
    r = await control.do_remind()
    assert r.reminders == [(lid, "moh")] and r.escalations == []
    assert (await control.do_remind()).reminders == []  # once
    assert any(b.startswith("Reminder:") for b in await notice_bodies(api, world["exec2"]))
    report = await api.call("GET", f"{LETTERS}/control?org=gov", user=world.root)
    units = {u["code"]: u for u in report["units"]}
    assert units["moh"]["own"] == {"open": 1, "overdue": 0, "due_soon": 1}
    assert units["gov"]["total"] == {"open": 1, "overdue": 0, "due_soon": 1}
    assert units["gov"]["own"] == {"open": 0, "overdue": 0, "due_soon": 0}
    assert units["mof"]["total"]["open"] == 0

    clock.advance((at("2026-03-11T01:00:00") - clock.now_ms()) / 1000)
    r = await control.do_remind()
    assert r.escalations == [(lid, "moh")]
    assert (await control.do_remind()).escalations == []
    assert any(b.startswith("Overdue:") for b in await notice_bodies(api, world["ctrl2"]))
    report = await api.call("GET", f"{LETTERS}/control?org=moh", user=world["head2"])
    assert report["units"][0]["total"] == {"open": 1, "overdue": 1, "due_soon": 0}
    assert [i["overdue"] for i in report["items"]] == [True]
    letter = await api.call("GET", f"{LETTERS}/letters/{lid}", user=world["ctrl2"])
    assert letter["recipients"][0]["overdue"] is True
    assert (await audited(api, "letter.remind"), await audited(api, "letter.escalate")) == (1, 1)

    await step(api, world["exec2"], lid, "recipients/moh/reply", text="Answered.")
    report = await api.call("GET", f"{LETTERS}/control?org=gov", user=world.root)
    assert report["units"][0]["total"]["open"] == 0
    # strangers see no control
    await api.error("GET", f"{LETTERS}/control?org=moh", 403, "TUMAR_OUT_OF_SCOPE",
                    user=world["clerk"])  # fmt: skip


async def test_journal_filters_and_csv(api: Api, world: World, clock: FakeClock) -> None:
    first = await registered_letter(api, world, approvers=[], subject="=HYPERLINK(1) roads")
    clock.advance(3 * 86400)
    second = await registered_letter(api, world, approvers=[], subject="Schools budget")
    await step(api, world["clerk2"], second["letter_id"], "recipients/moh/register")
    out = await api.call("GET", f"{LETTERS}/journal?org=mof&direction=out", user=world["clerk"])
    assert [e["number"] for e in out["entries"]] == ["MOF-00001/26", "MOF-00002/26"]
    found = await api.call(
        "GET", f"{LETTERS}/journal?org=mof&direction=out&q=schools", user=world["clerk"]
    )
    assert [e["letter_id"] for e in found["entries"]] == [second["letter_id"]]
    found = await api.call(
        "GET", f"{LETTERS}/journal?org=mof&direction=out&number=00001", user=world["clerk"]
    )
    assert [e["letter_id"] for e in found["entries"]] == [first["letter_id"]]
    found = await api.call(
        "GET", f"{LETTERS}/journal?org=mof&direction=out&from=2026-03-04&to=2026-03-05",
        user=world["clerk"],
    )  # fmt: skip
    assert [e["letter_id"] for e in found["entries"]] == [second["letter_id"]]
    incoming = await api.call("GET", f"{LETTERS}/journal?org=moh", user=world["clerk2"])
    assert [e["number"] for e in incoming["entries"]] == ["MOH-00001/26"]

    resp = await api.raw(
        "GET", f"{LETTERS}/journal?org=mof&direction=out&format=csv", user=world["clerk"]
    )
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][0] == "number"
    assert rows[1][3] == "'=HYPERLINK(1) roads"
    admin = await api.raw(
        "GET", f"{ADMIN}/correspondence/journal?org=mof&direction=out&format=csv",
        user=world.root,
    )  # fmt: skip
    assert admin.content == resp.content

    await api.error("GET", f"{LETTERS}/journal?org=mof", 403, "TUMAR_OUT_OF_SCOPE",
                    user=world["clerk2"])  # fmt: skip
    await api.error("GET", f"{LETTERS}/journal?org=mof&from=yesterday", 400, "M_INVALID_PARAM",
                    user=world["clerk"])  # fmt: skip
    await api.error("GET", f"{LETTERS}/journal?org=nope", 404, "M_NOT_FOUND",
                    user=world["clerk"])  # fmt: skip


async def test_admin_verify_and_remind(api: Api, world: World) -> None:
    letter = await registered_letter(api, world, approvers=[])
    report = await api.call(
        "GET", f"{ADMIN}/correspondence/letters/{letter['letter_id']}/verify", user=world.root
    )
    assert report["ok"] is True
    await api.error(
        "GET", f"{ADMIN}/correspondence/letters/{letter['letter_id']}/verify", 403,
        "TUMAR_OUT_OF_SCOPE", user=world["clerk2"],
    )  # fmt: skip
    got = await api.call("POST", f"{ADMIN}/correspondence/remind", user=world.root, json={})
    assert got == {"reminders": [], "escalations": []}


async def test_discussion_room(api: Api, world: World) -> None:
    letter = await registered_letter(api, world, approvers=[])
    lid = letter["letter_id"]
    got = await api.call("POST", f"{LETTERS}/letters/{lid}/room", user=world["clerk2"], json={})
    room_id = got["room_id"]
    assert room_id.startswith("!")
    again = await api.call("POST", f"{LETTERS}/letters/{lid}/room", user=world["author"], json={})
    assert again["room_id"] == room_id
    await api.error("POST", f"{LETTERS}/letters/{lid}/room", 404, "M_NOT_FOUND",
                    user=world["it1"], json={})  # fmt: skip
