"""Master keys (LocalKeyProvider and the key file), data keys (DataKeyring), the event codec's
sealing and blind index, and encrypted media storage, below the API."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tumar.clock import FakeClock
from tumar.core.at_rest import AtRest, blind_text, blind_words, search_key
from tumar.core.data_keys import DataKeyring
from tumar.core.key_provider import (
    KeyProviderError,
    LocalKeyProvider,
    add_key_to_file,
    new_key_line,
    parse_key_lines,
    remove_key_from_file,
)
from tumar.core.services import local_key_provider
from tumar.policy.labels import LABEL_EVENT
from tumar.store.db import Database
from tumar.store.events import SEALED_PREFIX, StoredEvent
from tumar.store.media_storage import FileMediaStorage
from tumar.store.schema import data_keys
from tumar.store.sealed_media import (
    HEADER_BYTES,
    MAGIC,
    SEGMENT,
    MediaCorrupt,
    SealedMediaStorage,
    plain_size,
)

KEY = b"k" * 32


def line(key_id: str, key: bytes = KEY) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


# ---- key file and provider -------------------------------------------------------------------


def test_parse_key_lines() -> None:
    text = f"# master keys\n\n{line('k2', b'b' * 32)}\n{line('k1')}\n"
    assert parse_key_lines(text) == [("k2", b"b" * 32), ("k1", KEY)]
    for bad, why in (
        ("", "no master key"),
        ("k1", "expected"),
        (":" + base64.b64encode(KEY).decode(), "expected"),
        ("k1:not base64!", "not base64"),
        (line("k1", b"short"), "32 bytes"),
        (f"{line('k1')}\n{line('k1')}", "distinct"),
    ):
        with pytest.raises(KeyProviderError, match=why):
            parse_key_lines(bad)


def test_wrap_unwrap_and_refusals() -> None:
    provider = LocalKeyProvider([("k2", b"b" * 32), ("k1", KEY)])
    assert provider.current_key_id == "k2"
    key_id, wrapped = provider.wrap(b"d" * 32)
    assert key_id == "k2" and b"d" * 32 not in wrapped
    assert provider.unwrap("k2", wrapped) == b"d" * 32
    assert provider.wrap(b"d" * 32)[1] != wrapped  # a fresh nonce each time
    with pytest.raises(KeyProviderError, match="does not unwrap"):
        provider.unwrap("k1", wrapped)  # the wrong master key
    tampered = bytearray(wrapped)
    tampered[-1] ^= 1
    with pytest.raises(KeyProviderError, match="does not unwrap"):
        provider.unwrap("k2", bytes(tampered))
    with pytest.raises(KeyProviderError, match="not available"):
        provider.unwrap("k9", wrapped)


def test_key_file_is_created_private_and_reloaded_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    provider = LocalKeyProvider.from_file(path, create=True)
    assert provider.current_key_id == "k1"
    assert os.stat(path).st_mode & 0o777 == 0o600
    k1_wrapped = provider.wrap(b"x" * 32)

    # Another process adds a key: this provider wraps with it and still unwraps k1.
    other = LocalKeyProvider.from_file(path)
    assert add_key_to_file(path) == "k2"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert provider.current_key_id == "k2"
    k2_wrapped = provider.wrap(b"y" * 32)
    assert k2_wrapped[0] == "k2"
    assert other.unwrap(*k2_wrapped) == b"y" * 32  # reloads on an unknown key id
    assert provider.unwrap(*k1_wrapped) == b"x" * 32
    assert provider.key_ids == ["k2", "k1"]

    with pytest.raises(KeyProviderError, match="already has"):
        add_key_to_file(path, "k1")
    with pytest.raises(KeyProviderError, match="key id"):
        add_key_to_file(path, "bad id:")
    with pytest.raises(KeyProviderError, match="current master key"):
        remove_key_from_file(path, "k2")
    with pytest.raises(KeyProviderError, match="no key"):
        remove_key_from_file(path, "k7")
    remove_key_from_file(path, "k1")
    assert provider.key_ids == ["k2"]  # reloaded
    with pytest.raises(KeyProviderError, match="not available"):
        provider.unwrap(*k1_wrapped)

    # A broken file is ignored: the keys already loaded stay in use.
    path.write_text("garbage\n")
    assert provider.current_key_id == "k2"
    assert provider.unwrap(*k2_wrapped) == b"y" * 32


def test_keys_from_settings(tmp_path: Path) -> None:
    env = f"{new_key_line('b')},{new_key_line('a')}"
    provider = local_key_provider(make_settings(master_key=env, data_dir=tmp_path))
    assert provider.current_key_id == "b"
    assert not (tmp_path / "master.key").exists()
    made = local_key_provider(make_settings(data_dir=tmp_path))
    assert made.current_key_id == "k1" and (tmp_path / "master.key").exists()
    with pytest.raises(FileNotFoundError):  # an explicit file must exist
        local_key_provider(make_settings(master_key_file=tmp_path / "none", data_dir=tmp_path))
    secret = env.split(",")[0].split(":")[1]
    assert secret not in repr(make_settings(master_key=env))  # never in logs


# ---- data keys ---------------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await database.migrate()
    yield database
    await database.close()


async def test_data_key_created_once_and_not_cached_when_rolled_back(db: Database) -> None:
    provider = LocalKeyProvider([("k1", KEY)])
    ring = DataKeyring(db, provider, FakeClock(1_000))

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with db.write() as conn:
            lost = await ring.key_for(conn, "!room:x")
            raise Rollback
    assert ring.cached("!room:x") is None
    async with db.write() as conn:
        key = await ring.key_for(conn, "!room:x")
        assert await ring.key_for(conn, "!room:x") == key
    assert key != lost  # the rolled-back key was never used again
    async with db.read() as conn:
        assert await ring.key_for(conn, "!room:x", create=False) == key
        with pytest.raises(LookupError):
            await ring.key_for(conn, "!other:x", create=False)
    assert ring.cached("!room:x") == key
    # Another node (a fresh keyring) gets the same key from the database.
    async with db.read() as conn:
        assert await DataKeyring(db, provider, FakeClock(0)).key_for(conn, "!room:x") == key


async def test_rewrap_all_keeps_data_keys(db: Database) -> None:
    old = LocalKeyProvider([("k1", KEY)])
    ring = DataKeyring(db, old, FakeClock(1_000))
    keys = {}
    async with db.write() as conn:
        for n in range(7):
            keys[f"s{n}"] = await ring.key_for(conn, f"s{n}")
    new = LocalKeyProvider([("k2", b"n" * 32), ("k1", KEY)])
    assert await DataKeyring(db, new, FakeClock(2_000)).rewrap_all(batch=3) == 7
    assert await DataKeyring(db, new, FakeClock(3_000)).rewrap_all(batch=3) == 0
    async with db.read() as conn:
        rows = (await conn.execute(select(data_keys))).all()
    assert {r.key_id for r in rows} == {"k2"} and {r.wrapped_ts for r in rows} == {2_000}
    only_new = DataKeyring(db, LocalKeyProvider([("k2", b"n" * 32)]), FakeClock(0))
    async with db.read() as conn:
        for scope, key in keys.items():
            assert await only_new.key_for(conn, scope, create=False) == key


# ---- event codec -------------------------------------------------------------------------------


def test_blind_index_matches_prefixes_and_hides_words() -> None:
    key = search_key(KEY)
    assert key != KEY and search_key(b"o" * 32) != key
    index = set(blind_text(key, "Бюджет Report, report; 2024").split())
    assert (
        "report" not in " ".join(index) and len(index) == 6 + 6 + 4
    )  # every prefix of three distinct words
    for words in (["report"], ["REP".lower()], ["бюдж"], ["2024"], ["бюджет", "rep"]):
        assert set(blind_words(key, words)) <= index
    assert not set(blind_words(key, ["reports"])) & index
    assert not set(blind_words(search_key(b"o" * 32), ["report"])) & index  # another room
    long = "x" * 40
    assert set(blind_words(key, [long + "yz"])) <= set(blind_text(key, long).split())


async def test_codec_seals_with_room_and_event_bound(db: Database) -> None:
    codec = AtRest(
        DataKeyring(db, LocalKeyProvider([("k1", KEY)]), FakeClock(0)),
        labels=["public", "internal", "official-use"],
        floor="official-use",
    )
    assert codec.protects("official-use") and codec.protects("unknown-top-label")
    assert not codec.protects("internal") and not codec.protects(None)
    off = AtRest(codec.keyring, labels=["public"], floor=None)
    assert not off.protects("public")
    async with db.write() as conn:
        await codec.keyring.key_for(conn, "!r:x")
    async with db.read() as conn:
        open_ = await codec.prepare(conn, {"!r:x", "!missing:x"})
    key = codec.keyring.cached("!r:x")
    assert key is not None
    sealed = AtRest.seal_content(key, "!r:x", "$e1", {"body": "secret"})
    assert sealed.startswith(SEALED_PREFIX) and "secret" not in sealed
    assert open_("!r:x", "$e1", "m.room.message", sealed) == {"body": "secret"}
    moved = open_("!r:x", "$e2", "m.room.message", sealed)
    assert moved["kz.tumar.unreadable"] == "its stored form was altered."
    assert moved["body"].startswith("This message cannot be shown")
    assert open_("!other:x", "$e1", "m.room.message", sealed)["msgtype"] == "m.notice"
    missing = open_("!missing:x", "$e1", "m.reaction", sealed)
    assert missing == {"kz.tumar.unreadable": "its encryption key is not available."}
    assert "kz.tumar.unreadable" in open_("!r:x", "$e1", "m.room.message", sealed[:-3])


async def test_key_made_in_a_transaction_is_cached_only_after_commit(db: Database) -> None:
    """Two sealed events in one transaction that rolls back leave nothing cached."""
    ring = DataKeyring(db, LocalKeyProvider([("k1", KEY)]), FakeClock(0))
    codec = AtRest(ring, labels=["official-use"], floor="official-use")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with db.write() as conn:
            first = await ring.key_for(conn, "!r:x")
            assert await ring.key_for(conn, "!r:x") == first  # read back, uncommitted
            sealed = AtRest.seal_content(first, "!r:x", "$e", {"body": "b"})
            open_ = await codec.prepare(conn, {"!r:x"})
            assert open_("!r:x", "$e", "m.room.message", sealed) == {"body": "b"}
            raise Rollback
    assert ring.cached("!r:x") is None
    async with db.read() as conn:
        with pytest.raises(LookupError):
            await ring.key_for(conn, "!r:x", create=False)
        open_ = await codec.prepare(conn, {"!r:x"})
    assert "kz.tumar.unreadable" in open_("!r:x", "$e", "m.room.message", sealed)


# ---- encrypted media -------------------------------------------------------------------------


async def _store(storage: SealedMediaStorage, key: str, data: bytes, piece: int = 7000) -> None:
    writer = await storage.writer(key)
    for start in range(0, len(data), piece):
        await writer.write(data[start : start + piece])
    await writer.seal()
    await writer.commit(key)


async def _data_key() -> bytes:
    return KEY


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5])
async def test_sealed_media_round_trip(tmp_path: Path, size: int) -> None:
    files = FileMediaStorage(tmp_path)
    storage = SealedMediaStorage(files, _data_key)
    data = os.urandom(size)
    await _store(storage, "a/b", data)
    stored = files.path("a/b").read_bytes()
    assert stored.startswith(MAGIC) and plain_size(len(stored)) == size
    assert len(stored) > HEADER_BYTES + size
    reader = await storage.open("a/b")
    assert reader.size == size
    assert b"".join([c async for c in reader.chunks()]) == data
    assert await storage.read_all("a/b", size) == data
    with pytest.raises(ValueError):
        await storage.read_all("a/b", size - 1)


async def test_sealed_media_refuses_altered_cut_and_moved_files(tmp_path: Path) -> None:
    files = FileMediaStorage(tmp_path)
    storage = SealedMediaStorage(files, _data_key)
    data = os.urandom(2 * SEGMENT + 100)
    await _store(storage, "a/one", data)
    await _store(storage, "a/two", data)
    path = files.path("a/one")
    good = path.read_bytes()

    path.write_bytes(files.path("a/two").read_bytes())  # another id's file
    with pytest.raises(MediaCorrupt):
        await storage.open("a/one")
    path.write_bytes(good[: -SEGMENT - 200])  # the last segment cut off
    with pytest.raises(MediaCorrupt):
        await storage.read_all("a/one", len(data))
    altered = bytearray(good)
    altered[-5] ^= 1  # in the last segment: the stream breaks off there
    path.write_bytes(bytes(altered))
    reader = await storage.open("a/one")
    with pytest.raises(MediaCorrupt):
        async for _ in reader.chunks():
            pass
    with pytest.raises(ValueError):  # a writer is bound to its key
        writer = await storage.writer("a/three")
        await writer.write(b"x")
        await writer.commit("a/four")


async def test_plaintext_files_from_before_stay_readable(tmp_path: Path) -> None:
    files = FileMediaStorage(tmp_path)
    writer = await files.writer()
    await writer.write(b"an old plaintext file")
    await writer.commit("old")
    storage = SealedMediaStorage(files, _data_key)
    reader = await storage.open("old")
    assert reader.size == 21
    assert b"".join([c async for c in reader.chunks()]) == b"an old plaintext file"


async def test_unlabelled_rooms_count_as_the_default_label(db: Database) -> None:
    ring = DataKeyring(db, LocalKeyProvider([("k1", KEY)]), FakeClock(0))
    labels = ["internal", "official-use"]
    message = StoredEvent(1, "$e", "!r:x", "m.room.message", None, "@a:x", {"body": "b"}, 0)
    state = StoredEvent(2, "$s", "!r:x", "m.room.topic", "", "@a:x", {"topic": "t"}, 0)
    strict = AtRest(ring, labels=labels, floor="official-use", unlabelled="official-use")
    lenient = AtRest(ring, labels=labels, floor="official-use", unlabelled="internal")
    async with db.write() as conn:
        sealed = await strict.seal(conn, message, None)
        assert sealed is not None and sealed.content.startswith(SEALED_PREFIX)
        assert await strict.seal(conn, state, None) is None  # state stays readable
        assert await lenient.seal(conn, message, None) is None
        label = StoredEvent(3, "$l", "!r:x", LABEL_EVENT, "", "@a:x", {"label": "official-use"}, 0)
        assert await lenient.seal(conn, message, label) is not None
