"""Media files encrypted at rest: a :class:`MediaStorage` that encrypts what it writes to
another one (files on disk, or an S3-compatible store) and decrypts what it reads.

Why every file: a file's room, and so its label, is not known when it is uploaded (it is
posted later, perhaps in several rooms), so every file and thumbnail is encrypted, with the
data key of scope ``media``. Each file gets its own subkey (HKDF of that key with a random
salt from the file's header), and is cut into 64 KiB segments sealed with AES-256-GCM: the
nonce is the segment number and a flag marking the last one, and the associated data is the
header and the storage key the file was written for, so segments cannot be reordered, cut
off, moved into another file, or the file put under another media id, without the tag
failing. A stream is never held whole in memory.

Format: ``TMRSEAL1`` (8 bytes), a flags byte (1: bound to its storage key), a 16-byte salt,
then the segments (each its ciphertext and a 16-byte tag). The plaintext size follows from the
stored size, so ``size`` is known before anything is decrypted. Files without the magic
(stored before encryption was on) are read as they are.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tumar.store.media_storage import MediaMissing, MediaReader, MediaStorage, MediaWriter

MAGIC = b"TMRSEAL1"
SALT_BYTES = 16
HEADER_BYTES = len(MAGIC) + 1 + SALT_BYTES
SEGMENT = 64 * 1024
TAG = 16
_BOUND = 1


class MediaCorrupt(MediaMissing):
    """The stored bytes fail their integrity check (altered, cut off, or moved)."""


def _subkey(data_key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(SHA256(), 32, salt=salt, info=b"tumar media v1").derive(data_key))


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def plain_size(stored: int) -> int:
    """The plaintext size of a sealed object of ``stored`` bytes."""
    rest = stored - HEADER_BYTES
    if rest < TAG:
        raise MediaCorrupt("a sealed media object is too short")
    segments = -(-rest // (SEGMENT + TAG))
    return rest - TAG * segments


class SealedMediaStorage:
    """Encrypts into ``inner``; ``data_key`` returns the media data key (cached by the
    keyring)."""

    def __init__(self, inner: MediaStorage, data_key: Callable[[], Awaitable[bytes]]) -> None:
        self.inner = inner
        self._data_key = data_key

    async def writer(self, key: str | None = None) -> MediaWriter:
        salt = secrets.token_bytes(SALT_BYTES)
        header = MAGIC + bytes([_BOUND if key is not None else 0]) + salt
        cipher = _subkey(await self._data_key(), salt)
        inner = await self.inner.writer(key)
        await inner.write(header)
        return _SealedWriter(inner, cipher, header, key)

    async def open(self, key: str) -> MediaReader:
        """Open ``key``; the header and the first segment are checked here, so a file that was
        altered at its start, or put under another key, is refused (``MediaCorrupt``) before
        anything is served. A later segment that fails breaks the stream off."""
        reader = await self.inner.open(key)
        chunks = reader.chunks()
        head = await _read_at_least(chunks, HEADER_BYTES)
        if not head.startswith(MAGIC) or len(head) < HEADER_BYTES:
            return _PlainReader(reader, chunks, head)  # stored before encryption was on
        try:
            size = plain_size(reader.size)
            header = head[:HEADER_BYTES]
            binding = key.encode() if header[len(MAGIC)] & _BOUND else b""
            cipher = _subkey(await self._data_key(), header[len(MAGIC) + 1 :])
            sealed = _Segments(cipher, header + binding, reader.size)
            rest = head[HEADER_BYTES:]
            rest += await _read_at_least(chunks, sealed.length(0) - len(rest))
            first = sealed.open(0, rest[: sealed.length(0)])
        except BaseException:
            await reader.close()
            raise
        return _SealedReader(reader, chunks, sealed, first, rest[sealed.length(0) :], size)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def read_all(self, key: str, limit: int) -> bytes:
        reader = await self.open(key)
        if reader.size > limit:
            await reader.close()
            raise ValueError(f"{key} is larger than {limit} bytes")
        return b"".join([chunk async for chunk in reader.chunks()])

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)


class _SealedWriter:
    def __init__(self, inner: MediaWriter, cipher: AESGCM, header: bytes, key: str | None):
        self._inner = inner
        self._cipher = cipher
        self._aad = header + (key.encode() if key is not None else b"")
        self._key = key
        self._buffer = bytearray()
        self._index = 0
        self._finished = False

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > SEGMENT:  # the last segment is sealed by ``seal``
            segment = bytes(self._buffer[:SEGMENT])
            del self._buffer[:SEGMENT]
            await self._inner.write(self._seal(segment, final=False))

    def _seal(self, segment: bytes, *, final: bool) -> bytes:
        sealed = self._cipher.encrypt(_nonce(self._index, final), segment, self._aad)
        self._index += 1
        return sealed

    async def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            await self._inner.write(self._seal(bytes(self._buffer), final=True))
            self._buffer.clear()

    async def seal(self) -> None:
        await self._finish()
        await self._inner.seal()

    async def commit(self, key: str) -> None:
        if self._key is not None and key != self._key:
            raise ValueError(f"written for {self._key!r}, not {key!r}")
        await self._finish()
        await self._inner.commit(key)

    async def abort(self) -> None:
        await self._inner.abort()


class _PlainReader:
    def __init__(self, inner: MediaReader, chunks: AsyncIterator[bytes], head: bytes) -> None:
        self._inner = inner
        self._chunks = chunks
        self._head = head
        self.size = inner.size

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._head
        async for chunk in self._chunks:
            yield chunk

    async def close(self) -> None:
        await self._inner.close()


async def _read_at_least(chunks: AsyncIterator[bytes], count: int) -> bytes:
    data = b""
    try:
        while len(data) < count:
            data += await anext(chunks)
    except StopAsyncIteration:
        pass
    return data


class _Segments:
    """Opens the segments of one sealed object."""

    def __init__(self, cipher: AESGCM, aad: bytes, stored: int) -> None:
        self._cipher = cipher
        self._aad = aad
        rest = stored - HEADER_BYTES
        self.count = -(-rest // (SEGMENT + TAG))
        self._last_length = rest - (self.count - 1) * (SEGMENT + TAG)

    def length(self, index: int) -> int:
        return self._last_length if index == self.count - 1 else SEGMENT + TAG

    def open(self, index: int, sealed: bytes) -> bytes:
        if len(sealed) != self.length(index):
            raise MediaCorrupt("a media file is cut off")
        try:
            return self._cipher.decrypt(_nonce(index, index == self.count - 1), sealed, self._aad)
        except InvalidTag:
            raise MediaCorrupt("a media file failed its integrity check") from None


class _SealedReader:
    def __init__(
        self,
        inner: MediaReader,
        chunks: AsyncIterator[bytes],
        segments: _Segments,
        first: bytes,
        rest: bytes,
        size: int,
    ) -> None:
        self._inner = inner
        self._chunks = chunks
        self._segments = segments
        self._first = first
        self._rest = rest
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        segments = self._segments
        buffer = bytearray(self._rest)
        try:
            if self._first:
                yield self._first
            index = 1
            while index < segments.count:
                need = segments.length(index)
                while len(buffer) < need:
                    chunk = await anext(self._chunks, b"")
                    if not chunk:
                        raise MediaCorrupt("a media file is cut off")
                    buffer += chunk
                plain = segments.open(index, bytes(buffer[:need]))
                del buffer[:need]
                index += 1
                if plain:
                    yield plain
        finally:
            await self._inner.close()

    async def close(self) -> None:
        await self._inner.close()
