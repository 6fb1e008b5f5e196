"""``tumar people codes`` (letters as CSV), ``tumar user suspend|restore`` and the password
policy on ``tumar user create``, as an operator runs them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import run_sync
from tumar.cli import main
from tumar.config import load_settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store.audit import AuditQuery


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def _seed(tmp_path: Path) -> None:
    svc = build_services(load_settings(None, data_dir=tmp_path))
    try:
        actor = cli_actor("test")
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government")
        )
        for number, lat, cyr in (
            ("1", "Aigerim Sadykova", "Айгерим Садыкова"),
            ("2", "Nurlan Bekov", "Нурлан Беков"),
        ):
            await svc.directory.do_create_person(actor, NewPerson(number, "gov", cyr, lat))
    finally:
        await svc.close()


async def _activate(tmp_path: Path, code: str) -> str:
    svc = build_services(load_settings(None, data_dir=tmp_path))
    try:
        return (await svc.activation.do_activate(code, "a long and quiet river")).user_id
    finally:
        await svc.close()


async def _account_actions(tmp_path: Path) -> list[tuple[str, str]]:
    svc = build_services(load_settings(None, data_dir=tmp_path))
    try:
        entries = await svc.audit.list_entries(
            cli_actor("test"), AuditQuery(scopes=(), action="account.")
        )
        return [(e["action"], e["actor"]) for e in entries]
    finally:
        await svc.close()


def test_codes_suspend_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "migrate") == 0
    run_sync(_seed(tmp_path))
    capsys.readouterr()

    assert run(tmp_path, "people", "codes", "--org", "gov") == 0
    out, err = capsys.readouterr()
    assert "2 activation codes issued" in err
    rows = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    assert [(r["personnel_number"], r["localpart"]) for r in rows] == [
        ("1", "aigerim.sadykova"),
        ("2", "nurlan.bekov"),
    ]
    assert rows[0]["organisation_kk"] == "Үкімет"
    # Everyone holds a live code now; only --reissue replaces them.
    assert run(tmp_path, "people", "codes", "--org", "gov") == 0
    assert "0 activation codes issued" in capsys.readouterr().err
    assert run(tmp_path, "people", "codes", "--number", "1") == 1
    assert "reissue" in capsys.readouterr().err
    assert run(tmp_path, "people", "codes", "--number", "1", "--reissue") == 0
    fresh = list(csv.DictReader(io.StringIO(capsys.readouterr().out.removeprefix("\ufeff"))))
    assert [r["personnel_number"] for r in fresh] == ["1"]

    user_id = run_sync(_activate(tmp_path, fresh[0]["code"]))
    assert user_id == "@aigerim.sadykova:localhost"
    assert run(tmp_path, "user", "suspend", "aigerim.sadykova", "--reason", "inquiry") == 0
    assert "Suspended @aigerim.sadykova:localhost" in capsys.readouterr().out
    assert run(tmp_path, "user", "list") == 0
    assert "suspended" in capsys.readouterr().out
    assert run(tmp_path, "user", "suspend", "aigerim.sadykova") == 0
    assert "already was suspended" in capsys.readouterr().out
    assert run(tmp_path, "user", "restore", "@aigerim.sadykova:localhost") == 0
    assert "Restored" in capsys.readouterr().out
    assert run(tmp_path, "user", "restore", "nobody") == 1
    assert "No account" in capsys.readouterr().err
    assert run(tmp_path, "user", "deactivate", "aigerim.sadykova", "--reason", "left") == 0
    assert "Deactivated @aigerim.sadykova:localhost; left 0 rooms." in capsys.readouterr().out
    actions = [action for action, actor in run_sync(_account_actions(tmp_path))]
    assert actions == [
        "account.deactivate",
        "account.restore",
        "account.suspend",
        "account.activate",
    ]


def test_user_create_applies_the_password_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "migrate") == 0
    for weak in ("short", "password1234", "ermek-the-admin-2026"):
        assert run(tmp_path, "user", "create", "ermek", "--password", weak) == 1
        assert "password" in capsys.readouterr().err
    assert run(tmp_path, "user", "create", "ermek", "--password", "four quiet horses") == 0
