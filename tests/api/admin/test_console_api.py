"""What the admin console needs from the admin API beyond the other tests: the permissions in
``whoami``, and import progress streamed as JSON Lines (``Accept: application/x-ndjson``)."""

from __future__ import annotations

from typing import Any

import orjson

from tests.api.admin.test_imports import ORGS, audit_log, csv_file, everyone, staff
from tests.support.admin import ADMIN, grant, two_ministries
from tests.support.harness import Api, User

NDJSON = "application/x-ndjson"


async def test_whoami_lists_the_permissions_of_every_grant(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    me = await api.call("GET", f"{ADMIN}/whoami", user=officer)
    assert me["permissions"] == [
        "audit.export",
        "audit.read",
        "devices.manage",
        "directory.read",
        "labels.manage",
        "legal_hold",
    ]
    admin = await api.call("GET", f"{ADMIN}/whoami", user=mof_admin)
    assert "people.write" in admin["permissions"] and "legal_hold" not in admin["permissions"]
    assert "operator" in (await api.call("GET", f"{ADMIN}/whoami", user=root))["permissions"]
    nobody = await api.register("nobody")
    await api.error("GET", f"{ADMIN}/whoami", 403, "M_FORBIDDEN", user=nobody)


async def streamed(
    api: Api, by: User, path: str, data: bytes, **params: Any
) -> tuple[int, str, list[dict[str, Any]]]:
    resp = await api.raw(
        "POST", f"{ADMIN}{path}", user=by, content=data, params=params,
        headers={"Content-Type": "text/csv", "Accept": NDJSON},
    )  # fmt: skip
    media = resp.headers["content-type"].split(";")[0]
    if media != NDJSON:
        return resp.status_code, media, [resp.json()]
    return resp.status_code, media, [orjson.loads(line) for line in resp.content.splitlines()]


async def test_staff_import_streams_progress_then_the_report(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    rows = [staff(str(2000 + i), "mof") for i in range(30)]
    rows.insert(5, staff("", "mof"))  # a bad row: no personnel number
    status, media, lines = await streamed(
        api, root, "/people/import", csv_file(rows), dry_run="true"
    )
    assert (status, media) == (200, NDJSON)
    *progress, last = lines
    assert progress and all(set(p) == {"progress"} for p in progress)
    phases = [p["progress"]["phase"] for p in progress]
    assert phases[0] == "reading" and "importing" in phases
    assert phases == sorted(phases, key=["reading", "importing", "departures"].index)
    final_import = [p["progress"] for p in progress if p["progress"]["phase"] == "importing"][-1]
    assert final_import["done"] == final_import["total"] == 30
    report = last["report"]
    assert report["dry_run"] is True and report["counts"]["new"] == 30
    assert (
        report["errors"] == [{"row": 7, "key": None, "error": report["errors"][0]["error"]}]
        and "personnel_number" in report["errors"][0]["error"]
    )
    assert await everyone(api, root) == {}  # the dry run changed nothing

    status, _, lines = await streamed(api, root, "/people/import", csv_file(rows))
    assert status == 200 and lines[-1]["report"]["counts"]["new"] == 30
    assert len(await everyone(api, root)) == 30
    assert len([e for e in await audit_log(api, root) if e["action"] == "person.create"]) == 30


async def test_an_import_refused_before_it_starts_is_a_plain_error(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    before = await audit_log(api, root)
    status, media, (body,) = await streamed(api, root, "/people/import", b"name,surname\r\nA,B\r\n")
    assert (status, media, body["errcode"]) == (400, "application/json", "TUMAR_MISSING_COLUMNS")
    status, _, (body,) = await streamed(
        api, mof_admin, "/people/import", csv_file([staff("1", "moh")]), org="moh"
    )
    assert (status, body["errcode"]) == (403, "TUMAR_OUT_OF_SCOPE")
    assert await everyone(api, root) == {}
    after = await audit_log(api, root)
    new_rows = [e["action"] for e in after[: len(after) - len(before)]]
    assert all(a.startswith("denied.") for a in new_rows)  # the refusal itself is audited


async def test_an_error_after_the_start_is_the_last_line(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    good = csv_file([staff(str(3000 + i), "mof") for i in range(5000)])
    broken = good + b"9999,mof,\xff\xfe bad bytes,X\r\n"  # not UTF-8, far into the file
    status, media, lines = await streamed(api, root, "/people/import", broken)
    # The reader reported progress (every 1000 rows) before it met the bad bytes.
    assert (status, media) == (200, NDJSON)
    assert lines[0]["progress"]["phase"] == "reading"
    assert lines[-1] == {"error": {"status": 400, "errcode": "TUMAR_BAD_ENCODING",
                                   "error": lines[-1]["error"]["error"]}}  # fmt: skip
    assert await everyone(api, root) == {}  # nothing was written


async def test_org_import_streams_too(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    data = csv_file([["edu", "gov", "ministry", "Білім", "Образование", "Education", ""]], ORGS)
    status, media, lines = await streamed(api, root, "/orgs/import", data)
    assert (status, media) == (200, NDJSON)
    assert lines[-1]["report"]["counts"]["new"] == 1
    assert all("progress" in line for line in lines[:-1]) and len(lines) > 1
    orgs = await api.call("GET", f"{ADMIN}/orgs", user=root)
    assert "edu" in {o["code"] for o in orgs["organisations"]}
