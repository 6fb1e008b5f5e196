"""`tumar devices ...` (policies, tokens, devices, commands) on SQLite, and `tumar
device-agent` against the same deployment in process, and against a live server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_sync
from tests.support.harness import LiveServer
from tumar.app import build_app
from tumar.cli import main, parser
from tumar.cli_device_agent import Simulated, parse_qr, run_agent
from tumar.config import load_settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store import directory as directory_store

PASSWORD = "correct horse battery"
LAT, LON = 51.1283, 71.4305


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def seed(data_dir: Path) -> str:
    """gov > mof with one official who has an account (with a password)."""
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        await svc.db.migrate()
        actor = cli_actor("test")
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government")
        )
        await svc.directory.do_create_org(actor, NewOrg("mof", "gov", "ministry", "m", "m", "m"))
        p = await svc.directory.do_create_person(actor, NewPerson("1", "mof", "Аты", "Name"))
        user_id = await svc.accounts.do_create_user("u1", PASSWORD)
        async with svc.db.write() as conn:
            await directory_store.update_person(conn, p.person_id, user_id=user_id)
        return user_id
    finally:
        await svc.close()


def policy_doc(**extra: Any) -> dict[str, Any]:
    """Always active on the premises (no schedules), so the wall clock does not matter."""
    return {
        "name": "MoF premises",
        "audience": {"orgs": ["mof"]},
        "schedules": [],
        "zones": [
            {
                "id": "hq",
                "geometry": {"type": "Circle", "coordinates": [LON, LAT], "radius_m": 300},
            }
        ],
        "restrictions": {"active": ["camera"], "inactive": []},
        "grace_seconds": 0,
        **extra,
    }


async def agent(data_dir: Path, *argv: str) -> list[str]:
    """Run the device agent against an in-process app on the deployment; return its output."""
    svc = build_services(load_settings(None, data_dir=data_dir))
    await svc.start()
    printed: list[str] = []
    try:
        transport = httpx.ASGITransport(app=build_app(svc.settings, svc))
        async with httpx.AsyncClient(transport=transport, base_url="http://tumar.test") as c:
            args = parser().parse_args(["device-agent", *argv])
            assert await run_agent(args, c, out=printed.append) == 0
    finally:
        await svc.close()
    return printed


def test_devices_commands_and_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user_id = run_sync(seed(tmp_path))
    doc = tmp_path / "policy.json"
    doc.write_text(json.dumps(policy_doc()), "utf-8")
    assert run(tmp_path, "devices", "policy", "apply", str(doc), "--id", "mof-hq") == 0
    assert capsys.readouterr().out.strip() == "mof-hq v1 MoF premises"
    doc.write_text(json.dumps(policy_doc(hysteresis_m=30.0)), "utf-8")
    assert run(tmp_path, "devices", "policy", "apply", str(doc), "--id", "mof-hq") == 0
    assert capsys.readouterr().out.strip() == "mof-hq v2 MoF premises"
    assert run(tmp_path, "devices", "policy", "versions", "mof-hq") == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["v2", "v1"]
    assert run(tmp_path, "devices", "policy", "list") == 0
    assert capsys.readouterr().out.startswith("mof-hq\tv2\tMoF premises")
    assert run(tmp_path, "devices", "policy", "show", "mof-hq") == 0
    assert json.loads(capsys.readouterr().out)["hysteresis_m"] == 30.0
    assert run(tmp_path, "devices", "policy", "preview", "mof-hq",
               "--at", "2026-03-02T11:00:00+05:00") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "working hours" in out and "restricted while active: camera" in out

    qr = tmp_path / "qr.png"
    assert run(tmp_path, "devices", "token", user_id, "--qr", str(qr)) == 0
    out = capsys.readouterr().out
    token = out.split("token: ")[1].split()[0]
    payload = out.split("qr payload: ")[1].split()[0]
    assert parse_qr(payload)[1] == token
    assert qr.read_bytes().startswith(b"\x89PNG")

    state = tmp_path / "agent.json"
    where = ["--lat", str(LAT), "--lon", str(LON), "--accuracy", "15"]
    lines = run_sync(agent(tmp_path, "--qr", payload, "--user", "u1", "--password", PASSWORD,
                           "--state", str(state), "--once", "--camera", "off", *where))  # fmt: skip
    assert lines[0].startswith("enrolled dv_")
    assert lines[1] == "seq 1: compliant (required: camera)"
    device_id = json.loads(state.read_text())["device_id"]
    assert state.stat().st_mode & 0o077 == 0  # the key file is the owner's only

    assert run(tmp_path, "devices", "list") == 0
    out = capsys.readouterr().out
    assert device_id in out and "compliant" in out and "1 device(s)" in out
    assert run(tmp_path, "devices", "command", device_id, "show_message",
               "--message", "Camera off, please") == 0  # fmt: skip
    assert run(tmp_path, "devices", "command", device_id, "lock_content") == 0
    capsys.readouterr()
    # The camera is on: non-compliant (no grace), the message shown, content locked.
    lines = run_sync(agent(tmp_path, "--state", str(state), "--once", "--camera", "on", *where))
    assert lines[0] == "seq 2: non_compliant (required: camera)"
    assert any(line.startswith("  finding: ") and "amera" in line for line in lines)
    assert "MESSAGE: Camera off, please" in lines and "official content locked" in lines
    saved = json.loads(state.read_text())
    assert saved["locked"] is True and len(saved["acks"]) == 2
    lines = run_sync(agent(tmp_path, "--state", str(state), "--count", "2", "--interval", "0",
                           "--camera", "off", *where))  # fmt: skip
    assert lines == ["seq 3: compliant (required: camera)", "seq 4: compliant (required: camera)"]
    assert json.loads(state.read_text())["acks"] == []
    assert run(tmp_path, "devices", "show", device_id) == 0
    out = capsys.readouterr().out
    assert "acked" in out and "(shown)" in out and "(locked)" in out
    assert "violation" in out and "check-in 4" in out
    assert run(tmp_path, "devices", "summary") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "total\t1\t1\t0\t0" in lines  # enrolled, compliant again after seq 4
    assert run(tmp_path, "devices", "violations") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 violation(s)"  # closed by compliance
    assert run(tmp_path, "devices", "violations", "--all") == 0
    out = capsys.readouterr().out
    assert device_id in out and "closed " in out and out.splitlines()[-1] == "1 violation(s)"
    assert run(tmp_path, "devices", "retire", device_id) == 0
    assert capsys.readouterr().out.strip() == f"{device_id} retired"

    # Bad input: clear messages, exit status 1, nothing changed.
    doc.write_text(json.dumps(policy_doc(zones=[{"id": "x", "geometry": {"type": "Point"}}])))
    assert run(tmp_path, "devices", "policy", "apply", str(doc), "--id", "mof-hq") == 1
    assert "zones.0.geometry" in capsys.readouterr().err
    assert run(tmp_path, "devices", "policy", "versions", "mof-hq") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert run(tmp_path, "devices", "token", "@nobody:localhost") == 1
    assert "no active account" in capsys.readouterr().err


def agent_args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["device-agent", *argv])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_agent_against_live_server(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command as run by a user: real HTTP, self-service enrolment with the official's
    login, the state file kept between runs."""
    resp = httpx.post(
        f"{live_server.url}/_matrix/client/v3/register",
        json={"username": "off1", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
    )
    assert resp.status_code == 200, resp.text
    state = tmp_path / "agent.json"
    base = ["device-agent", "--state", str(state), "--once"]
    ios = ["--platform", "ios", "--os-version", "17.4"]
    assert main([*base, "--server", live_server.url, "--user", "off1", "--password", PASSWORD,
                 *ios]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("enrolled dv_") and out[1] == "seq 1: compliant (required: none)"
    assert main([*base, *ios]) == 0
    assert capsys.readouterr().out.strip() == "seq 2: compliant (required: none)"
    # A replayed sequence number (a state file restored from a backup) is refused clearly.
    saved = json.loads(state.read_text())
    saved["seq"] = 0
    state.write_text(json.dumps(saved))
    assert main([*base, *ios]) == 1
    assert "TUMAR_REPLAYED_SEQUENCE" in capsys.readouterr().err
    # Not enrolled and nothing to enrol with.
    assert main(["device-agent", "--state", str(tmp_path / "new.json"), "--once",
                 "--server", live_server.url]) == 1  # fmt: skip
    assert "--access-token" in capsys.readouterr().err


def test_simulate_file_overrides() -> None:
    base = Simulated(restricted={"camera"}, lat=1.0, lon=2.0)
    sim = base.merge_json({"restricted": [], "security": {"rooted": True}, "lat": 3.5})
    assert (sim.restricted, sim.rooted, sim.lat, sim.lon) == (set(), True, 3.5, 2.0)
    assert base.restricted == {"camera"}
