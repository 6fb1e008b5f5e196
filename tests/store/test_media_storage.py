"""The filesystem media storage: objects appear only on commit, aborts leave nothing, keys
cannot escape the storage directory, reads stream in chunks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tumar.store.media_storage import READ_CHUNK, FileMediaStorage, MediaMissing


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_write_commit_read(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path)
    writer = await storage.writer()
    data = bytes(range(256)) * (READ_CHUNK // 256 * 3 + 7)
    await writer.write(data[:1000])
    await writer.write(data[1000:])
    assert not await storage.exists("a/b")  # invisible until committed
    await writer.seal()
    await writer.commit("a/b")
    await writer.abort()  # a no-op after commit
    assert await storage.exists("a/b")
    assert files(tmp_path) == ["objects/a/b"]

    reader = await storage.open("a/b")
    assert reader.size == len(data)
    chunks = [chunk async for chunk in reader.chunks()]
    assert len(chunks) == 4 and all(len(c) <= READ_CHUNK for c in chunks)
    assert b"".join(chunks) == data
    assert await storage.read_all("a/b", len(data)) == data
    with pytest.raises(ValueError):
        await storage.read_all("a/b", len(data) - 1)

    await storage.delete("a/b")
    await storage.delete("a/b")  # no error when already gone
    with pytest.raises(MediaMissing):
        await storage.open("a/b")
    with pytest.raises(MediaMissing):
        await storage.read_all("a/b", 10)


async def test_abort_leaves_nothing(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path)
    writer = await storage.writer()
    await writer.write(b"half an upload")
    await writer.abort()
    assert files(tmp_path) == []


async def test_commit_replaces_atomically(tmp_path: Path) -> None:
    storage = FileMediaStorage(tmp_path)
    for content in (b"first", b"second"):
        writer = await storage.writer()
        await writer.write(content)
        await writer.commit("k")  # commit without seal seals first
    assert await storage.read_all("k", 100) == b"second"
    assert files(tmp_path) == ["objects/k"]


@pytest.mark.parametrize("key", ["", "../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", "a/."])
async def test_keys_stay_inside(tmp_path: Path, key: str) -> None:
    storage = FileMediaStorage(tmp_path)
    with pytest.raises(ValueError):
        storage.path(key)
    writer = await storage.writer()
    with pytest.raises(ValueError):
        await writer.commit(key)
    await writer.abort()
    assert files(tmp_path) == []


async def test_pending_writes_left_by_a_dead_process_are_swept(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    stale = tmp_path / "tmp" / "upload-old"
    fresh = tmp_path / "tmp" / "upload-new"
    stale.write_bytes(b"left behind")
    fresh.write_bytes(b"still being written")
    os.utime(stale, (time.time() - 2 * 24 * 3600,) * 2)
    storage = FileMediaStorage(tmp_path)
    writer = await storage.writer()
    await writer.abort()
    assert not stale.exists()
    assert fresh.exists()
