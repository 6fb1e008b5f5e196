"""The organisation tree and people through the admin API, with scope and audit."""

from __future__ import annotations

from tests.support.admin import ADMIN, grant, operator, org, person, two_ministries
from tests.support.harness import Api, q


async def test_operator_builds_the_tree_and_paths_follow_moves(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "moh", parent="gov")
    dep = await org(api, root, "dep", parent="mof", kind="department")
    await org(api, root, "unit", parent="dep", kind="unit")
    assert dep["path"] == "/gov/mof/dep/"

    moved = await api.call("PATCH", f"{ADMIN}/orgs/dep", user=root, json={"parent_code": "moh"})
    assert moved["path"] == "/gov/moh/dep/"
    unit = await api.call("GET", f"{ADMIN}/orgs/unit", user=root)
    assert unit["path"] == "/gov/moh/dep/unit/"

    tree = await api.call("GET", f"{ADMIN}/orgs", user=root)
    assert [o["code"] for o in tree["organisations"]] == ["gov", "mof", "moh", "dep", "unit"]


async def test_moving_an_organisation_below_itself_is_refused(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "dep", parent="mof", kind="department")
    for target in ("mof", "dep"):
        await api.error(
            "PATCH", f"{ADMIN}/orgs/mof", 400, "TUMAR_ORG_CYCLE", user=root,
            json={"parent_code": target},
        )  # fmt: skip
    assert (await api.call("GET", f"{ADMIN}/orgs/dep", user=root))["path"] == "/gov/mof/dep/"


