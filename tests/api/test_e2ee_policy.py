"""The server's end-to-end encryption policy through the API, on both databases:
``forbidden`` refuses encryption state and encrypted events, ``required`` creates rooms
encrypted and keeps them so, ``allowed`` lets clients choose."""

from __future__ import annotations

from typing import Any

from tests.api.test_bad_input import refused
from tests.support.e2ee import api_with, register
from tests.support.harness import Api, User, q
from tumar.config import Settings

MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}
ENCRYPTED = {
    "algorithm": "m.megolm.v1.aes-sha2",
    "ciphertext": "AwgAEnAc...",
    "sender_key": "abc",
    "session_id": "s1",
    "device_id": "DEV",
}


async def encryption_state(api: Api, user: User, room: str) -> dict[str, Any] | None:
    resp = await api.raw("GET", f"/rooms/{q(room)}/state/m.room.encryption", user=user)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_forbidden_refuses_encryption(settings: Settings) -> None:
    async with api_with(settings, e2ee="forbidden") as api:
        alice = await register(api, "alice")
        body = await refused(
            api,
            "POST",
            "/createRoom",
            403,
            "TUMAR_E2EE_FORBIDDEN",
            user=alice,
            json={"initial_state": [{"type": "m.room.encryption", "content": MEGOLM}]},
        )
        assert "forbidden" in body["error"]
        room = await api.create_room(alice)
        assert await encryption_state(api, alice, room) is None
        await refused(
            api,
            "PUT",
            f"/rooms/{q(room)}/state/m.room.encryption",
            403,
            "TUMAR_E2EE_FORBIDDEN",
            user=alice,
            json=MEGOLM,
        )
        await refused(
            api,
            "PUT",
            f"/rooms/{q(room)}/send/m.room.encrypted/t1",
            403,
            "TUMAR_E2EE_FORBIDDEN",
            user=alice,
            json=ENCRYPTED,
        )
        await api.send(alice, room, "plain text is fine")


async def test_required_creates_encrypted_rooms_that_stay_encrypted(settings: Settings) -> None:
    async with api_with(settings, e2ee="required") as api:
        alice = await register(api, "alice")
        room = await api.create_room(alice, name="Encrypted by policy")
        assert await encryption_state(api, alice, room) == MEGOLM
        for content in ({}, {"algorithm": "org.example.none"}):
            body = await refused(
                api,
                "PUT",
                f"/rooms/{q(room)}/state/m.room.encryption",
                403,
                "TUMAR_E2EE_REQUIRED",
                user=alice,
                json=content,
            )
            assert "required" in body["error"]
        state = await api.call("GET", f"/rooms/{q(room)}/state", user=alice)
        (encryption,) = [e for e in state if e["type"] == "m.room.encryption"]
        await refused(
            api,
            "PUT",
            f"/rooms/{q(room)}/redact/{q(encryption['event_id'])}/r1",
            403,
            "TUMAR_E2EE_REQUIRED",
            user=alice,
            json={},
        )
        assert await encryption_state(api, alice, room) == MEGOLM
        # Re-stating the same encryption, and encrypted messages, are fine.
        await api.call("PUT", f"/rooms/{q(room)}/state/m.room.encryption", user=alice, json=MEGOLM)
        await api.call(
            "PUT", f"/rooms/{q(room)}/send/m.room.encrypted/t1", user=alice, json=ENCRYPTED
        )
        # A creator who asks for encryption gets it once, not twice.
        own = await api.create_room(
            alice, initial_state=[{"type": "m.room.encryption", "content": MEGOLM}]
        )
        state = await api.call("GET", f"/rooms/{q(own)}/state", user=alice)
        assert [e["type"] for e in state].count("m.room.encryption") == 1
        await refused(
            api,
            "POST",
            "/createRoom",
            403,
            "TUMAR_E2EE_REQUIRED",
            user=alice,
            json={"initial_state": [{"type": "m.room.encryption", "content": {}}]},
        )


async def test_allowed_lets_clients_choose(api: Api) -> None:
    alice = await register(api, "alice")
    room = await api.create_room(alice)
    assert await encryption_state(api, alice, room) is None
    await api.call("PUT", f"/rooms/{q(room)}/state/m.room.encryption", user=alice, json=MEGOLM)
    await api.call("PUT", f"/rooms/{q(room)}/send/m.room.encrypted/t1", user=alice, json=ENCRYPTED)
    encrypted = await api.create_room(
        alice, initial_state=[{"type": "m.room.encryption", "content": MEGOLM}]
    )
    assert await encryption_state(api, alice, encrypted) == MEGOLM
