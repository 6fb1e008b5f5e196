"""Government notifications through the admin API, /sync and the recipients' API, on both
backends, with a clock the tests move.

The world: gov > {mof > mof-it, moh}. People with accounts:

| who | org | notes |
| --- | --- | --- |
| a1 | mof | head of mof |
| a2 | mof | |
| b1 | mof-it | head of mof-it |
| b2 | mof-it | |
| c1 | moh | |
| x1 | mof | external partner |

``comms`` is a communications officer for mof (and holds no person record).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.admin import ADMIN, grant, org, person
from tests.support.harness import Api, User, q
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store import directory as directory_store
from tumar.store.schema import audit_log, gov_notice_recipients, gov_notices

NOTICES = f"{ADMIN}/notices"
RECIPIENT = "/_tumar/notices/v1"
SYSTEM = "@notices:tumar.test"
KEY = "kz.tumar.notification"
T0 = "2026-03-02T06:00:00"


def ms(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso + "+00:00").timestamp() * 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ms(T0))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@dataclass
class World:
    root: User
    comms: User
    users: dict[str, User]
    ids: dict[str, str]


async def link(api: Api, person_id: str, user_id: str) -> None:
    assert api.services is not None
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, person_id, user_id=user_id)


async def add_person(api: Api, w: World, name: str, org_code: str, **extra: Any) -> User:
    w.ids[name] = (await person(api, w.root, f"n-{name}", org_code, **extra))["person_id"]
    w.users[name] = await api.register(name)
    await link(api, w.ids[name], w.users[name].user_id)
    return w.users[name]


@pytest.fixture
async def world(api: Api) -> World:
    assert api.services is not None
    await api.services.accounts.do_create_user("root", "correct horse battery", admin=True)
    root = await api.login("root")
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "mof-it", parent="mof", kind="department")
    await org(api, root, "moh", parent="gov")
    w = World(root, await api.register("comms"), {}, {})
    await grant(api, root, w.comms.user_id, "comms_officer", "mof")
    for name, code in [("a1", "mof"), ("a2", "mof"), ("b1", "mof-it"), ("b2", "mof-it"),
                       ("c1", "moh")]:  # fmt: skip
        await add_person(api, w, name, code)
    await add_person(api, w, "x1", "mof", kind="external")
    await api.call("PATCH", f"{ADMIN}/orgs/mof", user=root, json={"head_person_id": w.ids["a1"]})
    await api.call("PATCH", f"{ADMIN}/orgs/mof-it", user=root, json={"head_person_id": w.ids["b1"]})
    return w


def notice_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Fire drill on Friday",
        "body": "All staff leave the building at **10:00**.\n\n- take your badge\n"
        "- do not use lifts",
        "priority": "important",
        "audience": {"orgs": ["mof"]},
        "ack_required": True,
        "deadline": "2026-03-06T18:00:00+05:00",
        "send": True,
    }
    body.update(extra)
    return body


async def send(api: Api, by: User, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", NOTICES, user=by, json=notice_body(**extra), expect=201
    )
    return result


async def count(api: Api, table: Any) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def notice_events(sync: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages of the server-notices account in the sync answer, oldest first."""
    out = []
    for room in sync["rooms"]["join"].values():
        for ev in room["timeline"]["events"]:
            if ev["type"] == "m.room.message" and ev["sender"] == SYSTEM:
                out.append(ev)
    return out


# ---- sending and delivery --------------------------------------------------------------------


async def test_send_is_stored_once_and_delivered_on_sync(api: Api, world: World) -> None:
    w = world
    preview = await api.call(
        "POST", f"{NOTICES}/preview", user=w.comms, json={"audience": {"orgs": ["mof"]}}
    )
    assert preview == {"recipients": 4}  # a1 a2 b1 b2; not the external partner, not moh
    sent = await send(api, w.comms)
    assert sent["status"] == "sent"
    assert sent["recipients_at_send"] == 4
    assert await count(api, gov_notices) == 1
    assert await count(api, gov_notice_recipients) == 0  # nothing per recipient at send time

    first = await api.sync(w.users["a2"])
    [ev] = notice_events(first)
    content = ev["content"]
    assert content["msgtype"] == "m.notice"
    assert "Fire drill on Friday" in content["body"]
    assert "<strong>10:00</strong>" in content["formatted_body"]
    assert "<li>take your badge</li>" in content["formatted_body"]
    fields = content[KEY]
    assert fields["id"] == sent["notice_id"]
    assert fields["priority"] == "important"
    assert fields["ack_required"] is True
    assert fields["deadline"] == "2026-03-06T13:00:00Z"
    assert await count(api, gov_notice_recipients) == 1  # a2 only

    # Synced again: nothing twice.
    again = await api.sync(w.users["a2"], since=first["next_batch"])
    assert notice_events(again) == []
    # Not in the audience: nothing.
    for outsider in ("c1", "x1"):
        assert notice_events(await api.sync(w.users[outsider])) == []
    inbox = await api.call("GET", f"{RECIPIENT}/inbox", user=w.users["c1"])
    assert inbox["notices"] == []


