"""Media rows and the events that refer to media (``media_refs``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import current_state, events, media, media_refs


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    user_id: str
    created_ts: int
    content_type: str | None = None
    upload_name: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded_ts: int | None = None
    expires_ts: int | None = None

    @property
    def uploaded(self) -> bool:
        return self.uploaded_ts is not None


def _from_row(row: Row[Any]) -> StoredMedia:
    m = row._mapping
    return StoredMedia(
        media_id=m["media_id"],
        user_id=m["user_id"],
        created_ts=m["created_ts"],
        content_type=m["content_type"],
        upload_name=m["upload_name"],
        size=m["size"],
        sha256=m["sha256"],
        uploaded_ts=m["uploaded_ts"],
        expires_ts=m["expires_ts"],
    )


async def insert_media(conn: AsyncConnection, item: StoredMedia) -> None:
    await conn.execute(
        insert(media).values(
            media_id=item.media_id,
            user_id=item.user_id,
            content_type=item.content_type,
            upload_name=item.upload_name,
            size=item.size,
            sha256=item.sha256,
            created_ts=item.created_ts,
            uploaded_ts=item.uploaded_ts,
            expires_ts=item.expires_ts,
        )
    )


async def get_media(conn: AsyncConnection, media_id: str) -> StoredMedia | None:
    row = (await conn.execute(select(media).where(media.c.media_id == media_id))).first()
    return _from_row(row) if row else None


async def complete_upload(
    conn: AsyncConnection,
    media_id: str,
    *,
    content_type: str,
    upload_name: str | None,
    size: int,
    sha256: str,
    uploaded_ts: int,
) -> bool:
    """Fill in a created media id; False if it was uploaded meanwhile (or is gone)."""
    result = await conn.execute(
        update(media)
        .where(media.c.media_id == media_id, media.c.uploaded_ts.is_(None))
        .values(
            content_type=content_type,
            upload_name=upload_name,
            size=size,
            sha256=sha256,
            uploaded_ts=uploaded_ts,
            expires_ts=None,
        )
    )
    return bool(result.rowcount == 1)


async def count_pending(conn: AsyncConnection, user_id: str, now_ms: int) -> int:
    """Created media ids of a user that wait for their upload and have not expired."""
    query = select(func.count()).where(
        media.c.user_id == user_id,
        media.c.uploaded_ts.is_(None),
        media.c.expires_ts > now_ms,
    )
    return int((await conn.execute(query)).scalar_one())


async def insert_refs(
    conn: AsyncConnection, media_ids: Iterable[str], room_id: str, stream_pos: int
) -> None:
    rows = [{"media_id": m, "room_id": room_id, "stream_pos": stream_pos} for m in media_ids]
    if rows:
        await conn.execute(insert(media_refs), rows)


async def delete_refs_at(conn: AsyncConnection, stream_pos: int) -> None:
    """Forget the media references of one event (it was redacted)."""
    await conn.execute(delete(media_refs).where(media_refs.c.stream_pos == stream_pos))


async def has_refs(conn: AsyncConnection, media_id: str) -> bool:
    query = select(media_refs.c.stream_pos).where(media_refs.c.media_id == media_id).limit(1)
    return (await conn.execute(query)).first() is not None


@dataclass(frozen=True, slots=True)
class RefMembership:
    """An event referring to the media, in a room where the user has a membership."""

    room_id: str
    ref_pos: int  # stream position of the referring event
    ref_type: str  # its event type
    membership: str  # the user's current membership in that room
    member_pos: int  # stream position of that membership event


async def refs_with_membership(
    conn: AsyncConnection, media_id: str, user_id: str
) -> list[RefMembership]:
    """The references to ``media_id`` in rooms where ``user_id`` has a membership."""
    query = (
        select(
            media_refs.c.room_id,
            media_refs.c.stream_pos,
            events.c.type,
            current_state.c.membership,
            current_state.c.stream_pos.label("member_pos"),
        )
        .join(
            current_state,
            and_(
                current_state.c.room_id == media_refs.c.room_id,
                current_state.c.type == "m.room.member",
                current_state.c.state_key == user_id,
            ),
        )
        .join(events, events.c.stream_pos == media_refs.c.stream_pos)
        .where(media_refs.c.media_id == media_id)
        .order_by(media_refs.c.stream_pos)
    )
    rows = await conn.execute(query)
    return [
        RefMembership(r.room_id, r.stream_pos, r.type, r.membership or "", r.member_pos)
        for r in rows
    ]


async def share_encrypted_room(conn: AsyncConnection, a: str, b: str) -> bool:
    """Whether users ``a`` and ``b`` are both joined to a room with ``m.room.encryption``."""
    member = current_state.alias("member")
    other = current_state.alias("other")
    encryption = current_state.alias("encryption")
    query = (
        select(member.c.room_id)
        .join(
            other,
            and_(
                other.c.room_id == member.c.room_id,
                other.c.type == "m.room.member",
                other.c.state_key == b,
                other.c.membership == "join",
            ),
        )
        .join(
            encryption,
            and_(
                encryption.c.room_id == member.c.room_id,
                encryption.c.type == "m.room.encryption",
                encryption.c.state_key == "",
            ),
        )
        .where(
            member.c.type == "m.room.member",
            member.c.state_key == a,
            member.c.membership == "join",
        )
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None