async def test_bad_organisation_input(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    good = {"code": "x", "parent_code": "gov", "kind": "ministry"}
    names = {"name_kk": "a", "name_ru": "b", "name_en": "c"}
    cases = [
        ({**good}, 400, "M_BAD_JSON"),  # names missing
        ({**good, **names, "kind": "club"}, 400, "M_BAD_JSON"),
        ({**good, **names, "code": "Bad Code"}, 400, "M_INVALID_PARAM"),
        ({**good, **names, "parent_code": "nowhere"}, 404, "M_NOT_FOUND"),
        ({**good, **names, "register_by": "31.12.2026"}, 400, "M_BAD_JSON"),
        ({**good, **names, "name_ru": 5}, 400, "M_BAD_JSON"),
        ({**good, **names, "nmae_en": "typo"}, 400, "M_BAD_JSON"),
        ({**good, **names, "code": "gov"}, 409, "TUMAR_ORG_EXISTS"),
    ]
    for body, status, errcode in cases:
        await api.error("POST", f"{ADMIN}/orgs", status, errcode, user=root, json=body)
    tree = await api.call("GET", f"{ADMIN}/orgs", user=root)
    assert [o["code"] for o in tree["organisations"]] == ["gov"]
    for patch in ({"name_ru": None}, {"mfa_required": None}, {"kind": "club"}, {"code": "g2"}):
        await api.error("PATCH", f"{ADMIN}/orgs/gov", 400, "M_BAD_JSON", user=root, json=patch)
    assert (await api.call("GET", f"{ADMIN}/orgs/gov", user=root))["name_ru"] == "gov ru"


async def test_people_crud_and_search(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    created = await person(api, root, "1001", "mof", position="Chief specialist")
    assert created["clearance"] == "internal"
    assert created["status"] == "active" and created["user_id"] is None
    await person(api, root, "1002", "mof", name_lat="Seitkali Aruzhan")
    page = await api.call("GET", f"{ADMIN}/people", user=root, params={"q": "aruzhan"})
    assert [p["personnel_number"] for p in page["people"]] == ["1002"]
    assert page["total"] == 1

    updated = await api.call(
        "PATCH", f"{ADMIN}/people/{created['person_id']}", user=root,
        json={"clearance": "official-use", "position": "Head of unit"},
    )  # fmt: skip
    assert updated["clearance"] == "official-use"
    await api.error(
        "PATCH", f"{ADMIN}/people/{created['person_id']}", 400, "M_INVALID_PARAM", user=root,
        json={"clearance": "top-secret"},
    )  # fmt: skip
    await api.error(
        "POST", f"{ADMIN}/people", 409, "TUMAR_PERSON_EXISTS", user=root,
        json={"personnel_number": "1001", "org_code": "mof", "name_cyr": "А", "name_lat": "A"},
    )  # fmt: skip


async def test_changes_are_audited_with_before_and_after(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    created = await person(api, root, "1001", "mof")
    await api.call(
        "PATCH", f"{ADMIN}/people/{created['person_id']}", user=root, json={"position": "Head"}
    )
    log = await api.call(
        "GET", f"{ADMIN}/audit", user=root, params={"target": created["person_id"]}
    )
    update, create = log["entries"]
    assert (update["action"], create["action"]) == ("person.update", "person.create")
    assert update["before"] == {"position": None} and update["after"] == {"position": "Head"}
    assert update["actor"] == root.user_id and update["ip"] == "127.0.0.1"


async def test_admin_of_one_ministry_cannot_touch_another(api: Api) -> None:
    root, mof_admin, _moh_admin = await two_ministries(api)
    mine = await person(api, mof_admin, "1", "mof-it")
    theirs = await person(api, root, "2", "moh")

    seen = await api.call("GET", f"{ADMIN}/people", user=mof_admin)
    assert [p["personnel_number"] for p in seen["people"]] == ["1"]
    tree = await api.call("GET", f"{ADMIN}/orgs", user=mof_admin)
    assert [o["code"] for o in tree["organisations"]] == ["mof", "mof-it"]

    pid = theirs["person_id"]
    denied = [
        ("GET", f"{ADMIN}/people/{pid}", None),
        ("PATCH", f"{ADMIN}/people/{pid}", {"position": "x"}),
        ("GET", f"{ADMIN}/orgs/moh", None),
        ("PATCH", f"{ADMIN}/orgs/moh", {"name_en": "x"}),
        ("DELETE", f"{ADMIN}/orgs/moh", None),
        ("POST", f"{ADMIN}/orgs", {"code": "y", "parent_code": "moh", "kind": "unit",
                                   "name_kk": "y", "name_ru": "y", "name_en": "y"}),
        ("POST", f"{ADMIN}/people", {"personnel_number": "3", "org_code": "moh",
                                     "name_cyr": "А", "name_lat": "A"}),
        # moving one of mine into their ministry, or my unit below theirs
        ("PATCH", f"{ADMIN}/people/{mine['person_id']}", {"org_code": "moh"}),
        ("PATCH", f"{ADMIN}/orgs/mof-it", {"parent_code": "moh"}),
        ("GET", f"{ADMIN}/people", {"org": "moh"}),
    ]  # fmt: skip
    for method, path, body in denied:
        params = body if method == "GET" else None
        json = None if method == "GET" else body
        await api.error(
            method, path, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin, json=json, params=params
        )
    after = await api.call("GET", f"{ADMIN}/people/{pid}", user=root)
    assert after == theirs
    assert (await api.call("GET", f"{ADMIN}/orgs/mof-it", user=root))["parent_code"] == "mof"


async def test_an_organisation_with_roles_over_it_is_not_deleted(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    await org(api, root, "tmp", parent="gov")
    await grant(api, root, mof_admin.user_id, "org_admin", "tmp")
    await api.error("DELETE", f"{ADMIN}/orgs/tmp", 409, "TUMAR_ORG_NOT_EMPTY", user=root)
    await api.call(
        "DELETE", f"{ADMIN}/roles/{q(mof_admin.user_id)}/org_admin", user=root,
        params={"org_code": "tmp"},
    )  # fmt: skip
    await api.call("DELETE", f"{ADMIN}/orgs/tmp", user=root)
    # The admin's other grant still covers only their ministry.
    tree = await api.call("GET", f"{ADMIN}/orgs", user=mof_admin)
    assert [o["code"] for o in tree["organisations"]] == ["mof", "mof-it"]


async def test_non_admins_are_refused(api: Api) -> None:
    await two_ministries(api)
    nobody = await api.register("nobody")
    await api.error("GET", f"{ADMIN}/orgs", 403, "M_FORBIDDEN", user=nobody)
    await api.error("GET", f"{ADMIN}/orgs", 401, "M_MISSING_TOKEN")


async def test_role_grants_follow_the_grant_rules(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    clerk = await api.register("clerk")
    await grant(api, mof_admin, clerk.user_id, "registry_clerk", "mof-it")
    for role, org_code in (("security_officer", "mof"), ("operator", ""), ("org_admin", "moh")):
        await api.error(
            "POST", f"{ADMIN}/roles", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin,
            json={"user_id": clerk.user_id, "role": role, "org_code": org_code},
        )  # fmt: skip
    await grant(api, root, clerk.user_id, "security_officer", "mof")
    await api.error(
        "POST", f"{ADMIN}/roles", 409, "TUMAR_ROLE_EXISTS", user=root,
        json={"user_id": clerk.user_id, "role": "security_officer", "org_code": "mof"},
    )  # fmt: skip
    await api.error(
        "POST", f"{ADMIN}/roles", 404, "M_NOT_FOUND", user=root,
        json={"user_id": "@ghost:tumar.test", "role": "org_admin", "org_code": "mof"},
    )  # fmt: skip
    me = await api.call("GET", f"{ADMIN}/whoami", user=clerk)
    assert sorted((g["role"], g["org_code"]) for g in me["grants"]) == [
        ("registry_clerk", "mof-it"),
        ("security_officer", "mof"),
    ]
    await api.error(
        "DELETE", f"{ADMIN}/roles/{q(clerk.user_id)}/security_officer", 403,
        "TUMAR_OUT_OF_SCOPE", user=mof_admin, params={"org_code": "mof"},
    )  # fmt: skip
    await api.call(
        "DELETE", f"{ADMIN}/roles/{q(clerk.user_id)}/registry_clerk", user=mof_admin,
        params={"org_code": "mof-it"},
    )  # fmt: skip
    # A security officer reads the audit log of their ministry only.
    log = await api.call("GET", f"{ADMIN}/audit", user=clerk)
    assert log["entries"] and all(e["org_code"] in ("mof", "mof-it") for e in log["entries"])


async def test_openapi_document_lists_every_admin_route(api: Api) -> None:
    doc = await api.call("GET", f"{ADMIN}/openapi.json")
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/orgs", "/orgs/{code}", "/people", "/people/{person_id}", "/roles", "/audit"):
        assert f"{ADMIN}{path}" in paths
    create = paths[f"{ADMIN}/orgs"]["post"]
    assert "name_ru" in create["requestBody"]["content"]["application/json"]["schema"]["required"]
