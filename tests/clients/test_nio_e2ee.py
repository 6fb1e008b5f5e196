"""End-to-end encryption with matrix-nio (``matrix-nio[e2e]``, vodozemac) against a live tumar,
on both backends: the server only relays keys and ciphertext, and the clients decrypt.

- two users in an encrypted room exchange messages that decrypt on the other side, while the
  server holds only ``m.room.encrypted`` events;
- a device that logs in later gets the keys for messages sent after it appeared (through
  ``device_lists`` in sync, ``/keys/query``, ``/keys/claim`` and to-device messages).

nio has no server-side key backup (``/room_keys``), so the backup round trip is proved with
matrix-js-sdk (``tests/clients/test_js_sdk_e2ee.py``) and through the raw API
(``tests/api/test_key_backup.py``).

Every wait is a bounded long-poll loop, never a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)
from nio.store import SqliteMemoryStore

from tests.support.harness import PASSWORD, LiveServer, q

pytestmark = pytest.mark.slow

SERVER_NAME = "tumar.test"
POLL_MS = 2_000
WAIT_S = 45.0
T = TypeVar("T")


def e2e_config() -> AsyncClientConfig:
    return AsyncClientConfig(
        encryption_enabled=True, store=SqliteMemoryStore, store_sync_tokens=False
    )


async def new_client(url: str, localpart: str, *, register: bool) -> AsyncClient:
    user_id = f"@{localpart}:{SERVER_NAME}"
    if register:
        registrar = AsyncClient(url)
        try:
            reg = await registrar.register(localpart, PASSWORD)
            assert isinstance(reg, RegisterResponse), reg
        finally:
            await registrar.close()
    client = AsyncClient(url, user_id, config=e2e_config())
    login = await client.login(PASSWORD, device_name=f"nio e2ee {localpart}")
    assert isinstance(login, LoginResponse), login
    assert client.olm is not None, "nio was built without encryption"
    assert client.should_upload_keys
    upload = await client.keys_upload()
    assert upload.signed_curve25519_count > 0, upload
    return client


async def crypto_sync(client: AsyncClient) -> SyncResponse:
    """One long-poll plus the key housekeeping nio's ``sync_forever`` would do."""
    resp = await client.sync(timeout=POLL_MS)
    assert isinstance(resp, SyncResponse), f"{client.user_id}: sync failed: {resp}"
    await client.send_to_device_messages()
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    return resp


async def until(client: AsyncClient, check: Callable[[SyncResponse], T | None], what: str) -> T:
    async def loop() -> T:
        while True:
            found = check(await crypto_sync(client))
            if found:
                return found

    try:
        return await asyncio.wait_for(loop(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"{client.user_id} ({client.device_id}) did not see {what} within {WAIT_S}s")


def decrypted_text(room_id: str, body: str) -> Callable[[SyncResponse], RoomMessageText | None]:
    def check(resp: SyncResponse) -> RoomMessageText | None:
        room = resp.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, MegolmEvent):
                continue  # not (yet) decryptable: keep syncing
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
        return None

    return check


async def send_encrypted(client: AsyncClient, room_id: str, body: str) -> str:
    resp = await client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )
    assert isinstance(resp, RoomSendResponse), resp
    return str(resp.event_id)


async def server_copy(url: str, client: AsyncClient, room_id: str, event_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        resp = await http.get(
            f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(event_id)}",
            headers={"Authorization": f"Bearer {client.access_token}"},
        )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture
async def pair(live_server: LiveServer) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    made: list[AsyncClient] = []
    try:
        for name in ("alice", "bob"):
            made.append(await new_client(live_server.url, name, register=True))
        yield made[0], made[1]
    finally:
        for client in made:
            await client.close()


async def encrypted_room(alice: AsyncClient, bob: AsyncClient) -> str:
    created = await alice.room_create(
        name="Secret",
        invite=[bob.user_id],
        initial_state=[
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ],
    )
    assert isinstance(created, RoomCreateResponse), created
    room_id = str(created.room_id)
    await until(bob, lambda r: room_id in r.rooms.invite, "the invite")
    await bob.join(room_id)
    await until(bob, lambda r: room_id in r.rooms.join, "the joined room")
    await until(
        alice,
        lambda r: bob.user_id in alice.rooms[room_id].users if room_id in alice.rooms else False,
        "bob's join",
    )
    assert alice.rooms[room_id].encrypted and bob.rooms[room_id].encrypted
    return room_id


async def test_two_users_exchange_encrypted_messages(
    live_server: LiveServer, pair: tuple[AsyncClient, AsyncClient]
) -> None:
    alice, bob = pair
    room_id = await encrypted_room(alice, bob)

    for sender, receiver, body in (
        (alice, bob, "the budget figures are attached"),
        (bob, alice, "received, thank you"),
        (alice, bob, "second message, same session"),
    ):
        event_id = await send_encrypted(sender, room_id, body)
        seen = await until(receiver, decrypted_text(room_id, body), f"the decrypted {body!r}")
        assert (seen.event_id, seen.sender) == (event_id, sender.user_id)
        assert seen.decrypted
        # The server holds only ciphertext.
        stored = await server_copy(live_server.url, receiver, room_id, event_id)
        assert stored["type"] == "m.room.encrypted"
        assert stored["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
        assert body not in str(stored)


async def test_a_device_that_logs_in_later_gets_the_keys(
    live_server: LiveServer, pair: tuple[AsyncClient, AsyncClient]
) -> None:
    alice, bob = pair
    room_id = await encrypted_room(alice, bob)
    await send_encrypted(alice, room_id, "before the new device")
    await until(bob, decrypted_text(room_id, "before the new device"), "the first message")

    bob2 = await new_client(live_server.url, "bob", register=False)
    try:
        assert bob2.device_id != bob.device_id
        await until(bob2, lambda r: room_id in r.rooms.join, "the room on the new device")
        # Alice hears of bob's new device through device_lists and queries its keys.
        changed = await until(
            alice, lambda r: bob.user_id in r.device_list.changed, "bob's device-list change"
        )
        assert changed
        await until(
            alice,
            lambda _r: any(
                d.device_id == bob2.device_id
                for d in alice.device_store.active_user_devices(bob.user_id)
            ),
            "the keys of bob's new device",
        )
        event_id = await send_encrypted(alice, room_id, "after the new device")
        for device in (bob2, bob):
            seen = await until(
                device, decrypted_text(room_id, "after the new device"), "the new message"
            )
            assert seen.event_id == event_id and seen.decrypted
    finally:
        await bob2.close()
