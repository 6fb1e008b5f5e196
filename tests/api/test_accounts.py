"""Accounts and the server's front door: login, logout, registration, devices, tokens, CORS,
discovery endpoints and the answers to requests the server does not handle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.support.harness import CLIENT, PASSWORD, Api, User, q
from tumar.app import build_app
from tumar.config import RegistrationMode, Settings
from tumar.core.services import build_services

ApiFactory = Callable[[RegistrationMode], AbstractAsyncContextManager[Api]]


@pytest.fixture
def api_with(settings: Settings) -> ApiFactory:
    """An API on the test's database with another registration mode."""

    @asynccontextmanager
    async def make(registration: RegistrationMode) -> AsyncIterator[Api]:
        custom = make_settings(
            registration=registration,
            database_url=settings.database_url,
            database_schema=settings.database_schema,
            data_dir=settings.data_dir,
        )
        services = build_services(custom)
        await services.start()
        try:
            async with Api.in_process(build_app(custom, services), services) as client:
                yield client
        finally:
            await services.close()

    return make


def password_login(user: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        **extra,
    }


# ---- login --------------------------------------------------------------------------------


async def test_login_flows_offer_password(api: Api) -> None:
    body = await api.call("GET", "/login")
    assert {"type": "m.login.password"} in body["flows"]


async def test_login_with_identifier_gives_a_working_token(api: Api) -> None:
    alice = await api.register("alice")
    body = await api.call("POST", "/login", json=password_login("alice"))
    assert body["user_id"] == alice.user_id
    assert body["home_server"] == "tumar.test"
    assert body["device_id"] != alice.device_id
    assert body["access_token"] != alice.token
    assert "m.homeserver" in body["well_known"]
    me = await api.call(
        "GET", "/account/whoami", user=User(alice.user_id, body["access_token"], body["device_id"])
    )
    assert me == {"user_id": alice.user_id, "device_id": body["device_id"], "is_guest": False}


async def test_login_with_full_user_id_and_upper_case_localpart(api: Api) -> None:
    alice = await api.register("alice")
    by_id = await api.call("POST", "/login", json=password_login(alice.user_id))
    assert by_id["user_id"] == alice.user_id
    upper = await api.call("POST", "/login", json=password_login("ALICE"))
    assert upper["user_id"] == alice.user_id


async def test_login_with_legacy_user_field(api: Api) -> None:
    alice = await api.register("alice")
    body = await api.call(
        "POST",
        "/login",
        json={"type": "m.login.password", "user": "alice", "password": PASSWORD},
    )
    assert body["user_id"] == alice.user_id


async def test_login_reusing_device_id_keeps_the_device(api: Api) -> None:
    alice = await api.register("alice")
    again = await api.login("alice", device_id=alice.device_id)
    assert again.device_id == alice.device_id
    assert again.token != alice.token
    devices = await api.call("GET", "/devices", user=again)
    assert [d["device_id"] for d in devices["devices"]] == [alice.device_id]
    assert (await api.call("GET", "/account/whoami", user=again))["device_id"] == alice.device_id


async def test_login_initial_device_display_name_shows_in_devices(api: Api) -> None:
    await api.register("alice")
    phone = await api.login("alice", initial_device_display_name="Alice's phone")
    device = await api.call("GET", f"/devices/{phone.device_id}", user=phone)
    assert device["display_name"] == "Alice's phone"
    listed = await api.call("GET", "/devices", user=phone)
    names = {d["device_id"]: d.get("display_name") for d in listed["devices"]}
    assert names[phone.device_id] == "Alice's phone"


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("@alice:elsewhere.test", PASSWORD),
        ("not a user id", PASSWORD),
    ],
)
async def test_login_refused(api: Api, user: str, password: str) -> None:
    await api.register("alice")
    body = await api.error(
        "POST", "/login", 403, "M_FORBIDDEN", json=password_login(user, password)
    )
    assert "password" in body["error"].lower()


