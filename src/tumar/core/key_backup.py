"""Server-side key backup (``/room_keys``): the client encrypts its room keys to a backup key
the server never sees; the server keeps versions and the opaque session data.

Only the current (latest, not deleted) version accepts new keys. A stored key is replaced only
by a better one, as the spec says: verified beats unverified, then a lower first message
index, then a lower forwarded count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.core.requester import Requester
from tumar.errors import MatrixError, invalid_param, not_found
from tumar.store import key_backup as backup_store
from tumar.store.db import Database
from tumar.store.key_backup import BackupVersion, RoomKey


@dataclass(frozen=True, slots=True)
class BackupInfo:
    version: BackupVersion
    count: int


@dataclass(frozen=True, slots=True)
class UpdateResult:
    etag: int
    count: int


def parse_version(value: str) -> int | None:
    """Versions are decimal numbers here; anything else names no version."""
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def is_better(new: RoomKey, old: RoomKey) -> bool:
    """Whether ``new`` should replace ``old`` for the same session."""
    if new.is_verified != old.is_verified:
        return new.is_verified
    if new.first_message_index != old.first_message_index:
        return new.first_message_index < old.first_message_index
    return new.forwarded_count < old.forwarded_count


def _unknown() -> MatrixError:
    return not_found("Unknown backup version.")


class KeyBackupService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def do_create_version(
        self, requester: Requester, algorithm: str, auth_data: Mapping[str, Any]
    ) -> str:
        async with self._db.write() as conn:
            await self._db.lock_user(conn, requester.user_id)  # versions are per user: max + 1
            version = await backup_store.insert_version(
                conn, requester.user_id, algorithm, auth_data
            )
        return str(version)

    async def get_version(self, requester: Requester, version: str | None) -> BackupInfo:
        """A version's information; ``None``: the current version."""
        number = None if version is None else parse_version(version)
        if version is not None and number is None:
            raise _unknown()
        async with self._db.read() as conn:
            found = await backup_store.get_version(conn, requester.user_id, number)
            if found is None or found.deleted:
                raise not_found(
                    "No current backup version." if version is None else "Unknown backup version."
                )
            count = await backup_store.count_keys(conn, requester.user_id, found.version)
        return BackupInfo(found, count)

    async def do_update_version(
        self,
        requester: Requester,
        version: str,
        algorithm: str,
        auth_data: Mapping[str, Any],
        body_version: str | None,
    ) -> None:
        if body_version is not None and body_version != version:
            raise invalid_param("The version in the body does not match the version in the path.")
        number = parse_version(version)
        async with self._db.write() as conn:
            found = (
                await backup_store.get_version(conn, requester.user_id, number)
                if number is not None
                else None
            )
            if found is None or found.deleted:
                raise _unknown()
            if found.algorithm != algorithm:
                raise invalid_param("The algorithm of a backup version cannot be changed.")
            await backup_store.update_auth_data(conn, requester.user_id, found.version, auth_data)

    async def do_delete_version(self, requester: Requester, version: str) -> None:
        """Delete a version and its keys; deleting it again succeeds."""
        number = parse_version(version)
        async with self._db.write() as conn:
            found = (
                await backup_store.get_version(conn, requester.user_id, number)
                if number is not None
                else None
            )
            if found is None:
                raise _unknown()
            if not found.deleted:
                await backup_store.mark_deleted(conn, requester.user_id, found.version)

    async def _current(self, conn: AsyncConnection, user_id: str, version: str) -> BackupVersion:
        """The version keys are written to: it must be the current one."""
        current = await backup_store.get_version(conn, user_id, None)
        if current is None:
            raise _unknown()
        if parse_version(version) != current.version:
            raise MatrixError(
                403,
                "M_WRONG_ROOM_KEYS_VERSION",
                "Wrong backup version: keys can only be stored in the current backup.",
                current_version=str(current.version),
            )
        return current

    async def _readable(self, conn: AsyncConnection, user_id: str, version: str) -> int:
        number = parse_version(version)
        found = (
            await backup_store.get_version(conn, user_id, number) if number is not None else None
        )
        if found is None or found.deleted:
            raise _unknown()
        return found.version

    async def do_put_keys(
        self, requester: Requester, version: str, keys: list[RoomKey]
    ) -> UpdateResult:
        user = requester.user_id
        async with self._db.write() as conn:
            await self._db.lock_user(conn, user)  # concurrent uploads of one user, one by one
            current = await self._current(conn, user, version)
            stored = await backup_store.get_sessions(
                conn, user, current.version, {(k.room_id, k.session_id) for k in keys}
            )
            changed = False
            for key in keys:
                old = stored.get((key.room_id, key.session_id))
                if old is None or is_better(key, old):
                    await backup_store.put_key(conn, user, current.version, key)
                    stored[(key.room_id, key.session_id)] = key
                    changed = True
            etag = (
                await backup_store.bump_etag(conn, user, current.version)
                if changed
                else current.etag
            )
            count = await backup_store.count_keys(conn, user, current.version)
        return UpdateResult(etag, count)

    async def get_keys(
        self,
        requester: Requester,
        version: str,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> list[RoomKey]:
        async with self._db.read() as conn:
            number = await self._readable(conn, requester.user_id, version)
            return await backup_store.get_keys(conn, requester.user_id, number, room_id, session_id)

    async def do_delete_keys(
        self,
        requester: Requester,
        version: str,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> UpdateResult:
        user = requester.user_id
        async with self._db.write() as conn:
            number = await self._readable(conn, user, version)
            deleted = await backup_store.delete_keys(conn, user, number, room_id, session_id)
            found = await backup_store.get_version(conn, user, number)
            assert found is not None
            etag = await backup_store.bump_etag(conn, user, number) if deleted else found.etag
            count = await backup_store.count_keys(conn, user, number)
        return UpdateResult(etag, count)
