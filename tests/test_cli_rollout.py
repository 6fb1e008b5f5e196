"""`tumar rollout show` and `tumar rollout remind` on a small directory (SQLite)."""

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
    """gov > mof; mof's head has an account, one colleague has not; register by in 3 days."""
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        await svc.db.migrate()
        actor = cli_actor("test")
        deadline = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=3)
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government",
                          register_by=deadline.isoformat())
        )  # fmt: skip
        await svc.directory.do_create_org(
            actor, NewOrg("mof", "gov", "ministry", "ҚМ", "Минфин", "Ministry of Finance")
        )
        head = await svc.directory.do_create_person(actor, NewPerson("1", "mof", "Бас", "Head"))
        await svc.directory.do_create_person(actor, NewPerson("2", "mof", "Жаңа", "Newcomer"))
        user_id = await svc.accounts.do_create_user("head", None)
        async with svc.db.write() as conn:
            await directory_store.update_person(conn, head.person_id, user_id=user_id)
        await svc.directory.do_update_org(actor, "mof", {"head_person_id": head.person_id})
    finally:
        await svc.close()


def test_rollout_show_and_remind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sync(seed(tmp_path))
    assert run(tmp_path, "rollout", "show") == 0
    out = capsys.readouterr().out
    gov = next(line for line in out.splitlines() if line.startswith("gov "))
    assert gov.split()[1:7] == ["2", "0", "1", "50.0", "0", "0"]
    assert "  mof " in out

    assert run(tmp_path, "rollout", "remind", "--dry-run") == 0
    assert "Would send 1 message(s) to unit heads about 1 unregistered" in capsys.readouterr().out
    assert run(tmp_path, "rollout", "remind") == 0
    assert "Sent 1 message(s) to unit heads about 1 unregistered" in capsys.readouterr().out
    assert run(tmp_path, "rollout", "remind") == 0
    assert "Sent 0 message(s)" in capsys.readouterr().out

    assert run(tmp_path, "rollout", "show", "--org", "nowhere") == 1
    assert "nowhere" in capsys.readouterr().err
