"""Forwarding control with matrix-nio against a live tumar, on both backends: forwarding a
message of an official-use room into an internal room is refused with ``TUMAR_DLP``, while a
legitimate message passes and reaches the other member."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessageText,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
)

from tests.support.harness import PASSWORD, LiveServer
from tumar.config import Settings
from tumar.policy.labels import LABEL_EVENT

pytestmark = pytest.mark.slow

WAIT_S = 30.0
MEMO = (
    "Draft decree: the reserve fund of 4.2 billion tenge goes to the regional administrations "
    "on 14 March; keep the list of recipients inside this room until it is signed."
)
LEGIT = "Reminder: the all-hands meeting moves to room 305 on Thursday at ten o'clock sharp."


@pytest.fixture
def dlp_server(settings: Settings) -> Iterator[LiveServer]:
    # Test accounts have no directory entry and hold ``default_clearance``; rooms start public
    # and are raised to their label at creation.
    labelled = settings.model_copy(
        update={"default_clearance": "official-use", "classification_default_room": "public"}
    )
    server = LiveServer(labelled)
    server.start()
    yield server
    server.stop()


async def client_for(url: str, localpart: str) -> AsyncClient:
    registrar = AsyncClient(url)
    reg = await registrar.register(localpart, PASSWORD)
    await registrar.close()
    assert isinstance(reg, RegisterResponse), reg
    client = AsyncClient(url, reg.user_id)
    assert isinstance(await client.login(PASSWORD, device_name="nio"), LoginResponse)
    return client


async def room_with_label(client: AsyncClient, label: str) -> str:
    resp = await client.room_create(
        name=f"{label} room",
        initial_state=[{"type": LABEL_EVENT, "state_key": "", "content": {"label": label}}],
    )
    assert isinstance(resp, RoomCreateResponse), resp
    return str(resp.room_id)


async def say(client: AsyncClient, room_id: str, body: str) -> RoomSendResponse | RoomSendError:
    resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(resp, (RoomSendResponse, RoomSendError)), resp
    return resp


async def test_forward_into_internal_room_is_refused(dlp_server: LiveServer) -> None:
    alice = await client_for(dlp_server.url, "alice")
    bob = await client_for(dlp_server.url, "bob")
    try:
        official = await room_with_label(alice, "official-use")
        internal = await room_with_label(alice, "internal")
        assert isinstance(await alice.room_invite(internal, bob.user_id), RoomInviteResponse)
        assert isinstance(await bob.join(internal), JoinResponse)

        assert isinstance(await say(alice, official, MEMO), RoomSendResponse)
        forward = await say(alice, internal, f"Fwd: {MEMO}")
        assert isinstance(forward, RoomSendError), forward
        assert forward.status_code == "TUMAR_DLP"
        assert "official-use" in forward.message and "tenge" not in forward.message

        ok = await say(alice, internal, LEGIT)
        assert isinstance(ok, RoomSendResponse), ok

        async def bob_sees_legit() -> list[str]:
            while True:
                sync = await bob.sync(timeout=8_000)
                assert isinstance(sync, SyncResponse), sync
                room = sync.rooms.join.get(internal)
                bodies = [
                    e.body
                    for e in (room.timeline.events if room else [])
                    if isinstance(e, RoomMessageText)
                ]
                if LEGIT in bodies:
                    return bodies

        bodies = await asyncio.wait_for(bob_sees_legit(), WAIT_S)
        assert not any("tenge" in b for b in bodies)
    finally:
        await alice.close()
        await bob.close()