async def test_login_unsupported_type(api: Api) -> None:
    await api.register("alice")
    await api.error(
        "POST", "/login", 400, "M_UNKNOWN", json={"type": "m.login.email.identity", "x": 1}
    )
    # m.login.token is supported (minted by the SSO page, tests/api/test_sso.py).
    await api.error(
        "POST", "/login", 403, "M_FORBIDDEN", json={"type": "m.login.token", "token": "abc"}
    )


# ---- logout and tokens --------------------------------------------------------------------


async def test_logout_invalidates_only_that_token_and_removes_the_device(api: Api) -> None:
    alice = await api.register("alice")
    other = await api.login("alice")
    await api.call("POST", "/logout", user=alice, json={})
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
    assert (await api.call("GET", "/account/whoami", user=other))["user_id"] == alice.user_id
    devices = await api.call("GET", "/devices", user=other)
    assert [d["device_id"] for d in devices["devices"]] == [other.device_id]


async def test_logout_all_invalidates_every_token(api: Api) -> None:
    alice = await api.register("alice")
    other = await api.login("alice")
    bob = await api.register("bob")
    await api.call("POST", "/logout/all", user=other, json={})
    for user in (alice, other):
        body = await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=user)
        assert body["soft_logout"] is False
    assert (await api.call("GET", "/account/whoami", user=bob))["user_id"] == bob.user_id
    fresh = await api.login("alice")
    devices = await api.call("GET", "/devices", user=fresh)
    assert [d["device_id"] for d in devices["devices"]] == [fresh.device_id]


async def test_whoami(api: Api) -> None:
    alice = await api.register("alice")
    body = await api.call("GET", "/account/whoami", user=alice)
    assert body == {"user_id": "@alice:tumar.test", "device_id": alice.device_id, "is_guest": False}


async def test_missing_token(api: Api) -> None:
    await api.error("GET", "/account/whoami", 401, "M_MISSING_TOKEN")
    await api.error(
        "GET",
        "/account/whoami",
        401,
        "M_MISSING_TOKEN",
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )


async def test_unknown_token(api: Api) -> None:
    await api.error(
        "GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", headers={"Authorization": "Bearer nope"}
    )
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", params={"access_token": "x"})


async def test_access_token_query_parameter(api: Api) -> None:
    alice = await api.register("alice")
    body = await api.call("GET", "/account/whoami", params={"access_token": alice.token})
    assert body["user_id"] == alice.user_id


# ---- registration -------------------------------------------------------------------------


async def test_registration_closed_by_default(api_with: ApiFactory) -> None:
    assert Settings.model_fields["registration"].default == "closed"
    async with api_with("closed") as closed:
        await closed.error(
            "POST",
            "/register",
            403,
            "M_FORBIDDEN",
            json={"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
        )
        # Closed registration still offers the one way in: a personal activation code
        # (tests/api/test_activation.py), so clients show a field for it.
        for body in ({"username": "alice", "password": PASSWORD}, {}):
            challenge = await closed.raw("POST", "/register", json=body)
            assert challenge.status_code == 401
            assert challenge.json()["flows"] == [{"stages": ["m.login.registration_token"]}]
        await closed.error(
            "GET", "/register/available", 403, "M_FORBIDDEN", params={"username": "alice"}
        )
        await closed.error(
            "POST",
            "/login",
            403,
            "M_FORBIDDEN",
            json=password_login("alice"),
        )


async def test_closed_registration_still_lets_existing_users_log_in(
    api: Api, api_with: ApiFactory
) -> None:
    alice = await api.register("alice")
    async with api_with("closed") as closed:
        again = await closed.login("alice")
        assert again.user_id == alice.user_id


async def test_open_registration_user_interactive_flow(api: Api) -> None:
    first = await api.raw("POST", "/register", json={"username": "alice", "password": PASSWORD})
    assert first.status_code == 401
    challenge = first.json()
    assert isinstance(challenge["session"], str) and challenge["session"]
    assert {"stages": ["m.login.dummy"]} in challenge["flows"]
    assert "errcode" not in challenge
    done = await api.call(
        "POST",
        "/register",
        json={
            "username": "alice",
            "password": PASSWORD,
            "initial_device_display_name": "laptop",
            "auth": {"type": "m.login.dummy", "session": challenge["session"]},
        },
    )
    assert done["user_id"] == "@alice:tumar.test"
    user = User(done["user_id"], done["access_token"], done["device_id"])
    assert (await api.call("GET", f"/devices/{user.device_id}", user=user))["display_name"] == (
        "laptop"
    )


async def test_register_offered_unknown_stage_is_a_failed_challenge(api: Api) -> None:
    resp = await api.raw(
        "POST",
        "/register",
        json={"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.password"}},
    )
    assert resp.status_code == 401
    body = resp.json()
    assert body["errcode"] == "M_FORBIDDEN" and body["error"] and body["flows"]


