"""`tumar retention show|run` and `tumar hold place|lift|list` (SQLite, default policy:
``internal`` rooms keep messages for 1825 days)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import run_sync
from tumar.cli import main
from tumar.clock import FakeClock
from tumar.config import load_settings
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.services import build_services
from tumar.store.schema import audit_log, events, legal_holds

DAY_MS = 86_400_000


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def seed(data_dir: Path) -> str:
    """One room with a message sent 1900 days ago (the internal retention is 1825 days)."""
    clock = FakeClock(int(time.time() * 1000) - 1900 * DAY_MS)
    svc = build_services(load_settings(None, data_dir=data_dir), clock=clock)
    try:
        await svc.db.migrate()
        user_id = await svc.accounts.do_create_user("alice", None)
        alice = Requester(user_id, "CLI")
        room_id = await svc.creator.do_create_room(
            alice, RoomPlan(creator=user_id, preset="private_chat"), "private"
        )
        memo = {"msgtype": "m.text", "body": "old memo"}
        await svc.rooms.do_send(alice, room_id, "m.room.message", memo)
        return room_id
    finally:
        await svc.close()


async def bodies(data_dir: Path, room_id: str) -> list[str]:
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        async with svc.db.read() as conn:
            rows = await conn.execute(
                select(events.c.content).where(
                    events.c.room_id == room_id, events.c.type == "m.room.message"
                )
            )
            return [r.content for r in rows]
    finally:
        await svc.close()


async def table_rows(data_dir: Path, table: str) -> int:
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        async with svc.db.read() as conn:
            t = {"legal_holds": legal_holds, "audit_log": audit_log}[table]
            return len((await conn.execute(select(t))).all())
    finally:
        await svc.close()


def test_retention_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "retention", "show") == 0
    out = capsys.readouterr().out
    assert "public                   365 days" in out
    assert "internal                 1825 days" in out
    assert "official-use             forever" in out
    assert "Runs every 3600 s in the server." in out


def test_holds_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    room_id = run_sync(seed(tmp_path))
    assert run(tmp_path, "hold", "place", "room", room_id, "--reason", "Case 7") == 0
    hold_id = capsys.readouterr().out.split()[1]
    assert hold_id.startswith("h_")
    assert run(tmp_path, "hold", "list") == 0
    assert f"{hold_id}\troom\t{room_id}\tactive" in capsys.readouterr().out

    assert run(tmp_path, "retention", "run", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Would purge 0 message(s) in 0 room(s)" in out
    assert "1 kept by legal hold" in out
    assert run(tmp_path, "retention", "run") == 0
    assert "Purged 0 message(s)" in capsys.readouterr().out
    assert run_sync(bodies(tmp_path, room_id)) == ['{"msgtype":"m.text","body":"old memo"}']

    assert run(tmp_path, "hold", "lift", hold_id, "--reason", "Case closed") == 0
    assert f"Lifted {hold_id}" in capsys.readouterr().out
    assert run(tmp_path, "hold", "list") == 0
    assert capsys.readouterr().out == ""
    assert run(tmp_path, "hold", "list", "--all") == 0
    assert "lifted by cli:" in capsys.readouterr().out

    assert run(tmp_path, "retention", "run", "--dry-run") == 0
    assert "Would purge 1 message(s) in 1 room(s)" in capsys.readouterr().out
    assert run(tmp_path, "retention", "run") == 0
    assert "Purged 1 message(s) in 1 room(s)" in capsys.readouterr().out
    assert run_sync(bodies(tmp_path, room_id)) == ["{}"]
    assert run(tmp_path, "retention", "show") == 0
    assert "\tcli\tcli:" in capsys.readouterr().out


def test_bad_hold_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sync(seed(tmp_path))
    audit_before = run_sync(table_rows(tmp_path, "audit_log"))
    assert run(tmp_path, "hold", "place", "room", "!nope:localhost", "--reason", "x") == 1
    assert "No room !nope:localhost" in capsys.readouterr().err
    assert run(tmp_path, "hold", "place", "person", "p_none", "--reason", "x") == 1
    assert run(tmp_path, "hold", "place", "person", "@alice:localhost", "--reason", " ") == 1
    assert "needs a reason" in capsys.readouterr().err
    assert run(tmp_path, "hold", "lift", "h_none", "--reason", "x") == 1
    with pytest.raises(SystemExit):
        run(tmp_path, "hold", "place", "room", "!x:localhost")  # --reason is required
    assert run_sync(table_rows(tmp_path, "legal_holds")) == 0
    assert run_sync(table_rows(tmp_path, "audit_log")) == audit_before
