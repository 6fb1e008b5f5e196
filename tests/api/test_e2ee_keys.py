"""End-to-end encryption keys through the API, on both databases: upload, query, claim,
changes, cross-signing with user-interactive auth, signatures, the sync sections, and the bad
input of each (refused with a clear error, nothing changed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.test_bad_input import refused, snapshot
from tests.support.e2ee import CrossSigning, Device, b64, register, upload_device
from tests.support.harness import PASSWORD, Api, User, q

OTK = "signed_curve25519"
E2EE_TABLES = (
    "e2e_device_keys",
    "e2e_one_time_keys",
    "e2e_fallback_keys",
    "e2e_cross_signing_keys",
    "e2e_cross_signing_signatures",
    "device_list_changes",
    "stream_counter",
)


async def share_room(api: Api, *users: User) -> str:
    room = await api.create_room(users[0], preset="public_chat")
    for user in users[1:]:
        await api.join(user, room)
    return room


async def query(api: Api, user: User, *targets: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.call(
        "POST", "/keys/query", user=user, json={"device_keys": {t: [] for t in targets}}
    )
    return body


async def claim(api: Api, user: User, wanted: dict[str, dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = await api.call(
        "POST", "/keys/claim", user=user, json={"one_time_keys": wanted}
    )
    return body


def password_auth(user: User) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": PASSWORD,
    }


# ---- upload and query -------------------------------------------------------------------------


async def test_upload_then_query_device_keys(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await share_room(api, alice, bob)
    device = Device.generate(alice.user_id, alice.device_id)
    body = await api.call(
        "POST",
        "/keys/upload",
        user=alice,
        json={"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(5)},
    )
    assert body == {"one_time_key_counts": {OTK: 5, "curve25519": 0}}

    found = await query(api, bob, alice.user_id)
    assert found["failures"] == {}
    served = found["device_keys"][alice.user_id][alice.device_id]
    assert served["unsigned"] == {}  # the device has no display name
    assert {k: v for k, v in served.items() if k != "unsigned"} == device.device_keys()

    # Only the devices asked for; unknown devices and users are simply missing.
    named = await api.call(
        "POST",
        "/keys/query",
        user=bob,
        json={"device_keys": {alice.user_id: ["NOSUCHDEVICE"], "@nobody:tumar.test": []}},
    )
    assert named["device_keys"][alice.user_id] == {}
    assert named["device_keys"].get("@nobody:tumar.test", {}) == {}
    # Users of other servers: no federation, so no keys (and no error).
    remote = await query(api, bob, "@carol:elsewhere.example")
    assert remote["device_keys"] == {}


async def test_display_name_is_served_unsigned(api: Api) -> None:
    alice = await register(api, "alice")
    await api.call(
        "PUT", f"/devices/{q(alice.device_id)}", user=alice, json={"display_name": "Desk"}
    )
    await upload_device(api, alice)
    found = await query(api, alice, alice.user_id)
    assert found["device_keys"][alice.user_id][alice.device_id]["unsigned"] == {
        "device_display_name": "Desk"
    }


async def test_same_upload_twice_is_idempotent(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    device = Device.generate(alice.user_id, alice.device_id)
    body = {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(3)}
    await api.call("POST", "/keys/upload", user=alice, json=body)
    before = await snapshot(api.services)
    again = await api.call("POST", "/keys/upload", user=alice, json=body)
    assert again == {"one_time_key_counts": {OTK: 3, "curve25519": 0}}
    assert await snapshot(api.services) == before  # no new key, no device-list change


async def test_concurrent_uploads_of_one_device_all_succeed(api: Api) -> None:
    alice = await register(api, "alice")
    device = Device.generate(alice.user_id, alice.device_id)
    body = {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(4)}
    results = await asyncio.gather(
        *(api.raw("POST", "/keys/upload", user=alice, json=body) for _ in range(6))
    )
    assert [r.status_code for r in results] == [200] * 6
    assert all(r.json()["one_time_key_counts"][OTK] == 4 for r in results)


async def test_changing_an_existing_device_key_is_refused(api: Api) -> None:
    alice = await register(api, "alice")
    await upload_device(api, alice, otks=2)
    impostor = Device.generate(alice.user_id, alice.device_id)  # same device id, new keys
    body = await refused(
        api,
        "POST",
        "/keys/upload",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"device_keys": impostor.device_keys(), "one_time_keys": impostor.one_time_keys(4)},
    )
    assert "identity keys" in body["error"]
    counts = await api.call("POST", "/keys/upload", user=alice, json={})
    assert counts == {
        "one_time_key_counts": {OTK: 2, "curve25519": 0}
    }  # the refused upload's keys were not kept


async def test_device_keys_of_another_device_are_refused(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    for user_id, device_id in (
        (bob.user_id, alice.device_id),
        (alice.user_id, bob.device_id),
        (alice.user_id, "OTHERDEVICE"),
    ):
        keys = Device.generate(user_id, device_id).device_keys()
        await refused(
            api,
            "POST",
            "/keys/upload",
            400,
            "M_INVALID_PARAM",
            user=alice,
            json={"device_keys": keys},
        )


async def test_one_time_key_reuploaded_with_other_content_is_refused(api: Api) -> None:
    alice = await register(api, "alice")
    device = await upload_device(api, alice, otks=1)
    same_id = {f"{OTK}:K00000": {"key": "different", "signatures": {}}}
    await refused(
        api,
        "POST",
        "/keys/upload",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"one_time_keys": {**device.one_time_keys(3, 1), **same_id}},
    )


async def test_one_time_keys_are_capped_per_device(api: Api) -> None:
    alice = await register(api, "alice")
    device = await upload_device(api, alice, otks=10)
    await refused(
        api,
        "POST",
        "/keys/upload",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"one_time_keys": device.one_time_keys(991, 10)},
    )
    body = await api.call(
        "POST", "/keys/upload", user=alice, json={"one_time_keys": device.one_time_keys(990, 10)}
    )
    assert body["one_time_key_counts"][OTK] == 1000


# ---- claim ------------------------------------------------------------------------------------


async def test_claim_hands_out_one_time_keys_once_then_the_fallback_key(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    device = Device.generate(alice.user_id, alice.device_id)
    first = device.one_time_keys(1, 0)
    await api.call("POST", "/keys/upload", user=alice, json={"one_time_keys": first})
    second = device.one_time_keys(1, 1)
    fallback = device.one_time_keys(1, 500, fallback=True)
    await api.call(
        "POST",
        "/keys/upload",
        user=alice,
        json={"one_time_keys": second, "fallback_keys": fallback},
    )
    sync = await api.sync(alice)
    assert sync["device_one_time_keys_count"] == {OTK: 2, "curve25519": 0}
    assert sync["device_unused_fallback_key_types"] == [OTK]

    wanted = {alice.user_id: {alice.device_id: OTK}}
    got = [(await claim(api, bob, wanted))["one_time_keys"] for _ in range(4)]
    keys = [g[alice.user_id][alice.device_id] for g in got]
    assert keys[0] == first  # the oldest first
    assert keys[1] == second
    assert keys[2] == fallback == keys[3]  # the fallback key is reused, never deleted

    sync = await api.sync(alice, sync["next_batch"])
    assert sync["device_one_time_keys_count"] == {OTK: 0, "curve25519": 0}
    assert sync["device_unused_fallback_key_types"] == []
    # A new fallback key is unused again.
    await api.call(
        "POST",
        "/keys/upload",
        user=alice,
        json={"fallback_keys": device.one_time_keys(1, 501, fallback=True)},
    )
    assert (await api.sync(alice))["device_unused_fallback_key_types"] == [OTK]


async def test_claims_for_unknown_users_and_devices_return_nothing(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await upload_device(api, alice, otks=2)
    before = await snapshot(api.services)
    body = await claim(
        api,
        bob,
        {
            "@nobody:tumar.test": {"DEV": OTK},
            alice.user_id: {"NOSUCHDEVICE": OTK},
            "@carol:elsewhere.example": {"DEV": OTK},
        },
    )
    assert body == {"one_time_keys": {}, "failures": {}}
    wrong_algorithm = await claim(api, bob, {alice.user_id: {alice.device_id: "curve448"}})
    assert wrong_algorithm == {"one_time_keys": {}, "failures": {}}
    assert await snapshot(api.services) == before


async def test_concurrent_claims_never_share_a_key(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await upload_device(api, alice, otks=8)
    wanted = {alice.user_id: {alice.device_id: OTK}}
    results = await asyncio.gather(*(claim(api, bob, wanted) for _ in range(8)))
    keys = [next(iter(r["one_time_keys"][alice.user_id][alice.device_id])) for r in results]
    assert len(set(keys)) == 8


# ---- device lists: sync and /keys/changes -----------------------------------------------------


async def test_device_list_changes_reach_room_mates_only(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    carol = await register(api, "carol")
    room = await share_room(api, alice, bob)
    bob_start = (await api.sync(bob))["next_batch"]
    carol_start = (await api.sync(carol))["next_batch"]
    await upload_device(api, alice)

    bob_sync = await api.sync(bob, bob_start)
    assert bob_sync["device_lists"] == {"changed": [alice.user_id], "left": []}
    assert (await api.sync(carol, carol_start))["device_lists"] == {"changed": [], "left": []}
    changes = await api.call(
        "GET", "/keys/changes", user=bob, params={"from": bob_start, "to": bob_sync["next_batch"]}
    )
    assert changes == {"changed": [alice.user_id], "left": []}
    # Nothing new since then.
    later = await api.call(
        "GET", "/keys/changes", user=bob, params={"from": bob_sync["next_batch"], "to": "s0_0"}
    )
    assert later == {"changed": [], "left": []}

    # Carol joins: bob must now track her devices; she must track everyone in the room.
    carol_before_join = (await api.sync(carol))["next_batch"]
    await api.join(carol, room)
    assert carol.user_id in (await api.sync(bob, bob_sync["next_batch"]))["device_lists"]["changed"]
    carol_lists = (await api.sync(carol, carol_before_join))["device_lists"]
    assert {alice.user_id, bob.user_id} <= set(carol_lists["changed"])

    # Alice leaves the only room she shares with bob: bob stops tracking her.
    bob_token = (await api.sync(bob))["next_batch"]
    await api.call("POST", f"/rooms/{q(room)}/leave", user=alice, json={})
    lists = (await api.sync(bob, bob_token))["device_lists"]
    assert lists["left"] == [alice.user_id]
    assert alice.user_id not in lists["changed"]


async def test_own_key_changes_are_announced_to_oneself(api: Api) -> None:
    alice = await register(api, "alice")
    other = await api.login("alice")
    start = (await api.sync(other))["next_batch"]
    await upload_device(api, alice)
    assert (await api.sync(other, start))["device_lists"]["changed"] == [alice.user_id]


async def test_key_upload_wakes_a_long_polling_room_mate(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await share_room(api, alice, bob)
    start = (await api.sync(bob))["next_batch"]
    poll = asyncio.ensure_future(api.sync(bob, start, timeout=8_000))
    await asyncio.sleep(0.2)  # let the long-poll start waiting (not an assertion on time)
    assert not poll.done()
    await upload_device(api, alice)
    woken = await asyncio.wait_for(poll, 20)
    assert woken["device_lists"]["changed"] == [alice.user_id]


async def test_deleting_a_device_deletes_its_keys_and_announces_it(api: Api) -> None:
    alice = await register(api, "alice")
    second = await api.login("alice")
    bob = await register(api, "bob")
    await share_room(api, alice, bob)
    await upload_device(api, second, otks=3, fallback=True)
    await api.call(
        "PUT",
        "/sendToDevice/m.test/t1",
        user=bob,
        json={"messages": {alice.user_id: {second.device_id: {"x": 1}}}},
    )
    start = (await api.sync(bob))["next_batch"]
    await api.call(
        "DELETE",
        f"/devices/{q(second.device_id)}",
        user=alice,
        json={"auth": password_auth(alice)},
    )
    assert (await query(api, bob, alice.user_id))["device_keys"][alice.user_id] == {}
    claimed = await claim(api, bob, {alice.user_id: {second.device_id: OTK}})
    assert claimed["one_time_keys"] == {}
    assert (await api.sync(bob, start))["device_lists"]["changed"] == [alice.user_id]
    assert api.services is not None
    rows = await snapshot(api.services)
    for table in (
        "e2e_device_keys",
        "e2e_one_time_keys",
        "e2e_fallback_keys",
        "to_device_messages",
    ):
        assert rows[table] == [], table


async def test_logout_deletes_the_device_keys(api: Api) -> None:
    alice = await register(api, "alice")
    second = await api.login("alice")
    await upload_device(api, second, otks=1)
    await api.call("POST", "/logout", user=second, json={})
    assert (await query(api, alice, alice.user_id))["device_keys"][alice.user_id] == {}


# ---- cross-signing ------------------------------------------------------------------------------


async def test_cross_signing_upload_and_query(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    await share_room(api, alice, bob)
    start = (await api.sync(bob))["next_batch"]
    cs = CrossSigning.generate(alice.user_id)
    # The first upload needs no user-interactive auth (there is no master key yet).
    await api.call("POST", "/keys/device_signing/upload", user=alice, json=cs.upload_body())
    assert (await api.sync(bob, start))["device_lists"]["changed"] == [alice.user_id]

    seen_by_bob = await query(api, bob, alice.user_id)
    assert seen_by_bob["master_keys"][alice.user_id] == cs.master_key()
    assert seen_by_bob["self_signing_keys"][alice.user_id] == cs.self_signing_key()
    assert seen_by_bob["user_signing_keys"] == {}  # only the owner sees it
    seen_by_alice = await query(api, alice, alice.user_id)
    assert seen_by_alice["user_signing_keys"][alice.user_id] == cs.user_signing_key()

    # Repeating the same keys (a retry) needs no auth either.
    await api.call("POST", "/keys/device_signing/upload", user=alice, json=cs.upload_body())


async def test_replacing_cross_signing_keys_needs_the_password(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    await api.call(
        "POST",
        "/keys/device_signing/upload",
        user=alice,
        json=CrossSigning.generate(alice.user_id).upload_body(),
    )
    fresh = CrossSigning.generate(alice.user_id)
    before = await snapshot(api.services)
    challenge = await api.raw(
        "POST", "/keys/device_signing/upload", user=alice, json=fresh.upload_body()
    )
    assert challenge.status_code == 401
    assert {"stages": ["m.login.password"]} in challenge.json()["flows"]
    wrong = {**password_auth(alice), "password": "not it"}
    bad = await api.raw(
        "POST",
        "/keys/device_signing/upload",
        user=alice,
        json={**fresh.upload_body(), "auth": wrong},
    )
    assert bad.status_code == 401 and bad.json()["errcode"] == "M_FORBIDDEN"
    after = await snapshot(api.services)  # (a failed password is audited: compare the keys)
    assert {t: after[t] for t in E2EE_TABLES} == {t: before[t] for t in E2EE_TABLES}

    await api.call(
        "POST",
        "/keys/device_signing/upload",
        user=alice,
        json={**fresh.upload_body(), "auth": password_auth(alice)},
    )
    assert (await query(api, alice, alice.user_id))["master_keys"][alice.user_id] == (
        fresh.master_key()
    )


async def test_cross_signing_keys_must_be_signed_and_well_formed(api: Api) -> None:
    alice = await register(api, "alice")
    cs = CrossSigning.generate(alice.user_id)
    forged = cs.self_signing_key()
    forged["signatures"][alice.user_id][cs.master_key_id] = b64(b"\x00" * 64)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"master_key": cs.master_key(), "self_signing_key": forged}, "M_INVALID_SIGNATURE"),
        (
            {
                "master_key": cs.master_key(),
                "self_signing_key": cs._key("self_signing", cs.self_signing),
            },
            "M_INVALID_SIGNATURE",
        ),
        ({"self_signing_key": cs.self_signing_key()}, "M_MISSING_PARAM"),
        ({"master_key": {**cs.master_key(), "usage": ["self_signing"]}}, "M_INVALID_PARAM"),
        ({"master_key": {**cs.master_key(), "user_id": "@bob:tumar.test"}}, "M_INVALID_PARAM"),
        ({"master_key": {**cs.master_key(), "keys": {"ed25519:abc": "def"}}}, "M_INVALID_PARAM"),
        ({"master_key": {**cs.master_key(), "keys": {}}}, "M_INVALID_PARAM"),
    ]
    for body, errcode in cases:
        await refused(
            api, "POST", "/keys/device_signing/upload", 400, errcode, user=alice, json=body
        )


async def test_a_master_key_may_not_equal_a_device_id(api: Api) -> None:
    cs = CrossSigning.generate("@alice:tumar.test")
    alice = await register(api, "alice")
    clash = await api.login("alice", device_id=cs.master.public)
    assert clash.device_id == cs.master.public
    await refused(
        api,
        "POST",
        "/keys/device_signing/upload",
        403,
        "M_FORBIDDEN",
        user=alice,
        json=cs.upload_body(),
    )


# ---- signatures -------------------------------------------------------------------------------


async def test_signatures_on_own_device_and_on_another_users_master_key(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    carol = await register(api, "carol")
    await share_room(api, alice, bob, carol)
    device = await upload_device(api, alice)
    alice_cs = CrossSigning.generate(alice.user_id)
    bob_cs = CrossSigning.generate(bob.user_id)
    await api.call("POST", "/keys/device_signing/upload", user=alice, json=alice_cs.upload_body())
    await api.call("POST", "/keys/device_signing/upload", user=bob, json=bob_cs.upload_body())

    ssk_id = f"ed25519:{alice_cs.self_signing.public}"
    usk_id = f"ed25519:{alice_cs.user_signing.public}"
    signed_device = alice_cs.self_signing.sign(device.device_keys(), alice.user_id, ssk_id)
    signed_master = device.ed25519.sign(alice_cs.master_key(), alice.user_id, device.key_id)
    signed_bob = alice_cs.user_signing.sign(bob_cs.master_key(), alice.user_id, usk_id)
    body = await api.call(
        "POST",
        "/keys/signatures/upload",
        user=alice,
        json={
            alice.user_id: {alice.device_id: signed_device, alice_cs.master.public: signed_master},
            bob.user_id: {bob_cs.master.public: signed_bob},
        },
    )
    assert body == {"failures": {}}

    for viewer in (alice, bob, carol):  # signatures by the owner are for everyone
        found = await query(api, viewer, alice.user_id, bob.user_id)
        served = found["device_keys"][alice.user_id][alice.device_id]
        assert (
            served["signatures"][alice.user_id][ssk_id]
            == signed_device["signatures"][alice.user_id][ssk_id]
        )
        master = found["master_keys"][alice.user_id]
        assert device.key_id in master["signatures"][alice.user_id]
        bob_master = found["master_keys"][bob.user_id]
        # Alice's signature on bob's master key is shown to alice only.
        assert (alice.user_id in bob_master.get("signatures", {})) == (viewer == alice)


async def test_bad_signatures_are_reported_and_not_stored(api: Api) -> None:
    assert api.services is not None
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    device = await upload_device(api, alice)
    cs = CrossSigning.generate(alice.user_id)
    await api.call("POST", "/keys/device_signing/upload", user=alice, json=cs.upload_body())
    ssk_id = f"ed25519:{cs.self_signing.public}"
    forged = cs.self_signing.sign(device.device_keys(), alice.user_id, ssk_id)
    forged["signatures"][alice.user_id][ssk_id] = b64(b"\x01" * 64)
    tampered = cs.self_signing.sign(device.device_keys(), alice.user_id, ssk_id)
    tampered["keys"] = {**tampered["keys"], "ed25519:EXTRA": "x"}
    unsigned = device.device_keys()
    before = await snapshot(api.services)
    body = await api.call(
        "POST",
        "/keys/signatures/upload",
        user=alice,
        json={
            alice.user_id: {alice.device_id: forged, "NOSUCHKEY": unsigned},
            "@nobody:tumar.test": {"KEY": unsigned},
        },
    )
    failures = body["failures"]
    assert failures[alice.user_id][alice.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    assert failures[alice.user_id]["NOSUCHKEY"]["errcode"] == "M_NOT_FOUND"
    assert failures["@nobody:tumar.test"]["KEY"]["errcode"] == "M_NOT_FOUND"
    body = await api.call(
        "POST",
        "/keys/signatures/upload",
        user=alice,
        json={alice.user_id: {alice.device_id: tampered}},
    )
    assert body["failures"][alice.user_id][alice.device_id]["errcode"] == "M_INVALID_PARAM"
    # Bob cannot sign alice's device: he has no key that may.
    body = await api.call(
        "POST",
        "/keys/signatures/upload",
        user=bob,
        json={alice.user_id: {alice.device_id: unsigned}},
    )
    assert body["failures"][alice.user_id][alice.device_id]["errcode"] == "M_NOT_FOUND"
    assert await snapshot(api.services) == before


# ---- mis-typed bodies and other endpoints ----------------------------------------------------

MISTYPED: list[tuple[str, str, Any]] = [
    ("POST", "/keys/upload", {"device_keys": "nope"}),
    ("POST", "/keys/upload", {"device_keys": {"user_id": "@alice:tumar.test"}}),
    ("POST", "/keys/upload", {"one_time_keys": ["a"]}),
    ("POST", "/keys/upload", {"one_time_keys": {"signed_curve25519:A": 5}}),
    ("POST", "/keys/upload", {"fallback_keys": {"signed_curve25519:A": None}}),
    ("POST", "/keys/query", {}),
    ("POST", "/keys/query", {"device_keys": {"@alice:tumar.test": "all"}}),
    ("POST", "/keys/query", {"device_keys": [], "timeout": "10"}),
    ("POST", "/keys/claim", {}),
    ("POST", "/keys/claim", {"one_time_keys": {"@alice:tumar.test": ["DEV"]}}),
    ("POST", "/keys/claim", {"one_time_keys": {"@alice:tumar.test": {"DEV": 1}}}),
    ("POST", "/keys/device_signing/upload", {"master_key": "key"}),
    ("POST", "/keys/device_signing/upload", {"auth": "password"}),
    ("POST", "/keys/signatures/upload", {"@alice:tumar.test": "sig"}),
    ("POST", "/keys/signatures/upload", {"@alice:tumar.test": {"DEV": "sig"}}),
    ("PUT", "/sendToDevice/m.test/t1", {}),
    ("PUT", "/sendToDevice/m.test/t1", {"messages": {"@alice:tumar.test": {"DEV": "hi"}}}),
    ("PUT", "/sendToDevice/m.test/t1", {"messages": {"@alice:tumar.test": ["DEV"]}}),
    ("POST", "/room_keys/version", {"algorithm": 1, "auth_data": {}}),
    ("POST", "/room_keys/version", {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), MISTYPED, ids=[f"{m} {p} {b}" for m, p, b in MISTYPED]
)
async def test_mistyped_bodies_are_refused(api: Api, method: str, path: str, body: Any) -> None:
    alice = await register(api, "alice")
    await upload_device(api, alice, otks=1)
    await refused(api, method, path, 400, "M_BAD_JSON", user=alice, json=body)


async def test_bad_user_ids_and_key_ids_are_refused(api: Api) -> None:
    alice = await register(api, "alice")
    device = await upload_device(api, alice)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/keys/query", {"device_keys": {"not-a-user": []}}),
        ("POST", "/keys/claim", {"one_time_keys": {"alice": {"DEV": OTK}}}),
        (
            "POST",
            "/keys/upload",
            {"one_time_keys": {"no-colon": device.one_time_keys(1)[f"{OTK}:K00000"]}},
        ),
        ("POST", "/keys/upload", {"one_time_keys": {f"{OTK}:K1": {"nokey": "x"}}}),
        ("POST", "/keys/upload", {"fallback_keys": device.one_time_keys(2, fallback=True)}),
        ("PUT", "/sendToDevice/m.test/t9", {"messages": {"bob": {"DEV": {}}}}),
    ]
    for method, path, body in cases:
        await refused(api, method, path, 400, "M_INVALID_PARAM", user=alice, json=body)


async def test_keys_changes_needs_a_valid_from_token(api: Api) -> None:
    alice = await register(api, "alice")
    await api.error("GET", "/keys/changes", 400, "M_MISSING_PARAM", user=alice)
    await api.error(
        "GET",
        "/keys/changes",
        400,
        "M_INVALID_PARAM",
        user=alice,
        params={"from": "x1", "to": "s1"},
    )


async def test_key_endpoints_need_an_access_token(api: Api) -> None:
    for method, path in (
        ("POST", "/keys/upload"),
        ("POST", "/keys/query"),
        ("POST", "/keys/claim"),
        ("GET", "/keys/changes"),
        ("POST", "/keys/device_signing/upload"),
        ("POST", "/keys/signatures/upload"),
        ("PUT", "/sendToDevice/m.test/t1"),
        ("GET", "/room_keys/version"),
        ("GET", "/room_keys/keys"),
    ):
        await api.error(method, path, 401, "M_MISSING_TOKEN", json={})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"),
        ("PUT", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"),
        ("DELETE", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"),
        ("POST", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/DEV/events"),
    ],
)
async def test_dehydrated_device_endpoints_are_unrecognized(
    api: Api, method: str, path: str
) -> None:
    alice = await register(api, "alice")
    await api.error(method, path, 404, "M_UNRECOGNIZED", user=alice, json={})