async def test_long_polling_recipient_is_woken(api: Api, world: World) -> None:
    import asyncio

    w = world
    first = await api.sync(w.users["b2"])
    poll = asyncio.ensure_future(api.sync(w.users["b2"], since=first["next_batch"], timeout=5000))
    await asyncio.sleep(0.2)
    assert not poll.done()
    sent = await send(api, w.comms)
    woken = await asyncio.wait_for(poll, 5)
    [ev] = notice_events(woken)
    assert ev["content"][KEY]["id"] == sent["notice_id"]


async def test_inbox_read_and_acknowledge(api: Api, world: World) -> None:
    w = world
    sent = await send(api, w.comms)
    nid = sent["notice_id"]
    a1 = w.users["a1"]
    inbox = await api.call("GET", f"{RECIPIENT}/inbox", user=a1)  # delivers too
    [item] = inbox["notices"]
    assert (item["notice_id"], item["read"], item["acknowledged"]) == (nid, False, False)
    assert (inbox["unread"], inbox["pending"]) == (1, 1)

    ack = await api.call("POST", f"{RECIPIENT}/notices/{nid}/ack", user=a1)
    assert ack["already_acknowledged"] is False
    assert ack["acknowledged_at"] == "2026-03-02T06:00:00Z"
    twice = await api.call("POST", f"{RECIPIENT}/notices/{nid}/ack", user=a1)
    assert twice == {**ack, "already_acknowledged": True}  # the first time stands

    # Someone outside the audience, and a notification that does not exist.
    await api.error(
        "POST", f"{RECIPIENT}/notices/{nid}/ack", 403, "TUMAR_NOT_A_RECIPIENT",
        user=w.users["c1"],
    )  # fmt: skip
    await api.error("POST", f"{RECIPIENT}/notices/n_nope/ack", 404, "M_NOT_FOUND", user=a1)
    inbox = await api.call("GET", f"{RECIPIENT}/inbox", user=a1)
    assert (inbox["notices"][0]["read"], inbox["notices"][0]["acknowledged"]) == (True, True)

    # Withdrawn: acknowledging is refused, and the recipient sees an edit saying so.
    a2 = w.users["a2"]
    first = await api.sync(a2)
    [original] = notice_events(first)
    withdrawn = await api.call(
        "POST", f"{NOTICES}/{nid}/withdraw", user=w.comms, json={"reason": "Drill cancelled"}
    )
    assert withdrawn["status"] == "withdrawn"
    await api.error(
        "POST", f"{RECIPIENT}/notices/{nid}/ack", 409, "TUMAR_NOTICE_WITHDRAWN", user=a2
    )
    [edit] = notice_events(await api.sync(a2, since=first["next_batch"]))
    assert edit["content"]["m.relates_to"] == {
        "rel_type": "m.replace",
        "event_id": original["event_id"],
    }
    assert edit["content"]["m.new_content"][KEY]["withdrawn"] is True
    assert "Drill cancelled" in edit["content"]["m.new_content"]["body"]
    # Someone who never synced does not get a withdrawn notification at all.
    assert notice_events(await api.sync(w.users["b2"])) == []
    await api.error(
        "POST", f"{NOTICES}/{nid}/withdraw", 409, "TUMAR_NOTICE_WITHDRAWN", user=w.comms, json={}
    )


