"""A real client through the SSO page: a browser (httpx) signs in with password and an
authenticator enrolled on the page, then matrix-nio exchanges the login token
(``AsyncClient.login(token=...)``) and gets a working session. Against a live tumar on both
backends; the authenticator codes follow the real clock."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from nio import (
    AsyncClient,
    LoginError,
    LoginInfoResponse,
    LoginResponse,
    RoomCreateResponse,
    SyncResponse,
    WhoamiResponse,
)

from tests.support.admin import ADMIN, org, person
from tests.support.harness import PASSWORD, Api, LiveServer
from tests.support.sso import ALLOWLIST, code, enrol_secret, password, start
from tumar.config import Settings
from tumar.core.services import build_services
from tumar.policy import totp as otp

pytestmark = pytest.mark.slow


@pytest.fixture
def sso_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update={"sso_client_allowlist": ALLOWLIST}))
    server.start()
    yield server
    server.stop()


async def make_operator(settings: Settings) -> None:
    svc = build_services(settings)
    try:
        await svc.accounts.do_create_user("root", PASSWORD, admin=True)
    finally:
        await svc.close()


async def test_nio_logs_in_with_the_token_from_the_sso_page(
    settings: Settings, sso_server: LiveServer
) -> None:
    await make_operator(settings)
    async with httpx.AsyncClient(base_url=sso_server.url) as http:
        api = Api(http)
        root = await api.login("root")
        await org(api, root, "gov", kind="government", mfa_required=True)
        await org(api, root, "mof", parent="gov")
        alice = await api.register("alice")
        created = await person(api, root, "1001", "mof")
        await api.call(
            "PATCH", f"{ADMIN}/people/{created['person_id']}", user=root,
            json={"user_id": alice.user_id},
        )  # fmt: skip

    client = AsyncClient(sso_server.url)
    try:
        info = await client.login_info()
        assert isinstance(info, LoginInfoResponse), info
        assert {"m.login.sso", "m.login.token"} <= set(info.flows)
        refused = await client.login(token="not-a-token")
        assert isinstance(refused, LoginError) and refused.status_code == "M_FORBIDDEN"

        async with httpx.AsyncClient(base_url=sso_server.url) as browser:
            page = await password(browser, await start(browser), "alice", PASSWORD)
            secret = enrol_secret(page)
            done = await code(browser, page, otp.code_at(secret, time.time_ns() // 1_000_000))
        login = await client.login(token=done.login_token, device_name="nio via SSO")
        assert isinstance(login, LoginResponse), login
        assert login.user_id == alice.user_id and client.user_id == alice.user_id

        who = await client.whoami()
        assert isinstance(who, WhoamiResponse) and who.device_id == login.device_id
        room = await client.room_create(name="after SSO")
        assert isinstance(room, RoomCreateResponse), room
        synced = await client.sync(timeout=0)
        assert isinstance(synced, SyncResponse) and room.room_id in synced.rooms.join

        again = AsyncClient(sso_server.url)
        try:
            reused = await again.login(token=done.login_token)
            assert isinstance(reused, LoginError), "a login token works once"
        finally:
            await again.close()
    finally:
        await client.close()
