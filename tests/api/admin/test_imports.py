"""Staff and organisation imports through the admin API: CSV and XLSX, dry runs, idempotence,
the diff (new, changed, moved, departed), per-row errors, bad files, scope and size limits."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import openpyxl

from tests.support.accounts import activate, activated, issue, server
from tests.support.admin import ADMIN, grant, person, two_ministries
from tests.support.harness import Api, User, q
from tumar.config import Settings
from tumar.core.directory import cli_actor
from tumar.core.imports import ImportOptions
from tumar.tabular import XLSX_MEDIA_TYPE

STAFF = ["personnel_number", "org_code", "name_cyr", "name_lat", "position", "email",
         "phone", "clearance", "kind"]  # fmt: skip
ORGS = ["code", "parent_code", "kind", "name_kk", "name_ru", "name_en", "region"]
CSV = "text/csv"


def csv_file(rows: list[list[Any]], header: list[str] = STAFF, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def xlsx_file(rows: list[list[Any]], header: list[str] = STAFF) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def staff(number: str, org: str, name: str = "", **cells: str) -> list[str]:
    values = {"personnel_number": number, "org_code": org, "name_cyr": f"Иванов {name or number}",
              "name_lat": f"Ivanov {name or number}", **cells}  # fmt: skip
    return [values.get(c, "") for c in STAFF]


async def import_people(
    api: Api, by: User, data: bytes, content_type: str = CSV, expect: int = 200, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", f"{ADMIN}/people/import", user=by, content=data, expect=expect,
        headers={"Content-Type": content_type}, params=_params(params),
    )  # fmt: skip
    return result


async def import_orgs(
    api: Api, by: User, data: bytes, content_type: str = CSV, **params: Any
) -> dict[str, Any]:
    result: dict[str, Any] = await api.call(
        "POST", f"{ADMIN}/orgs/import", user=by, content=data,
        headers={"Content-Type": content_type}, params=_params(params),
    )  # fmt: skip
    return result


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}


async def everyone(api: Api, by: User) -> dict[str, dict[str, Any]]:
    page = await api.call("GET", f"{ADMIN}/people", user=by, params={"limit": 1000})
    return {p["personnel_number"]: p for p in page["people"]}


async def audit_log(api: Api, by: User) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (
        await api.call("GET", f"{ADMIN}/audit", user=by, params={"limit": 1000})
    )["entries"]
    return entries


async def state(api: Api, by: User) -> tuple[Any, ...]:
    orgs = await api.call("GET", f"{ADMIN}/orgs", user=by)
    return await everyone(api, by), len(await audit_log(api, by)), orgs


FIRST = [
    staff("1001", "mof", position="Chief specialist", email="a@mof.kz"),
    staff("1002", "mof-it", clearance="official-use"),
    staff("1003", "moh", kind="external"),
    staff("1004", "mof"),
]


async def test_csv_import_dry_run_then_real_then_idempotent(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    before = await state(api, root)
    dry = await import_people(api, root, csv_file(FIRST), dry_run=True)
    assert dry["dry_run"] is True
    assert dry["counts"] == {"new": 4, "changed": 0, "moved": 0, "unchanged": 0,
                             "departed": 0, "errors": 0}  # fmt: skip
    assert await state(api, root) == before  # a dry run changes nothing

    done = await import_people(api, root, csv_file(FIRST))
    assert {k: v for k, v in done.items() if k != "dry_run"} == {
        k: v for k, v in dry.items() if k != "dry_run"
    }
    assert [(n["row"], n["personnel_number"]) for n in done["new"]] == [
        (2, "1001"), (3, "1002"), (4, "1003"), (5, "1004"),
    ]  # fmt: skip
    people = await everyone(api, root)
    assert people["1001"]["position"] == "Chief specialist"
    assert people["1001"]["clearance"] == "internal"  # the default
    assert people["1002"]["clearance"] == "official-use"
    assert people["1003"]["kind"] == "external"
    log = await audit_log(api, root)
    creates = [e for e in log if e["action"] == "person.create"]
    assert len(creates) == 4
    assert {e["actor"] for e in creates} == {root.user_id}
    assert {e["after"]["personnel_number"] for e in creates} == {"1001", "1002", "1003", "1004"}

    settled = await state(api, root)
    again = await import_people(api, root, csv_file(FIRST))
    assert again["counts"]["unchanged"] == 4
    assert again["counts"]["new"] == again["counts"]["changed"] == 0
    assert await state(api, root) == settled  # no change, and no audit row


async def test_changed_moved_and_departed_are_reported(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    await import_people(api, root, csv_file(FIRST))
    second = [
        staff("1001", "mof", position="Head of unit", email="a@mof.kz"),  # changed
        staff("1002", "mof"),  # moved (clearance cell empty: kept)
        staff("1003", "moh", kind="external"),  # unchanged
        # 1004 is missing: departed
        staff("1005", "moh"),  # new
    ]
    before = await state(api, root)
    dry = await import_people(api, root, csv_file(second), dry_run=True)
    assert await state(api, root) == before
    assert dry["counts"] == {"new": 1, "changed": 1, "moved": 1, "unchanged": 1,
                             "departed": 1, "errors": 0}  # fmt: skip
    [changed] = dry["changed"]
    assert changed["changes"] == {
        "position": {"before": "Chief specialist", "after": "Head of unit"}
    }
    [moved] = dry["moved"]
    assert (moved["from_org"], moved["org_code"]) == ("mof-it", "mof")
    assert moved["changes"] == {"org_code": {"before": "mof-it", "after": "mof"}}
    [departed] = dry["departed"]
    assert departed["personnel_number"] == "1004" and departed["user_id"] is None

    done = await import_people(api, root, csv_file(second))
    assert done["departures_applied"] is False
    people = await everyone(api, root)
    assert people["1004"]["status"] == "active"  # departures wait for confirmation
    assert people["1002"]["org_code"] == "mof" and people["1002"]["clearance"] == "official-use"
    actions = [e["action"] for e in await audit_log(api, root)]
    assert actions.count("person.move") == 1 and actions.count("person.update") == 1
    assert "person.depart" not in actions

    confirmed = await import_people(api, root, csv_file(second), confirm_departures=True)
    assert confirmed["departures_applied"] is True
    assert confirmed["counts"]["departed"] == 1 and confirmed["counts"]["unchanged"] == 4
    assert (await everyone(api, root))["1004"]["status"] == "departed"
    # Once departed, the person is no longer reported; the same file again changes nothing.
    settled = await state(api, root)
    last = await import_people(api, root, csv_file(second), confirm_departures=True)
    assert last["counts"]["departed"] == 0
    assert await state(api, root) == settled
    # A departed person who comes back in a file is active again.
    back = await import_people(api, root, csv_file([*second, staff("1004", "mof")]))
    assert back["changed"][0]["changes"] == {"status": {"before": "departed", "after": "active"}}


async def test_confirmed_departure_deactivates_the_account_and_revokes_codes(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    await import_people(api, root, csv_file(FIRST))
    people = await everyone(api, root)
    [issued] = await issue(api, root, person_ids=[people["1004"]["person_id"]])
    leaver = await activated(api, issued["code"])
    [unused] = await issue(api, root, person_ids=[people["1001"]["person_id"]])
    room = await api.create_room(root)
    await api.call("POST", f"/rooms/{q(room)}/invite", user=root, json={"user_id": leaver.user_id})
    await api.join(leaver, room)

    keep = [row for row in FIRST if row[0] not in ("1001", "1004")]
    report = await import_people(api, root, csv_file(keep), confirm_departures=True)
    gone = {d["personnel_number"]: d for d in report["departed"]}
    assert set(gone) == {"1001", "1004"}
    assert gone["1004"]["user_id"] == leaver.user_id

    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=leaver)
    members = await api.call("GET", f"/rooms/{q(room)}/joined_members", user=root)
    assert leaver.user_id not in members["joined"]
    refused = await activate(api, unused["code"])  # the departed person's code is revoked
    assert refused.status_code in (401, 403), refused.text
    departs = [e for e in await audit_log(api, root) if e["action"] == "person.depart"]
    assert {e["target_id"] for e in departs} == {people["1001"]["person_id"],
                                                 people["1004"]["person_id"]}  # fmt: skip
    assert {e["after"]["deactivated"] for e in departs} == {None, leaver.user_id}


async def test_row_errors_name_their_rows_and_spare_the_valid_rows(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    await import_people(api, root, csv_file([staff("1009", "mof")]))
    rows = [
        staff("1001", "mof"),  # row 2: fine
        staff("1002", "nowhere"),  # row 3: unknown organisation
        staff("1003", "mof", clearance="top-secret"),  # row 4
        staff("1004", "mof", kind="contractor"),  # row 5
        [*staff("1005", "mof")[:2], "", "", *staff("1005", "mof")[4:]],  # row 6: names empty
        staff("1006", "mof"),  # row 7: the number repeats in row 9
        staff("1007", "mof-it"),  # row 8: fine
        staff("1006", "moh"),  # row 9
        staff("", "mof"),  # row 10: no number
        staff("1009", "nowhere"),  # row 11: an error, but 1009 is in the file: not departed
    ]
    report = await import_people(api, root, csv_file(rows))
    assert report["counts"]["new"] == 2 and report["counts"]["departed"] == 0
    errors = {e["row"]: e for e in report["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 9, 10, 11]
    assert "unknown organisation code nowhere" in errors[3]["error"]
    assert "clearance 'top-secret'" in errors[4]["error"]
    assert "kind 'contractor'" in errors[5]["error"]
    assert "name_cyr is empty; name_lat is empty" in errors[6]["error"]
    assert "rows 7, 9" in errors[7]["error"] and "rows 7, 9" in errors[9]["error"]
    assert errors[7]["key"] == "1006"
    assert "personnel_number is empty" in errors[10]["error"]
    people = await everyone(api, root)
    assert sorted(people) == ["1001", "1007", "1009"]


async def test_xlsx_round_trip(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    rows: list[list[Any]] = [
        [1001, "mof", "Сейтқали Аружан", "Seitkali Aruzhan", "Head", None, 77011234567, None, None],
        ["0042", "mof-it", "Әлия", "Aliya", None, "aliya@mof.kz", None, "public", "official"],
    ]
    report = await import_people(api, root, xlsx_file(rows), XLSX_MEDIA_TYPE)
    assert report["format"] == "xlsx" and report["counts"]["new"] == 2
    people = await everyone(api, root)
    assert people["1001"]["name_cyr"] == "Сейтқали Аружан"
    assert people["1001"]["phone"] == "77011234567"  # a number cell, without ".0"
    assert people["0042"]["clearance"] == "public"
    settled = await state(api, root)
    # application/octet-stream: the server recognises the workbook by its content
    again = await import_people(api, root, xlsx_file(rows), "application/octet-stream")
    assert again["format"] == "xlsx" and again["counts"]["unchanged"] == 2
    assert await state(api, root) == settled


async def test_bad_files_are_refused_whole_and_change_nothing(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    await import_people(api, root, csv_file(FIRST))
    before = await state(api, root)
    cp1251 = csv_file([staff("2001", "mof", name="Петров")], delimiter=";").decode()
    cp1251_bytes = cp1251.encode("cp1251")
    cases: list[tuple[bytes, str, int, str, str]] = [
        (cp1251_bytes, CSV, 400, "TUMAR_BAD_ENCODING", "cp1251"),
        (cp1251_bytes, f"{CSV}; charset=nonsense", 400, "TUMAR_BAD_ENCODING", "nonsense"),
        (csv_file([["1", "mof"]], header=["personnel_number", "org_code"]), CSV, 400,
         "TUMAR_MISSING_COLUMNS", "name_cyr, name_lat"),
        (b"", CSV, 400, "TUMAR_BAD_FILE", "empty"),
        (b'personnel_number,org_code,name_cyr,name_lat\n1,mof,"open', CSV, 400,
         "TUMAR_BAD_FILE", "Row 2"),
        (b"PK\x03\x04 not a workbook", XLSX_MEDIA_TYPE, 400, "TUMAR_BAD_FILE", "XLSX"),
        (b"--x\r\n", "multipart/form-data; boundary=x", 415, "TUMAR_UNSUPPORTED_MEDIA_TYPE",
         "request body"),
    ]  # fmt: skip
    for data, content_type, status, errcode, fragment in cases:
        body = await api.error(
            "POST", f"{ADMIN}/people/import", status, errcode, user=root, content=data,
            headers={"Content-Type": content_type},
        )  # fmt: skip
        assert fragment in body["error"], body
    missing = await api.error(
        "POST", f"{ADMIN}/people/import", 400, "TUMAR_MISSING_COLUMNS", user=root,
        content=csv_file([], header=["org_code", "Name Lat"]), headers={"Content-Type": CSV},
    )  # fmt: skip
    assert missing["missing"] == ["personnel_number", "name_cyr"]
    assert await state(api, root) == before
    # The same cp1251 file with its encoding named is imported.
    named = await import_people(api, root, cp1251_bytes, f"{CSV}; charset=windows-1251")
    assert named["counts"]["new"] == 1 and named["delimiter"] == ";"
    assert (await everyone(api, root))["2001"]["name_cyr"] == "Иванов Петров"


async def test_huge_bodies_are_refused(api: Api, settings: Settings) -> None:
    root, _, _ = await two_ministries(api)
    before = await state(api, root)
    rows = [staff(str(3000 + i), "mof") for i in range(100)]
    big = csv_file(rows)
    assert len(big) > 2048
    async with server(settings, import_max_bytes=2048) as small:
        body = await small.error(
            "POST", f"{ADMIN}/people/import", 413, "M_TOO_LARGE", user=root, content=big,
            headers={"Content-Type": CSV},
        )  # fmt: skip
        assert "2048" in body["error"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            for i in range(0, len(big), 500):
                yield big[i : i + 500]

        resp = await small.client.post(
            f"{ADMIN}/people/import", content=chunks(),
            headers={"Content-Type": CSV, "Authorization": f"Bearer {root.token}"},
        )  # fmt: skip
        assert (resp.status_code, resp.json()["errcode"]) == (413, "M_TOO_LARGE")
    assert await state(api, root) == before


async def test_an_administrator_cannot_import_into_another_ministry(api: Api) -> None:
    root, mof_admin, moh_admin = await two_ministries(api)
    theirs = await person(api, root, "5001", "moh", position="Doctor")
    await person(api, root, "5002", "moh")
    await person(api, root, "5003", "gov", kind="official")
    mine = await person(api, root, "4001", "mof-it")
    before_theirs = await state(api, moh_admin)
    rows = [
        staff("4001", "mof"),  # my own person, moved within my ministry: fine
        staff("4002", "mof-it"),  # new in my ministry: fine
        staff("4003", "moh"),  # a new person in their ministry
        staff("5001", "mof"),  # their person, pulled into mine
        staff("5009", "gov"),  # the government above me
    ]
    report = await import_people(api, mof_admin, csv_file(rows), confirm_departures=True)
    errors = {e["row"]: e["error"] for e in report["errors"]}
    assert sorted(errors) == [4, 5, 6]
    assert "outside your administrative scope" in errors[4]
    assert "belongs to a person outside your administrative scope" in errors[5]
    # Departures look only at my subtree: their people are not departed.
    assert report["counts"]["departed"] == 0
    assert report["counts"]["new"] == 1 and report["counts"]["moved"] == 1
    assert await state(api, moh_admin) == before_theirs
    after = await api.call("GET", f"{ADMIN}/people/{theirs['person_id']}", user=root)
    assert after == theirs
    moved = await api.call("GET", f"{ADMIN}/people/{mine['person_id']}", user=root)
    assert moved["org_code"] == "mof"

    # Naming their subtree is refused outright, dry run or not.
    for dry_run in (True, False):
        await api.error(
            "POST", f"{ADMIN}/people/import", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin,
            content=csv_file(rows), headers={"Content-Type": CSV},
            params={"org": "moh", "dry_run": str(dry_run).lower()},
        )  # fmt: skip
    # Organisations: units below their ministry, or their ministry itself, are refused rows.
    orgs = csv_file(
        [["mof-new", "mof-it", "unit", "a", "b", "c", ""],
         ["moh-new", "moh", "unit", "a", "b", "c", ""],
         ["moh", "mof", "ministry", "a", "b", "c", ""]],
        header=ORGS,
    )  # fmt: skip
    result = await import_orgs(api, mof_admin, orgs)
    assert result["counts"]["new"] == 1 and [e["row"] for e in result["errors"]] == [3, 4]
    assert await state(api, moh_admin) == before_theirs


async def test_who_may_import(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    nobody = await api.register("nobody")
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    data = csv_file(FIRST)
    for path in ("/people/import", "/orgs/import"):
        await api.error("POST", f"{ADMIN}{path}", 403, "M_FORBIDDEN", user=nobody, content=data,
                        headers={"Content-Type": CSV})  # fmt: skip
        await api.error("POST", f"{ADMIN}{path}", 403, "TUMAR_OUT_OF_SCOPE", user=officer,
                        content=data, headers={"Content-Type": CSV})  # fmt: skip
        await api.error("POST", f"{ADMIN}{path}", 401, "M_MISSING_TOKEN", content=data,
                        headers={"Content-Type": CSV})  # fmt: skip
    assert await everyone(api, root) == {}


async def test_scope_of_one_subtree_limits_departures(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    await import_people(api, root, csv_file(FIRST))
    # An HR file of mof-it alone: people elsewhere are not departed.
    report = await import_people(
        api, root, csv_file([staff("1010", "mof-it")]), org="mof-it", dry_run=True
    )
    assert [d["personnel_number"] for d in report["departed"]] == ["1002"]
    outside = await import_people(
        api, root, csv_file([staff("1011", "mof")]), org="mof-it", dry_run=True
    )
    assert "outside organisation mof-it" in outside["errors"][0]["error"]
    # External partners are never departed by an HR file.
    everyone_else = await import_people(api, root, csv_file([staff("1001", "mof")]), dry_run=True)
    assert {d["personnel_number"] for d in everyone_else["departed"]} == {"1002", "1004"}


async def test_many_batches(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    assert api.services is not None
    api.services.staff_import.batch_size = 3
    rows = [staff(f"{7000 + i}", "mof" if i % 2 else "mof-it") for i in range(10)]
    first = await import_people(api, root, csv_file(rows), limit=4)
    assert first["counts"]["new"] == 10 and len(first["new"]) == 4 and first["truncated"]
    rows[5] = staff("7005", "mof-it")
    rows[9][4] = "Head"
    second = await import_people(api, root, csv_file(rows[1:]))
    assert second["counts"] == {"new": 0, "changed": 1, "moved": 1, "unchanged": 7,
                                "departed": 1, "errors": 0}  # fmt: skip
    log = await audit_log(api, root)
    assert len([e for e in log if e["action"].startswith("person.")]) == 12


async def test_org_import_resolves_parents_refuses_cycles_and_moves_subtrees(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    rows = [
        ["unit-b", "dep-a", "unit", "b kk", "b ru", "b en", ""],  # parent comes later
        ["dep-a", "mof", "department", "a kk", "a ru", "a en", "Astana"],
        ["x", "y", "unit", "x", "x", "x", ""],  # x and y make a cycle
        ["y", "x", "unit", "y", "y", "y", ""],
        ["z", "nowhere", "unit", "z", "z", "z", ""],
        ["w", "x", "unit", "w", "w", "w", ""],  # below a refused row
        ["Bad Code", "mof", "unit", "b", "b", "b", ""],
    ]
    before = await state(api, root)
    dry = await import_orgs(api, root, csv_file(rows, ORGS), dry_run=True)
    assert await state(api, root) == before
    report = await import_orgs(api, root, csv_file(rows, ORGS))
    assert dry["counts"] == report["counts"] == {
        "new": 2, "changed": 0, "moved": 0, "unchanged": 0, "errors": 5,
    }  # fmt: skip
    errors = {e["row"]: e["error"] for e in report["errors"]}
    assert "cycle" in errors[4] and "cycle" in errors[5]
    assert "parent nowhere is neither" in errors[6]
    assert "parent x was refused (row 4)" in errors[7]
    assert "code 'Bad Code'" in errors[8]
    unit = await api.call("GET", f"{ADMIN}/orgs/unit-b", user=root)
    assert unit["path"] == "/gov/mof/dep-a/unit-b/"

    settled = await state(api, root)
    assert (await import_orgs(api, root, csv_file(rows[:2], ORGS)))["counts"]["unchanged"] == 2
    assert await state(api, root) == settled

    # Moving dep-a to moh moves unit-b along; renaming is a change; XLSX works the same.
    moved = [["dep-a", "moh", "department", "a kk", "a ru", "A dept", "Astana"]]
    result = await import_orgs(api, root, xlsx_file(moved, ORGS), XLSX_MEDIA_TYPE)
    assert result["counts"]["moved"] == 1
    assert result["moved"][0]["changes"] == {
        "parent_code": {"before": "mof", "after": "moh"},
        "name_en": {"before": "a en", "after": "A dept"},
    }
    unit = await api.call("GET", f"{ADMIN}/orgs/unit-b", user=root)
    assert unit["path"] == "/gov/moh/dep-a/unit-b/"
    # Moving a ministry below its own department is a cycle, refused.
    cycle = await import_orgs(
        api, root, csv_file([["moh", "dep-a", "ministry", "a", "b", "c", ""]], ORGS)
    )
    assert "cycle" in cycle["errors"][0]["error"]
    actions = [e["action"] for e in await audit_log(api, root) if e["action"].startswith("org.")]
    assert actions.count("org.move") == 1


async def test_openapi_document_describes_the_imports(api: Api) -> None:
    doc = await api.call("GET", f"{ADMIN}/openapi.json")
    for path in ("/people/import", "/orgs/import"):
        post = doc["paths"][f"{ADMIN}{path}"]["post"]
        assert set(post["requestBody"]["content"]) == {
            "text/csv",
            XLSX_MEDIA_TYPE,
            "application/octet-stream",
        }
        assert "200" in post["responses"]
    params = {p["name"] for p in doc["paths"][f"{ADMIN}/people/import"]["post"]["parameters"]}
    assert {"dry_run", "confirm_departures", "org", "limit"} <= params


async def test_progress_is_reported_for_every_pass(api: Api) -> None:
    await two_ministries(api)
    assert api.services is not None
    api.services.staff_import.batch_size = 2
    seen: list[tuple[str, int, int | None]] = []
    rows = [staff(str(8000 + i), "mof") for i in range(5)]
    report = await api.services.staff_import.do_import_people(
        cli_actor(), io.BytesIO(csv_file(rows)), ImportOptions(),
        lambda phase, done, total: seen.append((phase, done, total)),
    )  # fmt: skip
    assert report.new.count == 5
    phases = [phase for phase, _, _ in seen]
    assert phases.index("reading") < phases.index("importing") < phases.index("departures")
    assert [(d, t) for p, d, t in seen if p == "importing"] == [(2, 5), (4, 5), (5, 5), (5, 5)]