async def test_correction_is_an_edit_for_those_who_have_it(api: Api, world: World) -> None:
    w = world
    sent = await send(api, w.comms)
    nid = sent["notice_id"]
    first = await api.sync(w.users["a1"])
    [original] = notice_events(first)
    fixed = await api.call(
        "POST", f"{NOTICES}/{nid}/correct", user=w.comms,
        json={"body": "All staff leave the building at **11:00**."},
    )  # fmt: skip
    assert fixed["version"] == 2
    [edit] = notice_events(await api.sync(w.users["a1"], since=first["next_batch"]))
    assert edit["content"]["m.relates_to"]["rel_type"] == "m.replace"
    assert edit["content"]["m.relates_to"]["event_id"] == original["event_id"]
    assert "11:00" in edit["content"]["m.new_content"]["body"]
    # Someone who had not synced yet gets the corrected text as the notice itself.
    [fresh] = notice_events(await api.sync(w.users["a2"]))
    assert "11:00" in fresh["content"]["body"] and "m.relates_to" not in fresh["content"]
    assert fresh["content"][KEY]["version"] == 2
    await api.error(
        "POST", f"{NOTICES}/{nid}/correct", 400, "M_INVALID_PARAM", user=w.comms,
        json={"body": "All staff leave the building at **11:00**."},
    )  # fmt: skip
    assert assert_audit(await audit_actions(api, nid), ["notice.create", "notice.send",
                                                         "notice.correct"])  # fmt: skip


async def audit_actions(api: Api, target: str) -> list[str]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.action)
            .where(audit_log.c.target_id == target)
            .order_by(audit_log.c.seq)
        )
        return [r.action for r in rows]


async def notice_audit_rows(api: Api) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        query = select(func.count()).where(audit_log.c.target_type == "notice")
        return int((await conn.execute(query)).scalar_one())


def assert_audit(found: list[str], expected: list[str]) -> bool:
    assert found == expected
    return True


async def test_acknowledge_by_reaction_from_a_standard_client(api: Api, world: World) -> None:
    w = world
    sent = await send(api, w.comms)
    b1 = w.users["b1"]
    first = await api.sync(b1)
    [ev] = notice_events(first)
    room_id = next(iter(first["rooms"]["join"]))
    for key, expect_ack in (("🎉", False), ("👍️", True)):  # 👍 with a variation selector
        await api.call(
            "PUT", f"/rooms/{q(room_id)}/send/m.reaction/r{len(key)}", user=b1,
            json={"m.relates_to": {"rel_type": "m.annotation", "event_id": ev["event_id"],
                                   "key": key}},
        )  # fmt: skip
        inbox = await api.call("GET", f"{RECIPIENT}/inbox", user=b1)
        assert inbox["notices"][0]["acknowledged"] is expect_ack
    report = await api.call("GET", f"{NOTICES}/{sent['notice_id']}/report", user=w.comms)
    assert report["total"]["acknowledged"] == 1
    people = await api.call("GET", f"{NOTICES}/{sent['notice_id']}/recipients", user=w.comms)
    via = {p["user_id"]: p["acknowledged_via"] for p in people["people"]}
    assert via[b1.user_id] == "reaction"


# ---- reports --------------------------------------------------------------------------------


async def test_report_figures_match_hand_computed_ones(
    api: Api, world: World, clock: FakeClock
) -> None:
    w = world
    sent = await send(api, w.comms)
    nid = sent["notice_id"]
    # a1: acknowledged via the API; a2: read (a read receipt); b1: delivered only; b2: nothing.
    await api.call("POST", f"{RECIPIENT}/notices/{nid}/ack", user=w.users["a1"])
    a2_sync = await api.sync(w.users["a2"])
    [ev] = notice_events(a2_sync)
    room_id = next(iter(a2_sync["rooms"]["join"]))
    await api.call(
        "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(ev['event_id'])}", user=w.users["a2"],
        json={},
    )  # fmt: skip
    await api.sync(w.users["b1"])

    report = await api.call("GET", f"{NOTICES}/{nid}/report", user=w.comms)
    rows = {o["code"]: o for o in report["organisations"]}
    assert set(rows) == {"mof", "mof-it"}
    fig = ("audience", "delivered", "read", "acknowledged", "pending", "overdue")
    assert tuple(rows["mof"]["own"][k] for k in fig) == (2, 2, 2, 1, 1, 0)
    assert tuple(rows["mof-it"]["own"][k] for k in fig) == (2, 1, 0, 0, 2, 0)
    assert tuple(rows["mof-it"]["total"][k] for k in fig) == (2, 1, 0, 0, 2, 0)
    assert tuple(rows["mof"]["total"][k] for k in fig) == (4, 3, 2, 1, 3, 0)
    assert tuple(report["total"][k] for k in fig) == (4, 3, 2, 1, 3, 0)
    assert report["overdue"] is False

    pending = await api.call(
        "GET", f"{NOTICES}/{nid}/recipients", user=w.comms, params={"pending": "true"}
    )
    assert pending["total"] == 3
    assert sorted(p["user_id"] for p in pending["people"]) == sorted(
        w.users[n].user_id for n in ("a2", "b1", "b2")
    )
    raw = await api.raw(
        "GET", f"{NOTICES}/{nid}/recipients.csv", user=w.comms, params={"pending": "true"}
    )
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert sorted(r["personnel_number"] for r in table) == ["n-a2", "n-b1", "n-b2"]

    # After the deadline everything pending is overdue.
    clock.advance(5 * 86_400)
    late = await api.call("GET", f"{NOTICES}/{nid}/report", user=w.comms)
    assert late["overdue"] is True
    assert late["total"]["overdue"] == 3

    # Another ministry's officer may not read it.
    moh_comms = await api.register("mohcomms")
    await grant(api, w.root, moh_comms.user_id, "comms_officer", "moh")
    await api.error("GET", f"{NOTICES}/{nid}/report", 403, "TUMAR_OUT_OF_SCOPE", user=moh_comms)


