"""End to end (issue 8): the reference device agent and a matrix-nio client of the same
official, against a live tumar on both backends. The official-use room's messages reach the
nio client only while the agent (enrolled with the nio session's token, so bound to it) reports
compliance inside working hours; they stop when it reports the camera enabled, and what was
held back arrives once it complies again. Outside working hours the room is not gated.

The live server runs on the wall clock, so the policy's working hours are "every day, all day"
(UTC); the last step moves them to a weekday that is not today.
"""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from nio import AsyncClient, JoinResponse, LoginResponse, RegisterResponse, SyncResponse

from tests.support.harness import PASSWORD, LiveServer
from tumar.cli_device_agent import Agent, Simulated
from tumar.config import Settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store import directory as directory_store

pytestmark = pytest.mark.slow

ADMIN = "/_tumar/admin/v1"
CLIENT = "/_matrix/client/v3"
LABEL = "kz.tumar.classification"
WAIT_S = 30.0
QUIET_MS = 1_500  # how long a sync waits to show that nothing arrives


async def seed(settings: Settings, people: dict[str, str]) -> None:
    svc = build_services(settings)
    try:
        actor = cli_actor("test")
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government")
        )
        for number, (name, user_id) in enumerate(sorted(people.items()), start=1):
            made = await svc.directory.do_create_person(
                actor, NewPerson(str(number), "gov", name, name, clearance="official-use")
            )
            async with svc.db.write() as conn:
                await directory_store.update_person(conn, made.person_id, user_id=user_id)
        await svc.accounts.do_create_user("root", PASSWORD, admin=True)
    finally:
        await svc.close()


def policy(days: list[int]) -> dict[str, Any]:
    return {
        "name": "Phones on the premises",
        "audience": {"orgs": ["gov"]},
        "schedules": [
            {"tz": "UTC", "hours": [{"day": d, "start": "00:00", "end": "24:00"} for d in days]}
        ],
        "restrictions": {"active": ["camera", "screen_capture"]},
        "grace_seconds": 0,
        "gate": {"labels": ["official-use"]},
    }


COMPLIANT = Simulated(restricted={"camera", "screen_capture"})
CAMERA_ON = Simulated(restricted={"screen_capture"})


async def bodies(client: AsyncClient, room_id: str, timeout_ms: int) -> list[str]:
    sync = await client.sync(timeout=timeout_ms)
    assert isinstance(sync, SyncResponse), sync
    room = sync.rooms.join.get(room_id)
    if room is None:
        return []
    return [str(getattr(e, "body", "")) for e in room.timeline.events]


async def until_seen(client: AsyncClient, room_id: str, *wanted: str) -> list[str]:
    seen: list[str] = []

    async def look() -> None:
        while not set(wanted) <= set(seen):
            seen.extend(await bodies(client, room_id, 2_000))

    await asyncio.wait_for(look(), WAIT_S)
    return seen


async def test_official_use_messages_reach_the_client_only_while_the_device_complies(
    live_server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    url = live_server.url
    registrar = AsyncClient(url)
    official_reg = await registrar.register("official", PASSWORD)
    colleague_reg = await registrar.register("colleague", PASSWORD)
    await registrar.close()
    assert isinstance(official_reg, RegisterResponse), official_reg
    assert isinstance(colleague_reg, RegisterResponse), colleague_reg
    await seed(
        settings,
        {"Official": official_reg.user_id, "Colleague": colleague_reg.user_id},
    )

    official = AsyncClient(url, official_reg.user_id)
    http = httpx.AsyncClient(base_url=url)
    try:
        assert isinstance(await official.login(PASSWORD, device_name="nio"), LoginResponse)
        assert isinstance(await official.sync(timeout=0), SyncResponse)
        colleague = {"Authorization": f"Bearer {colleague_reg.access_token}"}

        async def post(text: str) -> None:
            sent = await http.put(
                f"{CLIENT}/rooms/{room_id}/send/m.room.message/{text.replace(' ', '-')}",
                headers=colleague,
                json={"msgtype": "m.text", "body": text},
            )
            assert sent.status_code == 200, sent.text

        login = await http.post(
            f"{CLIENT}/login",
            json={"type": "m.login.password", "password": PASSWORD,
                  "identifier": {"type": "m.id.user", "user": "root"}},
        )  # fmt: skip
        root = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = await http.post(
            f"{ADMIN}/device-policies", headers=root, json=policy(list(range(7)))
        )
        assert made.status_code == 201, made.text
        policy_id = made.json()["policy_id"]

        created = await http.post(
            f"{CLIENT}/createRoom",
            headers=colleague,
            json={"name": "Budget", "invite": [official_reg.user_id],
                  "initial_state": [{"type": LABEL, "state_key": "",
                                     "content": {"label": "official-use"}}]},
        )  # fmt: skip
        assert created.status_code == 200, created.text
        room_id = created.json()["room_id"]
        assert isinstance(await official.join(room_id), JoinResponse)

        # No enrolled device: the room's messages do not reach the nio client.
        await post("budget one")
        assert "budget one" not in await bodies(official, room_id, QUIET_MS)

        # The agent enrols for the nio session and reports compliance: what was held back
        # arrives, and so do new messages.
        agent = Agent(http, tmp_path / "agent.json", out=lambda _: None)
        token = await agent.own_token(official.access_token)
        await agent.enrol(token, official.access_token, COMPLIANT)
        assert (await agent.checkin(COMPLIANT))["verdict"] == "compliant"
        await until_seen(official, room_id, "budget one")
        await post("budget two")
        await until_seen(official, room_id, "budget two")

        # The camera is switched on: messages stop.
        assert (await agent.checkin(CAMERA_ON))["verdict"] == "non_compliant"
        await post("budget three")
        for _ in range(2):
            assert "budget three" not in await bodies(official, room_id, QUIET_MS)
        answer = await official.room_messages(room_id, official.next_batch)
        assert getattr(answer, "status_code", None) == "TUMAR_DEVICE_NOT_COMPLIANT", answer

        # Compliant again: the held-back message arrives.
        await agent.checkin(COMPLIANT)
        await until_seen(official, room_id, "budget three")

        # Outside working hours (they are now on another weekday only) the room is not gated:
        # messages reach the client even with the camera on.
        other_day = (datetime.datetime.now(datetime.UTC).weekday() + 3) % 7
        changed = await http.put(
            f"{ADMIN}/device-policies/{policy_id}", headers=root, json=policy([other_day])
        )
        assert changed.status_code == 200, changed.text
        await agent.checkin(CAMERA_ON)
        await post("budget four")
        await until_seen(official, room_id, "budget four")
    finally:
        await http.aclose()
        await official.close()
