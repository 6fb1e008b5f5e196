"""Upstream OpenID Connect login against a small identity provider that the tests start:
the happy path, tampered or mis-signed ID tokens, unknown people, and the second factor after
the provider. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.admin import ADMIN
from tests.support.oidc_provider import IdentityProvider
from tests.support.sso import (
    CLIENT_URL,
    START,
    Env,
    audit_rows,
    code,
    enrol_secret,
    follow,
    official,
    sso_env,
    start,
    submit,
    token_login,
    totp_now,
    tree,
)
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.sso_settings import OidcProvider

NUMBER = {"claim": "personnel_number", "match": "personnel_number"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp(clock: FakeClock) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(now=lambda: clock.now_ms() / 1000).start()
    yield provider
    provider.stop()


def env_for(settings: Settings, clock: FakeClock, idp: IdentityProvider, **provider: Any) -> Any:
    config = idp.settings(user_mapping=provider.pop("user_mapping", NUMBER), **provider)
    return sso_env(settings, clock, oidc_providers=[config])


async def setup(env: Env, *, mfa: bool = False) -> tuple[Any, Any]:
    root = await tree(env.api, mfa=mfa)
    alice, _ = await official(env.api, root, "alice", "1001", email="Alice@Gov.example")
    return root, alice


async def test_login_flows_list_the_providers(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp) as env:
        flows = (await env.api.call("GET", "/login"))["flows"]
    sso = next(f for f in flows if f["type"] == "m.login.sso")
    assert sso["identity_providers"] == [
        {"id": "local", "name": "tumar"},
        {"id": "test", "name": "Test ID"},
    ]


async def test_oidc_happy_path_with_pkce_state_and_nonce(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp) as env:
        root, alice = await setup(env)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        done = await start(env.browser, idp="test")
        session = await token_login(env.api, done.login_token)
        assert session["user_id"] == alice.user_id

        asked = idp.authorize_requests[0]
        assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
        assert asked["redirect_uri"] == "http://tumar.test/_tumar/sso/oidc/callback"
        assert idp.token_requests[0]["code_verifier"]  # the provider checked it against PKCE
        rows = await audit_rows(env.api, root, "login.success")
        rows = [r for r in rows if r["after"]["method"] != "password"]  # the operator's
        assert [r["after"] for r in rows] == [{"method": "oidc", "idp": "test"}]
        assert rows[0]["target_id"] == alice.user_id and rows[0]["actor"] == alice.user_id


async def test_provider_button_on_the_page_and_userinfo_claims(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp, client_auth_method="client_secret_post") as env:
        _, alice = await setup(env)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        idp.userinfo_only = ("personnel_number",)  # only userinfo names the person
        page = await start(env.browser)
        assert "Test ID" in page.html
        done = await submit(env.browser, page, "provider", idp="test")
        assert (await token_login(env.api, done.login_token))["user_id"] == alice.user_id
        assert idp.token_requests[0]["client_secret"] == idp.client_secret


async def test_mfa_org_still_asks_for_tumars_code_after_the_provider(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp) as env:
        _, alice = await setup(env, mfa=True)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        page = await start(env.browser, idp="test")
        secret = enrol_secret(page)
        done = await code(env.browser, page, totp_now(secret, clock))
        assert (await token_login(env.api, done.login_token))["user_id"] == alice.user_id


async def test_trusted_provider_mfa_skips_tumars_code(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp, trust_mfa=True) as env:
        _, alice = await setup(env, mfa=True)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        done = await start(env.browser, idp="test")
        assert (await token_login(env.api, done.login_token))["user_id"] == alice.user_id


@pytest.mark.parametrize(
    "knob",
    [
        {"tamper": {"nonce": "not-this-login"}},
        {"drop": ("nonce",)},
        {"tamper": {"aud": "another-client"}},
        {"tamper": {"aud": ["tumar", "another"], "azp": "another"}},
        {"tamper": {"iss": "http://127.0.0.1:1/"}},
        {"tamper": {"exp": 1_000}},
        {"sign_with_unpublished_key": True},
        {"deny": True},
    ],
    ids=["nonce", "no-nonce", "aud", "azp", "iss", "expired", "signature", "denied"],
)
async def test_bad_id_tokens_are_refused(
    settings: Settings, clock: FakeClock, idp: IdentityProvider, knob: dict[str, Any]
) -> None:
    async with env_for(settings, clock, idp) as env:
        root, _ = await setup(env)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        for name, value in knob.items():
            setattr(idp, name, value)
        step = await start(env.browser, idp="test")
        assert step.final is None and step.page is not None
        assert step.page.status_code == 403
        assert "failed" in step.html or "не удался" in step.html
        rows = await audit_rows(env.api, root, "login.failure")
        assert len(rows) == 1 and rows[0]["after"]["method"] == "oidc"
        assert rows[0]["after"]["reason"] in ("id_token", "provider_error")
        successes = await audit_rows(env.api, root, "login.success")
        assert [r["after"]["method"] for r in successes] == ["password"]  # the operator's


async def test_unknown_or_departed_people_are_refused(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp) as env:
        root, _ = await setup(env)
        idp.user = {"sub": "u-9", "personnel_number": "9999"}  # not in the directory
        step = await start(env.browser, idp="test")
        assert step.page is not None and step.page.status_code == 403
        assert "not linked" in step.html or "не связана" in step.html
        # A person without an account is as unknown as no person.
        await env.api.call(
            "POST", f"{ADMIN}/people", user=root, expect=201,
            json={"personnel_number": "2002", "org_code": "dep", "name_cyr": "Б", "name_lat": "B"},
        )  # fmt: skip
        idp.user = {"sub": "u-2", "personnel_number": "2002"}
        step = await start(env.browser, idp="test")
        assert step.page is not None and step.page.status_code == 403
        # A departed person is refused even with an account.
        people = await env.api.call("GET", f"{ADMIN}/people", user=root, params={"q": "1001"})
        pid = people["people"][0]["person_id"]
        await env.api.call("PATCH", f"{ADMIN}/people/{pid}", user=root, json={"status": "departed"})
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        step = await start(env.browser, idp="test")
        assert step.page is not None and step.page.status_code == 403
        reasons = [r["after"]["reason"] for r in await audit_rows(env.api, root, "login.failure")]
        assert sorted(reasons) == ["inactive", "unknown_user", "unknown_user"]


async def test_email_mapping_needs_a_verified_address(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    mapping = {"claim": "email", "match": "email"}
    async with env_for(settings, clock, idp, user_mapping=mapping) as env:
        _, alice = await setup(env)
        idp.user = {"sub": "u-1", "email": "alice@gov.EXAMPLE", "email_verified": False}
        step = await start(env.browser, idp="test")
        assert step.page is not None and step.page.status_code == 403
        idp.user = {**idp.user, "email_verified": True}
        done = await start(env.browser, idp="test")
        assert (await token_login(env.api, done.login_token))["user_id"] == alice.user_id


async def test_callback_needs_the_state_and_the_browser_that_started(
    settings: Settings, clock: FakeClock, idp: IdentityProvider
) -> None:
    async with env_for(settings, clock, idp) as env:
        await setup(env)
        idp.user = {"sub": "u-1", "personnel_number": "1001"}
        first = await env.browser.get(START + "/test", params={"redirectUrl": CLIENT_URL})
        at_idp = await env.browser.get(first.headers["location"])
        callback = at_idp.headers["location"]
        forged = callback.replace("state=", "state=x")
        resp = await env.browser.get(forged)
        assert resp.status_code == 403
        assert "does not belong" in resp.text or "не относится" in resp.text
        # The real callback in another browser (say, a link an attacker sends) finds no login.
        async with env.new_browser() as other:
            resp = await other.get(callback)
        assert resp.status_code == 400
        # In the browser that started it, it completes the login.
        done = await follow(env.browser, await env.browser.get(callback))
        await token_login(env.api, done.login_token)
        # And a callback is good once: replayed, it finds no login.
        again = await follow(env.browser, await env.browser.get(callback))
        assert again.final is None and again.page is not None
        assert again.page.status_code == 400


def test_provider_settings_are_checked() -> None:
    good = {"id": "egov", "name": "eGov", "issuer": "https://idp.gov.kz", "client_id": "t"}
    OidcProvider(**good)
    for bad in (
        {"issuer": "http://idp.gov.kz"},  # http only on loopback
        {"id": "local"},  # reserved for tumar's own page
        {"id": "bad id"},
        {"scopes": ["profile"]},  # openid is required
        {"user_mapping": {"claim": "x", "match": "phone"}},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            OidcProvider(**{**good, **bad})
    with pytest.raises(ValidationError):
        Settings(oidc_providers=[good, good])