async def test_late_joiner_before_the_deadline_gets_it(
    api: Api, world: World, clock: FakeClock
) -> None:
    w = world
    await send(api, w.comms)
    clock.advance(3600)
    newcomer = await add_person(api, w, "b3", "mof-it")
    [ev] = notice_events(await api.sync(newcomer))
    assert ev["content"][KEY]["ack_required"] is True
    # Information that needs no acknowledgement does not follow late joiners...
    await send(api, w.comms, ack_required=False, deadline=None, title="FYI")
    clock.advance(3600)
    later = await add_person(api, w, "b4", "mof-it")
    titles = [e["content"][KEY]["title"] for e in notice_events(await api.sync(later))]
    assert titles == ["Fire drill on Friday"]
    # ...and after the deadline nothing does.
    clock.advance(10 * 86_400)
    last = await add_person(api, w, "b5", "mof-it")
    assert notice_events(await api.sync(last)) == []


async def test_reminders_and_escalation(api: Api, world: World, clock: FakeClock) -> None:
    w = world
    sent = await send(api, w.comms)
    nid = sent["notice_id"]
    a1, b2 = w.users["a1"], w.users["b2"]
    first = await api.sync(b2)
    await api.call("POST", f"{RECIPIENT}/notices/{nid}/ack", user=a1)
    a1_first = await api.sync(a1)

    clock.advance(25 * 3600)
    dry = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={"dry_run": True})
    assert dry["reminder_rounds"] == [nid]
    run = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={})
    assert run["reminder_rounds"] == [nid] and run["escalations"] == 0
    [reminder] = notice_events(await api.sync(b2, since=first["next_batch"]))
    assert reminder["content"]["body"].startswith("Reminder:")
    assert notice_events(await api.sync(a1, since=a1_first["next_batch"])) == []  # acknowledged
    again = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={})
    assert again["reminder_rounds"] == []  # not due yet

    clock.advance(5 * 86_400)  # past the deadline
    esc = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={})
    # Pending: a2 (mof: head a1) and b1, b2 (mof-it: head b1).
    assert (esc["escalations"], esc["escalated_people"]) == (2, 3)
    a1_sync = await api.sync(a1, since=a1_first["next_batch"])
    [to_head] = notice_events(a1_sync)
    assert to_head["content"][KEY]["escalation"] is True
    assert "n-a2" in to_head["content"]["body"] and "n-b2" not in to_head["content"]["body"]
    once = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={})
    assert once["escalations"] == 0


async def test_scheduled_send(api: Api, world: World, clock: FakeClock) -> None:
    w = world
    created = await send(api, w.comms, send_at="2026-03-03T09:00:00+05:00")
    assert created["status"] == "scheduled"
    assert notice_events(await api.sync(w.users["a1"])) == []
    clock.advance(86_400)
    run = await api.call("POST", f"{NOTICES}/remind", user=w.comms, json={})
    assert run["sent_scheduled"] == [created["notice_id"]]
    assert len(notice_events(await api.sync(w.users["a1"]))) == 1
    got = await api.call("GET", f"{NOTICES}/{created['notice_id']}", user=w.comms)
    assert got["status"] == "sent"


async def test_draft_then_send(api: Api, world: World) -> None:
    w = world
    draft = await api.call("POST", NOTICES, user=w.comms, json=notice_body(send=False), expect=201)
    assert draft["status"] == "draft"
    assert notice_events(await api.sync(w.users["a1"])) == []
    sent = await api.call("POST", f"{NOTICES}/{draft['notice_id']}/send", user=w.comms)
    assert sent["status"] == "sent"
    await api.error(
        "POST", f"{NOTICES}/{draft['notice_id']}/send", 409, "TUMAR_NOTICE_NOT_DRAFT",
        user=w.comms,
    )  # fmt: skip
    listed = await api.call("GET", NOTICES, user=w.comms)
    assert [n["notice_id"] for n in listed["notices"]] == [draft["notice_id"]]


