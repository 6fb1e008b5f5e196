"""``tumar audit verify|checkpoint|public-key|export`` and ``tumar compliance export`` on a
small SQLite deployment."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.conftest import run_sync
from tumar.cli import main
from tumar.config import load_settings
from tumar.core.directory import NewOrg, cli_actor
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.services import build_services


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def seed(data_dir: Path) -> str:
    """Three organisations (three audit rows) and a room with a message; returns the room."""
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        await svc.db.migrate()
        actor = cli_actor("test")
        for code in ("gov", "mof", "moh"):
            await svc.directory.do_create_org(
                actor, NewOrg(code, None, "ministry", "kk", "ru", f"{code} <en>")
            )
        alice = Requester(await svc.accounts.do_create_user("alice", None), "DEV")
        plan = RoomPlan(creator=alice.user_id, preset="private_chat", name="Budget")
        room = await svc.creator.do_create_room(alice, plan, "private")
        await svc.rooms.do_send(
            alice, room, "m.room.message", {"msgtype": "m.text", "body": "<i>figures</i>"}
        )
        return room
    finally:
        await svc.close()


def test_verify_checkpoint_and_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_sync(seed(tmp_path))
    assert run(tmp_path, "audit", "verify") == 0
    assert "The audit chain holds: 3 rows" in capsys.readouterr().out
    assert run(tmp_path, "audit", "checkpoint") == 0
    assert "Signed checkpoint at seq 3" in capsys.readouterr().out
    assert run(tmp_path, "audit", "checkpoint") == 0
    assert "Nothing to sign" in capsys.readouterr().out

    assert run(tmp_path, "audit", "public-key") == 0
    key = capsys.readouterr().out.strip()
    assert len(base64.b64decode(key)) == 32
    (tmp_path / "audit.pub").write_text(key)
    assert run(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "audit.pub")) == 0
    assert "1 signed checkpoint(s), the last at seq 3" in capsys.readouterr().out
    assert run(tmp_path, "audit", "public-key", "--pem") == 0
    (tmp_path / "audit.pem").write_text(capsys.readouterr().out)
    assert run(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "audit.pem")) == 0
    capsys.readouterr()

    (tmp_path / "other.pub").write_text(base64.b64encode(bytes(32)).decode())
    assert run(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "other.pub")) == 3
    assert "BAD CHECKPOINT: seq 3: signed by an unknown key" in capsys.readouterr().out
    (tmp_path / "bad.pub").write_text("not a key")
    assert run(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "bad.pub")) == 1
    assert "not 32 bytes" in capsys.readouterr().err


def test_verify_names_the_first_tampered_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_sync(seed(tmp_path))
    with sqlite3.connect(tmp_path / "tumar.db") as db:
        db.execute("DELETE FROM audit_log WHERE seq = 2")
    assert run(tmp_path, "audit", "verify") == 3
    assert "FIRST BAD ROW: seq 2 was deleted" in capsys.readouterr().out
    assert run(tmp_path, "audit", "verify", "--json") == 3
    report = orjson.loads(capsys.readouterr().out)
    assert report["first_break"]["seq"] == 2 and report["ok"] is False


def test_export_with_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sync(seed(tmp_path))
    out = tmp_path / "log.jsonl"
    assert run(tmp_path, "audit", "export", "--target", "mof", "--out", str(out)) == 0
    assert "Exported 1 audit row(s)." in capsys.readouterr().err
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(r["seq"], r["action"], r["target_id"]) for r in rows] == [(2, "org.create", "mof")]
    assert run(tmp_path, "audit", "export", "--action", "org.", "--since", "2000-01-01") == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert run(tmp_path, "audit", "export", "--action", "audit.export") == 0
    exported = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["actor"].startswith("cli:") for e in exported] == [True, True]
    assert orjson.loads(exported[0]["after"])["filters"] == {"target_id": "mof"}
    with pytest.raises(SystemExit):
        run(tmp_path, "audit", "export", "--since", "yesterday")
    assert "neither milliseconds nor a date" in capsys.readouterr().err


def test_compliance_export_writes_jsonl_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = run_sync(seed(tmp_path))
    out = tmp_path / "export"
    assert run(tmp_path, "compliance", "export", "--room", room, "--out", str(out)) == 0
    assert "audit row(s)" in capsys.readouterr().out
    items = [orjson.loads(line) for line in (out / "export.jsonl").read_bytes().splitlines()]
    assert items[0]["kind"] == "manifest" and items[-1]["kind"] == "proof"
    assert any(i["kind"] == "event" and i["content"].get("body") == "<i>figures</i>" for i in items)
    assert items[-1]["checkpoint"] is not None
    page = (out / "export.html").read_text()
    assert "&lt;i&gt;figures&lt;/i&gt;" in page and "<i>figures" not in page
    assert run(tmp_path, "compliance", "export", "--out", str(out)) == 1
    assert "Name a room, a person, or a time range" in capsys.readouterr().err
    assert run(tmp_path, "audit", "verify") == 0
