"""Server-side key backup (``/room_keys``) through the API, on both databases: versions, keys
at every level, the replacement rule, etags and counts, wrong versions, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_bad_input import refused
from tests.support.e2ee import register
from tests.support.harness import Api, User, q

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!backup:tumar.test"
OTHER_ROOM = "!other:tumar.test"
SESSION = "sess/with+slash"  # Megolm session ids are base64: they can contain "/" and "+"


def key(
    index: int = 0, forwarded: int = 0, verified: bool = False, data: str = "a"
) -> dict[str, Any]:
    return {
        "first_message_index": index,
        "forwarded_count": forwarded,
        "is_verified": verified,
        "session_data": {"ephemeral": "e", "ciphertext": data, "mac": "m"},
    }


async def new_version(api: Api, user: User, public_key: str = "pk1") -> str:
    body = await api.call(
        "POST",
        "/room_keys/version",
        user=user,
        json={"algorithm": ALGORITHM, "auth_data": {"public_key": public_key, "signatures": {}}},
    )
    return str(body["version"])


def session_path(room: str = ROOM, session: str = SESSION) -> str:
    return f"/room_keys/keys/{q(room)}/{q(session)}"


async def test_versions_lifecycle(api: Api) -> None:
    alice = await register(api, "alice")
    await api.error("GET", "/room_keys/version", 404, "M_NOT_FOUND", user=alice)
    v1 = await new_version(api, alice)
    current = await api.call("GET", "/room_keys/version", user=alice)
    assert current == {
        "algorithm": ALGORITHM,
        "auth_data": {"public_key": "pk1", "signatures": {}},
        "count": 0,
        "etag": current["etag"],
        "version": v1,
    }
    assert isinstance(current["etag"], str)
    assert await api.call("GET", f"/room_keys/version/{v1}", user=alice) == current

    await api.call(
        "PUT",
        f"/room_keys/version/{v1}",
        user=alice,
        json={
            "algorithm": ALGORITHM,
            "auth_data": {"public_key": "pk1", "signatures": {"x": {}}},
            "version": v1,
        },
    )
    updated = await api.call("GET", "/room_keys/version", user=alice)
    assert updated["auth_data"]["signatures"] == {"x": {}}

    v2 = await new_version(api, alice, "pk2")
    assert int(v2) > int(v1)
    assert (await api.call("GET", "/room_keys/version", user=alice))["version"] == v2
    await api.call("DELETE", f"/room_keys/version/{v2}", user=alice)
    await api.call("DELETE", f"/room_keys/version/{v2}", user=alice)  # again: still fine
    await api.error("GET", f"/room_keys/version/{v2}", 404, "M_NOT_FOUND", user=alice)
    # The previous version is current again; a new one never reuses a deleted number.
    assert (await api.call("GET", "/room_keys/version", user=alice))["version"] == v1
    assert int(await new_version(api, alice)) > int(v2)


async def test_version_update_refusals(api: Api) -> None:
    alice = await register(api, "alice")
    v1 = await new_version(api, alice)
    auth = {"public_key": "pk1"}
    await refused(
        api,
        "PUT",
        f"/room_keys/version/{v1}",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"algorithm": "org.example.other", "auth_data": auth},
    )
    await refused(
        api,
        "PUT",
        f"/room_keys/version/{v1}",
        400,
        "M_INVALID_PARAM",
        user=alice,
        json={"algorithm": ALGORITHM, "auth_data": auth, "version": "999"},
    )
    for version in ("999", "abc", "-1"):
        await refused(
            api,
            "PUT",
            f"/room_keys/version/{version}",
            404,
            "M_NOT_FOUND",
            user=alice,
            json={"algorithm": ALGORITHM, "auth_data": auth},
        )
        await api.error("DELETE", f"/room_keys/version/{version}", 404, "M_NOT_FOUND", user=alice)


async def test_keys_round_trip_at_every_level(api: Api) -> None:
    alice = await register(api, "alice")
    version = await new_version(api, alice)
    params = {"version": version}
    one = await api.call("PUT", session_path(), user=alice, params=params, json=key(data="s1"))
    assert one["count"] == 1
    room = await api.call(
        "PUT",
        f"/room_keys/keys/{q(ROOM)}",
        user=alice,
        params=params,
        json={"sessions": {"s2": key(data="s2")}},
    )
    assert room["count"] == 2 and room["etag"] != one["etag"]
    everything = await api.call(
        "PUT",
        "/room_keys/keys",
        user=alice,
        params=params,
        json={"rooms": {OTHER_ROOM: {"sessions": {"s3": key(data="s3")}}}},
    )
    assert everything["count"] == 3

    assert await api.call("GET", session_path(), user=alice, params=params) == key(data="s1")
    in_room = await api.call("GET", f"/room_keys/keys/{q(ROOM)}", user=alice, params=params)
    assert in_room == {"sessions": {SESSION: key(data="s1"), "s2": key(data="s2")}}
    all_keys = await api.call("GET", "/room_keys/keys", user=alice, params=params)
    assert all_keys["rooms"][OTHER_ROOM] == {"sessions": {"s3": key(data="s3")}}
    assert set(all_keys["rooms"]) == {ROOM, OTHER_ROOM}
    info = await api.call("GET", "/room_keys/version", user=alice)
    assert info["count"] == 3 and info["etag"] == everything["etag"]
    # Empty answers, not errors, for a room or session without keys.
    empty_room = await api.call(
        "GET", f"/room_keys/keys/{q('!none:tumar.test')}", user=alice, params=params
    )
    assert empty_room == {"sessions": {}}
    await api.error(
        "GET", session_path(ROOM, "nope"), 404, "M_NOT_FOUND", user=alice, params=params
    )

    deleted = await api.call("DELETE", session_path(), user=alice, params=params)
    assert deleted["count"] == 2
    deleted = await api.call("DELETE", f"/room_keys/keys/{q(ROOM)}", user=alice, params=params)
    assert deleted["count"] == 1
    deleted = await api.call("DELETE", "/room_keys/keys", user=alice, params=params)
    assert deleted["count"] == 0
    assert await api.call("GET", "/room_keys/keys", user=alice, params=params) == {"rooms": {}}


@pytest.mark.parametrize(
    ("stored", "offered", "replaced"),
    [
        (key(verified=False), key(verified=True, index=5, forwarded=3), True),
        (key(verified=True, index=0), key(verified=False, index=0), False),
        (key(index=5), key(index=2, forwarded=9), True),
        (key(index=2), key(index=5), False),
        (key(index=2, forwarded=3), key(index=2, forwarded=1), True),
        (key(index=2, forwarded=1), key(index=2, forwarded=1, data="same rank"), False),
    ],
)
async def test_only_a_better_key_replaces_a_stored_one(
    api: Api, stored: dict[str, Any], offered: dict[str, Any], replaced: bool
) -> None:
    alice = await register(api, "alice")
    version = await new_version(api, alice)
    params = {"version": version}
    first = await api.call("PUT", session_path(), user=alice, params=params, json=stored)
    second = await api.call(
        "PUT",
        session_path(),
        user=alice,
        params=params,
        json={**offered, "session_data": {"v": "new"}},
    )
    kept = await api.call("GET", session_path(), user=alice, params=params)
    assert (kept["session_data"] == {"v": "new"}) == replaced
    assert (second["etag"] != first["etag"]) == replaced
    assert second["count"] == 1


async def test_keys_go_only_to_the_current_version(api: Api) -> None:
    alice = await register(api, "alice")
    await refused(
        api,
        "PUT",
        session_path(),
        404,
        "M_NOT_FOUND",
        user=alice,
        params={"version": "1"},
        json=key(),
    )
    old = await new_version(api, alice)
    current = await new_version(api, alice)
    body = await refused(
        api,
        "PUT",
        session_path(),
        403,
        "M_WRONG_ROOM_KEYS_VERSION",
        user=alice,
        params={"version": old},
        json=key(),
    )
    assert body["current_version"] == current
    await api.call("PUT", session_path(), user=alice, params={"version": current}, json=key())
    # Reading an old version that still exists is fine (it is empty).
    assert await api.call("GET", "/room_keys/keys", user=alice, params={"version": old}) == {
        "rooms": {}
    }
    await api.error(
        "GET", "/room_keys/keys", 404, "M_NOT_FOUND", user=alice, params={"version": "77"}
    )


async def test_a_backup_is_private_to_its_owner(api: Api) -> None:
    alice = await register(api, "alice")
    bob = await register(api, "bob")
    version = await new_version(api, alice)
    await api.call("PUT", session_path(), user=alice, params={"version": version}, json=key())
    await api.error("GET", "/room_keys/version", 404, "M_NOT_FOUND", user=bob)
    await api.error("GET", f"/room_keys/version/{version}", 404, "M_NOT_FOUND", user=bob)
    await api.error(
        "GET", session_path(), 404, "M_NOT_FOUND", user=bob, params={"version": version}
    )
    await api.error("DELETE", f"/room_keys/version/{version}", 404, "M_NOT_FOUND", user=bob)
    assert (await api.call("GET", "/room_keys/version", user=alice))["count"] == 1


BAD_KEY_BODIES: list[tuple[str, Any]] = [
    ("session", {**key(), "first_message_index": "0"}),
    ("session", {**key(), "first_message_index": -1}),
    ("session", {**key(), "is_verified": "yes"}),
    ("session", {**key(), "session_data": "opaque"}),
    ("session", {"first_message_index": 0}),
    ("room", {"sessions": []}),
    ("room", {"sessions": {"s": {"first_message_index": 0}}}),
    ("all", {"rooms": {ROOM: []}}),
    ("all", {}),
]


@pytest.mark.parametrize(("level", "body"), BAD_KEY_BODIES)
async def test_mistyped_key_bodies_are_refused(api: Api, level: str, body: Any) -> None:
    alice = await register(api, "alice")
    version = await new_version(api, alice)
    path = {
        "session": session_path(),
        "room": f"/room_keys/keys/{q(ROOM)}",
        "all": "/room_keys/keys",
    }[level]
    await refused(
        api, "PUT", path, 400, "M_BAD_JSON", user=alice, params={"version": version}, json=body
    )


async def test_other_bad_key_requests(api: Api) -> None:
    alice = await register(api, "alice")
    version = await new_version(api, alice)
    await refused(api, "PUT", session_path(), 400, "M_MISSING_PARAM", user=alice, json=key())
    await api.error("GET", "/room_keys/keys", 400, "M_MISSING_PARAM", user=alice)
    await refused(
        api,
        "PUT",
        session_path("not-a-room"),
        400,
        "M_INVALID_PARAM",
        user=alice,
        params={"version": version},
        json=key(),
    )
