"""Helpers for single sign-on tests: a server on a fake clock, a "browser" (an httpx client
with a cookie jar that reaches tumar in-process and anything else over the network, e.g. the
test identity provider), the HTML forms, and officials in organisations that require MFA."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.admin import ADMIN, operator, org, person
from tests.support.harness import Api, User
from tumar.app import build_app
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.policy import totp as otp

CLIENT_URL = "https://client.example/done?from=test"
ALLOWLIST = ["https://client.example/"]
PAGE = "/_tumar/sso/login"
START = "/_matrix/client/v3/login/sso/redirect"


@dataclass
class Env:
    api: Api
    clock: FakeClock
    services: Services
    browser: httpx.AsyncClient

    def new_browser(self) -> httpx.AsyncClient:
        return _browser(self.api.client._transport)


def _browser(transport: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(mounts={"http://tumar.test": transport}, base_url="http://tumar.test")


@asynccontextmanager
async def sso_env(
    settings: Settings, clock: FakeClock | None = None, **overrides: Any
) -> AsyncIterator[Env]:
    """tumar on ``settings`` plus ``overrides`` (by default, clients under ``ALLOWLIST`` only),
    with a fake clock so tests can step authenticator codes and expire tokens."""
    values = {**settings.model_dump(), "sso_client_allowlist": ALLOWLIST, **overrides}
    settings = Settings(**values)
    clock = clock or FakeClock()
    services = build_services(settings, clock=clock)
    await services.start()
    app = build_app(settings, services)
    try:
        async with (
            Api.in_process(app, services) as api,
            _browser(api.client._transport) as browser,
        ):
            yield Env(api, clock, services, browser)
    finally:
        await services.close()


@dataclass
class Step:
    """Where a browser ended up: a page of tumar's (or the provider's), or the client's URL."""

    page: httpx.Response | None
    final: str | None = None

    @property
    def html(self) -> str:
        assert self.page is not None, f"expected a page, got a redirect to {self.final}"
        return self.page.text

    @property
    def login_token(self) -> str:
        assert self.final is not None, f"expected the client URL, got {self._describe()}"
        return parse_qs(urlsplit(self.final).query)["loginToken"][0]

    def _describe(self) -> str:
        if self.page is None:
            return "nothing"
        return f"HTTP {self.page.status_code}: {self.page.text[:500]}"


async def follow(browser: httpx.AsyncClient, resp: httpx.Response) -> Step:
    """Follow redirects like a browser, stopping at the client's URL (not reachable here)."""
    for _ in range(10):
        if resp.status_code not in (301, 302, 303, 307):
            return Step(resp)
        location = resp.headers["location"]
        if location.startswith("https://client.example"):
            return Step(None, location)
        resp = await browser.get(location)
    raise AssertionError("redirect loop")


async def start(
    browser: httpx.AsyncClient, redirect: str = CLIENT_URL, idp: str | None = None
) -> Step:
    path = START + (f"/{idp}" if idp else "")
    return await follow(browser, await browser.get(path, params={"redirectUrl": redirect}))


def csrf(step: Step) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', step.html)
    assert match, f"no CSRF field on the page: {step.html[:300]}"
    return match.group(1)


def enrol_secret(step: Step) -> str:
    match = re.search(r'href="(otpauth://[^"]+)"', step.html)
    assert match, "no otpauth link on the enrolment page"
    uri = unescape(match.group(1))
    return parse_qs(urlsplit(uri).query)["secret"][0]


async def submit(browser: httpx.AsyncClient, step: Step, action: str, **fields: str) -> Step:
    data = {"csrf": csrf(step), "lang": "en", **fields}
    resp = await browser.post(f"{PAGE}/{action}", data=data)
    return await follow(browser, resp)


async def password(browser: httpx.AsyncClient, step: Step, user: str, pw: str) -> Step:
    return await submit(browser, step, "password", username=user, password=pw)


async def code(browser: httpx.AsyncClient, step: Step, value: str) -> Step:
    return await submit(browser, step, "code", code=value)


def totp_now(secret: str, clock: FakeClock) -> str:
    return otp.code_at(secret, clock.now_ms())


async def token_login(api: Api, token: str, expect: int = 200) -> Any:
    return await api.call(
        "POST", "/login", json={"type": "m.login.token", "token": token}, expect=expect
    )


# ---- directory ------------------------------------------------------------------------------


async def tree(api: Api, *, mfa: bool) -> User:
    """gov > mof (MFA required when ``mfa``) > dep, and gov > moh; returns the operator."""
    root = await operator(api)
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov", mfa_required=mfa)
    await org(api, root, "dep", parent="mof", kind="department")
    await org(api, root, "moh", parent="gov")
    return root


async def official(
    api: Api, root: User, localpart: str, number: str, org_code: str = "dep", **extra: Any
) -> tuple[User, str]:
    """A registered account linked to a person of ``org_code``; (user, person_id)."""
    user = await api.register(localpart)
    created = await person(api, root, number, org_code, **extra)
    await api.call(
        "PATCH", f"{ADMIN}/people/{created['person_id']}", user=root,
        json={"user_id": user.user_id},
    )  # fmt: skip
    return user, str(created["person_id"])


async def audit_rows(api: Api, root: User, action: str) -> list[dict[str, Any]]:
    body = await api.call("GET", f"{ADMIN}/audit", user=root, params={"action": action})
    return list(body["entries"])
