"""`tumar notify preview|send|report|remind|withdraw` on a small directory (SQLite)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.conftest import run_sync
from tumar.cli import main
from tumar.config import load_settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store import directory as directory_store


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def seed(data_dir: Path) -> None:
    """gov > mof with two officials who have accounts, and one in moh."""
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        await svc.db.migrate()
        actor = cli_actor("test")
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government")
        )
        for code in ("mof", "moh"):
            await svc.directory.do_create_org(
                actor, NewOrg(code, "gov", "ministry", code, code, code)
            )
        for number, code in (("1", "mof"), ("2", "mof"), ("3", "moh")):
            p = await svc.directory.do_create_person(actor, NewPerson(number, code, "Аты", "Name"))
            user_id = await svc.accounts.do_create_user(f"u{number}", None)
            async with svc.db.write() as conn:
                await directory_store.update_person(conn, p.person_id, user_id=user_id)
    finally:
        await svc.close()


def test_notify_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sync(seed(tmp_path))
    assert run(tmp_path, "notify", "preview", "--org", "mof") == 0
    assert capsys.readouterr().out.strip() == "2 recipient(s)"
    deadline = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).isoformat()
    assert run(tmp_path, "notify", "send", "--org", "mof", "--title", "Drill", "--body",
               "Leave at **10:00**", "--ack", "--deadline", deadline,
               "--priority", "urgent") == 0  # fmt: skip
    out = capsys.readouterr().out
    notice_id, status = out.split()[:2]
    assert status == "sent" and "(2 recipient(s))" in out
    assert run(tmp_path, "notify", "report", notice_id, "--pending") == 0
    out = capsys.readouterr().out
    mof = next(line for line in out.splitlines() if line.strip().startswith("mof"))
    assert mof.split()[1:] == ["2", "0", "0", "0", "2", "0"]
    assert out.count("pending: ") == 2
    assert run(tmp_path, "notify", "remind", "--dry-run") == 0
    assert "Would send 0 scheduled" in capsys.readouterr().out
    assert run(tmp_path, "notify", "withdraw", notice_id, "--reason", "test") == 0
    assert capsys.readouterr().out.strip() == f"{notice_id} withdrawn"
    # Bad input: a clear message, exit status 1, nothing sent.
    assert run(tmp_path, "notify", "send", "--org", "nowhere", "--title", "x", "--body", "y") == 1
    assert "no organisation with the code nowhere" in capsys.readouterr().err
    assert run(tmp_path, "notify", "send", "--org", "mof", "--title", "x",
               "--body", "<script>x</script>") == 1  # fmt: skip
    assert "HTML" in capsys.readouterr().err
