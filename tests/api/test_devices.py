"""Device policy on the server (issue 8), through the admin API and the device API, on both
backends, with a clock the tests move: policies (versioned, audited, bad documents refused),
enrolment tokens, enrolment, signed check-ins (bad signatures, replays, clocks far off),
commands with acknowledgements, violations and the security officer's notice.

The world: gov > {mof, moh}. Officials with accounts: a1 and a2 (mof), c1 (moh). Security
officers: ``secmof`` over mof, ``secmoh`` over moh; ``mofadmin`` is mof's org admin (no
device permission). Monday 2 March 2026, 06:00 UTC (11:00 in Astana): working hours.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tests.support.admin import ADMIN, grant, org, person
from tests.support.devices import enrol_body
from tests.support.harness import Api, User
from tumar.app import build_app
from tumar.cli_device_agent import Simulated, checkin_body
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store import directory as directory_store
from tumar.store.schema import (
    audit_log,
    device_checkins,
    device_enrolment_tokens,
    device_policies,
    device_violations,
    managed_devices,
)

DEV = "/_tumar/devices/v1"
POLICIES = f"{ADMIN}/device-policies"
T0 = "2026-03-02T06:00:00"
LAT, LON = 51.1283, 71.4305  # the ministry's building
AWAY = (51.2000, 71.6000)  # about 12 km away


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


def policy_doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "Ministry of Finance premises",
        "audience": {"orgs": ["mof"]},
        "schedules": [
            {
                "tz": "Asia/Almaty",
                "hours": [{"day": d, "start": "09:00", "end": "18:00"} for d in range(5)],
            }
        ],
        "zones": [
            {
                "id": "hq",
                "name": "Headquarters",
                "geometry": {"type": "Circle", "coordinates": [LON, LAT], "radius_m": 300},
                "networks": ["wifi:MOF-STAFF"],
            }
        ],
        "restrictions": {"active": ["camera", "screen_capture"], "inactive": []},
        "requirements": {"min_os": {"android": "13"}},
        "grace_seconds": 600,
        "checkin_interval_seconds": 900,
        "stale_after_seconds": 1800,
        "gate": {"labels": ["official-use"]},
    }
    doc.update(extra)
    return doc


@dataclass
class World:
    root: User
    secmof: User
    secmoh: User
    mofadmin: User
    users: dict[str, User] = field(default_factory=dict)


async def add_person(api: Api, w: World, name: str, org_code: str) -> User:
    assert api.services is not None
    p = await person(api, w.root, f"n-{name}", org_code)
    w.users[name] = await api.register(name)
    async with api.services.db.write() as conn:
        await directory_store.update_person(conn, p["person_id"], user_id=w.users[name].user_id)
    return w.users[name]


@pytest.fixture
async def world(api: Api) -> World:
    assert api.services is not None
    await api.services.accounts.do_create_user("root", "correct horse battery", admin=True)
    root = await api.login("root")
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "moh", parent="gov")
    w = World(
        root, await api.register("secmof"), await api.register("secmoh"),
        await api.register("mofadmin"),
    )  # fmt: skip
    await grant(api, root, w.secmof.user_id, "security_officer", "mof")
    await grant(api, root, w.secmoh.user_id, "security_officer", "moh")
    await grant(api, root, w.mofadmin.user_id, "org_admin", "mof")
    for name, code in (("a1", "mof"), ("a2", "mof"), ("c1", "moh")):
        await add_person(api, w, name, code)
    return w


@pytest.fixture
async def policy(api: Api, world: World) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", POLICIES, user=world.secmof, json=policy_doc(), expect=201
    )
    return result


@dataclass
class Device:
    device_id: str
    key: Ed25519PrivateKey
    user: User
    seq: int = 0


def sim(
    restricted: tuple[str, ...] = ("camera", "screen_capture"),
    where: tuple[float, float] | None = (LAT, LON),
    **extra: Any,
) -> Simulated:
    lat, lon = where if where is not None else (None, None)
    return Simulated(restricted=set(restricted), lat=lat, lon=lon, **extra)


def body(
    dev: Device, clock: FakeClock, s: Simulated | None = None, *, seq: int | None = None,
    sent_ts: int | None = None, acks: list[dict[str, str]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    if seq is None:
        dev.seq += 1
        seq = dev.seq
    return checkin_body(
        dev.device_id, seq, clock.now_ms() if sent_ts is None else sent_ts,
        s or sim(), acks or [], dev.key,
    )  # fmt: skip


async def checkin(api: Api, dev: Device, clock: FakeClock, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.call("POST", f"{DEV}/checkin", json=body(dev, clock, **kw))
    return result


async def issue(api: Api, by: User, user: User) -> str:
    t = await api.call(
        "POST", f"{ADMIN}/device-enrolment-tokens", user=by, json={"user_id": user.user_id},
        expect=201,
    )  # fmt: skip
    return str(t["token"])


async def enrol(api: Api, w: World, user: User, officer: User | None = None) -> Device:
    key = Ed25519PrivateKey.generate()
    token = await issue(api, officer or w.secmof, user)
    out = await api.call("POST", f"{DEV}/enrol", user=user, json=enrol_body(token, key), expect=201)
    return Device(out["device_id"], key, user)


async def count(api: Api, table: Any) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def audit_actions(api: Api, prefix: str) -> list[tuple[str, str]]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.action, audit_log.c.actor)
            .where(audit_log.c.action.startswith(prefix))
            .order_by(audit_log.c.seq)
        )
        return [(r.action, r.actor) for r in rows]


# ---- enrolment --------------------------------------------------------------------------------


async def test_enrol_and_check_in_compliant(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    a1 = world.users["a1"]
    t = await api.call(
        "POST", f"{ADMIN}/device-enrolment-tokens", user=world.secmof,
        json={"user_id": a1.user_id}, expect=201,
    )  # fmt: skip
    assert t["qr_payload"].startswith("tumar-enrol:?server=")
    assert "token=" + t["token"] in t["qr_payload"]
    assert t["qr_svg"].startswith("<svg")
    assert t["expires_ts"] == clock.now_ms() + 72 * 3600 * 1000
    key = Ed25519PrivateKey.generate()
    out = await api.call(
        "POST", f"{DEV}/enrol", user=a1, json=enrol_body(t["token"], key), expect=201
    )
    assert out["device_id"].startswith("dv_")
    assert out["checkin_interval_ms"] > 0 and out["policy_bundle_version"]
    dev = Device(out["device_id"], key, a1)

    answer = await checkin(api, dev, clock)
    assert answer["verdict"] == "compliant", answer
    assert answer["findings"] == []
    assert answer["required_restrictions"] == ["camera", "screen_capture"]
    assert answer["server_ts"] == clock.now_ms()
    assert answer["valid_until_ts"] <= ms("2026-03-02T13:00:00")  # 18:00 in Astana
    assert 5_000 <= answer["next_checkin_ms"] <= 900_000
    assert answer["commands"] == []
    assert answer["policy_bundle_version"] == out["policy_bundle_version"]

    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert detail["user_id"] == a1.user_id
    assert detail["session_device_id"] == a1.device_id  # bound to the enrolling session
    assert detail["org_code"] == "mof"
    assert detail["attestation"]["kind"] == "play_integrity"  # stored as reported
    assert (detail["verdict"], detail["last_seq"]) == ("compliant", 1)
    assert detail["gated_labels"] == ["official-use"]
    assert [c["seq"] for c in detail["checkins"]] == [1]
    assert detail["checkins"][0]["report"]["evidence"]["fix"]["lat"] == LAT
    mine = await api.call("GET", f"{DEV}/devices", user=a1)
    assert [d["device_id"] for d in mine["devices"]] == [dev.device_id]
    assert [a for a, _ in await audit_actions(api, "device.")] == ["device.token", "device.enrol"]


async def test_token_used_twice_refused_nothing_created(
    api: Api, world: World, policy: dict[str, Any]
) -> None:
    a1 = world.users["a1"]
    token = await issue(api, world.secmof, a1)
    key = Ed25519PrivateKey.generate()
    await api.call("POST", f"{DEV}/enrol", user=a1, json=enrol_body(token, key), expect=201)
    before = await count(api, managed_devices)
    err = await api.error(
        "POST", f"{DEV}/enrol", 403, "TUMAR_BAD_ENROLMENT_TOKEN", user=a1,
        json=enrol_body(token, Ed25519PrivateKey.generate()),
    )  # fmt: skip
    assert "used" in err["error"]
    assert await count(api, managed_devices) == before


async def test_enrolment_bad_input_changes_nothing(
    api: Api, world: World, clock: FakeClock
) -> None:
    a1, a2 = world.users["a1"], world.users["a2"]
    token = await issue(api, world.secmof, a1)
    key = Ed25519PrivateKey.generate()
    bad = [
        ({"public_key": "bm90IGEga2V5"}, 400, "M_INVALID_PARAM"),
        ({"public_key": "%%%"}, 400, "M_INVALID_PARAM"),
        ({"platform": "symbian"}, 400, "M_INVALID_PARAM"),
        ({"management_mode": "whatever"}, 400, "M_INVALID_PARAM"),
        ({"ownership": 3}, 400, "M_BAD_JSON"),
        ({"attestation": {"blob": "x" * 70_000}}, 413, "M_TOO_LARGE"),
    ]
    for extra, status, code in bad:
        await api.error("POST", f"{DEV}/enrol", status, code, user=a1,
                        json=enrol_body(token, key, **extra))  # fmt: skip
    # Another official cannot use a1's token; an unknown token is refused.
    await api.error("POST", f"{DEV}/enrol", 403, "TUMAR_BAD_ENROLMENT_TOKEN", user=a2,
                    json=enrol_body(token, key))  # fmt: skip
    await api.error("POST", f"{DEV}/enrol", 403, "TUMAR_BAD_ENROLMENT_TOKEN", user=a1,
                    json=enrol_body("nope", key))  # fmt: skip
    await api.error("POST", f"{DEV}/enrol", 401, "M_MISSING_TOKEN", json=enrol_body(token, key))
    assert await count(api, managed_devices) == 0
    # The token is still unused, so it still works; only a hash of it is stored.
    assert api.services is not None
    async with api.services.db.read() as conn:
        stored = (await conn.execute(select(device_enrolment_tokens.c.token_hash))).scalars().all()
    assert token not in stored and len(stored) == 1
    await api.call("POST", f"{DEV}/enrol", user=a1, json=enrol_body(token, key), expect=201)
    # An expired token is refused.
    late = await issue(api, world.secmof, a1)
    clock.advance(72 * 3600 + 1)
    err = await api.error("POST", f"{DEV}/enrol", 403, "TUMAR_BAD_ENROLMENT_TOKEN", user=a1,
                          json=enrol_body(late, key))  # fmt: skip
    assert "expired" in err["error"]


async def test_self_service_token(api: Api, world: World, settings: Settings) -> None:
    a1 = world.users["a1"]
    t = await api.call("POST", f"{DEV}/enrolment-tokens", user=a1, expect=201)
    key = Ed25519PrivateKey.generate()
    await api.call("POST", f"{DEV}/enrol", user=a1, json=enrol_body(t["token"], key), expect=201)
    png = await api.raw("POST", f"{DEV}/enrolment-tokens", user=a1, params={"format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = await api.raw("POST", f"{DEV}/enrolment-tokens", user=a1, params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml")
    # Re-enrolling from the same session replaces (retires) the older device.
    t2 = await api.call("POST", f"{DEV}/enrolment-tokens", user=a1, expect=201)
    await api.call("POST", f"{DEV}/enrol", user=a1, json=enrol_body(t2["token"], key), expect=201)
    mine = (await api.call("GET", f"{DEV}/devices", user=a1))["devices"]
    assert [d["retired_ts"] is None for d in mine] == [False, True]


async def test_self_service_can_be_switched_off(settings: Settings, clock: FakeClock) -> None:
    svc = build_services(settings.model_copy(update={"devices_self_service_tokens": False}),
                         clock=clock)  # fmt: skip
    await svc.start()
    try:
        async with Api.in_process(build_app(svc.settings, svc), svc) as api:
            user = await api.register("someone")
            await api.error("POST", f"{DEV}/enrolment-tokens", 403, "M_FORBIDDEN", user=user)
            assert await count(api, device_enrolment_tokens) == 0
    finally:
        await svc.close()


# ---- check-ins --------------------------------------------------------------------------------


async def test_unknown_and_retired_device_refused(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    ghost = Device("dv_0123456789", Ed25519PrivateKey.generate(), world.users["a1"])
    await api.error("POST", f"{DEV}/checkin", 404, "TUMAR_DEVICE_UNKNOWN", json=body(ghost, clock))
    dev = await enrol(api, world, world.users["a1"])
    await checkin(api, dev, clock)
    await api.call("POST", f"{ADMIN}/devices/{dev.device_id}/retire", user=world.secmof)
    await api.error("POST", f"{DEV}/checkin", 404, "TUMAR_DEVICE_UNKNOWN", json=body(dev, clock))
    await api.error("POST", f"{ADMIN}/devices/{dev.device_id}/retire", 409,
                    "TUMAR_DEVICE_RETIRED", user=world.secmof)  # fmt: skip
    assert await count(api, device_checkins) == 1


async def test_bad_signature_refused(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    signed = body(dev, clock, sim(restricted=("camera", "screen_capture")))
    tampered = {**signed, "state": {**signed["state"], "restricted": ["camera"]}}
    await api.error("POST", f"{DEV}/checkin", 401, "TUMAR_BAD_SIGNATURE", json=tampered)
    other = Device(dev.device_id, Ed25519PrivateKey.generate(), dev.user)
    await api.error("POST", f"{DEV}/checkin", 401, "TUMAR_BAD_SIGNATURE",
                    json=body(other, clock, seq=1))  # fmt: skip
    await api.error("POST", f"{DEV}/checkin", 401, "TUMAR_BAD_SIGNATURE",
                    json={**signed, "signature": "not base64!"})  # fmt: skip
    assert await count(api, device_checkins) == 0
    # Nothing was consumed: the genuine check-in with sequence number 1 is accepted.
    answer = await api.call("POST", f"{DEV}/checkin", json=signed)
    assert answer["verdict"] == "compliant"


async def test_replayed_and_old_sequence_numbers_refused(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    first = body(dev, clock)
    await api.call("POST", f"{DEV}/checkin", json=first)
    await api.error("POST", f"{DEV}/checkin", 409, "TUMAR_REPLAYED_SEQUENCE", json=first)
    clock.advance(60)
    await checkin(api, dev, clock, seq=5)
    err = await api.error("POST", f"{DEV}/checkin", 409, "TUMAR_REPLAYED_SEQUENCE",
                          json=body(dev, clock, seq=3))  # fmt: skip
    assert err["last_seq"] == 5
    await api.error("POST", f"{DEV}/checkin", 409, "TUMAR_REPLAYED_SEQUENCE",
                    json=body(dev, clock, seq=5))  # fmt: skip
    assert await count(api, device_checkins) == 2
    await checkin(api, dev, clock, seq=6)


async def test_clock_far_off_refused(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    for offset in (86_400_000, 10 * 60_000, -3_600_000):
        err = await api.error("POST", f"{DEV}/checkin", 400, "TUMAR_CLOCK_SKEW",
                              json=body(dev, clock, sent_ts=clock.now_ms() + offset))  # fmt: skip
        assert err["server_ts"] == clock.now_ms()
    assert await count(api, device_checkins) == 0
    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert (detail["last_seq"], detail["verdict"]) == (0, "unknown")
    # Within the allowed skew the server's clock decides, not the device's.
    ok = await checkin(api, dev, clock, sent_ts=clock.now_ms() + 60_000)
    assert ok["server_ts"] == clock.now_ms()


async def test_bad_check_in_bodies(api: Api, world: World, clock: FakeClock) -> None:
    dev = await enrol(api, world, world.users["a1"])
    good = body(dev, clock)
    for broken in (
        {k: v for k, v in good.items() if k != "signature"},
        {**good, "seq": "1"},
        {**good, "seq": 0},
        {**good, "state": "android"},
        {**good, "evidence": {"fix": {"lat": 91, "lon": 0, "accuracy_m": 5, "ts": 1}}},
        {**good, "acks": [{"command_id": 5}]},
    ):
        await api.error("POST", f"{DEV}/checkin", 400, "M_BAD_JSON", json=broken)
    huge = {**good, "pad": "x" * 2_000_000}
    resp = await api.raw("POST", f"{DEV}/checkin", json=huge)
    assert resp.status_code == 413
    ios = body(dev, clock, sim(platform="ios"))
    await api.error("POST", f"{DEV}/checkin", 400, "M_INVALID_PARAM", json=ios)
    assert await count(api, device_checkins) == 0


# ---- commands ---------------------------------------------------------------------------------


async def test_commands_delivered_and_acknowledged(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    url = f"{ADMIN}/devices/{dev.device_id}/commands"
    message = {"kind": "show_message", "message": "Please update"}
    shown = await api.call("POST", url, user=world.secmof, json=message, expect=201)
    clock.advance(1)
    lock = await api.call("POST", url, user=world.secmof, json={"kind": "lock_content"}, expect=201)
    for bad in ({"kind": "explode"}, {"kind": "show_message"}, {"kind": "sync_now", "x": 1},
                {"kind": "sync_now", "message": "hi"}):  # fmt: skip
        resp = await api.raw("POST", url, user=world.secmof, json=bad)
        assert resp.status_code == 400, bad
    answer = await checkin(api, dev, clock)
    got = [(c["command_id"], c["kind"], c["payload"]) for c in answer["commands"]]
    assert got == [
        (shown["command_id"], "show_message", {"message": "Please update"}),
        (lock["command_id"], "lock_content", {}),
    ]
    # Not acknowledged yet: delivered again.
    clock.advance(30)
    again = await checkin(api, dev, clock)
    assert [c["command_id"] for c in again["commands"]] == [shown["command_id"], lock["command_id"]]
    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert all(c["delivered_ts"] is not None and c["acked_ts"] is None for c in detail["commands"])
    # Another device cannot acknowledge them.
    other = await enrol(api, world, world.users["a2"])
    acks = [{"command_id": shown["command_id"], "result": "shown"}]
    await checkin(api, other, clock, acks=acks)
    clock.advance(30)
    acks.append({"command_id": lock["command_id"], "result": "locked"})
    after = await checkin(api, dev, clock, acks=acks)
    assert after["commands"] == []
    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert sorted((c["kind"], c["result"]) for c in detail["commands"]) == [
        ("lock_content", "locked"), ("show_message", "shown"),
    ]  # fmt: skip
    assert [a for a, _ in await audit_actions(api, "device.command")] == ["device.command"] * 2


# ---- violations -------------------------------------------------------------------------------


async def notices_of(api: Api, user: User) -> list[str]:
    synced = await api.sync(user)
    out = []
    for room in synced.get("rooms", {}).get("join", {}).values():
        for ev in room["timeline"]["events"]:
            if ev["type"] == "m.room.message":
                out.append(ev["content"]["body"])
    return out


async def test_violation_opens_after_grace_and_closes_on_compliance(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    camera_on = sim(restricted=("screen_capture",))
    first = await checkin(api, dev, clock, s=camera_on)
    assert first["verdict"] == "unknown"  # within the grace period
    assert [f["setting"] for f in first["findings"]] == ["camera"]
    assert first["grace_until_ts"] == clock.now_ms() + 600_000
    assert await count(api, device_violations) == 0
    clock.advance(300)
    assert (await checkin(api, dev, clock, s=camera_on))["verdict"] == "unknown"
    clock.advance(301)
    late = await checkin(api, dev, clock, s=camera_on)
    assert late["verdict"] == "non_compliant"
    assert "camera" in late["findings"][0]["reason"].lower()
    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert [v["closed_ts"] for v in detail["violations"]] == [None]
    # Still non-compliant: the same violation stays open, no second notice.
    clock.advance(60)
    await checkin(api, dev, clock, s=camera_on)
    assert await count(api, device_violations) == 1
    told = [b for b in await notices_of(api, world.secmof) if "Device policy violation" in b]
    assert len(told) == 1 and dev.device_id in told[0] and "a1" in told[0]
    assert not [b for b in await notices_of(api, world.secmoh) if "violation" in b]
    # Complying closes it.
    clock.advance(60)
    assert (await checkin(api, dev, clock))["verdict"] == "compliant"
    detail = await api.call("GET", f"{ADMIN}/devices/{dev.device_id}", user=world.secmof)
    assert detail["violations"][0]["closed_ts"] == clock.now_ms()
    assert [a for a, _ in await audit_actions(api, "device.violation")] == [
        "device.violation.open", "device.violation.close",
    ]  # fmt: skip


async def test_outside_hours_or_premises_no_restriction(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    away = await checkin(api, dev, clock, s=sim(restricted=(), where=AWAY, accuracy_m=10))
    assert (away["verdict"], away["required_restrictions"]) == ("compliant", [])
    clock.advance(9 * 3600)  # 20:00 in Astana
    evening = await checkin(api, dev, clock, s=sim(restricted=()))
    assert (evening["verdict"], evening["required_restrictions"]) == ("compliant", [])


# ---- policies ---------------------------------------------------------------------------------


async def test_policy_versions_audited(api: Api, world: World) -> None:
    created = await api.call(
        "POST", POLICIES, user=world.secmof, json=policy_doc(), expect=201,
        params={"policy_id": "mof-premises"},
    )  # fmt: skip
    assert (created["policy_id"], created["version"]) == ("mof-premises", 1)
    await api.error("POST", POLICIES, 409, "TUMAR_POLICY_EXISTS", user=world.secmof,
                    json=policy_doc(), params={"policy_id": "mof-premises"})  # fmt: skip
    url = f"{POLICIES}/mof-premises"
    v2 = await api.call("PUT", url, user=world.secmof, json=policy_doc(grace_seconds=300))
    assert (v2["version"], v2["document"]["grace_seconds"]) == (2, 300)
    assert (await api.call("GET", url, user=world.secmof))["version"] == 2
    versions = await api.call("GET", f"{url}/versions", user=world.secmof)
    assert [p["version"] for p in versions["policies"]] == [2, 1]
    assert versions["policies"][1]["document"]["grace_seconds"] == 600  # the old one is kept
    listed = await api.call("GET", POLICIES, user=world.secmof)
    assert [(p["policy_id"], p["version"]) for p in listed["policies"]] == [("mof-premises", 2)]
    retired = await api.call("DELETE", url, user=world.secmof)
    assert retired["retired_ts"] is not None
    assert (await api.call("GET", POLICIES, user=world.secmof))["policies"] == []
    await api.error("PUT", url, 404, "M_NOT_FOUND", user=world.secmof, json=policy_doc())
    await api.error("DELETE", url, 404, "M_NOT_FOUND", user=world.secmof)
    actions = await audit_actions(api, "device_policy.")
    assert actions == [
        ("device_policy.create", world.secmof.user_id),
        ("device_policy.update", world.secmof.user_id),
        ("device_policy.retire", world.secmof.user_id),
    ]
    assert api.services is not None
    async with api.services.db.read() as conn:
        row = (
            await conn.execute(
                select(audit_log.c.before, audit_log.c.after).where(
                    audit_log.c.action == "device_policy.update"
                )
            )
        ).one()
    assert '"grace_seconds":600' in row.before and '"grace_seconds":300' in row.after


BAD_DOCS: list[tuple[dict[str, Any], str]] = [
    (
        {"zones": [{"id": "hq", "geometry": {"type": "Polygon", "coordinates": [
            [[71.0, 51.0], [71.1, 51.0], [71.1, 51.1], [71.0, 51.2]]]}}]},
        "zones.0.geometry.coordinates.0",
    ),
    ({"zones": [{"id": "hq", "geometry": {"type": "Point", "coordinates": [71, 51]}}]},
     "zones.0.geometry.type"),
    ({"schedules": [{"tz": "Asia/Almaty", "hours": [{"day": 0, "start": "18:00",
                                                     "end": "09:00"}]}]},
     "schedules.0.hours.0.end"),
    ({"schedules": [{"tz": "Mars/Olympus", "hours": []}]}, "schedules.0.tz"),
    ({"schedules": [{"tz": "Asia/Almaty", "hours": [{"day": 7, "start": "09:00",
                                                     "end": "18:00"}]}]},
     "schedules.0.hours.0.day"),
    ({"restrictions": {"active": ["teleport"]}}, "restrictions.active.0"),
    ({"grace_seconds": -5}, "grace_seconds"),
    ({"audience": {"orgs": ["nowhere"]}}, "audience.org_codes"),
    ({"colour": "red"}, "colour"),
]  # fmt: skip


async def test_bad_policy_documents_change_nothing(
    api: Api, world: World, policy: dict[str, Any]
) -> None:
    before = (await count(api, device_policies), await count(api, audit_log))
    for extra, where in BAD_DOCS:
        err = await api.error("POST", POLICIES, 400, "TUMAR_BAD_POLICY", user=world.secmof,
                              json=policy_doc(**extra))  # fmt: skip
        assert err["field"] == where, (extra, err)
        await api.error("PUT", f"{POLICIES}/{policy['policy_id']}", 400, "TUMAR_BAD_POLICY",
                        user=world.secmof, json=policy_doc(**extra))  # fmt: skip
    resp = await api.raw("POST", POLICIES, user=world.secmof, content=b"[1, 2]",
                         headers={"content-type": "application/json"})  # fmt: skip
    assert (resp.status_code, resp.json()["errcode"]) == (400, "M_BAD_JSON")
    # A policy contradicting one in force (camera explicitly allowed for the same people).
    contra = policy_doc(name="Camera for press officers", restrictions={},
                        allowed={"active": ["camera"]})  # fmt: skip
    err = await api.error("POST", POLICIES, 409, "TUMAR_POLICY_CONFLICT", user=world.secmof,
                          json=contra)  # fmt: skip
    assert err["contradictions"] and "camera" in err["error"]
    assert (await count(api, device_policies), await count(api, audit_log)) == before


async def test_another_organisations_officer_refused(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    dev = await enrol(api, world, world.users["a1"])
    pid = policy["policy_id"]
    before = (await count(api, device_policies), await count(api, device_enrolment_tokens))
    for who in (world.secmoh, world.mofadmin):
        for method, path, payload in (
            ("POST", POLICIES, policy_doc(name="x")),
            ("PUT", f"{POLICIES}/{pid}", policy_doc()),
            ("DELETE", f"{POLICIES}/{pid}", None),
            ("GET", f"{POLICIES}/{pid}", None),
            ("POST", f"{ADMIN}/device-enrolment-tokens", {"user_id": world.users["a1"].user_id}),
            ("GET", f"{ADMIN}/devices/{dev.device_id}", None),
            ("POST", f"{ADMIN}/devices/{dev.device_id}/commands", {"kind": "wipe_content"}),
            ("POST", f"{ADMIN}/devices/{dev.device_id}/retire", None),
        ):
            resp = await api.raw(method, path, user=who, json=payload)
            assert resp.status_code == 403, (who.user_id, method, path, resp.text)
    assert (await api.call("GET", POLICIES, user=world.secmoh))["policies"] == []
    await api.error("GET", POLICIES, 403, "M_FORBIDDEN", user=world.users["a1"])
    assert (await count(api, device_policies), await count(api, device_enrolment_tokens)) == before
    # moh's officer manages moh's people.
    await enrol(api, world, world.users["c1"], officer=world.secmoh)
    answer = await checkin(api, dev, clock)
    assert answer["commands"] == []


# ---- check-ins arriving together (group commit) -----------------------------------------------


async def test_concurrent_check_ins_are_judged_each_on_its_own(
    api: Api, world: World, policy: dict[str, Any], clock: FakeClock
) -> None:
    """Check-ins that arrive together share one transaction (``core/group_commit.py``), but
    each is refused or accepted as if alone: two of one device in order both count, a replay
    and a bad signature among them are refused and write nothing."""
    assert api.services is not None
    devs = [await enrol(api, world, world.users[n]) for n in ("a1", "a2")]
    devs.append(await enrol(api, world, world.users["c1"], officer=world.secmoh))
    firsts = [body(d, clock) for d in devs]
    then = body(devs[0], clock)  # the same device's next sequence number
    forged = {**body(devs[2], clock), "sent_ts": clock.now_ms() + 1}
    nul = body(devs[2], clock, sim(os_version="14\x00"))  # PostgreSQL cannot store it
    sent = [*firsts, then, firsts[1], forged, nul]
    batches = api.services.devices.checkins._batches
    before = batches.batches
    answers = await asyncio.gather(*(api.raw("POST", f"{DEV}/checkin", json=b) for b in sent))
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 409, 401, 400]
    assert answers[4].json()["errcode"] == "TUMAR_REPLAYED_SEQUENCE"
    assert answers[5].json()["errcode"] == "TUMAR_BAD_SIGNATURE"
    assert answers[6].json()["errcode"] == "M_INVALID_PARAM"
    assert batches.batches - before < len(sent)  # some shared a transaction
    assert await count(api, device_checkins) == 4
    detail = await api.call("GET", f"{DEV}/devices", user=world.users["a1"])
    assert [d["last_seq"] for d in detail["devices"]] == [2]
