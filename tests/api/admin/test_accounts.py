"""Managing people's accounts through the admin API: suspend and restore (Matrix account
locking), deactivate (every session revoked at once), sessions, and scope for every route."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import activated, audit_actions, issue
from tests.support.admin import ADMIN, grant, operator, org, person, two_ministries
from tests.support.harness import PASSWORD, Api, User, q


async def staffer(api: Api, root: User, number: str, org_code: str) -> tuple[str, User]:
    """A person with an activated account: (person_id, their session)."""
    someone = await person(api, root, number, org_code, name_lat=f"Staff Member{number}")
    [issued] = await issue(api, root, person_ids=[someone["person_id"]])
    return someone["person_id"], await activated(api, issued["code"])


def login_body(user: str, password: str = PASSWORD) -> dict[str, Any]:
    return {"type": "m.login.password", "user": user, "password": password}


async def test_suspend_locks_the_account_and_restore_reopens_the_same_sessions(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    pid, worker = await staffer(api, root, "1", "mof-it")
    phone = await api.login(worker.user_id)
    state = await api.call(
        "POST", f"{ADMIN}/people/{pid}/suspend", user=mof_admin, json={"reason": "inquiry"}
    )
    assert state == {
        "person_id": pid, "user_id": worker.user_id, "suspended": True, "deactivated": False,
        "changed": True,
    }  # fmt: skip
    for path in ("/sync", "/account/whoami", "/joined_rooms"):
        body = await api.error("GET", path, 401, "M_USER_LOCKED", user=worker)
        assert body["soft_logout"] is True
    await api.error("POST", "/createRoom", 401, "M_USER_LOCKED", user=worker, json={})
    # The right password cannot open a new session; a wrong one learns nothing.
    locked = await api.error(
        "POST", "/login", 401, "M_USER_LOCKED", json=login_body(worker.user_id)
    )
    assert locked["soft_logout"] is True
    await api.error("POST", "/login", 403, "M_FORBIDDEN", json=login_body(worker.user_id, "x"))
    again = await api.call("POST", f"{ADMIN}/people/{pid}/suspend", user=mof_admin, json={})
    assert again["changed"] is False
    # A locked account may still log out one of its sessions.
    await api.call("POST", "/logout", user=phone, json={})

    restored = await api.call("POST", f"{ADMIN}/people/{pid}/restore", user=mof_admin)
    assert restored["suspended"] is False and restored["changed"] is True
    assert (await api.call("GET", "/account/whoami", user=worker))["user_id"] == worker.user_id
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)
    assert await api.login(worker.user_id)
    actions = await audit_actions(api, root, target=worker.user_id, action="account.")
    assert actions == [
        ("account.restore", {"suspended": False}),
        ("account.suspend", {"suspended": True, "reason": "inquiry"}),
    ]


async def test_deactivate_revokes_every_session_and_leaves_rooms(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    pid, worker = await staffer(api, root, "1", "mof")
    laptop = await api.login(worker.user_id)
    room = await api.create_room(root, preset="public_chat")
    await api.join(worker, room)
    done = await api.call(
        "POST", f"{ADMIN}/people/{pid}/deactivate", user=mof_admin, json={"reason": "left"}
    )
    assert done == {"person_id": pid, "user_id": worker.user_id, "rooms_left": 1,
                    "codes_revoked": False}  # fmt: skip
    for session in (worker, laptop):
        await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=session)
    await api.error("POST", "/login", 403, "M_FORBIDDEN", json=login_body(worker.user_id))
    members = await api.call("GET", f"/rooms/{q(room)}/joined_members", user=root)
    assert worker.user_id not in members["joined"]
    await api.error(
        "POST", f"{ADMIN}/people/{pid}/deactivate", 409, "TUMAR_DEACTIVATED", user=mof_admin
    )
    await api.error(
        "POST", f"{ADMIN}/people/{pid}/restore", 409, "TUMAR_DEACTIVATED", user=mof_admin
    )
    params = {"target": pid, "action": "account.deactivate"}
    [entry] = (await api.call("GET", f"{ADMIN}/audit", user=root, params=params))["entries"]
    assert entry["actor"] == mof_admin.user_id and entry["org_code"] == "mof"
    assert entry["after"] == {"user_id": worker.user_id, "codes_revoked": False, "reason": "left"}


async def test_deactivating_someone_without_an_account_voids_their_code(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    someone = await person(api, root, "1", "gov")
    pid = someone["person_id"]
    await api.error("POST", f"{ADMIN}/people/{pid}/deactivate", 409, "TUMAR_NO_ACCOUNT", user=root)
    [issued] = await issue(api, root, person_ids=[pid])
    done = await api.call("POST", f"{ADMIN}/people/{pid}/deactivate", user=root)
    assert done == {"person_id": pid, "user_id": None, "rooms_left": 0, "codes_revoked": True}
    resp = await api.raw(
        "POST", "/register",
        json={"password": PASSWORD,
              "auth": {"type": "m.login.registration_token", "token": issued["code"]}},
    )  # fmt: skip
    assert resp.status_code == 401 and "replaced" in resp.json()["error"]


async def test_sessions_are_listed_and_revoked_one_at_a_time(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    pid, worker = await staffer(api, root, "1", "mof")
    phone = await api.login(worker.user_id, initial_device_display_name="phone")
    await api.call("GET", "/account/whoami", user=phone)  # seen from the test client's address
    listed = await api.call("GET", f"{ADMIN}/people/{pid}/sessions", user=mof_admin)
    assert listed["user_id"] == worker.user_id
    by_device = {s["device_id"]: s for s in listed["sessions"]}
    assert set(by_device) == {worker.device_id, phone.device_id}
    assert by_device[phone.device_id]["display_name"] == "phone"
    assert by_device[phone.device_id]["last_seen_ip"] == "127.0.0.1"
    assert isinstance(by_device[phone.device_id]["last_seen_ts"], int)

    await api.call("DELETE", f"{ADMIN}/people/{pid}/sessions/{phone.device_id}", user=mof_admin)
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)
    assert await api.call("GET", "/account/whoami", user=worker)
    await api.error(
        "DELETE", f"{ADMIN}/people/{pid}/sessions/{phone.device_id}", 404, "M_NOT_FOUND",
        user=mof_admin,
    )  # fmt: skip
    actions = await audit_actions(api, root, action="session.revoke")
    assert actions == [("session.revoke", {"device_id": phone.device_id})]


async def test_a_security_officer_reads_sessions_but_cannot_change_accounts(api: Api) -> None:
    root, _, _ = await two_ministries(api)
    pid, _worker = await staffer(api, root, "1", "mof")
    officer = await api.register("officer")
    await grant(api, root, officer.user_id, "security_officer", "mof")
    assert (await api.call("GET", f"{ADMIN}/people/{pid}/sessions", user=officer))["sessions"]
    for action in ("suspend", "deactivate"):
        await api.error(
            "POST", f"{ADMIN}/people/{pid}/{action}", 403, "TUMAR_OUT_OF_SCOPE", user=officer
        )
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 403, "TUMAR_OUT_OF_SCOPE", user=officer,
        json={"org_code": "mof"},
    )  # fmt: skip


async def test_admin_of_one_ministry_cannot_manage_anothers_accounts(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    theirs_pid, theirs = await staffer(api, root, "2", "moh")
    fresh = await person(api, root, "3", "moh")
    await person(api, root, "4", "moh")
    seen_before = await api.call("GET", f"{ADMIN}/audit", user=root)
    denied: list[tuple[str, str, Any]] = [
        ("POST", f"/people/{theirs_pid}/suspend", {}),
        ("POST", f"/people/{theirs_pid}/restore", {}),
        ("POST", f"/people/{theirs_pid}/deactivate", {}),
        ("GET", f"/people/{theirs_pid}/sessions", None),
        ("DELETE", f"/people/{theirs_pid}/sessions/{theirs.device_id}", None),
        ("POST", "/activation-codes", {"org_code": "moh"}),
        ("POST", "/activation-codes", {"org_code": "gov"}),
        ("POST", "/activation-codes", {"person_ids": [fresh["person_id"]]}),
    ]
    for method, path, body in denied:
        await api.error(method, ADMIN + path, 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin, json=body)
    # Nothing changed: the account works, its session is there, no code was issued, no row.
    assert await api.call("GET", "/account/whoami", user=theirs)
    sessions = await api.call("GET", f"{ADMIN}/people/{theirs_pid}/sessions", user=root)
    assert [s["device_id"] for s in sessions["sessions"]] == [theirs.device_id]
    seen_after = await api.call("GET", f"{ADMIN}/audit", user=root)
    # Only the refusals themselves were recorded (docs/audit.md: denied.admin).
    new = [e for e in seen_after["entries"] if e["seq"] > seen_before["entries"][0]["seq"]]
    assert [(e["action"], e["actor"]) for e in new] == [("denied.admin", mof_admin.user_id)] * 8
    assert await issue(api, root, org_code="moh")  # both moh people still lack a code
    # A mixed list is refused as a whole.
    mine = await person(api, root, "5", "mof-it")
    other = await person(api, root, "6", "moh")
    await api.error(
        "POST", f"{ADMIN}/activation-codes", 403, "TUMAR_OUT_OF_SCOPE", user=mof_admin,
        json={"person_ids": [mine["person_id"], other["person_id"]]},
    )  # fmt: skip
    assert await issue(api, mof_admin, person_ids=[mine["person_id"]])


async def test_bad_account_requests(api: Api) -> None:
    root, mof_admin, _ = await two_ministries(api)
    pid, worker = await staffer(api, root, "1", "mof")
    nobody = await person(api, root, "2", "mof")
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/people/p_missing/suspend", {}, 404, "M_NOT_FOUND"),
        ("GET", "/people/p_missing/sessions", None, 404, "M_NOT_FOUND"),
        ("POST", f"/people/{nobody['person_id']}/suspend", {}, 409, "TUMAR_NO_ACCOUNT"),
        ("GET", f"/people/{nobody['person_id']}/sessions", None, 409, "TUMAR_NO_ACCOUNT"),
        ("POST", f"/people/{pid}/suspend", {"reason": 5}, 400, "M_BAD_JSON"),
        ("POST", f"/people/{pid}/suspend", {"reason": "x" * 501}, 400, "M_BAD_JSON"),
        ("POST", f"/people/{pid}/suspend", {"why": "typo"}, 400, "M_BAD_JSON"),
        ("DELETE", f"/people/{pid}/sessions/NOSUCH", None, 404, "M_NOT_FOUND"),
    ]
    for method, path, body, status, errcode in cases:
        await api.error(method, ADMIN + path, status, errcode, user=mof_admin, json=body)
    assert (await api.call("GET", "/account/whoami", user=worker))["user_id"] == worker.user_id
    ordinary = await api.register("ordinary")
    await api.error("POST", f"{ADMIN}/people/{pid}/suspend", 403, "M_FORBIDDEN", user=ordinary)


async def test_admin_endpoints_are_in_the_openapi_document(api: Api) -> None:
    doc = await api.call("GET", f"{ADMIN}/openapi.json")
    paths = doc["paths"]
    for path in (
        "/_tumar/admin/v1/activation-codes",
        "/_tumar/admin/v1/people/{person_id}/suspend",
        "/_tumar/admin/v1/people/{person_id}/restore",
        "/_tumar/admin/v1/people/{person_id}/deactivate",
        "/_tumar/admin/v1/people/{person_id}/sessions",
        "/_tumar/admin/v1/people/{person_id}/sessions/{device_id}",
    ):
        assert path in paths, path
    issue_doc = paths["/_tumar/admin/v1/activation-codes"]["post"]
    assert "text/csv" in issue_doc["responses"]["200"]["content"]
    assert "person_ids" in str(issue_doc["requestBody"])
