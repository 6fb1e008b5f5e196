"""Server-side key backup: backup versions per user and the opaque session data in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.json import dumps, loads
from tumar.store.schema import room_key_backups, room_keys


@dataclass(frozen=True, slots=True)
class BackupVersion:
    user_id: str
    version: int
    algorithm: str
    auth_data: Mapping[str, Any]
    etag: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class RoomKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "first_message_index": self.first_message_index,
            "forwarded_count": self.forwarded_count,
            "is_verified": self.is_verified,
            "session_data": dict(self.session_data),
        }


def _version(row: Any) -> BackupVersion:
    return BackupVersion(
        row.user_id,
        int(row.version),
        row.algorithm,
        loads(row.auth_data),
        int(row.etag),
        bool(row.deleted),
    )


async def get_version(
    conn: AsyncConnection, user_id: str, version: int | None
) -> BackupVersion | None:
    """A version (deleted ones included), or with ``None`` the latest version not deleted."""
    c = room_key_backups.c
    query = select(room_key_backups).where(c.user_id == user_id)
    if version is None:
        query = query.where(c.deleted.is_(False)).order_by(c.version.desc()).limit(1)
    else:
        query = query.where(c.version == version)
    row = (await conn.execute(query)).first()
    return _version(row) if row is not None else None


async def insert_version(
    conn: AsyncConnection, user_id: str, algorithm: str, auth_data: Mapping[str, Any]
) -> int:
    """A new version, numbered after every earlier one (deleted ones too)."""
    c = room_key_backups.c
    last = (
        await conn.execute(select(func.max(c.version)).where(c.user_id == user_id))
    ).scalar_one_or_none()
    version = int(last or 0) + 1
    await conn.execute(
        insert(room_key_backups).values(
            user_id=user_id,
            version=version,
            algorithm=algorithm,
            auth_data=dumps(auth_data),
            etag=0,
            deleted=False,
        )
    )
    return version


async def update_auth_data(
    conn: AsyncConnection, user_id: str, version: int, auth_data: Mapping[str, Any]
) -> None:
    c = room_key_backups.c
    await conn.execute(
        update(room_key_backups)
        .where(c.user_id == user_id, c.version == version)
        .values(auth_data=dumps(auth_data))
    )


async def bump_etag(conn: AsyncConnection, user_id: str, version: int) -> int:
    c = room_key_backups.c
    result = await conn.execute(
        update(room_key_backups)
        .where(c.user_id == user_id, c.version == version)
        .values(etag=c.etag + 1)
        .returning(c.etag)
    )
    return int(result.scalar_one())


async def mark_deleted(conn: AsyncConnection, user_id: str, version: int) -> None:
    c = room_key_backups.c
    await conn.execute(
        update(room_key_backups)
        .where(c.user_id == user_id, c.version == version)
        .values(deleted=True)
    )
    await conn.execute(
        delete(room_keys).where(room_keys.c.user_id == user_id, room_keys.c.version == version)
    )


async def count_keys(conn: AsyncConnection, user_id: str, version: int) -> int:
    c = room_keys.c
    row = await conn.execute(select(func.count()).where(c.user_id == user_id, c.version == version))
    return int(row.scalar_one())


async def get_keys(
    conn: AsyncConnection,
    user_id: str,
    version: int,
    room_id: str | None = None,
    session_id: str | None = None,
) -> list[RoomKey]:
    c = room_keys.c
    query = select(room_keys).where(c.user_id == user_id, c.version == version)
    if room_id is not None:
        query = query.where(c.room_id == room_id)
    if session_id is not None:
        query = query.where(c.session_id == session_id)
    rows = await conn.execute(query.order_by(c.room_id, c.session_id))
    return [
        RoomKey(
            r.room_id,
            r.session_id,
            int(r.first_message_index),
            int(r.forwarded_count),
            bool(r.is_verified),
            loads(r.session_data),
        )
        for r in rows
    ]


async def get_sessions(
    conn: AsyncConnection, user_id: str, version: int, sessions: set[tuple[str, str]]
) -> dict[tuple[str, str], RoomKey]:
    """The stored keys among (room id, session id) pairs, looked up in chunks."""
    out: dict[tuple[str, str], RoomKey] = {}
    session_ids = sorted({s for _, s in sessions})
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start : start + 500]
        c = room_keys.c
        rows = await conn.execute(
            select(room_keys).where(
                c.user_id == user_id, c.version == version, c.session_id.in_(chunk)
            )
        )
        for r in rows:
            if (r.room_id, r.session_id) in sessions:
                out[(r.room_id, r.session_id)] = RoomKey(
                    r.room_id,
                    r.session_id,
                    int(r.first_message_index),
                    int(r.forwarded_count),
                    bool(r.is_verified),
                    loads(r.session_data),
                )
    return out


async def put_key(conn: AsyncConnection, user_id: str, version: int, key: RoomKey) -> None:
    c = room_keys.c
    where = (
        (c.user_id == user_id)
        & (c.version == version)
        & (c.room_id == key.room_id)
        & (c.session_id == key.session_id)
    )
    values = {
        "first_message_index": key.first_message_index,
        "forwarded_count": key.forwarded_count,
        "is_verified": key.is_verified,
        "session_data": dumps(key.session_data),
    }
    result = await conn.execute(update(room_keys).where(where).values(**values))
    if result.rowcount == 0:
        await conn.execute(
            insert(room_keys).values(
                user_id=user_id,
                version=version,
                room_id=key.room_id,
                session_id=key.session_id,
                **values,
            )
        )


async def delete_keys(
    conn: AsyncConnection,
    user_id: str,
    version: int,
    room_id: str | None = None,
    session_id: str | None = None,
) -> int:
    c = room_keys.c
    query = delete(room_keys).where(c.user_id == user_id, c.version == version)
    if room_id is not None:
        query = query.where(c.room_id == room_id)
    if session_id is not None:
        query = query.where(c.session_id == session_id)
    return int((await conn.execute(query)).rowcount)
