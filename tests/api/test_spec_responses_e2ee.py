"""Real responses of the end-to-end encryption endpoints, validated against the Matrix spec
(success and error bodies), in realistic flows on both backends. See test_spec_responses.py
for the checking client."""

from __future__ import annotations

import pytest

from tests.api.test_spec_responses import Checked, _auth_errors, checked, error_schema, validator
from tests.support.e2ee import CrossSigning, Device
from tests.support.harness import PASSWORD, q

__all__ = ["checked", "error_schema", "validator"]  # fixtures used by the tests below

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

OTK = "signed_curve25519"
BACKUP = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:tumar.test"


def session(index: int = 0) -> dict[str, object]:
    return {
        "first_message_index": index,
        "forwarded_count": 0,
        "is_verified": False,
        "session_data": {"ephemeral": "e", "ciphertext": "c", "mac": "m"},
    }


async def test_keys(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    room = await c.api.create_room(alice, preset="public_chat")
    await c.api.join(bob, room)
    start = (await c.sync(bob))["next_batch"]

    device = Device.generate(alice.user_id, alice.device_id)
    body = {
        "device_keys": device.device_keys(),
        "one_time_keys": device.one_time_keys(2),
        "fallback_keys": device.one_time_keys(1, 100, fallback=True),
    }
    await c.call("POST", "/keys/upload", user=alice, json=body)
    await c.error(
        "POST",
        "/keys/upload",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"device_keys": Device.generate(alice.user_id, alice.device_id).device_keys()},
    )
    await c.error("POST", "/keys/upload", 400, "M_BAD_JSON", user=alice, json={"device_keys": 1})
    await _auth_errors(c, "POST", "/keys/upload", json={})

    query = {"device_keys": {alice.user_id: [], bob.user_id: []}}
    found = await c.call("POST", "/keys/query", user=bob, json=query)
    assert alice.device_id in found["device_keys"][alice.user_id]
    await c.error("POST", "/keys/query", 400, "M_BAD_JSON", user=bob, json={})

    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: OTK, "NODEVICE": OTK}}}
    for _ in range(3):  # two one-time keys, then the fallback key
        claimed = await c.call("POST", "/keys/claim", user=bob, json=wanted)
        assert list(claimed["one_time_keys"][alice.user_id]) == [alice.device_id]
    await c.error("POST", "/keys/claim", 400, "M_BAD_JSON", user=bob, json={"one_time_keys": 1})

    incremental = await c.sync(bob, start)
    assert incremental["device_lists"]["changed"] == [alice.user_id]
    own = await c.sync(alice)
    assert own["device_one_time_keys_count"][OTK] == 0
    assert own["device_unused_fallback_key_types"] == []
    changes = await c.call(
        "GET",
        "/keys/changes",
        user=bob,
        params={"from": start, "to": incremental["next_batch"]},
    )
    assert changes["changed"] == [alice.user_id]
    await c.error("GET", "/keys/changes", 400, "M_MISSING_PARAM", user=bob)
    await c.error("GET", "/keys/changes", 400, "M_INVALID_PARAM", user=bob, params={"from": "?"})


async def test_cross_signing(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    device = Device.generate(alice.user_id, alice.device_id)
    await c.call("POST", "/keys/upload", user=alice, json={"device_keys": device.device_keys()})
    cs = CrossSigning.generate(alice.user_id)
    await c.call("POST", "/keys/device_signing/upload", user=alice, json=cs.upload_body())
    fresh = CrossSigning.generate(alice.user_id)
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": alice.user_id},
        "password": PASSWORD,
    }
    await c.call(
        "POST",
        "/keys/device_signing/upload",
        user=alice,
        json={**fresh.upload_body(), "auth": auth},
    )
    await c.error(
        "POST",
        "/keys/device_signing/upload",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"master_key": {**fresh.master_key(), "usage": []}, "auth": auth},
    )
    ssk_id = f"ed25519:{fresh.self_signing.public}"
    signed = fresh.self_signing.sign(device.device_keys(), alice.user_id, ssk_id)
    result = await c.call(
        "POST",
        "/keys/signatures/upload",
        user=alice,
        json={alice.user_id: {alice.device_id: signed, "UNKNOWN": signed}},
    )
    assert list(result["failures"][alice.user_id]) == ["UNKNOWN"]
    found = await c.call(
        "POST", "/keys/query", user=alice, json={"device_keys": {alice.user_id: []}}
    )
    assert found["master_keys"][alice.user_id] == fresh.master_key()
    assert found["user_signing_keys"][alice.user_id] == fresh.user_signing_key()


