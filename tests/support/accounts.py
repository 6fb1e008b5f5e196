"""Helpers for activation, login and account-management tests: a server on the test's
database with its own settings and clock, and activation through the real endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.admin import ADMIN
from tests.support.harness import PASSWORD, Api, User
from tumar.app import build_app
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.services import build_services


@asynccontextmanager
async def server(
    settings: Settings, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Api]:
    """A server (another node) on the same database, with changed settings or a fake clock."""
    custom = settings.model_copy(update=overrides)
    services = build_services(custom, clock=clock)
    await services.start()
    try:
        async with Api.in_process(build_app(custom, services), services) as client:
            yield client
    finally:
        await services.close()


async def issue(api: Api, by: User, **body: Any) -> list[dict[str, Any]]:
    result = await api.call("POST", f"{ADMIN}/activation-codes", user=by, json=body)
    assert result["count"] == len(result["codes"])
    codes: list[dict[str, Any]] = result["codes"]
    return codes


async def activate(
    api: Api, code: str, password: str = PASSWORD, username: str | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "password": password,
        "auth": {"type": "m.login.registration_token", "token": code},
        **extra,
    }
    if username is not None:
        body["username"] = username
    return await api.raw("POST", "/register", json=body)


async def activated(api: Api, code: str, password: str = PASSWORD) -> User:
    resp = await activate(api, code, password)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return User(body["user_id"], body["access_token"], body["device_id"], password)


async def audit_actions(api: Api, by: User, **params: Any) -> list[tuple[str, Any]]:
    """(action, after) of the audit entries matching ``params``, newest first."""
    log = await api.call("GET", f"{ADMIN}/audit", user=by, params=params)
    return [(e["action"], e["after"]) for e in log["entries"]]
