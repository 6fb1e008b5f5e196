"""Brute-force protection and the login audit trail: failures lock the account (and the
client address) for every node, even the right password is refused until the lock ends, and
every failed and successful login leaves an audit row."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import audit_actions, server
from tests.support.admin import ADMIN, grant, operator, org, person
from tests.support.harness import PASSWORD, Api
from tumar.clock import FakeClock
from tumar.config import Settings

LOCKOUT = {
    "login_lockout_failures": 5,
    "login_address_lockout_failures": 12,
    "login_lockout_window_seconds": 600,
    "login_lockout_seconds": 900,
}


def login_body(user: str, password: str = PASSWORD) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    }


async def fail(api: Api, user: str, times: int) -> None:
    for _ in range(times):
        await api.error("POST", "/login", 403, "M_FORBIDDEN", json=login_body(user, "wrong!"))


async def locked(api: Api, user: str, password: str = PASSWORD) -> int:
    body = await api.error(
        "POST", "/login", 429, "M_LIMIT_EXCEEDED", json=login_body(user, password)
    )
    assert isinstance(body["retry_after_ms"], int)
    return int(body["retry_after_ms"])


async def test_brute_force_locks_the_account_until_the_lock_ends(settings: Settings) -> None:
    clock = FakeClock()
    async with server(settings, clock=clock, **LOCKOUT) as api:
        await api.register("alice")
        await fail(api, "alice", 5)
        # Now even the right password is refused, with how long to wait.
        assert await locked(api, "alice") == 900_000
        clock.advance(899)
        assert await locked(api, "alice") == 1_000
        body = await api.error(
            "POST", "/login", 429, "M_LIMIT_EXCEEDED", json=login_body("alice", "wrong!")
        )
        assert "account" in body["error"]
        clock.advance(1)
        assert (await api.login("alice")).user_id == "@alice:tumar.test"
        # The lock ended and the success reset the count: four more failures do not lock.
        await fail(api, "alice", 4)
        assert await api.login("alice")
        await fail(api, "alice", 4)
        assert await api.login("alice")


async def test_failures_outside_the_window_do_not_add_up(settings: Settings) -> None:
    clock = FakeClock()
    async with server(settings, clock=clock, **LOCKOUT) as api:
        await api.register("alice")
        await fail(api, "alice", 4)
        clock.advance(600)
        await fail(api, "alice", 4)
        assert await api.login("alice")


async def test_the_lock_is_shared_by_every_node(settings: Settings) -> None:
    clock = FakeClock()
    async with (
        server(settings, clock=clock, **LOCKOUT) as node_a,
        server(settings, clock=clock, **LOCKOUT) as node_b,
    ):
        await node_a.register("alice")
        await fail(node_a, "alice", 3)
        await fail(node_b, "alice", 2)
        await locked(node_a, "alice")
        await locked(node_b, "alice")
        # Another account is not affected by alice's lock.
        await node_b.register("bob")
        assert await node_a.login("bob")


async def test_one_address_guessing_many_accounts_is_locked(settings: Settings) -> None:
    clock = FakeClock()
    async with server(settings, clock=clock, **LOCKOUT) as api:
        await api.register("carol")
        for name in ("u1", "u2", "u3", "u4"):
            await fail(api, name, 3)  # 12 failures from 127.0.0.1, none locks an account
        body = await api.error("POST", "/login", 429, "M_LIMIT_EXCEEDED", json=login_body("carol"))
        assert "address" in body["error"]
        clock.advance(900)
        assert await api.login("carol")


async def test_unknown_users_are_locked_like_real_ones(settings: Settings) -> None:
    """Whether an account exists cannot be learnt from the lockout."""
    async with server(settings, clock=FakeClock(), **LOCKOUT) as api:
        await fail(api, "nobody", 5)
        await locked(api, "nobody", "anything")


async def test_every_login_is_audited_with_the_persons_organisation(api: Api) -> None:
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "moh", parent="gov")
    worker = await api.register("worker")
    someone = await person(api, root, "1", "mof")
    await api.call(
        "PATCH", f"{ADMIN}/people/{someone['person_id']}", user=root,
        json={"user_id": worker.user_id},
    )  # fmt: skip
    await api.error("POST", "/login", 403, "M_FORBIDDEN", json=login_body("worker", "nope"))
    await api.login("worker")
    await api.error("POST", "/login", 403, "M_FORBIDDEN", json=login_body("ghost", "nope"))
    entries = (await api.call("GET", f"{ADMIN}/audit", user=root, params={"action": "login."}))[
        "entries"
    ]
    by_target = [(e["action"], e["target_id"], e["after"], e["org_code"]) for e in entries[:3]]
    assert by_target == [
        ("login.failure", "@ghost:tumar.test", {"reason": "unknown_user"}, None),
        ("login.success", worker.user_id, {"method": "password"}, "mof"),
        ("login.failure", worker.user_id, {"reason": "wrong_password"}, "mof"),
    ]
    assert entries[0]["actor"] == "anonymous" and entries[1]["actor"] == worker.user_id
    assert entries[0]["ip"] == "127.0.0.1"
    # A ministry's administrators see their own people's logins, not the others'.
    mof_admin = await api.register("mofadmin")
    moh_admin = await api.register("mohadmin")
    await grant(api, root, mof_admin.user_id, "org_admin", "mof")
    await grant(api, root, moh_admin.user_id, "org_admin", "moh")
    assert ("login.success", {"method": "password"}) in await audit_actions(
        api, mof_admin, action="login.", target=worker.user_id
    )
    assert await audit_actions(api, moh_admin, action="login.", target=worker.user_id) == []


async def test_refusals_while_locked_are_audited(settings: Settings) -> None:
    async with server(settings, clock=FakeClock(), **LOCKOUT) as api:
        root = await operator(api)
        await api.register("alice")
        await fail(api, "alice", 5)
        await locked(api, "alice")
        actions = await audit_actions(api, root, target="@alice:tumar.test")
        assert actions[0] == ("login.failure", {"reason": "account_locked"})
        assert actions[1:6] == [("login.failure", {"reason": "wrong_password"})] * 5


async def test_the_in_memory_limiter_still_answers_first(settings: Settings) -> None:
    async with server(
        settings, clock=FakeClock(), rate_limit_enabled=True, login_rate_burst=3, **LOCKOUT
    ) as api:
        await api.register("alice")
        await fail(api, "alice", 3)
        body = await api.error("POST", "/login", 429, "M_LIMIT_EXCEEDED", json=login_body("alice"))
        assert "slow down" in body["error"]


async def test_password_confirmation_counts_towards_the_lock(settings: Settings) -> None:
    async with server(settings, clock=FakeClock(), **LOCKOUT) as api:
        alice = await api.register("alice")
        for _ in range(5):
            resp = await api.raw(
                "POST", "/delete_devices", user=alice,
                json={"devices": ["X"], "auth": {"type": "m.login.password", "password": "no!",
                                                 "identifier": {"type": "m.id.user",
                                                                "user": "alice"}}},
            )  # fmt: skip
            assert resp.status_code == 401
        await locked(api, "alice")