async def test_send_to_device(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    bob = await c.api.register("bob")
    messages = {bob.user_id: {bob.device_id: {"n": 1}, "*": {"n": 2}}}
    await c.call("PUT", "/sendToDevice/m.test/t1", user=alice, json={"messages": messages})
    await c.call("PUT", "/sendToDevice/m.test/t1", user=alice, json={"messages": messages})
    got = await c.sync(bob)
    assert [e["content"] for e in got["to_device"]["events"]] == [{"n": 1}]
    await c.error("PUT", "/sendToDevice/m.test/t2", 400, "M_BAD_JSON", user=alice, json={})
    await c.error(
        "PUT",
        "/sendToDevice/m.test/t2",
        413,
        "M_TOO_LARGE",
        user=alice,
        json={"messages": {bob.user_id: {bob.device_id: {"x": "y" * 70_000}}}},
    )
    await _auth_errors(c, "PUT", "/sendToDevice/m.test/t3", json={"messages": {}})


async def test_key_backup(checked: Checked) -> None:
    c = checked
    alice = await c.api.register("alice")
    await c.error("GET", "/room_keys/version", 404, "M_NOT_FOUND", user=alice)
    auth_data = {"public_key": "abc", "signatures": {}}
    old = (
        await c.call(
            "POST",
            "/room_keys/version",
            user=alice,
            json={"algorithm": BACKUP, "auth_data": auth_data},
        )
    )["version"]
    version = (
        await c.call(
            "POST",
            "/room_keys/version",
            user=alice,
            json={"algorithm": BACKUP, "auth_data": auth_data},
        )
    )["version"]
    await c.call("GET", "/room_keys/version", user=alice)
    await c.call("GET", f"/room_keys/version/{version}", user=alice)
    await c.error("GET", "/room_keys/version/999", 404, "M_NOT_FOUND", user=alice)
    await c.call(
        "PUT",
        f"/room_keys/version/{version}",
        user=alice,
        json={"algorithm": BACKUP, "auth_data": auth_data, "version": version},
    )
    await c.error(
        "PUT",
        f"/room_keys/version/{version}",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"algorithm": "other", "auth_data": auth_data},
    )
    params = {"version": version}
    path = f"/room_keys/keys/{q(ROOM)}"
    await c.call("PUT", f"{path}/s1", user=alice, params=params, json=session())
    await c.call("PUT", path, user=alice, params=params, json={"sessions": {"s2": session()}})
    await c.call(
        "PUT",
        "/room_keys/keys",
        user=alice,
        params=params,
        json={"rooms": {ROOM: {"sessions": {"s3": session(1)}}}},
    )
    wrong = await c.error(
        "PUT",
        f"{path}/s1",
        403,
        "M_WRONG_ROOM_KEYS_VERSION",
        user=alice,
        params={"version": old},
        json=session(),
    )
    assert wrong["current_version"] == version
    await c.call("GET", f"{path}/s1", user=alice, params=params)
    await c.error("GET", f"{path}/nope", 404, "M_NOT_FOUND", user=alice, params=params)
    await c.call("GET", path, user=alice, params=params)
    await c.call("GET", "/room_keys/keys", user=alice, params=params)
    await c.call("DELETE", f"{path}/s1", user=alice, params=params)
    await c.call("DELETE", path, user=alice, params=params)
    await c.call("DELETE", "/room_keys/keys", user=alice, params=params)
    await c.call("DELETE", f"/room_keys/version/{version}", user=alice)
    await c.error("DELETE", "/room_keys/version/999", 404, "M_NOT_FOUND", user=alice)
    await c.error(
        "GET", "/room_keys/keys", 404, "M_NOT_FOUND", user=alice, params={"version": "999"}
    )
    await _auth_errors(c, "GET", "/room_keys/version")
