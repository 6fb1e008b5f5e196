"""Authenticated media: who may download (and thumbnail) which media, on both backends.

A media item is visible to its uploader and to whoever may read an event referring to it;
naming someone else's media in an event grants nothing; redaction withdraws what the event
granted; opaque attachments of end-to-end encrypted rooms are visible to the uploader's room
mates in encrypted rooms. See ``tumar.core.media_access``.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from tests.support.harness import Api, User, q
from tests.support.media import download, png_bytes, thumbnail, upload

_txn = itertools.count(1)


async def status(api: Api, user: User, mxc: str) -> int:
    """The download status for ``user``; thumbnails must agree for images."""
    code = (await download(api, user, mxc)).status_code
    return code


async def send(api: Api, user: User, room: str, content: dict[str, Any], kind: str = "") -> str:
    event_type = kind or "m.room.message"
    body = await api.call(
        "PUT",
        f"/rooms/{q(room)}/send/{event_type}/m{next(_txn)}",
        user=user,
        json=content,
    )
    return str(body["event_id"])


def image(mxc: str) -> dict[str, Any]:
    return {
        "msgtype": "m.image",
        "body": "photo.png",
        "url": mxc,
        "info": {"mimetype": "image/png"},
    }


async def public_room(api: Api, owner: User, *members: User) -> str:
    room = await api.create_room(owner, preset="public_chat")
    for member in members:
        await api.join(member, room)
    return room


async def test_members_of_the_room_it_was_posted_in(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    mxc = await upload(api, alice, png_bytes(), "image/png")
    room = await public_room(api, alice, bob)

    # Uploaded, not yet posted: only the uploader sees it.
    assert await status(api, alice, mxc) == 200
    resp = await download(api, bob, mxc)
    assert (resp.status_code, resp.json()["errcode"]) == (403, "M_FORBIDDEN")
    assert "room" in resp.json()["error"]

    await send(api, alice, room, image(mxc))
    assert await status(api, bob, mxc) == 200
    assert (await thumbnail(api, bob, mxc, 32, 32, "crop")).status_code == 200
    assert await status(api, carol, mxc) == 403
    resp = await thumbnail(api, carol, mxc, 32, 32, "crop")
    assert (resp.status_code, resp.json()["errcode"]) == (403, "M_FORBIDDEN")

    # A later member reads the room's history, its media included.
    await api.join(carol, room)
    assert await status(api, carol, mxc) == 200


async def test_former_members_keep_what_they_could_read(api: Api) -> None:
    alice = await api.register("alice")
    dave = await api.register("dave")
    eve = await api.register("eve")
    room = await public_room(api, alice, dave, eve)
    before = await upload(api, alice, b"seen before leaving", "text/plain")
    await send(api, alice, room, {"msgtype": "m.file", "body": "a", "url": before})
    await api.call("POST", f"/rooms/{q(room)}/leave", user=dave, json={})
    await api.call("POST", f"/rooms/{q(room)}/ban", user=alice, json={"user_id": eve.user_id})
    after = await upload(api, alice, b"posted after they left", "text/plain")
    await send(api, alice, room, {"msgtype": "m.file", "body": "b", "url": after})

    for former in (dave, eve):
        assert await status(api, former, before) == 200
        assert await status(api, former, after) == 403


async def test_invited_users_see_the_room_avatar_only(api: Api) -> None:
    alice = await api.register("alice")
    frank = await api.register("frank")
    avatar = await upload(api, alice, png_bytes(32, 32), "image/png")
    photo = await upload(api, alice, png_bytes(), "image/png")
    room = await api.create_room(alice, preset="private_chat")
    await api.call("PUT", f"/rooms/{q(room)}/state/m.room.avatar", user=alice, json={"url": avatar})
    await send(api, alice, room, image(photo))
    await api.call("POST", f"/rooms/{q(room)}/invite", user=alice, json={"user_id": frank.user_id})

    assert await status(api, frank, avatar) == 200
    assert (await thumbnail(api, frank, avatar, 32, 32, "crop")).status_code == 200
    assert await status(api, frank, photo) == 403
    await api.join(frank, room)
    assert await status(api, frank, photo) == 200


async def test_redaction_withdraws_access(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await public_room(api, alice, bob)
    once = await upload(api, alice, png_bytes(), "image/png")
    twice = await upload(api, alice, png_bytes(10, 10), "image/png")
    event = await send(api, alice, room, image(once))
    first = await send(api, alice, room, image(twice))
    await send(api, alice, room, image(twice))
    assert await status(api, bob, once) == 200

    for event_id in (event, first):
        await api.call(
            "PUT", f"/rooms/{q(room)}/redact/{q(event_id)}/r{next(_txn)}", user=alice, json={}
        )
    assert await status(api, bob, once) == 403
    assert await status(api, alice, once) == 200  # the uploader keeps it
    assert await status(api, bob, twice) == 200  # still posted by the other event


async def test_naming_media_grants_nothing_and_forwarding_shares(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    mallory = await api.register("mallory")
    oscar = await api.register("oscar")
    erin = await api.register("erin")
    secret = await upload(api, alice, png_bytes(), "image/png")
    private = await public_room(api, alice, bob)
    await send(api, alice, private, image(secret))

    # Mallory learnt the mxc URI somehow and posts it to a room with her friend.
    theirs = await public_room(api, mallory, oscar)
    await send(api, mallory, theirs, image(secret))
    assert await status(api, oscar, secret) == 403
    assert await status(api, mallory, secret) == 403

    # Bob may see it, so forwarding it shares it with the other room.
    forwarded = await public_room(api, bob, erin)
    await send(api, bob, forwarded, image(secret))
    assert await status(api, erin, secret) == 200


@pytest.mark.parametrize(
    "shape",
    ["thumbnail_url", "file", "thumbnail_file", "edit", "sticker"],
)
async def test_every_place_an_event_names_media(api: Api, shape: str) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    room = await public_room(api, alice, bob)
    mxc = await upload(api, alice, os.urandom(100), "application/octet-stream")
    kind = ""
    file = {"url": mxc, "key": {}, "iv": "", "hashes": {}, "v": "v2"}
    if shape == "thumbnail_url":
        content: dict[str, Any] = {
            "msgtype": "m.image",
            "body": "x",
            "info": {"thumbnail_url": mxc},
        }
    elif shape == "file":
        content = {"msgtype": "m.file", "body": "x", "file": file}
    elif shape == "thumbnail_file":
        content = {"msgtype": "m.image", "body": "x", "info": {"thumbnail_file": file}}
    elif shape == "edit":
        content = {
            "msgtype": "m.text",
            "body": "* x",
            "m.new_content": {"msgtype": "m.file", "body": "x", "url": mxc},
        }
    else:
        kind = "m.sticker"
        content = {"body": "x", "url": mxc, "info": {}}
    assert await status(api, bob, mxc) == 403
    await send(api, alice, room, content, kind)
    assert await status(api, bob, mxc) == 200


async def test_avatars(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    await public_room(api, alice, bob)
    avatar = await upload(api, alice, png_bytes(48, 48), "image/png")
    await api.call(
        "PUT",
        f"/profile/{q(alice.user_id)}/avatar_url",
        user=alice,
        json={"avatar_url": avatar},
    )
    # The profile change reached the room as a member event: room mates see the avatar.
    assert await status(api, bob, avatar) == 200
    assert await status(api, carol, avatar) == 403


async def test_opaque_attachments_of_encrypted_rooms(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")
    carol = await api.register("carol")
    dave = await api.register("dave")
    encrypted = await api.create_room(
        alice,
        preset="public_chat",
        initial_state=[
            {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ],
    )
    await api.join(bob, encrypted)
    plain = await public_room(api, alice, dave)

    # The server cannot read the event that carries the attachment's URI.
    attachment = await upload(api, alice, os.urandom(3000), "application/octet-stream")
    await send(
        api,
        alice,
        encrypted,
        {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg2yyOwAtHaZTwyNg37afzg8f",
            "device_id": "RJYKSTBOIE",
            "sender_key": "IlRMeOPX2e0MurIyfWEucYBRVOEEUMrOHqn/8mLqMjA",
            "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
        },
        "m.room.encrypted",
    )
    assert await status(api, bob, attachment) == 200
    assert await status(api, carol, attachment) == 403
    assert await status(api, dave, attachment) == 403  # shares only a plaintext room

    # Only opaque bytes: a typed upload is visible only where an event names it.
    picture = await upload(api, alice, png_bytes(), "image/png")
    assert await status(api, bob, picture) == 403
    # An opaque file posted in a plaintext room follows that room's rule.
    posted = await upload(api, alice, os.urandom(100), "application/octet-stream")
    await send(api, alice, plain, {"msgtype": "m.file", "body": "f", "url": posted})
    assert await status(api, dave, posted) == 200
    assert await status(api, bob, posted) == 403
