"""The password policy where passwords are set: registration and changing one's password
(activation and the command line are tested with them), each refusal 400 ``M_WEAK_PASSWORD``
with a readable reason and nothing changed."""

from __future__ import annotations

from typing import Any

from tests.support.admin import ADMIN, operator, org, person
from tests.support.harness import PASSWORD, Api, User


def register_body(username: str, password: str) -> dict[str, Any]:
    return {"username": username, "password": password, "auth": {"type": "m.login.dummy"}}


def uia(user: User, password: str = PASSWORD) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": password,
    }


async def test_registration_refuses_weak_passwords(api: Api) -> None:
    for password, reason in (
        ("", "empty"),
        ("tiny", "at least 12"),
        ("sunshine2024!", "common"),
        ("zzzzzzzzzzzzzz", "different characters"),
        ("the.dispatcher.77", "user name"),
    ):
        body = await api.error(
            "POST", "/register", 400, "M_WEAK_PASSWORD",
            json=register_body("the.dispatcher", password),
        )  # fmt: skip
        assert reason in body["error"], (password, body["error"])
    await api.error(
        "GET", "/register/available", 400, "M_INVALID_USERNAME", params={"username": "Bad Name"}
    )
    assert (await api.call("GET", "/register/available", params={"username": "the.dispatcher"}))[
        "available"
    ]


async def test_change_password(api: Api) -> None:
    alice = await api.register("alice")
    phone = await api.login("alice")
    first = await api.raw("POST", "/account/password", user=alice, json={"new_password": "x"})
    assert first.status_code == 401
    assert first.json()["flows"] == [{"stages": ["m.login.password"]}]
    wrong = await api.raw(
        "POST", "/account/password", user=alice,
        json={"new_password": "a brand new secret", "auth": uia(alice, "not it")},
    )  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["errcode"] == "M_FORBIDDEN"
    body = await api.error(
        "POST", "/account/password", 400, "M_WEAK_PASSWORD", user=alice,
        json={"new_password": "password12345", "auth": uia(alice)},
    )  # fmt: skip
    assert "common" in body["error"]
    assert await api.login("alice")  # the old password still works after the refusals

    await api.call(
        "POST", "/account/password", user=alice,
        json={"new_password": "a brand new secret", "auth": uia(alice)},
    )  # fmt: skip
    # Other sessions are logged out by default; this one stays.
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)
    assert await api.call("GET", "/account/whoami", user=alice)
    await api.error(
        "POST", "/login", 403, "M_FORBIDDEN",
        json={"type": "m.login.password", "user": "alice", "password": PASSWORD},
    )  # fmt: skip
    tablet = await api.login("alice", "a brand new secret")
    await api.call(
        "POST", "/account/password", user=alice,
        json={"new_password": "another fine secret", "logout_devices": False,
              "auth": uia(alice, "a brand new secret")},
    )  # fmt: skip
    assert await api.call("GET", "/account/whoami", user=tablet)


async def test_change_password_checks_the_persons_name_and_is_audited(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    worker = await api.register("worker")
    someone = await person(api, root, "1", "gov", name_lat="Saule Nurlanovna")
    await api.call(
        "PATCH", f"{ADMIN}/people/{someone['person_id']}", user=root,
        json={"user_id": worker.user_id},
    )  # fmt: skip
    body = await api.error(
        "POST", "/account/password", 400, "M_WEAK_PASSWORD", user=worker,
        json={"new_password": "Nurlanovna Saule", "auth": uia(worker)},
    )  # fmt: skip
    assert "name" in body["error"]
    await api.call(
        "POST", "/account/password", user=worker,
        json={"new_password": "fields of tall grass", "auth": uia(worker)},
    )  # fmt: skip
    log = await api.call(
        "GET", f"{ADMIN}/audit", user=root, params={"action": "account.password_change"}
    )
    [entry] = log["entries"]
    assert entry["target_id"] == worker.user_id and entry["org_code"] == "gov"
    assert "fields" not in str(entry)  # never the password itself


async def test_change_password_bad_bodies(api: Api) -> None:
    alice = await api.register("alice")
    for body in (
        {},
        {"new_password": 5, "auth": uia(alice)},
        {"new_password": "fine long secret", "logout_devices": "yes", "auth": uia(alice)},
    ):
        await api.error("POST", "/account/password", 400, "M_BAD_JSON", user=alice, json=body)
    await api.error("POST", "/account/password", 401, "M_MISSING_TOKEN", json={})
    assert await api.login("alice")
