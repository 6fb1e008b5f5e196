"""Personal activation codes: issued by administrators, printed in letters (CSV), used once
as a Matrix registration token that creates the person's own account; every way of misusing
a code is refused with a clear reason and creates nothing."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from tests.support.accounts import activate, activated, audit_actions, issue, server
from tests.support.admin import ADMIN, operator, org, person
from tests.support.harness import PASSWORD, Api, User, q
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.activation import code_hash, normalise
from tumar.store import activation as activation_store

VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity"


async def ministry(api: Api) -> User:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    return root


async def aigerim(api: Api, root: User, number: str = "1001", **extra: Any) -> dict[str, Any]:
    return await person(
        api, root, number, "mof", name_lat="Aigerim Sadykova", name_cyr="Айгерим Садыкова",
        **extra,
    )  # fmt: skip


async def user_count(api: Api) -> int:
    assert api.services is not None
    return len(await api.services.accounts.list_users())


async def valid(api: Api, token: str) -> bool:
    result = await api.call("GET", VALIDITY, params={"token": token})
    return bool(result["valid"])


async def refused(api: Api, code: str, *words: str, **kwargs: Any) -> None:
    """The code is refused as a failed registration stage whose error says why."""
    resp = await activate(api, code, **kwargs)
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["errcode"] == "M_FORBIDDEN"
    assert {"stages": ["m.login.registration_token"]} in body["flows"]
    for word in words:
        assert word in body["error"], body["error"]


@pytest.mark.parametrize("mode", ["closed", "token", "open"])
async def test_a_code_creates_the_persons_account_in_every_mode(
    api: Api, settings: Settings, mode: str
) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    assert issued["localpart"] == "aigerim.sadykova"
    assert issued["user_id"] == "@aigerim.sadykova:tumar.test"
    assert len(issued["code"]) == 19 and issued["code"].count("-") == 3
    async with server(settings, registration=mode) as node:
        assert await valid(node, issued["code"])
        # The client's username is ignored: the code decides whose account this is.
        resp = await activate(node, issued["code"], username="somebody.else")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["user_id"] == "@aigerim.sadykova:tumar.test"
        me = User(body["user_id"], body["access_token"], body["device_id"])
        whoami = await node.call("GET", "/account/whoami", user=me)
        assert whoami["user_id"] == me.user_id
        assert not await valid(node, issued["code"])
    profile = await api.call("GET", f"/profile/{q(me.user_id)}")
    assert profile["displayname"] == "Айгерим Садыкова"
    linked = await api.call("GET", f"{ADMIN}/people/{someone['person_id']}", user=root)
    assert linked["user_id"] == me.user_id
    assert await api.login("aigerim.sadykova")
    log = await api.call(
        "GET", f"{ADMIN}/audit", user=root, params={"target": someone["person_id"]}
    )
    actions = [e["action"] for e in log["entries"]]
    assert actions == ["account.activate", "activation_code.issue", "person.create"]
    activation = log["entries"][0]
    assert (activation["actor"], activation["ip"]) == (me.user_id, "127.0.0.1")
    assert activation["after"] == {"user_id": me.user_id} and activation["org_code"] == "mof"
    assert issued["code"] not in str(log)  # only ever shown once


async def test_typing_variants_of_a_code_work(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    sloppy = issued["code"].replace("-", " ").lower().replace("0", "o").replace("1", "l")
    assert await valid(api, sloppy)
    user = await activated(api, sloppy)
    assert user.user_id == issued["user_id"]


async def test_localparts_are_unique_and_stable(api: Api) -> None:
    root = await ministry(api)
    await api.register("aigerim.sadykova2")  # an ordinary account already has the second name
    first = await aigerim(api, root, "1")
    second = await aigerim(api, root, "2")
    third = await person(api, root, "3", "mof", name_lat="-", name_cyr="Әсел Құдайбергенова")
    codes = await issue(api, root, org_code="mof")
    names = {c["personnel_number"]: c["localpart"] for c in codes}
    assert names == {"1": "aigerim.sadykova", "2": "aigerim.sadykova3", "3": "asel.qudaybergenova"}
    # Re-issuing keeps the name printed in the first letter, even after the person is renamed.
    await api.call(
        "PATCH", f"{ADMIN}/people/{second['person_id']}", user=root, json={"name_lat": "Other"}
    )
    again = await issue(api, root, person_ids=[second["person_id"]], reissue=True)
    assert again[0]["localpart"] == "aigerim.sadykova3"
    # Nobody else may register a reserved name, even with open registration.
    await api.error(
        "POST", "/register", 400, "M_USER_IN_USE",
        json={"username": "aigerim.sadykova", "password": PASSWORD,
              "auth": {"type": "m.login.dummy"}},
    )  # fmt: skip
    user = await activated(api, codes[0]["code"])
    assert user.user_id == "@aigerim.sadykova:tumar.test"
    assert first["person_id"] != third["person_id"]


async def test_codes_for_an_organisation_skip_people_already_served(api: Api) -> None:
    root = await ministry(api)
    await org(api, root, "mof-it", parent="mof", kind="department")
    a = await aigerim(api, root, "1")
    await person(api, root, "2", "mof-it")
    await person(api, root, "3", "mof", name_lat="Gone Person")
    gone = (await api.call("GET", f"{ADMIN}/people", user=root, params={"q": "gone"}))["people"]
    await api.call(
        "PATCH", f"{ADMIN}/people/{gone[0]['person_id']}", user=root, json={"status": "departed"}
    )
    first = await issue(api, root, org_code="mof")
    assert [c["personnel_number"] for c in first] == ["1", "2"]
    assert await issue(api, root, org_code="mof") == []  # everyone holds a live code
    await activated(api, first[0]["code"])
    renewed = await issue(api, root, org_code="mof", reissue=True)
    assert [c["personnel_number"] for c in renewed] == ["2"]  # "1" has an account now
    await refused(api, first[1]["code"], "replaced")
    assert a["person_id"] == first[0]["person_id"]


async def test_letters_as_csv(api: Api) -> None:
    root = await ministry(api)
    await aigerim(api, root, "1001")
    await person(api, root, "1002", "mof", name_cyr="=HYPERLINK(1)", name_lat="Formula Test")
    resp = await api.raw(
        "POST", f"{ADMIN}/activation-codes", user=root, json={"org_code": "mof"},
        params={"format": "csv"},
    )  # fmt: skip
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["cache-control"] == "no-store"
    text = resp.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [r["personnel_number"] for r in rows] == ["1001", "1002"]
    assert rows[0]["name_cyr"] == "Айгерим Садыкова"
    assert rows[0]["localpart"] == "aigerim.sadykova"
    assert rows[0]["organisation_ru"] == "mof ru"
    assert rows[0]["expires_utc"].endswith("UTC")
    assert rows[1]["name_cyr"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet
    assert await valid(api, rows[0]["code"])
    by_accept = await api.raw(
        "POST", f"{ADMIN}/activation-codes", user=root,
        json={"org_code": "mof", "reissue": True}, headers={"Accept": "text/csv"},
    )  # fmt: skip
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert not await valid(api, rows[0]["code"])  # re-issued: the first letters are void


async def test_reused_code_is_refused_and_creates_nothing(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    await activated(api, issued["code"])
    before = await user_count(api)
    await refused(api, issued["code"], "already have an account", username="another")
    assert await user_count(api) == before
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 409, "TUMAR_ALREADY_ACTIVATED", user=root,
        json={"person_ids": [someone["person_id"]], "reissue": True},
    )  # fmt: skip


async def test_a_used_code_stays_used(api: Api) -> None:
    """A used code is refused even where its person has no account linked (say the link
    was undone): "used" is a property of the code."""
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    assert api.services is not None
    async with api.services.db.write() as conn:  # used by some other path
        hashed = code_hash(normalise(issued["code"]) or "")
        assert await activation_store.use_code(conn, hashed, api.services.clock.now_ms())
    await refused(api, issued["code"], "already been used")
    assert await user_count(api) == 1  # the operator only


async def test_expired_code_is_refused(settings: Settings) -> None:
    clock = FakeClock()
    async with server(settings, clock=clock, activation_code_ttl_days=7) as api:
        root = await ministry(api)
        someone = await aigerim(api, root)
        [issued] = await issue(api, root, person_ids=[someone["person_id"]])
        assert issued["expiry_ts"] == clock.now_ms() + 7 * 86_400_000
        clock.advance(7 * 86_400 - 1)
        assert await valid(api, issued["code"])
        clock.advance(1)
        assert not await valid(api, issued["code"])
        await refused(api, issued["code"], "expired on", "new one")
        assert await user_count(api) == 1
        person_now = await api.call("GET", f"{ADMIN}/people/{someone['person_id']}", user=root)
        assert person_now["user_id"] is None
        # A fresh code works; the expired one needs no reissue flag, it is not live.
        [fresh] = await issue(api, root, person_ids=[someone["person_id"]])
        await activated(api, fresh["code"])


async def test_revoked_code_is_refused(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [old] = await issue(api, root, person_ids=[someone["person_id"]])
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 409, "TUMAR_CODE_EXISTS", user=root,
        json={"person_ids": [someone["person_id"]]},
    )  # fmt: skip
    [new] = await issue(api, root, person_ids=[someone["person_id"]], reissue=True)
    await refused(api, old["code"], "replaced by a newer one")
    assert await user_count(api) == 1
    await activated(api, new["code"])


async def test_a_code_only_ever_creates_its_own_persons_account(api: Api) -> None:
    root = await ministry(api)
    a = await aigerim(api, root, "1")
    b = await person(api, root, "2", "mof", name_lat="Nurlan Bekov")
    codes = await issue(api, root, person_ids=[a["person_id"], b["person_id"]])
    # Asking for B's name with A's code still creates A's account, never B's.
    resp = await activate(api, codes[0]["code"], username="nurlan.bekov")
    assert resp.json()["user_id"] == "@aigerim.sadykova:tumar.test"
    b_now = await api.call("GET", f"{ADMIN}/people/{b['person_id']}", user=root)
    assert b_now["user_id"] is None
    # A's used code cannot then be turned into an account for B either.
    await refused(api, codes[0]["code"], username="nurlan.bekov")
    b_now = await api.call("GET", f"{ADMIN}/people/{b['person_id']}", user=root)
    assert b_now["user_id"] is None
    await api.error(
        "POST",
        "/login",
        403,
        "M_FORBIDDEN",
        json={"type": "m.login.password", "user": "nurlan.bekov", "password": PASSWORD},
    )
    assert (await activated(api, codes[1]["code"])).user_id == "@nurlan.bekov:tumar.test"


async def test_departed_person_cannot_activate(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    await api.call(
        "PATCH", f"{ADMIN}/people/{someone['person_id']}", user=root, json={"status": "departed"}
    )
    await refused(api, issued["code"], "no longer active")
    assert await user_count(api) == 1
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 409, "TUMAR_PERSON_DEPARTED", user=root,
        json={"person_ids": [someone["person_id"]], "reissue": True},
    )  # fmt: skip


async def test_unknown_codes_are_refused(api: Api, settings: Settings) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    wrong = ("Z" if issued["code"][0] != "Z" else "Y") + issued["code"][1:]
    async with server(settings, registration="closed") as closed:
        for token in (wrong, "not-a-code", "x" * 5000, ""):
            resp = await activate(closed, token)
            assert resp.status_code == 401, resp.text
            assert "not valid" in resp.json()["error"]
            assert not await valid(closed, token) if token else True
        # Closed means closed for everything but activation codes.
        await closed.error(
            "POST", "/register", 403, "M_FORBIDDEN",
            json={"username": "x", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
        )  # fmt: skip
        plain = await closed.services.accounts.do_create_registration_token()  # type: ignore[union-attr]
        await refused(closed, plain, "not valid")
        assert not await valid(closed, plain)
    assert await user_count(api) == 1


async def test_weak_password_on_activation_keeps_the_code(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    for weak, reason in (
        ("short", "at least 12"),
        ("qwertyuiop123", "common"),
        ("Aigerim.Sadykova!", "user name"),
        ("Sadykova Aigerim", "name"),
        ("Садыкова Айгерим 1", "name"),
    ):
        body = await api.error(
            "POST", "/register", 400, "M_WEAK_PASSWORD",
            json={"password": weak,
                  "auth": {"type": "m.login.registration_token", "token": issued["code"]}},
        )  # fmt: skip
        assert reason in body["error"], (weak, body["error"])
    missing = await activate(api, issued["code"], password=None)  # type: ignore[arg-type]
    assert missing.status_code == 400 and missing.json()["errcode"] == "M_MISSING_PARAM"
    assert await valid(api, issued["code"])
    assert await user_count(api) == 1
    await activated(api, issued["code"])


async def test_concurrent_uses_of_one_code_create_one_account(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    results = await asyncio.gather(*(activate(api, issued["code"]) for _ in range(4)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401, 401, 401], [r.text for r in results]
    assert await user_count(api) == 2


async def test_issue_input_is_checked_and_nothing_changes(api: Api) -> None:
    root = await ministry(api)
    someone = await aigerim(api, root)
    pid = someone["person_id"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "M_BAD_JSON"),
        ({"person_ids": [pid], "org_code": "mof"}, 400, "M_BAD_JSON"),
        ({"person_ids": []}, 400, "M_BAD_JSON"),
        ({"person_ids": pid}, 400, "M_BAD_JSON"),
        ({"person_ids": [pid, 5]}, 400, "M_BAD_JSON"),
        ({"person_ids": [pid], "reissue": "yes"}, 400, "M_BAD_JSON"),
        ({"person_ids": [pid], "extra": 1}, 400, "M_BAD_JSON"),
        ({"person_ids": [pid, "p_nobody"]}, 404, "M_NOT_FOUND"),
        ({"org_code": "nowhere"}, 404, "M_NOT_FOUND"),
        ({"person_ids": ["x"] * 10_001}, 400, "M_BAD_JSON"),
    ]
    for body, status, errcode in cases:
        await api.error("POST", f"{ADMIN}/activation-codes", status, errcode, user=root, json=body)
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 400, "M_INVALID_PARAM", user=root,
        json={"person_ids": [pid]}, params={"format": "pdf"},
    )  # fmt: skip
    actions = await audit_actions(api, root, action="activation_code.")
    assert actions == []
    assert await issue(api, root, person_ids=[pid, pid])  # duplicates collapse to one code
