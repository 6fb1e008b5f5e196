"""`tumar org ...` and `tumar people ...` on both databases: imports with their diff, listing,
showing, and bad files refused with a clear message."""

from __future__ import annotations

import getpass
import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import run_sync
from tumar.cli import main
from tumar.cli_directory import ProgressBar
from tumar.config import Settings
from tumar.core.directory import cli_actor
from tumar.core.services import build_services
from tumar.store.audit import AuditQuery

ORGS = """code;parent_code;kind;name_kk;name_ru;name_en;region
mof-it;mof;department;IT kk;ИТ департамент;IT department;
gov;;government;Үкімет;Правительство;Government;Astana
mof;gov;ministry;Қаржы;Минфин;Ministry of Finance;Astana
a;b;unit;a;a;a;
b;a;unit;b;b;b;
"""
Tumar = Callable[..., tuple[int, str, str]]
STAFF = """personnel_number,org_code,name_cyr,name_lat,position
1001,mof,Иванов Иван,Ivanov Ivan,Chief
1002,mof-it,Петрова Анна,Petrova Anna,
1003,mof,Сидоров,Sidorov,
"""


@pytest.fixture
def tumar(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Tumar:
    """Run `tumar ARGS` against the test database; returns (exit status, stdout, stderr)."""
    if settings.database_schema:
        monkeypatch.setenv("TUMAR_DATABASE_SCHEMA", settings.database_schema)
    monkeypatch.setenv("TUMAR_SERVER_NAME", settings.server_name)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main([*args, "--database-url", str(settings.database_url),
                       "--data-dir", str(settings.data_dir)])  # fmt: skip
        out, err = capsys.readouterr()
        return status, out, err

    return run


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def audit_actions(settings: Settings) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        svc = build_services(settings)
        try:
            entries = await svc.audit.list_entries(cli_actor(), AuditQuery(scopes=(), limit=1000))
        finally:
            await svc.close()
        return [(e["actor"], e["action"]) for e in entries]

    return run_sync(read())


def test_org_import_and_tree(tumar: Tumar, tmp_path: Path) -> None:
    orgs = write(tmp_path, "orgs.csv", ORGS)
    status, out, _ = tumar("org", "import", orgs, "--dry-run")
    assert status == 3  # imported (here: would import), but some rows were refused
    assert "Dry run: nothing was changed." in out
    assert tumar("org", "list")[1] == ""

    status, out, _ = tumar("org", "import", orgs)
    assert status == 3
    assert "new       row 3       gov  /gov/  Правительство" in out
    assert "error     row 5       a  parent_code b would make a cycle" in out
    assert "3 new, 0 changed, 0 moved, 0 unchanged, 2 errors in 5 rows." in out
    status, out, _ = tumar("org", "list")
    assert out.splitlines() == [
        "gov  [government]  Правительство / Government  (Astana)",
        "  mof  [ministry]  Минфин / Ministry of Finance  (Astana)",
        "    mof-it  [department]  ИТ департамент / IT department",
    ]


def test_people_import_list_show_and_departures(
    tumar: Tumar, tmp_path: Path, settings: Settings
) -> None:
    tumar("org", "import", write(tmp_path, "orgs.csv", ORGS))
    staff = write(tmp_path, "staff.csv", STAFF)
    status, out, _ = tumar("people", "import", staff, "--dry-run")
    assert status == 0
    assert "new       row 2       1001  mof  Иванов Иван (Ivanov Ivan)" in out
    assert "Dry run: nothing was changed." in out
    assert tumar("people", "list")[1] == ""

    assert tumar("people", "import", staff)[0] == 0
    status, out, err = tumar("people", "import", staff)
    assert "0 new, 0 changed, 0 moved, 3 unchanged, 0 departed, 0 errors in 3 rows." in out
    status, out, err = tumar("people", "list", "--org", "mof-it")
    assert out == "1002\tmof-it\tПетрова Анна\tPetrova Anna\t\tactive\t\n"
    assert "1 of 1 people" in err
    assert tumar("people", "list", "--query", "иван")[1].startswith("1001\tmof\tИванов Иван")
    status, out, _ = tumar("people", "show", "1001")
    assert "position:         Chief" in out
    assert "org:              mof (Минфин / Ministry of Finance), /gov/mof/" in out
    assert tumar("people", "show", "9999")[0] == 1

    changed = write(tmp_path, "changed.csv", STAFF.replace(",Chief", ",Head").replace(
        "1002,mof-it", "1002,mof").replace("1003,mof,Сидоров,Sidorov,\n", ""))  # fmt: skip
    status, out, _ = tumar("people", "import", changed)
    assert "changed   row 2       1001  position: 'Chief' -> 'Head'" in out
    assert "moved     row 3       1002  org_code: 'mof-it' -> 'mof'" in out
    assert "departed              1003  mof  Сидоров" in out
    assert "run again with --confirm-departures" in out
    assert "active" in tumar("people", "show", "1003")[1]
    status, out, _ = tumar("people", "import", changed, "--confirm-departures")
    assert "1 departed" in out and "only reported" not in out
    assert "departed" in tumar("people", "show", "1003")[1].split("status:")[1]

    actions = audit_actions(settings)
    me = f"cli:{getpass.getuser()}"
    assert {actor for actor, _ in actions} == {me}
    people_actions = [a for _, a in actions if a.startswith("person.")]
    assert sorted(people_actions) == sorted(
        ["person.create"] * 3 + ["person.update", "person.move", "person.depart"]
    )


def test_xlsx_and_encodings(tumar: Tumar, tmp_path: Path) -> None:
    tumar("org", "import", write(tmp_path, "orgs.csv", ORGS))
    cp1251 = write(tmp_path, "cp1251.csv", STAFF, encoding="cp1251")
    status, _, err = tumar("people", "import", cp1251)
    assert status == 1
    assert "not valid UTF-8" in err and "--encoding cp1251" in err
    assert tumar("people", "list")[1] == ""
    status, out, _ = tumar("people", "import", cp1251, "--encoding", "cp1251", "--show", "0")
    assert status == 0 and "3 new" in out and "row 2" not in out

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Personnel Number", "Org Code", "Name Cyr", "Name Lat", "Position"])
    sheet.append([1001, "mof", "Иванов Иван", "Ivanov Ivan", "Deputy"])
    path = tmp_path / "staff.xlsx"
    book.save(path)
    status, out, _ = tumar("people", "import", str(path))
    assert status == 0
    assert "changed   row 2       1001  position: 'Chief' -> 'Deputy'" in out
    assert "departed" in out  # 1002 and 1003 are not in this workbook (reported only)


def test_bad_input(tumar: Tumar, tmp_path: Path) -> None:
    tumar("org", "import", write(tmp_path, "orgs.csv", ORGS))
    status, _, err = tumar("people", "import", write(tmp_path, "x.csv", "org_code,name\nmof,x\n"))
    assert status == 1
    assert "missing required column(s): personnel_number, name_cyr, name_lat" in err
    status, _, err = tumar("people", "import", str(tmp_path / "missing.csv"))
    assert status == 1 and "Cannot read" in err
    status, _, err = tumar("people", "import", write(tmp_path, "s.csv", STAFF), "--org", "nope")
    assert status == 1 and "No organisation with code nope" in err
    status, _, err = tumar("people", "import", write(tmp_path, "s.csv", STAFF), "--encoding", "x")
    assert status == 1 and "Unknown text encoding" in err
    assert tumar("people", "list")[1] == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only() -> None:
    screen = Terminal()
    bar = ProgressBar(screen)
    bar("reading", 50, 100)
    bar("importing", 10, 10)
    bar("departures", 1000, None)
    bar.close()
    text = screen.getvalue()
    assert "reading    [###############---------------]  50%" in text
    assert "importing  [##############################] 100%  10/10" in text
    assert "departures 1,000" in text and text.endswith("\n")
    quiet = io.StringIO()
    ProgressBar(quiet)("reading", 1, 2)
    assert quiet.getvalue() == ""
