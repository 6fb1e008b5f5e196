"""Registered official correspondence through the officials' API, on both backends: each step
of the life cycle and each refusal (nothing changes on a refusal), with a clock the tests move.
The world is in ``tests/support/letters_world.py``."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.harness import Api
from tests.support.letters_world import (
    LETTERS,
    World,
    build_world,
    draft,
    letter_body,
    registered_letter,
    signed_letter,
    step,
)
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store.schema import (
    audit_log,
    letter_counters,
    letter_events,
    letter_recipients,
    letter_signatures,
    letters,
    server_notice_rooms,
)

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


@pytest.fixture
async def world(api: Api) -> World:
    return await build_world(api)


async def snapshot(api: Api) -> dict[str, Any]:
    """Row counts and letter statuses: what a refusal must leave as it was."""
    assert api.services is not None
    async with api.services.db.read() as conn:
        out: dict[str, Any] = {}
        for table in (letters, letter_recipients, letter_events, letter_signatures, audit_log):
            out[table.name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
        out["statuses"] = sorted(
            (r.letter_id, r.status, r.outgoing_number) for r in await conn.execute(select(letters))
        )
        out["recipients"] = sorted(
            (r.letter_id, r.org_code, r.status, r.incoming_number)
            for r in await conn.execute(select(letter_recipients))
        )
        out["counters"] = sorted(
            (r.org_code, r.year, r.direction, r.next_seq)
            for r in await conn.execute(select(letter_counters))
        )
    return out


async def refused(
    api: Api, method: str, path: str, who: Any, status: int, errcode: str, **kwargs: Any
) -> str:
    before = await snapshot(api)
    err = await api.error(method, f"{LETTERS}{path}", status, errcode, user=who, **kwargs)
    assert await snapshot(api) == before
    return str(err["error"])


# ---- the whole way -------------------------------------------------------------------------


async def test_letter_from_draft_to_closed(api: Api, world: World, clock: FakeClock) -> None:
    w = world
    letter = await draft(api, w)
    lid = letter["letter_id"]
    assert letter["status"] == "draft"
    assert letter["body_html"].count("<strong>figures</strong>") == 1
    assert letter["allowed_actions"] == ["edit", "submit", "withdraw"]

    letter = await step(api, w["author"], lid, "submit")
    assert letter["status"] == "in_approval"
    # ordered: appr2 must wait for appr1
    got = await api.call("GET", f"{LETTERS}/letters/{lid}", user=w["appr2"])
    assert got["allowed_actions"] == []
    got = await api.call("GET", f"{LETTERS}/letters/{lid}", user=w["appr1"])
    assert got["allowed_actions"] == ["approve", "return"]
    await step(api, w["appr1"], lid, "approve", comment="fine")
    letter = await step(api, w["appr2"], lid, "approve")
    assert letter["status"] == "approved"
    assert [a["status"] for a in letter["approvers"]] == ["approved", "approved"]

    await api.call("POST", f"{LETTERS}/signing-keys", user=w["signer"], json={}, expect=201)
    letter = await step(api, w["signer"], lid, "sign")
    assert letter["status"] == "signed"
    assert [s["stage"] for s in letter["signatures"]] == ["signature"]

    letter = await step(api, w["clerk"], lid, "register")
    assert letter["status"] == "registered"
    assert letter["outgoing_number"] == "MOF-00001/26"
    assert [s["stage"] for s in letter["signatures"]] == ["signature", "registration"]
    assert letter["recipients"][0]["status"] == "delivered"

    # the recipient side sees it in its inbox
    inbox = await api.call("GET", f"{LETTERS}/letters?box=inbox", user=w["clerk2"])
    assert [x["letter_id"] for x in inbox["letters"]] == [lid]
    letter = await step(api, w["clerk2"], lid, "recipients/moh/register")
    rec = letter["recipients"][0]
    assert (rec["status"], rec["incoming_number"]) == ("registered", "MOH-00001/26")

    letter = await step(
        api, w["head2"], lid, "recipients/moh/resolution", text="Prepare the figures.",
        executors=[w["exec2"].user_id], due_date="2026-03-10", controller=w["ctrl2"].user_id,
    )  # fmt: skip
    rec = letter["recipients"][0]
    assert rec["status"] == "resolved"
    assert rec["resolution"]["due_date"] == "2026-03-10"
    tasks = await api.call("GET", f"{LETTERS}/letters?box=tasks", user=w["exec2"])
    assert [x["letter_id"] for x in tasks["letters"]] == [lid]

    letter = await step(api, w["exec2"], lid, "recipients/moh/reply", text="Done, attached.")
    assert letter["recipients"][0]["status"] == "answered"
    letter = await step(api, w["ctrl2"], lid, "recipients/moh/close")
    assert letter["recipients"][0]["status"] == "closed"
    assert letter["status"] == "closed"
    actions = [h["action"] for h in letter["history"]]
    assert actions == [
        "create", "submit", "approve", "approve", "sign", "register_out", "register_in",
        "resolve", "reply", "close",
    ]  # fmt: skip

    assert api.services is not None
    async with api.services.db.read() as conn:
        audited = [
            r.action
            for r in await conn.execute(
                select(audit_log.c.action).where(audit_log.c.target_id == lid)
            )
        ]
        rooms = (
            await conn.execute(select(func.count()).select_from(server_notice_rooms))
        ).scalar_one()
    assert sorted(audited) == sorted(f"letter.{a}" for a in actions)
    assert rooms >= 5  # approvers, signatory, clerks, head, executor, controller were told


async def test_notice_reaches_recipient_clerk_with_link(api: Api, world: World) -> None:
    letter = await registered_letter(api, world)
    sync = await api.sync(world["clerk2"])
    bodies = [
        ev["content"].get("body", "")
        for room in sync["rooms"]["join"].values()
        for ev in room["timeline"]["events"]
        if ev["type"] == "m.room.message"
    ] + [
        ev["content"].get("body", "")
        for room in sync["rooms"].get("invite", {}).values()
        for ev in room.get("invite_state", {}).get("events", [])
    ]
    assert any(f"/#/letters/{letter['letter_id']}" in b for b in bodies), bodies


# ---- refusals ------------------------------------------------------------------------------


async def test_out_of_order_and_twice(api: Api, world: World) -> None:
    w = world
    lid = (await draft(api, w))["letter_id"]
    reason = await refused(
        api, "POST", f"/letters/{lid}/sign", w["signer"], 409, "TUMAR_LETTER_TRANSITION"
    )
    assert "draft" in reason
    # the clerk takes no part before the letter is signed
    await refused(api, "POST", f"/letters/{lid}/register", w["clerk"], 403, "M_FORBIDDEN")
    await refused(
        api, "POST", f"/letters/{lid}/approve", w["appr1"], 409, "TUMAR_LETTER_TRANSITION"
    )
    await step(api, w["author"], lid, "submit")
    await refused(
        api, "POST", f"/letters/{lid}/submit", w["author"], 409, "TUMAR_LETTER_TRANSITION"
    )
    reason = await refused(api, "POST", f"/letters/{lid}/approve", w["appr2"], 403, "M_FORBIDDEN")
    assert "turn" in reason


async def test_registration_twice(api: Api, world: World) -> None:
    letter = await registered_letter(api, world)
    lid = letter["letter_id"]
    reason = await refused(
        api, "POST", f"/letters/{lid}/register", world["clerk"], 409, "TUMAR_LETTER_TRANSITION"
    )
    assert "MOF-00001/26" in reason
    reason = await refused(
        api, "POST", f"/letters/{lid}/recipients/moh/resolution", world["head2"], 409,
        "TUMAR_LETTER_TRANSITION",
        json={"text": "x", "executors": [world["exec2"].user_id], "due_date": "2026-03-10"},
    )  # fmt: skip
    assert "registered" in reason
    await step(api, world["clerk2"], lid, "recipients/moh/register")
    await refused(
        api, "POST", f"/letters/{lid}/recipients/moh/register", world["clerk2"], 409,
        "TUMAR_LETTER_TRANSITION",
    )  # fmt: skip


async def test_signature_by_someone_not_authorised(api: Api, world: World) -> None:
    w = world
    lid = (await draft(api, w))["letter_id"]
    await step(api, w["author"], lid, "submit")
    await step(api, w["appr1"], lid, "approve")
    await step(api, w["appr2"], lid, "approve")
    for who in ("author", "clerk", "appr1", "head2"):
        await refused(api, "POST", f"/letters/{lid}/sign", w[who], 403, "M_FORBIDDEN")
    # the operator holds every permission but signs nothing
    await refused(api, "POST", f"/letters/{lid}/sign", w.root, 403, "M_FORBIDDEN")
    # a signatory without a key
    await refused(api, "POST", f"/letters/{lid}/sign", w["signer"], 400, "TUMAR_NO_SIGNING_KEY")


async def test_unknown_recipient_organisation(api: Api, world: World) -> None:
    before = await snapshot(api)
    err = await api.error(
        "POST", f"{LETTERS}/letters", 400, "TUMAR_UNKNOWN_ORG", user=world["author"],
        json=letter_body(world, recipients=["moh", "nope"]),
    )  # fmt: skip
    assert "nope" in err["error"]
    assert await snapshot(api) == before


async def test_bad_drafts(api: Api, world: World) -> None:
    w = world
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"subject": ""}, 400, "M_INVALID_PARAM"),
        ({"subject": 5}, 400, "M_BAD_JSON"),
        ({"recipients": "moh"}, 400, "M_BAD_JSON"),
        ({"recipients": ["moh", "moh"]}, 400, "M_INVALID_PARAM"),
        ({"recipients": ["mof"]}, 400, "M_INVALID_PARAM"),
        ({"sender_org": "moh"}, 403, "M_FORBIDDEN"),
        ({"label": "secret"}, 400, "TUMAR_UNKNOWN_LABEL"),
        ({"signatory": w["clerk"].user_id}, 400, "M_INVALID_PARAM"),
        ({"approvers": ["@ghost:tumar.test"]}, 400, "M_INVALID_PARAM"),
        ({"approval": "random"}, 400, "M_BAD_JSON"),
        ({"reply_to": "l_missing"}, 400, "M_INVALID_PARAM"),
        ({"body": "x" * 70_000}, 413, "M_TOO_LARGE"),
        ({"attachments": [{"mxc": "mxc://elsewhere/abc", "name": "a.pdf"}]}, 400,
         "M_INVALID_PARAM"),
    ]  # fmt: skip
    for extra, status, errcode in cases:
        await refused(
            api, "POST", "/letters", w["author"], status, errcode, json=letter_body(w, **extra)
        )


async def test_strangers_see_nothing(api: Api, world: World) -> None:
    lid = (await draft(api, world))["letter_id"]
    for who in ("clerk2", "head2", "it1", "clerk"):
        await api.error("GET", f"{LETTERS}/letters/{lid}", 404, "M_NOT_FOUND", user=world[who])
        listed = await api.call("GET", f"{LETTERS}/letters", user=world[who])
        assert listed["letters"] == []


async def test_edit_only_draft_or_returned(api: Api, world: World) -> None:
    w = world
    lid = (await draft(api, w))["letter_id"]
    edited = await api.call(
        "PUT", f"{LETTERS}/letters/{lid}", user=w["author"],
        json=letter_body(w, subject="Budget request, corrected"),
    )  # fmt: skip
    assert edited["subject"] == "Budget request, corrected"
    await step(api, w["author"], lid, "submit")
    await refused(
        api, "PUT", f"/letters/{lid}", w["author"], 409, "TUMAR_LETTER_TRANSITION",
        json=letter_body(w),
    )  # fmt: skip
    err = await refused(
        api, "POST", f"/letters/{lid}/return", w["appr1"], 400, "M_INVALID_PARAM", json={}
    )
    assert "comment" in err
    letter = await step(api, w["appr1"], lid, "return", comment="Wrong figures")
    assert letter["status"] == "returned"
    letter = await api.call(
        "PUT", f"{LETTERS}/letters/{lid}", user=w["author"], json=letter_body(w)
    )
    letter = await step(api, w["author"], lid, "submit")
    assert [a["status"] for a in letter["approvers"]] == ["pending", "pending"]


async def test_label_keeps_people_below_it_out(api: Api, world: World) -> None:
    w = world
    await api.call("POST", f"{LETTERS}/signing-keys", user=w["signer"], json={}, expect=201)
    letter = await registered_letter(api, w, label="official-use", label_orgs=["moh"], approvers=[])
    lid = letter["letter_id"]
    await step(api, w["clerk2"], lid, "recipients/moh/register")
    await refused(
        api, "POST", f"/letters/{lid}/recipients/moh/resolution", w["head2"], 400,
        "M_INVALID_PARAM", json={"text": "Do it", "executors": [w["low2"].user_id],
                                 "due_date": "2026-03-01"},
    )  # fmt: skip
    await step(
        api, w["head2"], lid, "recipients/moh/resolution", text="Do it",
        executors=[w["low2"].user_id], due_date="2026-03-20",
    )  # fmt: skip
    await api.error("GET", f"{LETTERS}/letters/{lid}", 403, "TUMAR_CLEARANCE", user=w["low2"])


async def test_label_above_open_level_stays_in_audience(api: Api, world: World) -> None:
    w = world
    lid = (await draft(api, w, label="official-use", approvers=[]))["letter_id"]
    reason = await refused(
        api, "POST", f"/letters/{lid}/submit", w["author"], 403, "TUMAR_AUDIENCE"
    )
    assert "moh" in reason
    lid = (await draft(api, w, label="official-use", label_orgs=["moh"], approvers=[]))["letter_id"]
    assert (await step(api, w["author"], lid, "submit"))["status"] == "approved"


async def test_signed_letter_round_trip_lists(api: Api, world: World) -> None:
    letter = await signed_letter(api, world)
    outbox = await api.call("GET", f"{LETTERS}/letters?box=outbox", user=world["author"])
    assert [x["letter_id"] for x in outbox["letters"]] == [letter["letter_id"]]
    tasks = await api.call("GET", f"{LETTERS}/letters?box=tasks", user=world["clerk"])
    assert [x["allowed_actions"] for x in tasks["letters"]] == [["register_out"]]
    found = await api.call("GET", f"{LETTERS}/letters?q=budget", user=world["author"])
    assert len(found["letters"]) == 1
    found = await api.call("GET", f"{LETTERS}/letters?q=nothing", user=world["author"])
    assert found["letters"] == []
    await api.error(
        "GET", f"{LETTERS}/letters?box=bogus", 400, "M_INVALID_PARAM", user=world["author"]
    )