async def test_register_taken_and_invalid_names(api: Api) -> None:
    await api.register("alice")
    await api.error(
        "POST",
        "/register",
        400,
        "M_USER_IN_USE",
        json={"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
    )
    await api.error(
        "POST",
        "/register",
        400,
        "M_INVALID_USERNAME",
        json={"username": "al ice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
    )
    assert (await api.call("GET", "/register/available", params={"username": "bob"})) == {
        "available": True
    }
    await api.error(
        "GET", "/register/available", 400, "M_USER_IN_USE", params={"username": "alice"}
    )


async def test_register_inhibit_login_and_generated_username(api: Api) -> None:
    body = await api.call(
        "POST",
        "/register",
        json={"password": PASSWORD, "inhibit_login": True, "auth": {"type": "m.login.dummy"}},
    )
    assert set(body) == {"user_id"}
    assert body["user_id"].startswith("@") and body["user_id"].endswith(":tumar.test")


async def test_register_guest_refused(api: Api) -> None:
    await api.error(
        "POST", "/register", 403, "M_GUEST_ACCESS_FORBIDDEN", params={"kind": "guest"}, json={}
    )


@pytest.mark.parametrize("mode", ["token", "open"])
async def test_registration_token_can_be_used_once(
    api: Api, api_with: ApiFactory, mode: RegistrationMode
) -> None:
    assert api.services is not None
    token = await api.services.accounts.do_create_registration_token()
    async with api_with(mode) as server:
        valid = await server.call(
            "GET", "/register/m.login.registration_token/validity", params={"token": token}
        )
        assert valid == {"valid": True}
        challenge = await server.raw(
            "POST", "/register", json={"username": "alice", "password": PASSWORD}
        )
        assert challenge.status_code == 401
        assert {"stages": ["m.login.registration_token"]} in challenge.json()["flows"]
        if mode == "token":
            assert {"stages": ["m.login.dummy"]} not in challenge.json()["flows"]
            dummy = await server.raw(
                "POST",
                "/register",
                json={"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}},
            )
            assert dummy.status_code == 401
        auth = {
            "type": "m.login.registration_token",
            "token": token,
            "session": challenge.json()["session"],
        }
        done = await server.call(
            "POST", "/register", json={"username": "alice", "password": PASSWORD, "auth": auth}
        )
        assert done["user_id"] == "@alice:tumar.test"
        again = await server.raw(
            "POST", "/register", json={"username": "bob", "password": PASSWORD, "auth": auth}
        )
        assert again.status_code == 401
        assert again.json()["errcode"] == "M_FORBIDDEN"
        assert "token" in again.json()["error"]
        valid = await server.call(
            "GET", "/register/m.login.registration_token/validity", params={"token": token}
        )
        assert valid == {"valid": False}
        await server.error("POST", "/login", 403, "M_FORBIDDEN", json=password_login("bob"))


async def test_unknown_registration_token_refused(api: Api) -> None:
    resp = await api.raw(
        "POST",
        "/register",
        json={
            "username": "alice",
            "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": "made-up"},
        },
    )
    assert resp.status_code == 401
    assert resp.json()["errcode"] == "M_FORBIDDEN"


# ---- devices ------------------------------------------------------------------------------


async def test_devices_list_get_rename(api: Api) -> None:
    alice = await api.register("alice")
    phone = await api.login("alice", initial_device_display_name="phone")
    listed = await api.call("GET", "/devices", user=alice)
    assert {d["device_id"] for d in listed["devices"]} == {alice.device_id, phone.device_id}
    await api.call("PUT", f"/devices/{phone.device_id}", user=alice, json={"display_name": "work"})
    assert (await api.call("GET", f"/devices/{phone.device_id}", user=phone))["display_name"] == (
        "work"
    )
    await api.error("GET", "/devices/NOSUCHDEVICE", 404, "M_NOT_FOUND", user=alice)
    await api.error(
        "PUT", "/devices/NOSUCHDEVICE", 404, "M_NOT_FOUND", user=alice, json={"display_name": "x"}
    )


async def test_devices_of_other_users_are_invisible(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    await api.error("GET", f"/devices/{bob.device_id}", 404, "M_NOT_FOUND", user=alice)
    await api.error(
        "DELETE",
        f"/devices/{bob.device_id}",
        404,
        "M_NOT_FOUND",
        user=alice,
        json={"auth": {"type": "m.login.password", "password": PASSWORD}},
    )
    assert (await api.call("GET", "/account/whoami", user=bob))["user_id"] == bob.user_id


async def test_delete_device_needs_the_password(api: Api) -> None:
    alice = await api.register("alice")
    phone = await api.login("alice")
    path = f"/devices/{phone.device_id}"

    challenge = await api.raw("DELETE", path, user=alice, json={})
    assert challenge.status_code == 401
    body = challenge.json()
    assert body["flows"] == [{"stages": ["m.login.password"]}]
    assert body["session"]

    wrong = await api.raw(
        "DELETE",
        path,
        user=alice,
        json={
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "wrong",
                "session": body["session"],
            }
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["errcode"] == "M_FORBIDDEN"
    assert (await api.call("GET", "/account/whoami", user=phone))["device_id"] == phone.device_id

    await api.call(
        "DELETE",
        path,
        user=alice,
        json={
            "auth": {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": PASSWORD,
                "session": body["session"],
            }
        },
    )
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)
    listed = await api.call("GET", "/devices", user=alice)
    assert [d["device_id"] for d in listed["devices"]] == [alice.device_id]


async def test_delete_devices_in_bulk(api: Api) -> None:
    alice = await api.register("alice")
    one = await api.login("alice")
    two = await api.login("alice")
    challenge = await api.raw(
        "POST", "/delete_devices", user=alice, json={"devices": [one.device_id]}
    )
    assert challenge.status_code == 401
    await api.call(
        "POST",
        "/delete_devices",
        user=alice,
        json={
            "devices": [one.device_id, two.device_id],
            "auth": {"type": "m.login.password", "user": "alice", "password": PASSWORD},
        },
    )
    for user in (one, two):
        await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=user)
    assert (await api.call("GET", "/account/whoami", user=alice))["user_id"] == alice.user_id


async def test_device_delete_cannot_be_confirmed_with_someone_elses_password(api: Api) -> None:
    alice = await api.register("alice")
    await api.register("bob", password="bobs password")
    phone = await api.login("alice")
    await api.error(
        "DELETE",
        f"/devices/{phone.device_id}",
        403,
        "M_FORBIDDEN",
        user=alice,
        json={"auth": {"type": "m.login.password", "user": "bob", "password": "bobs password"}},
    )
    assert (await api.call("GET", "/account/whoami", user=phone))["user_id"] == alice.user_id


# ---- HTTP plumbing: CORS, unknown endpoints, prefixes ---------------------------------------


def assert_cors(headers: Any) -> None:
    assert headers["access-control-allow-origin"] == "*"
    assert "OPTIONS" in headers["access-control-allow-methods"]
    assert "Authorization" in headers["access-control-allow-headers"]


async def test_cors_on_success_error_and_preflight(api: Api) -> None:
    alice = await api.register("alice")
    ok = await api.raw("GET", "/account/whoami", user=alice)
    assert ok.status_code == 200
    assert_cors(ok.headers)
    err = await api.raw("GET", "/account/whoami")
    assert err.status_code == 401
    assert_cors(err.headers)
    missing = await api.raw("GET", "/no/such/thing")
    assert missing.status_code == 404
    assert_cors(missing.headers)
    pre = await api.raw(
        "OPTIONS",
        f"/rooms/{q('!x:tumar.test')}/send/m.room.message/1",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert pre.status_code in (200, 204)
    assert_cors(pre.headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/endpoint"),
        ("POST", "/rooms/!a:tumar.test/frobnicate"),
        ("GET", "/_matrix/client/v9/sync"),
        ("GET", "/_matrix/media/v3/frobnicate"),
    ],
)
async def test_unknown_endpoint(api: Api, method: str, path: str) -> None:
    alice = await api.register("alice")
    await api.error(method, path, 404, "M_UNRECOGNIZED", user=alice)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/createRoom"),
        ("DELETE", "/sync"),
        ("PUT", "/login"),
        ("POST", "/account/whoami"),
        ("POST", "/_matrix/client/versions"),
    ],
)
async def test_wrong_method(api: Api, method: str, path: str) -> None:
    alice = await api.register("alice")
    await api.error(method, path, 405, "M_UNRECOGNIZED", user=alice, json={})


