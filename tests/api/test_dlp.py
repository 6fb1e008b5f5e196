"""Forwarding control (DLP) through the client API, on SQLite and PostgreSQL.

Text of an official-use room may not be forwarded, quoted beyond the threshold, or edited into
a lower room; media posted only in an official-use room may not be re-posted there; everything
else passes. A refusal writes nothing (``refused`` compares every table before and after).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_bad_input import refused
from tests.support.e2ee import api_with, register
from tests.support.harness import Api, User, q
from tests.support.media import png_bytes, upload
from tumar.config import Settings
from tumar.policy.fingerprint import normalise
from tumar.policy.labels import LABEL_EVENT
from tumar.store.schema import content_fingerprints

MEMO = (
    "The ministry will transfer the reserve fund of 4.2 billion tenge to the regional "
    "administrations on 14 March; the list of recipients stays confidential until the "
    "decree is signed by the deputy prime minister."
)
LEGIT = "The canteen on the second floor is closed on Friday for repairs, bring your lunch."
_txn = itertools.count(1)
# Test accounts have no directory entry: they hold ``default_clearance``. New rooms start public
# so that the tests can raise them to each label.
LABELS: dict[str, Any] = {
    "default_clearance": "official-use",
    "classification_default_room": "public",
}


async def send(api: Api, user: User, room: str, content: dict[str, Any]) -> str:
    body = await api.call(
        "PUT", f"/rooms/{q(room)}/send/m.room.message/d{next(_txn)}", user=user, json=content
    )
    return str(body["event_id"])


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body, **extra}


async def refused_send(
    api: Api, user: User, room: str, content: dict[str, Any], errcode: str = "TUMAR_DLP"
) -> str:
    body = await refused(
        api,
        "PUT",
        f"/rooms/{q(room)}/send/m.room.message/r{next(_txn)}",
        403,
        errcode,
        user=user,
        json=content,
    )
    error = str(body["error"])
    assert "official-use" in error  # names the label it protects ...
    for word in ("reserve", "tenge", "ministry", "!"):  # ... never the content or the room
        assert word not in error.lower()
    return error


async def labelled_room(api: Api, user: User, label: str, *members: User) -> str:
    room = await api.create_room(
        user,
        preset="public_chat",
        initial_state=[{"type": LABEL_EVENT, "state_key": "", "content": {"label": label}}],
    )
    for member in members:
        await api.join(member, room)
    state = await api.call("GET", f"/rooms/{q(room)}/state/{LABEL_EVENT}/", user=user)
    assert state["label"] == label
    return room


@dataclass
class World:
    api: Api
    alice: User  # member of every room
    bob: User  # member of the internal room only
    official: str
    internal: str
    public: str
    memo_event: str


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    async with api_with(settings, **LABELS) as api:
        alice = await register(api, "alice")
        bob = await register(api, "bob")
        official = await labelled_room(api, alice, "official-use")
        internal = await labelled_room(api, alice, "internal", bob)
        public = await labelled_room(api, alice, "public")
        memo = await send(api, alice, official, text(MEMO))
        yield World(api, alice, bob, official, internal, public, memo)


async def fingerprint_rows(api: Api) -> list[tuple[int, str, int]]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        rows = (await conn.execute(select(content_fingerprints))).all()
    return [(r.fp, r.room_id, r.stream_pos) for r in rows]


async def test_forward_into_a_lower_room_is_refused(world: World) -> None:
    api, alice = world.api, world.alice
    error = await refused_send(api, alice, world.internal, text(MEMO))
    assert "internal" in error
    # The same text laid out differently, as a formatted body only, or forwarded by another
    # member, is the same text.
    await refused_send(api, alice, world.internal, text(MEMO.upper().replace(" ", "\n")))
    await refused_send(
        api,
        alice,
        world.internal,
        text("see formatted", format="org.matrix.custom.html", formatted_body=f"<p>{MEMO}</p>"),
    )
    await refused_send(api, world.bob, world.internal, text(f"Forwarded: {MEMO}"))
    await refused_send(api, alice, world.public, text(MEMO))


async def test_quoting_beyond_the_threshold_is_refused(world: World) -> None:
    api, alice = world.api, world.alice
    quote = MEMO[: int(len(MEMO) * 0.6)]
    await refused_send(api, alice, world.internal, text(f"> {quote}\n\nIs this right?"))
    # A short part drowned in the sender's own words stays below the threshold.
    own = (
        "I will be out of the office next week at the conference in Almaty, please send the "
        "weekly status reports to my deputy, who also chairs the Monday planning meeting; "
    )
    await send(api, alice, world.internal, text(own + MEMO[:45]))


async def test_legitimate_messages_pass(world: World) -> None:
    api, alice = world.api, world.alice
    await send(api, alice, world.public, text(LEGIT))
    await send(api, alice, world.internal, text(LEGIT))
    await send(api, alice, world.internal, text("On 14 March."))  # short: never fingerprinted
    # Upwards and sideways is fine: into the official-use room itself or another one.
    await send(api, alice, world.official, text(MEMO))
    other = await labelled_room(api, alice, "official-use")
    await send(api, alice, other, text(MEMO))
    await send(api, alice, world.official, text(LEGIT))
    # Non-text events and state are not checked.
    await api.call(
        "PUT", f"/rooms/{q(world.internal)}/state/m.room.topic", user=alice, json={"topic": MEMO}
    )


async def test_an_edit_that_brings_protected_content_is_refused(world: World) -> None:
    api, alice = world.api, world.alice
    original = await send(api, alice, world.internal, text(LEGIT))
    edit = text(
        "* corrected",
        **{
            "m.new_content": text(MEMO),
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    await refused_send(api, alice, world.internal, edit)
    fine = text(
        f"* {LEGIT} (updated)",
        **{
            "m.new_content": text(f"{LEGIT} (updated)"),
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        },
    )
    await send(api, alice, world.internal, fine)


async def test_reposting_media_of_an_official_use_room_is_refused(world: World) -> None:
    api, alice = world.api, world.alice
    secret = await upload(api, alice, png_bytes(), "image/png")
    image = {"msgtype": "m.image", "body": "scan.png", "url": secret}
    await send(api, alice, world.official, image)
    error = await refused_send(api, alice, world.internal, image, "TUMAR_DLP_MEDIA")
    assert "file" in error
    thumb = {"msgtype": "m.text", "body": "look", "info": {"thumbnail_url": secret}}
    await refused_send(api, alice, world.public, thumb, "TUMAR_DLP_MEDIA")
    # Media that a lower room already shows may go on being shared there.
    shared = await upload(api, alice, png_bytes(32, 32), "image/png")
    photo = {"msgtype": "m.image", "body": "team.png", "url": shared}
    await send(api, alice, world.internal, photo)
    await send(api, alice, world.official, photo)
    await send(api, alice, world.internal, photo)
    # Media never posted anywhere is the sender's own.
    fresh = await upload(api, alice, png_bytes(16, 16), "image/png")
    await send(api, alice, world.public, {"msgtype": "m.image", "body": "new.png", "url": fresh})


async def test_fingerprints_are_kept_only_for_rooms_above_the_lowest_label(world: World) -> None:
    api, alice = world.api, world.alice
    rows = await fingerprint_rows(api)
    assert rows and {room for _, room, _ in rows} == {world.official}
    assert all(isinstance(fp, int) for fp, _, _ in rows)
    await send(api, alice, world.public, text(LEGIT))
    assert await fingerprint_rows(api) == rows  # public: nothing kept
    await send(api, alice, world.internal, text(LEGIT))
    rooms = {room for _, room, _ in await fingerprint_rows(api)}
    assert rooms == {world.official, world.internal}
    # Posting the memo again keeps one row per fingerprint, moved to the latest event.
    before = {fp for fp, room, _ in rows}
    await send(api, alice, world.official, text(MEMO))
    again = [r for r in await fingerprint_rows(api) if r[1] == world.official]
    assert {fp for fp, _, _ in again} == before
    assert len({pos for _, _, pos in again}) == 1
    assert again[0][2] > rows[0][2]


async def test_nothing_readable_in_the_index(world: World) -> None:
    """The index holds integers only, and none of them is a plain hash of the text: without
    the server's key they say nothing."""
    rows = await fingerprint_rows(world.api)
    norm = normalise(MEMO)
    plain = {
        int.from_bytes(hashlib.sha256(norm[i : i + 12].encode()).digest()[:8], "big", signed=True)
        for i in range(len(norm) - 11)
    }
    assert plain.isdisjoint(fp for fp, _, _ in rows)


