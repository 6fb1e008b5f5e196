"""Where the bytes of media live: a small storage interface and its filesystem implementation.

The database holds what a media item is (``store.media``); a ``MediaStorage`` holds its bytes
under a key. Writes go to a hidden temporary object first and become visible under their key
only on ``commit`` (an atomic rename here; a completed multipart upload or copy in an
S3-compatible store), so a reader never sees half a file and an aborted upload leaves nothing
behind. Nothing is read or written whole in memory: writes arrive in chunks and reads are
streamed in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

READ_CHUNK = 256 * 1024
STALE_PENDING_S = 24 * 3600
"""Pending writes older than this were left by a process that died; they are removed."""

# Keys are relative paths of simple segments: no "..", no absolute paths, no empty segments.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


class MediaMissing(KeyError):
    """No object under this key."""


class MediaWriter(Protocol):
    async def write(self, data: bytes) -> None:
        """Append bytes to the pending object."""
        ...

    async def seal(self) -> None:
        """Make the written bytes durable; the object is still invisible."""
        ...

    async def commit(self, key: str) -> None:
        """Publish the object under ``key`` (replacing any object there), atomically."""
        ...

    async def abort(self) -> None:
        """Drop the pending object; a no-op after ``commit``."""
        ...


class MediaReader(Protocol):
    size: int

    def chunks(self) -> AsyncIterator[bytes]:
        """The bytes in order; the reader closes itself at the end."""
        ...

    async def close(self) -> None: ...


class MediaStorage(Protocol):
    async def writer(self, key: str | None = None) -> MediaWriter:
        """Start a new object; ``key`` is the key it will be committed under, when known (an
        encrypting storage binds the bytes to it)."""
        ...

    async def open(self, key: str) -> MediaReader:
        """Open the object under ``key`` for reading; ``MediaMissing`` if there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def read_all(self, key: str, limit: int) -> bytes:
        """The whole object, if it is at most ``limit`` bytes (``ValueError`` otherwise)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; no error if there is none."""
        ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or len(key) > 1024:
        raise ValueError(f"invalid media storage key: {key!r}")
    return key


class FileMediaStorage:
    """Objects as files under ``root``; pending writes in ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._swept = False

    def path(self, key: str) -> Path:
        return self.root / "objects" / check_key(key)

    async def writer(self, key: str | None = None) -> MediaWriter:
        def start() -> tuple[BinaryIO, Path]:
            self._tmp.mkdir(parents=True, exist_ok=True)
            if not self._swept:
                self._swept = True
                _remove_stale(self._tmp, time.time() - STALE_PENDING_S)
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
            return os.fdopen(fd, "wb"), Path(name)

        handle, temp = await asyncio.to_thread(start)
        return _FileWriter(self, handle, temp)

    async def open(self, key: str) -> MediaReader:
        path = self.path(key)

        def start() -> tuple[BinaryIO, int]:
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                raise MediaMissing(key) from None
            return handle, os.fstat(handle.fileno()).st_size

        handle, size = await asyncio.to_thread(start)
        return _FileReader(handle, size)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def read_all(self, key: str, limit: int) -> bytes:
        path = self.path(key)

        def read() -> bytes:
            try:
                with path.open("rb") as handle:
                    data = handle.read(limit + 1)
            except FileNotFoundError:
                raise MediaMissing(key) from None
            if len(data) > limit:
                raise ValueError(f"{key} is larger than {limit} bytes")
            return data

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)


class _FileWriter:
    def __init__(self, storage: FileMediaStorage, handle: BinaryIO, temp: Path) -> None:
        self._storage = storage
        self._handle = handle
        self._temp = temp
        self._done = False

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._handle.write, data)

    async def seal(self) -> None:
        def sync() -> None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

        await asyncio.to_thread(sync)

    async def commit(self, key: str) -> None:
        target = self._storage.path(key)

        def publish() -> None:
            if not self._handle.closed:
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._temp, target)
            _fsync_dir(target.parent)

        await asyncio.to_thread(publish)
        self._done = True

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True

        def drop() -> None:
            self._handle.close()
            self._temp.unlink(missing_ok=True)

        await asyncio.to_thread(drop)


class _FileReader:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.size  # objects never change: no read past the known end
        try:
            while remaining > 0:
                data = await asyncio.to_thread(self._handle.read, min(READ_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data
        finally:
            self._handle.close()

    async def close(self) -> None:
        self._handle.close()


def _remove_stale(directory: Path, before: float) -> None:
    for entry in directory.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < before:
                entry.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