# ---- bad input -------------------------------------------------------------------------------


BAD = [
    ({"audience": {}}, 400, "TUMAR_EMPTY_AUDIENCE"),
    ({"audience": {"orgs": ["moh"]}}, 403, "TUMAR_OUT_OF_SCOPE"),
    ({"audience": {"everyone": True}}, 403, "TUMAR_OUT_OF_SCOPE"),
    ({"audience": {"orgs": ["nowhere"]}}, 400, "TUMAR_UNKNOWN_ORG"),
    ({"audience": {"people": ["p_unknown"]}}, 400, "TUMAR_UNKNOWN_PERSON"),
    ({"audience": {"roles": ["wizard"]}}, 400, "M_INVALID_PARAM"),
    ({"body": "Hello <script>alert(1)</script>"}, 400, "TUMAR_UNSAFE_CONTENT"),
    ({"body": "<img src=x onerror=alert(1)>"}, 400, "TUMAR_UNSAFE_CONTENT"),
    ({"body": "[click](javascript:alert(1))"}, 400, "TUMAR_UNSAFE_CONTENT"),
    ({"body": "x" * 16_001}, 413, "M_TOO_LARGE"),
    ({"title": "t" * 201}, 413, "M_TOO_LARGE"),
    ({"title": "  "}, 400, "M_INVALID_PARAM"),
    ({"deadline": "2026-03-01T00:00:00Z"}, 400, "TUMAR_DEADLINE_PASSED"),
    ({"deadline": "2026-03-09"}, 400, "M_INVALID_PARAM"),
    ({"deadline": "tomorrow"}, 400, "M_INVALID_PARAM"),
    ({"ack_required": False}, 400, "M_INVALID_PARAM"),  # a deadline without acknowledgement
    ({"send_at": "2026-03-01T00:00:00Z"}, 400, "TUMAR_DEADLINE_PASSED"),
    ({"priority": "panic"}, 400, "M_BAD_JSON"),
    ({"colour": "red"}, 400, "M_BAD_JSON"),
]


@pytest.mark.parametrize(("change", "status", "errcode"), BAD)
async def test_bad_input_is_refused_and_nothing_is_sent(
    api: Api, world: World, change: dict[str, Any], status: int, errcode: str
) -> None:
    w = world
    await api.error("POST", NOTICES, status, errcode, user=w.comms, json=notice_body(**change))
    assert await count(api, gov_notices) == 0
    assert await notice_audit_rows(api) == 0  # (a denial may be audited as such, elsewhere)
    assert notice_events(await api.sync(w.users["a1"])) == []


async def test_empty_audience_at_send_and_wrong_roles(api: Api, world: World) -> None:
    w = world
    await org(api, w.root, "mof-empty", parent="mof", kind="department")
    await api.error(
        "POST", NOTICES, 400, "TUMAR_EMPTY_AUDIENCE", user=w.comms,
        json=notice_body(audience={"orgs": ["mof-empty"]}),
    )  # fmt: skip
    assert await count(api, gov_notices) == 0
    # An ordinary official has no admin role at all; an org admin has no notify permission.
    await api.error("POST", NOTICES, 403, "M_FORBIDDEN", user=w.users["a1"], json=notice_body())
    mof_admin = await api.register("mofadmin")
    await grant(api, w.root, mof_admin.user_id, "org_admin", "mof")
    await api.error("POST", NOTICES, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin, json=notice_body())
    assert await count(api, gov_notices) == 0


async def test_audiences_with_exclusions_roles_and_people(api: Api, world: World) -> None:
    w = world
    preview = f"{NOTICES}/preview"
    cases = [
        ({"orgs": ["mof"], "exclude_orgs": ["mof-it"]}, 2),
        ({"orgs": ["mof"], "exclude_orgs": ["mof-it"], "people": [w.ids["b2"]]}, 3),
        ({"people": [w.ids["x1"]]}, 1),  # an external partner only when named
        ({"orgs": ["mof-it", "mof"]}, 4),
    ]
    for audience, expected in cases:
        got = await api.call("POST", preview, user=w.comms, json={"audience": audience})
        assert got["recipients"] == expected, audience
    await grant(api, w.root, w.users["a2"].user_id, "registry_clerk", "mof")
    got = await api.call(
        "POST", preview, user=w.comms, json={"audience": {"roles": ["registry_clerk"]}}
    )
    assert got["recipients"] == 1