async def test_threshold_and_switch_are_settings(settings: Settings) -> None:
    async with api_with(settings, **LABELS, dlp_threshold=0.95) as api:
        alice = await register(api, "alice")
        official = await labelled_room(api, alice, "official-use")
        internal = await labelled_room(api, alice, "internal")
        await send(api, alice, official, text(MEMO))
        quote = MEMO[: int(len(MEMO) * 0.6)]
        await send(api, alice, internal, text(f"{LEGIT} {quote}"))  # below 0.95
        await refused_send(api, alice, internal, text(MEMO))
    async with api_with(settings, **LABELS, dlp_enabled=False) as api:
        alice = await api.login("alice")
        await send(api, alice, internal, text(MEMO))


async def test_minimum_length_is_a_setting(settings: Settings) -> None:
    short = "Reserve fund: 4.2 bn tenge to the regions."  # 32 letters and digits
    assert len(normalise(short)) < 40
    async with api_with(settings, **LABELS, dlp_min_chars=20) as api:
        alice = await register(api, "alice")
        official = await labelled_room(api, alice, "official-use")
        internal = await labelled_room(api, alice, "internal")
        await send(api, alice, official, text(short))
        await refused_send(api, alice, internal, text(short))


async def test_the_configured_chain_decides_which_checks_run(settings: Settings) -> None:
    rules = ["clearance", "audience", "media_origin"]  # `dlp` left out: text is not checked
    async with api_with(settings, **LABELS, classification_rules=rules) as api:
        alice = await register(api, "alice")
        official = await labelled_room(api, alice, "official-use")
        internal = await labelled_room(api, alice, "internal")
        await send(api, alice, official, text(MEMO))
        await send(api, alice, internal, text(MEMO))
        secret = await upload(api, alice, png_bytes(), "image/png")
        image = {"msgtype": "m.image", "body": "scan.png", "url": secret}
        await send(api, alice, official, image)
        await refused_send(api, alice, internal, image, "TUMAR_DLP_MEDIA")
