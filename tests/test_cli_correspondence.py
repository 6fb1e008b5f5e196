"""`tumar letters list|show|verify|export|journal|control|anchors` on a small directory
(SQLite): one letter registered through the services, then checked from the command line,
including a tampered letter that `verify` must reject offline."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.conftest import run_sync
from tests.support.test_ca import build_ca
from tumar.cli import main
from tumar.config import load_settings
from tumar.core.correspondence_drafts import LetterDraft
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.requester import Requester
from tumar.core.services import build_services
from tumar.policy.roles import Role
from tumar.store import directory as directory_store
from tumar.store.schema import letters


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


async def seed(data_dir: Path) -> str:
    """gov > {mof, moh}; an author, a signatory and a clerk in mof; one registered letter."""
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
        who: dict[str, Requester] = {}
        for number, name in (("1", "author"), ("2", "signer"), ("3", "clerk")):
            p = await svc.directory.do_create_person(actor, NewPerson(number, "mof", "Аты", "Name"))
            user_id = await svc.accounts.do_create_user(name, None)
            async with svc.db.write() as conn:
                await directory_store.update_person(conn, p.person_id, user_id=user_id)
            who[name] = Requester(user_id, "DEV")
        await svc.directory.do_grant(actor, who["signer"].user_id, Role.SIGNATORY, "mof")
        await svc.directory.do_grant(actor, who["clerk"].user_id, Role.REGISTRY_CLERK, "mof")
        letters_svc = svc.correspondence
        v = await letters_svc.do_create(
            who["author"],
            LetterDraft("mof", ("moh",), "=SUM(A1) roads", "Repair the **roads**.",
                        signatory=who["signer"].user_id),
        )  # fmt: skip
        lid = v.letter.letter_id
        await letters_svc.do_submit(who["author"], lid)
        await letters_svc.keys.do_create_ed25519(who["signer"])
        await letters_svc.do_sign(who["signer"], lid, None)
        await letters_svc.do_register(who["clerk"], lid)
        return lid
    finally:
        await svc.close()


async def tamper(data_dir: Path, letter_id: str) -> None:
    svc = build_services(load_settings(None, data_dir=data_dir))
    try:
        async with svc.db.write() as conn:
            await conn.execute(
                update(letters).where(letters.c.letter_id == letter_id).values(subject="Other")
            )
    finally:
        await svc.close()


def test_letters_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lid = run_sync(seed(tmp_path))
    assert run(tmp_path, "letters", "list") == 0
    out = capsys.readouterr().out
    assert lid in out and "MOF-00001/" in out and "registered" in out
    assert run(tmp_path, "letters", "show", lid) == 0
    assert '"outgoing_number"' in capsys.readouterr().out

    assert run(tmp_path, "letters", "verify", lid) == 0
    out = capsys.readouterr().out
    assert "Verdict: VALID" in out and "registration by" in out

    assert run(tmp_path, "letters", "export", lid, str(tmp_path / "out")) == 0
    path = Path(capsys.readouterr().out.strip())
    assert {"letter.json", "report.html"} <= set(zipfile.ZipFile(path).namelist())

    assert run(tmp_path, "letters", "journal", "mof", "--direction", "out", "--csv") == 0
    out = capsys.readouterr().out
    assert "'=SUM(A1) roads" in out

    assert run(tmp_path, "letters", "control", "gov", "--remind") == 0
    out = capsys.readouterr().out
    assert "Sent 0 reminder(s)" in out and "moh" in out

    pem = tmp_path / "root.pem"
    pem.write_text(build_ca().root.pem)
    assert run(tmp_path, "letters", "anchors", "add", str(pem)) == 0
    assert "Test Root CA" in capsys.readouterr().out
    assert run(tmp_path, "letters", "anchors", "list") == 0
    assert "Test Root CA" in capsys.readouterr().out

    run_sync(tamper(tmp_path, lid))
    assert run(tmp_path, "letters", "verify", lid) == 1
    out = capsys.readouterr().out
    assert "Verdict: NOT VALID" in out and "changed" in out
