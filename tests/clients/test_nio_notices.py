"""A unit head using matrix-nio receives a rollout reminder in their server-notice room, sees
the room tagged ``m.server_notice``, and cannot write into it. Against a live tumar, on both
backends; the reminder run goes through the admin API over HTTP."""

from __future__ import annotations

import asyncio
import datetime

import httpx
import pytest
from nio import (
    AsyncClient,
    LoginResponse,
    RegisterResponse,
    RoomMessageNotice,
    RoomSendError,
    SyncResponse,
)

from tests.support.harness import PASSWORD, LiveServer
from tumar.config import Settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store import directory as directory_store

pytestmark = pytest.mark.slow

NOTICES = "@notices:tumar.test"
WAIT_S = 30.0


async def seed_directory(settings: Settings, head_user: str) -> None:
    """gov (register by tomorrow) with two officials: the head (``head_user``) and an
    unregistered newcomer. Written through the services on the live server's database."""
    svc = build_services(settings)
    try:
        actor = cli_actor("test")
        tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government",
                          register_by=tomorrow.isoformat())
        )  # fmt: skip
        head = await svc.directory.do_create_person(actor, NewPerson("1", "gov", "Бас", "Head"))
        await svc.directory.do_create_person(
            actor, NewPerson("2", "gov", "Жаңа Қызметкер", "Newcomer")
        )
        async with svc.db.write() as conn:  # the activation flow links accounts for real
            await directory_store.update_person(conn, head.person_id, user_id=head_user)
        await svc.directory.do_update_org(actor, "gov", {"head_person_id": head.person_id})
        await svc.accounts.do_create_user("root", PASSWORD, admin=True)
    finally:
        await svc.close()


async def test_a_head_reads_the_reminder_and_cannot_answer(
    live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    registrar = AsyncClient(url)
    reg = await registrar.register("head", PASSWORD)
    await registrar.close()
    assert isinstance(reg, RegisterResponse), reg
    await seed_directory(settings, reg.user_id)

    async with httpx.AsyncClient(base_url=url) as http:
        login = await http.post(
            "/_matrix/client/v3/login",
            json={"type": "m.login.password", "password": PASSWORD,
                  "identifier": {"type": "m.id.user", "user": "root"}},
        )  # fmt: skip
        token = login.json()["access_token"]
        resp = await http.post(
            "/_tumar/admin/v1/rollout/remind",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["head_notices"] == 1

    head = AsyncClient(url, reg.user_id)
    try:
        logged_in = await head.login(PASSWORD, device_name="nio")
        assert isinstance(logged_in, LoginResponse), logged_in

        async def find() -> tuple[str, RoomMessageNotice]:
            while True:
                sync = await head.sync(timeout=5_000)
                assert isinstance(sync, SyncResponse), sync
                for room_id, room in sync.rooms.join.items():
                    for event in room.timeline.events:
                        if isinstance(event, RoomMessageNotice) and event.sender == NOTICES:
                            return room_id, event

        room_id, notice = await asyncio.wait_for(find(), WAIT_S)
        assert "Жаңа Қызметкер" in notice.body and "Newcomer" not in notice.body
        room = head.rooms[room_id]
        assert "m.server_notice" in room.tags
        assert room.name == "Server notices"
        assert room.power_levels.can_user_send_message(reg.user_id) is False

        refused = await head.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": "thanks"}
        )
        assert isinstance(refused, RoomSendError), refused
        assert refused.status_code == "M_FORBIDDEN"
    finally:
        await head.close()
