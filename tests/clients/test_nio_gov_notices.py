"""A matrix-nio user receives a government notification in their notice room (an ordinary
``m.notice`` with the structured fields under ``kz.tumar.notification``) and acknowledges it by
reacting with ✅, as from any standard client. Against a live tumar, on both backends; the
notification is sent and the report read through the admin API over HTTP."""

from __future__ import annotations

import asyncio
import datetime

import httpx
import pytest
from nio import (
    AsyncClient,
    DownloadResponse,
    LoginResponse,
    RegisterResponse,
    RoomMessageFile,
    RoomMessageNotice,
    SyncResponse,
)

from tests.support.harness import PASSWORD, LiveServer
from tumar.config import Settings
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.services import build_services
from tumar.store import directory as directory_store

pytestmark = pytest.mark.slow

NOTICES = "@notices:tumar.test"
ADMIN = "/_tumar/admin/v1"
WAIT_S = 30.0


async def seed(settings: Settings, official: str) -> None:
    svc = build_services(settings)
    try:
        actor = cli_actor("test")
        await svc.directory.do_create_org(
            actor, NewOrg("gov", None, "government", "Үкімет", "Правительство", "Government")
        )
        person = await svc.directory.do_create_person(actor, NewPerson("1", "gov", "Аты", "Name"))
        async with svc.db.write() as conn:
            await directory_store.update_person(conn, person.person_id, user_id=official)
        await svc.accounts.do_create_user("root", PASSWORD, admin=True)
    finally:
        await svc.close()


async def test_receive_and_acknowledge_by_reaction(
    live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    registrar = AsyncClient(url)
    reg = await registrar.register("official", PASSWORD)
    await registrar.close()
    assert isinstance(reg, RegisterResponse), reg
    await seed(settings, reg.user_id)

    official = AsyncClient(url, reg.user_id)
    http = httpx.AsyncClient(base_url=url)
    try:
        assert isinstance(await official.login(PASSWORD, device_name="nio"), LoginResponse)
        first = await official.sync(timeout=0)
        assert isinstance(first, SyncResponse)

        login = await http.post(
            "/_matrix/client/v3/login",
            json={"type": "m.login.password", "password": PASSWORD,
                  "identifier": {"type": "m.id.user", "user": "root"}},
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deadline = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        uploaded = await http.post(
            "/_matrix/media/v3/upload", headers={**auth, "Content-Type": "application/pdf"},
            params={"filename": "agenda.pdf"}, content=b"%PDF-1.4 agenda",
        )  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        mxc = uploaded.json()["content_uri"]
        sent = await http.post(
            f"{ADMIN}/notices",
            headers=auth,
            json={"title": "Жиналыс", "body": "Meeting at **15:00** in room 4.",
                  "priority": "urgent", "audience": {"orgs": ["gov"]}, "ack_required": True,
                  "deadline": deadline.isoformat(), "send": True,
                  "attachments": [{"url": mxc, "name": "agenda.pdf",
                                   "mimetype": "application/pdf"}]},
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        notice_id = sent.json()["notice_id"]

        async def find() -> tuple[str, RoomMessageNotice, RoomMessageFile]:
            found: dict[str, tuple[str, RoomMessageNotice | RoomMessageFile]] = {}
            while True:
                sync = await official.sync(timeout=5_000)
                assert isinstance(sync, SyncResponse), sync
                for room_id, room in sync.rooms.join.items():
                    for event in room.timeline.events:
                        if event.sender != NOTICES:
                            continue
                        if isinstance(event, RoomMessageNotice):
                            found["notice"] = (room_id, event)
                        elif isinstance(event, RoomMessageFile):
                            found["file"] = (room_id, event)
                if "notice" in found and "file" in found:
                    (room_id, notice), (_, file) = found["notice"], found["file"]
                    assert isinstance(notice, RoomMessageNotice)
                    assert isinstance(file, RoomMessageFile)
                    return room_id, notice, file

        room_id, notice, file = await asyncio.wait_for(find(), WAIT_S)
        # The attachment: an m.file after the notice, referring to it, downloadable.
        assert (file.url, file.body) == (mxc, "agenda.pdf")
        assert file.source["content"]["m.relates_to"] == {
            "rel_type": "m.reference", "event_id": notice.event_id,
        }  # fmt: skip
        got = await official.download(mxc)
        assert isinstance(got, DownloadResponse), got
        assert got.body == b"%PDF-1.4 agenda"
        assert "Жиналыс" in notice.body and "15:00" in notice.body
        fields = notice.source["content"]["kz.tumar.notification"]
        assert (fields["id"], fields["priority"], fields["ack_required"]) == (
            notice_id,
            "urgent",
            True,
        )
        assert "m.server_notice" in official.rooms[room_id].tags

        reacted = await official.room_send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": notice.event_id,
                              "key": "✅"}},
        )  # fmt: skip
        assert getattr(reacted, "event_id", None), reacted

        people = await http.get(f"{ADMIN}/notices/{notice_id}/recipients", headers=auth)
        assert people.status_code == 200, people.text
        [row] = people.json()["people"]
        assert row["user_id"] == reg.user_id
        assert row["acknowledged_via"] == "reaction"
        assert row["read"] is True
    finally:
        await official.close()
        await http.aclose()