async def test_r0_prefix_is_an_alias(api: Api) -> None:
    alice = await api.register("alice")
    body = await api.call("GET", "/_matrix/client/r0/account/whoami", user=alice)
    assert body["user_id"] == alice.user_id
    room = await api.call("POST", "/_matrix/client/r0/createRoom", user=alice, json={})
    joined = await api.call("GET", CLIENT + "/joined_rooms", user=alice)
    assert joined["joined_rooms"] == [room["room_id"]]


# ---- discovery and small endpoints -------------------------------------------------------


async def test_versions_without_auth(api: Api) -> None:
    body = await api.call("GET", "/_matrix/client/versions")
    assert "v1.1" in body["versions"]
    assert all(isinstance(v, str) for v in body["versions"])
    assert isinstance(body.get("unstable_features", {}), dict)


async def test_capabilities(api: Api) -> None:
    alice = await api.register("alice")
    caps = (await api.call("GET", "/capabilities", user=alice))["capabilities"]
    versions = caps["m.room_versions"]
    assert versions["default"] in versions["available"]
    assert versions["available"][versions["default"]] == "stable"
    assert caps["m.change_password"] == {"enabled": True}
    await api.error("GET", "/capabilities", 401, "M_MISSING_TOKEN")


async def test_push_rules(api: Api) -> None:
    alice = await api.register("alice")
    rules = await api.call("GET", "/pushrules/", user=alice)
    assert set(rules["global"]) >= {"override", "content", "room", "sender", "underride"}
    ids = {r["rule_id"] for kind in rules["global"].values() for r in kind}
    assert ".m.rule.master" in ids
    assert await api.call("GET", "/pushrules/global/", user=alice) == rules["global"]


async def test_well_known(api: Api) -> None:
    body = await api.call("GET", "/.well-known/matrix/client")
    assert body == {"m.homeserver": {"base_url": "http://tumar.test/"}}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_matrix/federation/v1/version"),
        ("PUT", "/_matrix/federation/v1/send/123"),
        ("GET", "/_matrix/key/v2/server"),
    ],
)
async def test_federation_disabled(api: Api, method: str, path: str) -> None:
    body = await api.error(method, path, 403, "M_FORBIDDEN", json={})
    assert "ederation" in body["error"]


async def test_turn_server_refused(api: Api) -> None:
    alice = await api.register("alice")
    await api.error("GET", "/voip/turnServer", 403, "M_FORBIDDEN", user=alice)
    await api.error("GET", "/voip/turnServer", 401, "M_MISSING_TOKEN")
