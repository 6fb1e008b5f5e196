"""The content repository: uploads, downloads and thumbnails.

An upload streams to the media storage in chunks (never whole in memory), is cut off as soon
as it passes ``media_max_upload_bytes``, and is refused as soon as its first bytes contradict
its declared ``Content-Type`` or show a type the server does not accept. The bytes are made
durable before the database row that makes them visible is committed, so an acknowledged
upload survives a crash.

Every download is authorised (``core.media_access``); media of other servers do not exist
here (federation is off).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import thumbnails
from tumar.core.classification_guard import ClassificationGuard
from tumar.core.device_gate import DeviceGate
from tumar.core.media_access import may_see
from tumar.core.requester import Requester
from tumar.errors import MatrixError, forbidden, not_found
from tumar.policy.media import (
    THUMBNAIL_SOURCES,
    content_disposition,
    thumbnail_size,
    valid_media_id,
)
from tumar.policy.media_types import (
    OPAQUE,
    SNIFF_BYTES,
    check_allowed,
    check_declared_type,
    essence_of,
    parse_media_type,
    type_allowed,
)
from tumar.store import media as media_store
from tumar.store.db import Database
from tumar.store.media import StoredMedia
from tumar.store.media_storage import MediaMissing, MediaReader, MediaStorage, MediaWriter

log = logging.getLogger("tumar.media")

WRITE_CHUNK = 1024 * 1024
INLINE_HASH_BYTES = 256 * 1024
MAX_PENDING_UPLOADS = 10
"""Media ids from /create that one user may have waiting for their upload at once."""
PENDING_LIFETIME_MS = 24 * 3600 * 1000
MAX_THUMBNAIL_SOURCE_BYTES = 32 * 1024 * 1024
THUMBNAIL_WORKERS = 2
_ALPHABET = string.ascii_letters + string.digits


def new_media_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


@dataclass(frozen=True, slots=True)
class Download:
    """Bytes to send, with their headers' values."""

    reader: MediaReader
    content_type: str
    disposition: str


@dataclass(frozen=True, slots=True)
class Received:
    size: int
    sha256: str


def upload_too_large(limit: int) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", f"Uploads are limited to {limit} bytes.")


def original_key(media_id: str) -> str:
    return f"original/{media_id[:2]}/{media_id[2:4]}/{media_id}"


def thumbnail_key(media_id: str, width: int, height: int, method: str) -> str:
    return f"thumbnail/{media_id[:2]}/{media_id[2:4]}/{media_id}/{width}x{height}-{method}"


