"""Real clients and a personal activation code, against a live tumar with registration
closed (both backends): matrix-js-sdk registers with the code through ``InteractiveAuth``, the
way Element does, and is refused the second time with the server's reason; matrix-nio then
logs in to the new account with the chosen password and creates a room.

matrix-nio's own ``register_with_token`` is not used: it hard-codes Synapse's two-stage flow
(the token, then ``m.login.dummy`` in the same session), while tumar offers the token as the
only stage and creates the account when it is completed (docs/directory.md).
Set-up for the js-sdk part: ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from nio import AsyncClient, LoginResponse, RoomCreateResponse

from tests.support.admin import ADMIN, org, person
from tests.support.harness import PASSWORD, Api, LiveServer
from tests.support.js import require_node, run_scenario
from tumar.config import Settings
from tumar.core.services import build_services

pytestmark = [pytest.mark.slow, pytest.mark.node]

NODE_TIMEOUT_S = 90


@pytest.fixture
def closed_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings.model_copy(update={"registration": "closed"}))
    server.start()
    yield server
    server.stop()


async def issue_code(settings: Settings, server: LiveServer) -> str:
    svc = build_services(settings)
    try:
        await svc.accounts.do_create_user("root", PASSWORD, admin=True)
    finally:
        await svc.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        api = Api(http)
        root = await api.login("root")
        await org(api, root, "gov", kind="government")
        someone = await person(
            api, root, "1001", "gov", name_lat="Aigerim Sadykova", name_cyr="Айгерим Садыкова"
        )
        issued = await api.call(
            "POST", f"{ADMIN}/activation-codes", user=root,
            json={"person_ids": [someone["person_id"]]},
        )  # fmt: skip
    return str(issued["codes"][0]["code"])


async def test_element_style_activation_then_nio_login(
    settings: Settings, closed_server: LiveServer
) -> None:
    require_node()
    code = await issue_code(settings, closed_server)
    result = await run_scenario(
        "activation",
        {
            "TUMAR_HS_URL": closed_server.url,
            "TUMAR_CODE": code.lower().replace("-", " "),  # as someone might type it
            "TUMAR_PASSWORD": PASSWORD,
        },
        timeout_s=NODE_TIMEOUT_S,
    )
    assert result["user_id"] == result["whoami"] == "@aigerim.sadykova:tumar.test"
    assert "m.login.registration_token" in result["stages"]
    assert result["next_batch"]
    assert result["reuse_error"] and "already have an account" in result["reuse_error"]

    client = AsyncClient(closed_server.url, "@aigerim.sadykova:tumar.test")
    try:
        login = await client.login(PASSWORD, device_name="nio laptop")
        assert isinstance(login, LoginResponse), login
        room = await client.room_create(name="First day")
        assert isinstance(room, RoomCreateResponse), room
    finally:
        await client.close()
