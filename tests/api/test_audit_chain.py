"""The audit chain through the admin API on both databases: verify, JSON Lines export with
filters and scope, checkpoints and the public key, compliance exports (JSON Lines and HTML
with the proof), audited refusals, and reads of protected rooms aggregated per window."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update

from tests.support.admin import ADMIN, grant, operator, person, two_ministries
from tests.support.harness import Api, User, q
from tumar.app import build_app
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.policy.audit_chain import ChainRow, checkpoint_message, hash_row
from tumar.store import directory as directory_store
from tumar.store.schema import audit_log


async def log(api: Api, by: User, **params: Any) -> list[dict[str, Any]]:
    page = await api.call("GET", f"{ADMIN}/audit", user=by, params={"limit": 1000, **params})
    return list(page["entries"])


async def export(api: Api, by: User, **params: Any) -> list[dict[str, Any]]:
    resp = await api.raw("GET", f"{ADMIN}/audit/export", user=by, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in resp.content.splitlines()]


def recompute(row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in ChainRow.__slots__}
    return hash_row(row["prev_hash"], ChainRow(**fields))


async def test_verify_reports_an_intact_chain_then_the_first_edited_row(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    report = await api.call("GET", f"{ADMIN}/audit/verify", user=root)
    assert report["ok"] is True and report["first_break"] is None
    assert report["rows"] == report["head_seq"] >= 7
    assert api.services is not None
    async with api.services.db.engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(ts=1))
    report = await api.call("GET", f"{ADMIN}/audit/verify", user=root)
    assert report["ok"] is False
    assert report["first_break"]["seq"] == 3
    assert report["first_break"]["kind"] == "edited"


async def test_export_filters_and_every_line_rehashes(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    await person(api, mof_admin, "100", "mof")
    await person(api, root, "200", "moh")
    rows = await export(api, root)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    for row in rows:
        assert recompute(row) == row["row_hash"]
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["row_hash"]

    created = await export(api, root, action="person.")
    assert {r["action"] for r in created} == {"person.create"}
    assert len(created) == 2
    by_mof = await export(api, root, actor=mof_admin.user_id)
    assert [r["target_type"] for r in by_mof] == ["person"]
    moh = await export(api, root, org="moh")
    assert moh and all(r["org_code"] == "moh" for r in moh)
    orgs = await export(api, root, target_type="organisation", target="mof")
    assert [r["action"] for r in orgs] == ["org.create"]
    ts = by_mof[0]["ts"]
    assert {r["seq"] for r in await export(api, root, since=ts, until=ts + 1)} >= {by_mof[0]["seq"]}
    assert await export(api, root, until=ts - 10**9) == []

    await api.error(
        "GET", f"{ADMIN}/audit/export", 400, "M_INVALID_PARAM", user=root,
        params={"action": "\x00"},
    )  # fmt: skip
    # Every export is itself audited, with its filters (the refused one is not an export).
    exports = await log(api, root, action="audit.export")
    assert len(exports) == 7
    assert exports[0]["after"]["filters"] == {"until_ts": ts - 10**9}


async def test_export_is_scoped_to_the_officers_subtree(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    await person(api, root, "100", "mof-it")
    await person(api, root, "200", "moh")
    rows = await export(api, officer)
    assert rows and {r["org_code"] for r in rows} <= {"mof", "mof-it"}
    assert any(r["org_code"] == "mof-it" for r in rows)
    await api.error(
        "GET", f"{ADMIN}/audit/export", 403, "TUMAR_OUT_OF_SCOPE", user=officer,
        params={"org": "moh"},
    )  # fmt: skip
    # An org admin reads the log but may not export it; the refusal is audited.
    await api.error("GET", f"{ADMIN}/audit/export", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin)
    await api.error("GET", f"{ADMIN}/audit/verify", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin)
    denied = await log(api, root, action="denied.admin")
    assert [(d["actor"], d["target_id"]) for d in denied[:3]] == [
        (mof_admin.user_id, "GET /_tumar/admin/v1/audit/verify"),
        (mof_admin.user_id, "GET /_tumar/admin/v1/audit/export"),
        (officer.user_id, "GET /_tumar/admin/v1/audit/export"),
    ]
    assert denied[0]["after"]["errcode"] == "TUMAR_OUT_OF_SCOPE"


async def test_someone_without_a_role_is_refused_and_audited(api: Api) -> None:
    root = await operator(api)
    nobody = await api.register("nobody")
    await api.error("GET", f"{ADMIN}/audit/verify", 403, "M_FORBIDDEN", user=nobody)
    denied = await log(api, root, action="denied.admin")
    assert [(d["actor"], d["target_type"]) for d in denied] == [(nobody.user_id, "admin_api")]


async def test_checkpoint_and_public_key_verify_offline(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    await api.error("POST", f"{ADMIN}/audit/checkpoint", 403, "TUMAR_OUT_OF_SCOPE", user=officer)
    result = await api.call("POST", f"{ADMIN}/audit/checkpoint", user=root)
    cp = result["checkpoint"]
    head = (await log(api, root))[0]
    assert cp["seq"] == head["seq"]  # the head, which is the officer's audited refusal
    assert head["action"] == "denied.admin"
    key = await api.call("GET", f"{ADMIN}/audit/public-key", user=officer)
    raw = base64.b64decode(key["public_key"])
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(cp["signature"]),
        checkpoint_message(cp["seq"], cp["row_hash"], cp["ts"], cp["key_id"]),
    )
    assert key["key_id"] == cp["key_id"]
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")


async def test_compliance_export_of_a_room(api: Api) -> None:
    root = await operator(api)
    alice = await api.register("alice")
    room = await api.create_room(alice, name="Budget <b>2026</b>")
    await api.send(alice, room, "<script>alert('x')</script> & more")
    resp = await api.raw(
        "GET", f"{ADMIN}/compliance/export", user=root, params={"room": room, "format": "html"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&amp; more" in page
    assert "Signed checkpoint at seq" in page

    resp = await api.raw("GET", f"{ADMIN}/compliance/export", user=root, params={"room": room})
    assert resp.status_code == 200
    lines = resp.content.splitlines(keepends=True)
    items = [orjson.loads(line) for line in lines]
    assert next(i["kind"] for i in items) == "manifest" and items[-1]["kind"] == "proof"
    bodies = [i["content"].get("body") for i in items if i["kind"] == "event"]
    assert "<script>alert('x')</script> & more" in bodies
    proof = items[-1]
    assert proof["sha256"] == hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    assert proof["chain"]["ok"] is True
    # The export is audited, and the checkpoint in the proof covers its row.
    exports = await log(api, root, action="compliance.export")
    assert len(exports) == 2 and exports[0]["target_id"] == room
    assert proof["checkpoint"]["seq"] >= exports[0]["seq"]
    raw = base64.b64decode(proof["public_key"]["public_key"])
    cp = proof["checkpoint"]
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(cp["signature"]),
        checkpoint_message(cp["seq"], cp["row_hash"], cp["ts"], cp["key_id"]),
    )


async def test_compliance_export_of_a_person_and_its_scope(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    worker = await api.register("worker")
    assert api.services is not None
    mof_person = await person(api, root, "100", "mof-it")
    moh_person = await person(api, root, "200", "moh")
    other = await api.register("other")
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, mof_person["person_id"], user_id=worker.user_id)
        await directory_store.update_person(conn, moh_person["person_id"], user_id=other.user_id)
    room = await api.create_room(worker)
    await api.send(worker, room, "report")
    resp = await api.raw(
        "GET", f"{ADMIN}/compliance/export", user=officer, params={"user": worker.user_id}
    )
    assert resp.status_code == 200, resp.text
    items = [orjson.loads(line) for line in resp.content.splitlines()]
    assert any(i["kind"] == "event" and i["sender"] == worker.user_id for i in items)
    assert all(i["sender"] == worker.user_id for i in items if i["kind"] == "event")
    for params in ({"user": other.user_id}, {"room": room}, {"since": 0, "until": 10**13}):
        await api.error(
            "GET", f"{ADMIN}/compliance/export", 403, "TUMAR_OUT_OF_SCOPE", user=officer,
            params=params,
        )  # fmt: skip
    before = len(await log(api, root, action="compliance."))
    for params in ({}, {"room": "not-a-room"}, {"since": 5, "until": 1}):
        resp = await api.raw("GET", f"{ADMIN}/compliance/export", user=root, params=params)
        assert resp.status_code == 400, resp.text
    assert len(await log(api, root, action="compliance.")) == before


# ---- aggregated reads ----------------------------------------------------------------------


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[tuple[Api, FakeClock]]:
    clock = FakeClock()
    svc = build_services(settings.model_copy(update={"audit_reads_from": "internal"}), clock=clock)
    await svc.start()
    try:
        async with Api.in_process(build_app(svc.settings, svc), svc) as api:
            yield api, clock
    finally:
        await svc.close()


async def reads(svc: Services) -> list[tuple[str, str, dict[str, Any]]]:
    async with svc.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.actor, audit_log.c.target_id, audit_log.c.after)
            .where(audit_log.c.action == "content.read")
            .order_by(audit_log.c.seq)
        )
        return [(r.actor, r.target_id, orjson.loads(r.after)) for r in rows]


async def test_reads_are_aggregated_per_user_room_and_window(
    clocked: tuple[Api, FakeClock],
) -> None:
    api, clock = clocked
    svc = api.services
    assert svc is not None
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await api.create_room(alice, preset="public_chat")
    await api.join(bob, room)
    event = await api.send(alice, room, "minutes")
    clock.advance(svc.settings.audit_reads_window_s - clock.now_ms() / 1000 % 3600)
    for _ in range(5):
        await api.call("GET", f"/rooms/{q(room)}/messages", user=bob, params={"limit": 3})
    await api.call("GET", f"/rooms/{q(room)}/event/{q(event)}", user=bob)
    await api.call("GET", f"/rooms/{q(room)}/context/{q(event)}", user=bob)
    await api.sync(bob)
    assert await svc.read_audit.flush() == 0  # the window has not ended
    assert await reads(svc) == []
    clock.advance(svc.settings.audit_reads_window_s)
    await api.call("GET", f"/rooms/{q(room)}/messages", user=bob)  # the next window
    assert await svc.read_audit.flush() == 1
    rows = await reads(svc)
    assert len(rows) == 1
    actor, target, after = rows[0]
    assert (actor, target, after["requests"], after["label"]) == (bob.user_id, room, 8, "internal")
    assert after["events"] >= 5 * 3 + 1 + 1
    assert await svc.read_audit.flush(everything=True) == 1  # the partial window, at shutdown
    assert len(await reads(svc)) == 2


async def test_reads_below_the_floor_are_not_audited(api: Api) -> None:
    svc = api.services
    assert svc is not None and svc.settings.audit_reads_from == "official-use"
    alice = await api.register("alice")
    room = await api.create_room(alice)
    await api.send(alice, room, "hello")
    await api.call("GET", f"/rooms/{q(room)}/messages", user=alice)
    assert svc.read_audit.pending == 1
    assert await svc.read_audit.flush(everything=True) == 0  # an internal room
    assert await reads(svc) == []
