"""The retention job deletes old device check-ins (``device_checkin_history_days``), on both
backends: in batches, never a device's newest check-in nor the history of an account under
legal hold, and without weakening replay protection (the last sequence number lives on
``managed_devices``). Devices are enrolled and check in through the device API; the job runs
through the service, the admin API and ``tumar retention``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from tests.conftest import run_sync
from tests.support.admin import ADMIN
from tests.support.devices import enrol_body
from tests.support.harness import Api, User
from tumar.api.admin.retention import RetentionPolicyOut, RunReportOut
from tumar.app import build_app
from tumar.cli import main
from tumar.cli_device_agent import Simulated, checkin_body
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core import retention as retention_module
from tumar.core.directory import cli_actor, who
from tumar.core.services import Services, build_services
from tumar.store import devices as device_store
from tumar.store.schema import audit_log, device_checkins, managed_devices

DEV = "/_tumar/devices/v1"
DAY_S = 86_400
HOUR_S = 3_600
T0 = 1_780_000_000_000
HISTORY_DAYS = 10
OPERATOR = cli_actor("test")


@dataclass
class Device:
    device_id: str
    key: Ed25519PrivateKey
    seq: int = 0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def checkin_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "device_checkin_history_days": HISTORY_DAYS,
            "retention_batch_size": 2,
            "retention_interval_seconds": 0,  # the tests run the job themselves
        }
    )


@pytest.fixture
async def services(checkin_settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(checkin_settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    async with Api.in_process(build_app(services.settings, services), services) as client:
        yield client


async def enrol(api: Api, user: User) -> Device:
    """Enrol a phone for ``user`` with a token they issue themselves."""
    token = await api.call("POST", f"{DEV}/enrolment-tokens", user=user, expect=201)
    key = Ed25519PrivateKey.generate()
    body = enrol_body(token["token"], key)
    out = await api.call("POST", f"{DEV}/enrol", user=user, json=body, expect=201)
    return Device(out["device_id"], key)


def signed(dev: Device, clock: FakeClock, seq: int | None = None) -> dict[str, Any]:
    """A check-in signed by the device, sent now; the next sequence number unless given."""
    if seq is None:
        dev.seq += 1
        seq = dev.seq
    return checkin_body(dev.device_id, seq, clock.now_ms(), Simulated(), [], dev.key)


async def checkin(api: Api, dev: Device, clock: FakeClock) -> None:
    await api.call("POST", f"{DEV}/checkin", json=signed(dev, clock))


async def history(services: Services) -> dict[str, list[int]]:
    """Sequence numbers of the stored check-ins, per device."""
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(device_checkins.c.device_id, device_checkins.c.seq).order_by(
                device_checkins.c.device_id, device_checkins.c.seq
            )
        )
        found: dict[str, list[int]] = {}
        for r in rows:
            found.setdefault(r.device_id, []).append(r.seq)
        return found


async def fleet(api: Api, clock: FakeClock) -> tuple[Device, Device, User, User]:
    """Alice's phone checks in once a day on days 0..6; Bob's twice on day 0 (at 0:00 and
    1:00) and never again. Then the clock moves to day 15: with 10 days kept, the horizon is
    day 5, so Alice's check-ins of days 0..4 and Bob's first have expired (6 rows), while
    Bob's second, though as old, is his phone's newest."""
    alice, bob = await api.register("alice"), await api.register("bob")
    phone, old_phone = await enrol(api, alice), await enrol(api, bob)
    await checkin(api, old_phone, clock)
    for day in range(7):
        await checkin(api, phone, clock)
        if day == 0:
            clock.advance(HOUR_S)
            await checkin(api, old_phone, clock)
            clock.advance(-HOUR_S)
        clock.advance(DAY_S)
    clock.advance((15 - 7) * DAY_S)
    return phone, old_phone, alice, bob


async def test_old_check_ins_go_in_batches_each_devices_newest_stays(
    api: Api, services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone, old_phone, _, _ = await fleet(api, clock)
    assert await history(services) == {
        phone.device_id: [1, 2, 3, 4, 5, 6, 7],
        old_phone.device_id: [1, 2],
    }

    dry = await services.retention.do_run(who(OPERATOR), "cli", dry_run=True)
    assert (dry.checkins_purged, dry.run_id) == (6, None)
    assert dry.checkin_cutoff_ts == clock.now_ms() - HISTORY_DAYS * DAY_S * 1000
    assert len((await history(services))[phone.device_id]) == 7  # a dry run changes nothing

    batches: list[int] = []
    purge = device_store.purge_checkins

    async def counted(
        conn: Any, before_ts: int, limit: int, **kw: Any
    ) -> tuple[int, device_store.CheckinKey | None]:
        deleted, after = await purge(conn, before_ts, limit, **kw)
        batches.append(deleted)
        return deleted, after

    monkeypatch.setattr(device_store, "purge_checkins", counted)
    report = await services.retention.do_run(who(OPERATOR), "cli")
    assert batches == [2, 2, 2, 0]  # batch size 2; the run goes on until nothing is left
    assert report.checkins_purged == 6 and report.run_id is not None
    assert report.events_purged == 0
    assert await history(services) == {
        phone.device_id: [6, 7],  # days 5 and 6: not older than the horizon
        old_phone.device_id: [2],  # 15 days old, but the device's newest
    }

    # The run is audited with the count; a second run finds nothing more.
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.after).where(audit_log.c.action == "retention.run")
        )
        runs = [r.after for r in rows]
    assert [json.loads(after)["checkins_purged"] for after in runs] == [6]
    again = await services.retention.do_run(who(OPERATOR), "cli")
    assert again.checkins_purged == 0 and batches[-1] == 0

    # The device's history (what its detail page lists) still has its last check-in.
    async with services.db.read() as conn:
        kept = await device_store.checkin_history(conn, old_phone.device_id, 10)
    assert [(c.seq, c.received_ts) for c in kept] == [(2, T0 + HOUR_S * 1000)]


async def test_store_batch_is_bounded_and_oldest_first(
    api: Api, services: Services, clock: FakeClock
) -> None:
    phone, old_phone, _, _ = await fleet(api, clock)
    horizon = clock.now_ms() - HISTORY_DAYS * DAY_S * 1000
    async with services.db.write() as conn:
        assert await device_store.count_expired_checkins(conn, horizon, at_most=100) == 6
        assert await device_store.count_expired_checkins(conn, horizon, at_most=4) == 4
        deleted, after = await device_store.purge_checkins(conn, horizon, 3)
        assert deleted == 3 and after is not None
    # Day 0 of both phones (Bob's at 0:00 only: his 1:00 is his newest), then Alice's day 1.
    assert await history(services) == {
        phone.device_id: [3, 4, 5, 6, 7],
        old_phone.device_id: [2],
    }
    async with services.db.write() as conn:
        # The next batch starts after the last key of this one.
        deleted, last = await device_store.purge_checkins(conn, horizon, 100, after=after)
        assert deleted == 3 and last is not None and last > after
        assert await device_store.purge_checkins(conn, horizon, 100, after=last) == (0, None)
        assert await device_store.purge_checkins(conn, horizon, 100) == (0, None)
        # Even a horizon in the future leaves every device its newest check-in.
        assert (await device_store.purge_checkins(conn, clock.now_ms() + 1, 100))[0] == 1
    assert await history(services) == {phone.device_id: [7], old_phone.device_id: [2]}


async def test_a_run_stops_after_its_batch_allowance_and_the_next_goes_on(
    api: Api, services: Services, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fleet(api, clock)
    monkeypatch.setattr(retention_module, "CHECKIN_BATCHES_PER_RUN", 2)  # batches of 2
    dry = await services.retention.do_run(who(OPERATOR), "cli", dry_run=True)
    assert dry.checkins_purged == 4  # what one run may delete, of the 6 expired
    first = await services.retention.do_run(who(OPERATOR), "cli")
    assert first.checkins_purged == 4
    second = await services.retention.do_run(who(OPERATOR), "cli")
    assert second.checkins_purged == 2
    assert (await services.retention.do_run(who(OPERATOR), "cli")).checkins_purged == 0


async def test_purged_history_does_not_reopen_old_sequence_numbers(
    api: Api, services: Services, clock: FakeClock
) -> None:
    phone, _, _, _ = await fleet(api, clock)
    await services.retention.do_run(who(OPERATOR), "cli")
    assert (await history(services))[phone.device_id] == [6, 7]
    for seq in (1, 5, 7):  # purged, purged, kept: each refused, freshly signed and dated
        err = await api.error(
            "POST", f"{DEV}/checkin", 409, "TUMAR_REPLAYED_SEQUENCE",
            json=signed(phone, clock, seq=seq),
        )  # fmt: skip
        assert err["last_seq"] == 7
    assert (await history(services))[phone.device_id] == [6, 7]
    async with services.db.read() as conn:
        last_seq = (
            await conn.execute(
                select(managed_devices.c.last_seq).where(
                    managed_devices.c.device_id == phone.device_id
                )
            )
        ).scalar_one()
    assert last_seq == 7
    await checkin(api, phone, clock)  # the next number is accepted
    assert (await history(services))[phone.device_id] == [6, 7, 8]


async def test_legal_hold_keeps_the_history_of_the_held_account(
    api: Api, services: Services, clock: FakeClock
) -> None:
    phone, old_phone, alice, _ = await fleet(api, clock)
    hold = await services.legal_holds.do_place(OPERATOR, "person", alice.user_id, "Case 7")
    report = await services.retention.do_run(who(OPERATOR), "cli")
    assert report.checkins_purged == 1  # Bob's first only
    assert await history(services) == {
        phone.device_id: [1, 2, 3, 4, 5, 6, 7],
        old_phone.device_id: [2],
    }
    await services.legal_holds.do_lift(OPERATOR, hold.hold_id, "Case closed")
    assert (await services.retention.do_run(who(OPERATOR), "cli")).checkins_purged == 5


async def test_admin_api_reports_the_count(api: Api, services: Services, clock: FakeClock) -> None:
    await fleet(api, clock)
    await services.accounts.do_create_user("op", "correct horse battery", admin=True)
    op = await api.login("op", "correct horse battery")
    policy = await api.call("GET", f"{ADMIN}/retention", user=op)
    assert policy["checkin_history_days"] == HISTORY_DAYS
    report = await api.call("GET", f"{ADMIN}/retention/report", user=op)
    assert report["checkins_purged"] == 6
    assert report["checkins_before_ts"] == clock.now_ms() - HISTORY_DAYS * DAY_S * 1000
    one_room = await api.call(
        "GET", f"{ADMIN}/retention/report", user=op, params={"room_id": "!none:tumar.test"}
    )
    assert (one_room["checkins_purged"], one_room["checkins_before_ts"]) == (0, None)
    done = await api.call("POST", f"{ADMIN}/retention/run", user=op)
    assert done["checkins_purged"] == 6 and done["run_id"] is not None
    RetentionPolicyOut.model_validate(policy)  # the shapes the OpenAPI document promises
    for out in (report, one_room, done):
        RunReportOut.model_validate(out)


# ---- the command line ---------------------------------------------------------------------------


def config_file(settings: Settings, tmp_path: Path) -> Path:
    """The test database (either backend) for ``tumar``, keeping 10 days of check-ins."""
    lines = [
        f'server_name = "{settings.server_name}"',
        f'database_url = "{settings.effective_database_url}"',
        "auto_migrate = false",
        f"device_checkin_history_days = {HISTORY_DAYS}",
        "retention_batch_size = 2",
    ]
    if settings.database_schema:
        lines.append(f'database_schema = "{settings.database_schema}"')
    path = tmp_path / "tumar.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def seed(settings: Settings) -> None:
    """Alice's phone checked in 20, 19 and 18 days ago and 1 hour ago (by the wall clock)."""
    clock = FakeClock(int(time.time() * 1000) - 20 * DAY_S * 1000)
    svc = build_services(settings, clock=clock)
    await svc.start()
    try:
        async with Api.in_process(build_app(settings, svc), svc) as api:
            phone = await enrol(api, await api.register("alice"))
            for _ in range(3):
                await checkin(api, phone, clock)
                clock.advance(DAY_S)
            clock.advance(17 * DAY_S - HOUR_S)
            await checkin(api, phone, clock)
    finally:
        await svc.close()


def test_cli_prints_the_count(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_sync(seed(settings))
    cfg = ["--config", str(config_file(settings, tmp_path)), "--data-dir", str(tmp_path)]
    assert main(["retention", "show", *cfg]) == 0
    assert "device check-ins         10 days (each device's newest is kept)" in (
        capsys.readouterr().out
    )
    assert main(["retention", "run", "--dry-run", *cfg]) == 0
    assert "Would purge 3 device check-in(s) received before " in capsys.readouterr().out
    assert main(["retention", "run", "--room", "!none:tumar.test", *cfg]) == 0
    assert "check-in" not in capsys.readouterr().out  # a one-room run leaves them alone
    assert main(["retention", "run", *cfg]) == 0
    out = capsys.readouterr().out
    assert "Purged 0 message(s)" in out
    assert "Purged 3 device check-in(s) received before " in out
    assert main(["retention", "run", *cfg]) == 0
    assert "Purged 0 device check-in(s)" in capsys.readouterr().out