class MediaService:
    def __init__(
        self,
        db: Database,
        storage: MediaStorage,
        clock: Clock,
        settings: Settings,
        gate: DeviceGate | None = None,
    ) -> None:
        self._db = db
        self._gate = gate  # conditional access by device (core/device_gate.py)
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._server_name = settings.server_name
        self._limit = settings.media_max_upload_bytes
        self._allowed = tuple(settings.media_allowed_types)
        self._thumbnail_slots = asyncio.Semaphore(THUMBNAIL_WORKERS)
        self._labels = ClassificationGuard(settings)  # downloads follow room labels

    def config(self) -> dict[str, int]:
        return {"m.upload.size": self._limit}

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self._server_name}/{media_id}"

    # ---- uploads ------------------------------------------------------------------------------

    def check_upload_headers(self, content_type: str | None, declared_length: int | None) -> str:
        """Refusals that need no body: bad or disallowed type, declared length over the limit.
        Returns the type to store."""
        if declared_length is not None and declared_length > self._limit:
            raise upload_too_large(self._limit)
        parsed = parse_media_type(content_type) if content_type else (OPAQUE, OPAQUE)
        if parsed is None:
            raise MatrixError(
                400, "M_INVALID_PARAM", "The Content-Type header is not a valid media type."
            )
        if not type_allowed(parsed[0], self._allowed):
            raise forbidden(f"Files of type {parsed[0]} may not be uploaded to this server.")
        return parsed[1]

    async def do_upload(
        self,
        requester: Requester,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        filename: str | None,
    ) -> str:
        """Store an upload under a new media id; returns its mxc URI."""
        media_id = new_media_id()
        key = original_key(media_id)
        writer = await self._storage.writer(key)
        try:
            received = await self._receive(body, essence_of(content_type), writer)
            await writer.seal()
            now = self._clock.now_ms()
            async with self._db.write() as conn:
                await media_store.insert_media(
                    conn,
                    StoredMedia(
                        media_id=media_id,
                        user_id=requester.user_id,
                        created_ts=now,
                        content_type=content_type,
                        upload_name=filename,
                        size=received.size,
                        sha256=received.sha256,
                        uploaded_ts=now,
                    ),
                )
                await writer.commit(key)
        except BaseException:
            await self._discard(writer, key)
            raise
        return self.mxc(media_id)

    async def do_create(self, requester: Requester) -> tuple[str, int]:
        """A media id to upload to later; returns its mxc URI and when it expires unused."""
        now = self._clock.now_ms()
        expires = now + PENDING_LIFETIME_MS
        media_id = new_media_id()
        async with self._db.write() as conn:
            await self._db.lock_user(conn, requester.user_id)
            if await media_store.count_pending(conn, requester.user_id, now) >= MAX_PENDING_UPLOADS:
                raise MatrixError(
                    429,
                    "M_LIMIT_EXCEEDED",
                    f"You already have {MAX_PENDING_UPLOADS} media ids waiting for their "
                    "upload; upload to those first.",
                    retry_after_ms=60_000,
                )
            await media_store.insert_media(
                conn,
                StoredMedia(
                    media_id=media_id, user_id=requester.user_id, created_ts=now, expires_ts=expires
                ),
            )
        return self.mxc(media_id), expires

    async def check_upload_target(
        self, requester: Requester, server_name: str, media_id: str
    ) -> None:
        """Refusals of an upload to a created id that need no body."""
        item = await self._find(server_name, media_id)
        self._check_target(requester, item)

    def _check_target(self, requester: Requester, item: StoredMedia) -> None:
        if item.user_id != requester.user_id:
            raise forbidden("This media id was created by another user.")
        if item.uploaded:
            raise MatrixError(
                409, "M_CANNOT_OVERWRITE_MEDIA", "This media id already has its content."
            )
        if item.expires_ts is not None and item.expires_ts <= self._clock.now_ms():
            raise not_found("This media id has expired; create a new one.")

    async def do_upload_to(
        self,
        requester: Requester,
        server_name: str,
        media_id: str,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        filename: str | None,
    ) -> None:
        """Upload the content of a media id made by ``do_create``."""
        await self.check_upload_target(requester, server_name, media_id)
        key = original_key(media_id)
        writer = await self._storage.writer(key)
        try:
            received = await self._receive(body, essence_of(content_type), writer)
            await writer.seal()
            async with self._db.write() as conn:
                item = await media_store.get_media(conn, media_id)
                assert item is not None
                self._check_target(requester, item)
                done = await media_store.complete_upload(
                    conn,
                    media_id,
                    content_type=content_type,
                    upload_name=filename,
                    size=received.size,
                    sha256=received.sha256,
                    uploaded_ts=self._clock.now_ms(),
                )
                if not done:
                    raise MatrixError(
                        409, "M_CANNOT_OVERWRITE_MEDIA", "This media id already has its content."
                    )
                await writer.commit(key)
        except BaseException:
            await writer.abort()
            raise

    async def _receive(
        self, body: AsyncIterator[bytes], essence: str, writer: MediaWriter
    ) -> Received:
        hasher = hashlib.sha256()
        head = b""
        checked = False
        size = 0
        pending: list[bytes] = []
        pending_size = 0
        async for chunk in body:
            if not chunk:
                continue
            size += len(chunk)
            if size > self._limit:
                raise upload_too_large(self._limit)
            if not checked:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    self._check_bytes(essence, head)
                    checked = True
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= WRITE_CHUNK:
                await self._write(writer, hasher, b"".join(pending))
                pending, pending_size = [], 0
        if not checked:
            self._check_bytes(essence, head)
        if pending:
            await self._write(writer, hasher, b"".join(pending))
        return Received(size, hasher.hexdigest())

    def _check_bytes(self, essence: str, head: bytes) -> None:
        verdict = check_declared_type(essence, head)
        if not verdict:
            raise MatrixError(400, "TUMAR_CONTENT_TYPE_MISMATCH", verdict.reason)
        verdict = check_allowed(essence, head, self._allowed)
        if not verdict:
            raise forbidden(verdict.reason)

    @staticmethod
    async def _write(writer: MediaWriter, hasher: hashlib._Hash, data: bytes) -> None:
        if len(data) <= INLINE_HASH_BYTES:
            hasher.update(data)  # well under a millisecond: not worth a thread hop
        else:
            await asyncio.to_thread(hasher.update, data)
        await writer.write(data)

    async def _discard(self, writer: MediaWriter, key: str) -> None:
        await writer.abort()
        try:
            await self._storage.delete(key)  # committed, but the row did not make it
        except Exception:
            log.exception("could not delete an unrecorded media object", extra={"key": key})

    # ---- downloads ----------------------------------------------------------------------------

    async def _find(self, server_name: str, media_id: str) -> StoredMedia:
        if server_name != self._server_name or not valid_media_id(media_id):
            raise not_found("No such media on this server.")
        async with self._db.read() as conn:
            item = await media_store.get_media(conn, media_id)
        if item is None:
            raise not_found("No such media on this server.")
        return item

    async def _visible(self, requester: Requester, server_name: str, media_id: str) -> StoredMedia:
        if server_name != self._server_name or not valid_media_id(media_id):
            raise not_found("No such media on this server.")
        async with self._db.read() as conn:
            item = await media_store.get_media(conn, media_id)
            if item is None:
                raise not_found("No such media on this server.")
            if not await may_see(conn, requester.user_id, item, self._labels):
                raise forbidden(
                    "You may not see this media: it was not shared in a room you can read."
                )
            if self._gate is not None:
                await self._gate.check_media(conn, requester, media_id)
        if not item.uploaded or item.content_type is None:
            raise MatrixError(504, "M_NOT_YET_UPLOADED", "The content has not been uploaded yet.")
        return item

    async def _open(self, key: str, media_id: str) -> MediaReader:
        try:
            return await self._storage.open(key)
        except MediaMissing:
            log.error("media object missing from storage", extra={"media_id": media_id})
            raise not_found("The content of this media is not available.") from None

    async def download(
        self,
        requester: Requester,
        server_name: str,
        media_id: str,
        filename: str | None = None,
    ) -> Download:
        item = await self._visible(requester, server_name, media_id)
        assert item.content_type is not None
        reader = await self._open(original_key(media_id), media_id)
        name = filename if filename is not None else item.upload_name
        return Download(reader, item.content_type, content_disposition(item.content_type, name))

    async def thumbnail(
        self,
        requester: Requester,
        server_name: str,
        media_id: str,
        *,
        width: int,
        height: int,
        method: str,
    ) -> Download:
        item = await self._visible(requester, server_name, media_id)
        assert item.content_type is not None and item.size is not None
        essence = essence_of(item.content_type)
        if essence not in THUMBNAIL_SOURCES:
            raise thumbnails.cannot_thumbnail(f"the server makes none of {essence} content.")
        if item.size > MAX_THUMBNAIL_SOURCE_BYTES:
            raise MatrixError(413, "M_TOO_LARGE", "The image is too large to thumbnail.")
        w, h = thumbnail_size(width, height)
        as_jpeg = essence == "image/jpeg"
        content_type = "image/jpeg" if as_jpeg else "image/png"
        key = thumbnail_key(media_id, w, h, method)
        if not await self._storage.exists(key):
            await self._make_thumbnail(media_id, key, w, h, method)
        reader = await self._open(key, media_id)
        name = "thumbnail.jpg" if as_jpeg else "thumbnail.png"
        return Download(reader, content_type, content_disposition(content_type, name, inline=True))

    async def _make_thumbnail(self, media_id: str, key: str, w: int, h: int, method: str) -> None:
        async with self._thumbnail_slots:
            if await self._storage.exists(key):  # made by a concurrent request meanwhile
                return
            try:
                data = await self._storage.read_all(
                    original_key(media_id), MAX_THUMBNAIL_SOURCE_BYTES
                )
            except MediaMissing:
                log.error("media object missing from storage", extra={"media_id": media_id})
                raise not_found("The content of this media is not available.") from None
            thumb = await asyncio.to_thread(thumbnails.render, data, w, h, method)
        writer = await self._storage.writer(key)
        try:
            await writer.write(thumb.data)
            await writer.seal()
            await writer.commit(key)
        except BaseException:
            await writer.abort()
            raise
