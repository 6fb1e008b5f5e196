"""Encryption at rest: message content of official-use rooms and every media file are stored
encrypted; members read plaintext on every path; search works through a blind index; altered
or swapped rows are reported, not served and not fatal; master keys rotate while serving."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from tests.support.everyday import edit, rq, send_event
from tests.support.harness import Api, User, q
from tests.support.media import download, media_path, png_bytes, thumbnail, upload
from tumar import cli_keys
from tumar.config import Settings
from tumar.core.key_provider import parse_key_lines
from tumar.core.services import Services, build_services
from tumar.store.events import SEALED_PREFIX
from tumar.store.schema import data_keys, event_search, events
from tumar.store.sealed_media import MAGIC

LABEL = "kz.tumar.classification"
SECRET = "Zephyrquartz budget for the Ministry of Xylophonics"
SECRET_WORDS = ("zephyrquartz", "xylophonics")
OPEN = "Lunchmenuitem announcement"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Test accounts have no directory entry and hold ``default_clearance``: let them into
    # official-use rooms.
    return settings.model_copy(update={"default_clearance": "official-use"})


def labelled(label: str) -> dict[str, Any]:
    return {"initial_state": [{"type": LABEL, "state_key": "", "content": {"label": label}}]}


async def rooms(api: Api) -> tuple[User, User, str, str]:
    alice = await api.register("alice")
    bob = await api.register("bob")
    protected = await api.create_room(alice, preset="public_chat", **labelled("official-use"))
    internal = await api.create_room(alice, preset="public_chat", **labelled("internal"))
    await api.join(bob, protected)
    await api.join(bob, internal)
    return alice, bob, protected, internal


async def stored_rows(api: Api, event_id: str) -> tuple[str, list[str]]:
    """The raw ``events.content`` of an event and its ``event_search`` values."""
    assert api.services is not None
    async with api.services.db.read() as conn:
        content = (
            await conn.execute(select(events.c.content).where(events.c.event_id == event_id))
        ).scalar_one()
        values = (
            await conn.execute(
                select(event_search.c.value).where(event_search.c.event_id == event_id)
            )
        ).scalars()
        return str(content), [str(v) for v in values]


def bodies(result: dict[str, Any]) -> list[str]:
    return [r["result"]["content"].get("body", "") for r in result["results"]]


async def search(api: Api, user: User, term: str) -> dict[str, Any]:
    body = await api.call(
        "POST",
        "/search",
        user=user,
        json={"search_categories": {"room_events": {"search_term": term}}},
    )
    result: dict[str, Any] = body["search_categories"]["room_events"]
    return result


async def test_protected_content_is_sealed_and_members_read_plaintext(api: Api) -> None:
    alice, bob, protected, internal = await rooms(api)
    secret = await api.send(alice, protected, SECRET)
    plain = await api.send(alice, internal, OPEN)

    # Stored: ciphertext in the official-use room, plaintext in the internal one; the search
    # index holds keyed hashes, not the words.
    content, index = await stored_rows(api, secret)
    assert content.startswith(SEALED_PREFIX)
    assert not any(w in content.lower() for w in SECRET_WORDS)
    assert len(index) == 1 and not any(w in index[0] for w in SECRET_WORDS)
    content, index = await stored_rows(api, plain)
    assert OPEN in content and index == [OPEN]
    # State events stay readable (the label itself, membership).
    assert api.services is not None
    async with api.services.db.read() as conn:
        state = (
            await conn.execute(
                select(events.c.content).where(
                    events.c.room_id == protected, events.c.state_key.is_not(None)
                )
            )
        ).scalars()
        assert all(str(c).startswith("{") for c in state)

    # Every read path returns the plaintext to members.
    event = await api.call("GET", f"{rq(protected)}/event/{q(secret)}", user=bob)
    assert event["content"] == {"msgtype": "m.text", "body": SECRET}
    page = await api.call("GET", f"{rq(protected)}/messages", user=bob, params={"dir": "b"})
    assert SECRET in [e["content"].get("body") for e in page["chunk"]]
    context = await api.call("GET", f"{rq(protected)}/context/{q(secret)}", user=bob)
    assert context["event"]["content"]["body"] == SECRET
    synced = await api.sync(bob)
    timeline = synced["rooms"]["join"][protected]["timeline"]["events"]
    assert SECRET in [e["content"].get("body") for e in timeline]

    # Search: whole words, prefixes, any case, several words, in both kinds of room.
    assert bodies(await search(api, bob, "zephyrquartz")) == [SECRET]
    assert bodies(await search(api, bob, "ZEPHYR xylo")) == [SECRET]
    assert bodies(await search(api, bob, "zephyrquartz missingword")) == []
    assert bodies(await search(api, bob, "lunchmenu")) == [OPEN]
    assert bodies(await search(api, bob, "budget")) == [SECRET]
    carol = await api.register("carol")
    assert bodies(await search(api, carol, "zephyrquartz")) == []

    # Edits: the edit is sealed too, and bundled, read and searched as plaintext.
    edited = await send_event(api, alice, protected, "m.room.message", edit(secret, "Отчёт готов"))
    content, index = await stored_rows(api, edited)
    assert content.startswith(SEALED_PREFIX) and "Отчёт".lower() not in content.lower()
    original = await api.call("GET", f"{rq(protected)}/event/{q(secret)}", user=bob)
    replace = original["unsigned"]["m.relations"]["m.replace"]
    assert replace["event_id"] == edited
    got = await api.call("GET", f"{rq(protected)}/event/{q(edited)}", user=bob)
    assert got["content"]["m.new_content"]["body"] == "Отчёт готов"
    assert bodies(await search(api, bob, "ОТЧЁТ")) == ["* Отчёт готов"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # reads the database file
async def test_sqlite_file_holds_no_plaintext_of_protected_messages(
    api: Api, settings: Settings
) -> None:
    assert settings.effective_database_url.startswith("sqlite")
    alice, bob, protected, internal = await rooms(api)
    sent = [await api.send(alice, protected, f"{SECRET} number {n}") for n in range(5)]
    await api.send(bob, internal, OPEN)
    await send_event(api, alice, protected, "m.room.message", edit(sent[0], "Zephyrquartzedit"))
    assert bodies(await search(api, bob, "zephyr"))  # the index is in use

    path = Path(settings.effective_database_url.split("///", 1)[1])
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    lowered = data.lower()
    for word in (*SECRET_WORDS, "zephyrquartzedit"):
        for form in (word.encode(), word.encode("utf-16-le")):
            assert form not in lowered, f"{word!r} found in the database files"
    assert b"Lunchmenuitem announcement" in data  # the internal room's message is readable


async def test_each_room_has_its_own_data_key_and_rows_cannot_be_swapped(api: Api) -> None:
    alice, bob, protected, _ = await rooms(api)
    other = await api.create_room(alice, **labelled("official-use"))
    first = await api.send(alice, protected, "first secret")
    second = await api.send(alice, protected, "second secret")
    elsewhere = await api.send(alice, other, "other room secret")
    assert api.services is not None
    async with api.services.db.read() as conn:
        scopes = set((await conn.execute(select(data_keys.c.scope))).scalars())
    assert {protected, other} <= scopes

    # Copy the ciphertext of one event onto another row (same room, and from another room):
    # the associated data (room and event id) no longer fits, so neither decrypts.
    first_content, _ = await stored_rows(api, first)
    other_content, _ = await stored_rows(api, elsewhere)
    async with api.services.db.write() as conn:
        await conn.execute(
            update(events).where(events.c.event_id == second).values(content=first_content)
        )
        await conn.execute(
            update(events).where(events.c.event_id == first).values(content=other_content)
        )
    for event_id in (first, second):
        got = await api.call("GET", f"{rq(protected)}/event/{q(event_id)}", user=bob)
        assert got["content"]["kz.tumar.unreadable"] == "its stored form was altered."
        assert got["content"]["msgtype"] == "m.notice"
    # The rest of the room reads as before.
    page = await api.call("GET", f"{rq(protected)}/messages", user=bob, params={"dir": "b"})
    assert len(page["chunk"]) > 2


async def test_tampered_ciphertext_is_reported_and_sync_goes_on(api: Api) -> None:
    alice, bob, protected, internal = await rooms(api)
    good = await api.send(alice, protected, "a good secret")
    bad = await api.send(alice, protected, "a tampered secret")
    content, _ = await stored_rows(api, bad)
    flipped = content[:-5] + ("A" if content[-5] != "A" else "B") + content[-4:]
    assert api.services is not None
    async with api.services.db.write() as conn:
        await conn.execute(update(events).where(events.c.event_id == bad).values(content=flipped))
    synced = await api.sync(bob)
    timeline = {e["event_id"]: e for e in synced["rooms"]["join"][protected]["timeline"]["events"]}
    assert timeline[good]["content"]["body"] == "a good secret"
    assert "kz.tumar.unreadable" in timeline[bad]["content"]
    assert "a tampered secret" not in str(synced)
    assert internal in synced["rooms"]["join"]
    # A lost data key: the room's content says so; nothing crashes.
    async with api.services.db.write() as conn:
        await conn.execute(data_keys.delete().where(data_keys.c.scope == protected))
    fresh = build_services(api.services.settings)  # a node without the key in its cache
    try:
        async with fresh.db.read() as conn:
            from tumar.store import events as event_store

            ev = await event_store.get_event(conn, good)
        assert ev is not None
        assert ev.content["kz.tumar.unreadable"] == "its encryption key is not available."
    finally:
        await fresh.close()


async def test_label_is_decided_when_content_is_written(api: Api) -> None:
    alice, bob, _, internal = await rooms(api)
    before = await api.send(alice, internal, "written while internal")
    await api.call(
        "PUT",
        f"{rq(internal)}/state/{LABEL}/",
        user=alice,
        json={"label": "official-use"},
    )
    after = await api.send(alice, internal, "written while official-use")
    assert not (await stored_rows(api, before))[0].startswith(SEALED_PREFIX)
    assert (await stored_rows(api, after))[0].startswith(SEALED_PREFIX)
    # Both kinds of row are found by one search and read back as plaintext.
    assert sorted(bodies(await search(api, bob, "written"))) == [
        "written while internal",
        "written while official-use",
    ]


async def test_nothing_is_sealed_when_turned_off(settings: Settings) -> None:
    from tumar.app import build_app

    svc = build_services(settings.model_copy(update={"encrypt_at_rest_from": None}))
    await svc.start()
    try:
        async with Api.in_process(build_app(svc.settings, svc), svc) as api:
            alice, _, protected, _ = await rooms(api)
            sent = await api.send(alice, protected, SECRET)
            assert (await stored_rows(api, sent))[0].startswith("{")
    finally:
        await svc.close()


async def test_media_files_are_encrypted_on_disk(api: Api, settings: Settings) -> None:
    alice, bob, protected, _ = await rooms(api)
    image = png_bytes(400, 300)
    mxc = await upload(api, alice, image, "image/png", filename="plan.png")
    await send_event(
        api, alice, protected, "m.room.message", {"msgtype": "m.image", "body": "plan", "url": mxc}
    )
    resp = await download(api, bob, mxc)
    assert resp.status_code == 200 and resp.content == image
    assert resp.headers["content-length"] == str(len(image))
    thumb = await thumbnail(api, bob, mxc, 96, 96, "scale")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")

    _, media_id = media_path(mxc)
    stored = [p for p in settings.effective_media_dir.rglob("*") if p.is_file()]
    mine = [p for p in stored if media_id in p.parts]
    assert len(mine) >= 2  # the original and its thumbnail
    for path in mine:
        data = path.read_bytes()
        assert data.startswith(MAGIC) and b"IHDR" not in data
    # A larger file across several segments, byte for byte.
    big = bytes(range(256)) * 1100  # 281,600 bytes: five segments
    big_mxc = await upload(api, alice, big, "application/octet-stream")
    assert (await download(api, alice, big_mxc)).content == big

    # A file put in place of another (under another media id) is refused, not served.
    _, big_id = media_path(big_mxc)
    [original] = [p for p in mine if p.name == media_id]
    [big_file] = [p for p in settings.effective_media_dir.rglob(big_id) if p.is_file()]
    original.write_bytes(big_file.read_bytes())
    resp = await download(api, bob, mxc)
    assert resp.status_code == 404 and resp.json()["errcode"] == "M_NOT_FOUND"
    # An altered byte in the first segment: refused as well.
    data = bytearray(big_file.read_bytes())
    data[100] ^= 1
    big_file.write_bytes(bytes(data))
    assert (await download(api, alice, big_mxc)).status_code == 404


async def test_rotation_while_serving(api: Api, settings: Settings) -> None:
    alice, bob, protected, _ = await rooms(api)
    others = [await api.create_room(alice, **labelled("official-use")) for _ in range(3)]
    old = [await api.send(alice, r, f"old secret {i}") for i, r in enumerate([protected, *others])]
    key_file = settings.data_dir / "master.key"
    assert [k for k, _ in parse_key_lines(key_file.read_text())] == ["k1"]

    # The operator's commands run as another process would: their own services.
    async def command(name: str, **options: Any) -> int:
        cli = build_services(settings)
        try:
            args = argparse.Namespace(keys_command=name, **options)
            return await cli_keys.dispatch(args, cli)
        finally:
            await cli.close()

    assert await command("new-key", key_id=None) == 0
    assert [k for k, _ in parse_key_lines(key_file.read_text())] == ["k2", "k1"]
    # Rotate in small batches while members keep sending into new and old rooms.
    sends = [api.send(alice, r, f"during rotation {r[-4:]}") for r in [protected, *others]]
    new_rooms = [api.create_room(alice, **labelled("official-use")) for _ in range(2)]
    results = await asyncio.gather(command("rotate", batch=1), *sends, *new_rooms)
    assert results[0] == 0
    assert api.services is not None
    async with api.services.db.read() as conn:
        ids = (await conn.execute(select(data_keys.c.key_id))).scalars().all()
    assert ids and set(ids) == {"k2"}
    assert await command("remove-key", key_id="k2") == 1  # the current key stays
    assert await command("remove-key", key_id="k1") == 0
    assert [k for k, _ in parse_key_lines(key_file.read_text())] == ["k2"]

    # A restarted server, with only k2, reads everything.
    fresh = build_services(settings)
    try:
        from tumar.store import events as event_store

        async with fresh.db.read() as conn:
            found = await event_store.get_events(conn, old)
        assert sorted(e.content["body"] for e in found.values()) == [
            f"old secret {i}" for i in range(4)
        ]
    finally:
        await fresh.close()
    page = await api.call("GET", f"{rq(protected)}/messages", user=bob, params={"dir": "b"})
    assert {"old secret 0", f"during rotation {protected[-4:]}"} <= {
        e["content"].get("body") for e in page["chunk"]
    }
    # Audited.
    async with api.services.db.read() as conn:
        actions = (
            await conn.execute(
                text("SELECT action FROM audit_log WHERE target_type = 'master_key'")
            )
        ).scalars()
        assert set(actions) == {"keys.new_key", "keys.rotate", "keys.remove_key"}


def test_services_share_one_codec(services: Services) -> None:
    assert services.db.opener is services.at_rest
