"""Who may see a media item (authenticated media), and the references events make to media.

A media item is visible to

* its uploader;
* whoever may read an event that refers to it (``media_refs``), by the rule of
  ``RoomReader.view``: a joined member reads the whole room, a member who left or was banned
  reads up to the end of their last stay, anyone else nothing;
* with ``labels`` (downloads and thumbnails), only through references in rooms labelled at
  least as high as the room where the item was first posted, and only if the user's clearance
  reaches that label (``ClassificationGuard.media_refs_visible``);
* an invited user, for the room avatars of the room they are invited to (shown with the
  invitation);
* for media that no event refers to and that was uploaded as opaque bytes
  (``application/octet-stream``): users who share an end-to-end encrypted room with the
  uploader. The server cannot see which encrypted event refers to an attachment; its bytes are
  ciphertext whose key only the recipients of that event hold.

References are recorded in the transaction that appends the event (``record_references``,
called by ``RoomService.append_one``) and dropped when the event is redacted. An event only
grants what its sender could see: naming someone else's media id in an event grants nobody
access to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.media import referenced_media
from tumar.policy.media_types import OPAQUE, essence_of
from tumar.store import events as event_store
from tumar.store import media as media_store
from tumar.store.events import StoredEvent
from tumar.store.media import StoredMedia

if TYPE_CHECKING:
    from tumar.core.classification_guard import ClassificationGuard


async def may_see(
    conn: AsyncConnection,
    user_id: str,
    item: StoredMedia,
    labels: ClassificationGuard | None = None,
) -> bool:
    if item.user_id == user_id:
        return True
    refs = await media_store.refs_with_membership(conn, item.media_id, user_id)
    if labels is not None:  # downloads: only through rooms labelled as high as the origin
        refs = await labels.media_refs_visible(conn, user_id, item.media_id, refs)
    first_ref: dict[str, int] = {}
    for ref in refs:
        if ref.membership == "join":
            return True
        if (
            ref.membership == "invite"
            and ref.ref_type == "m.room.avatar"
            and ref.ref_pos <= ref.member_pos
        ):
            return True
        first_ref.setdefault(ref.room_id, ref.ref_pos)
    for ref in refs:
        if ref.membership not in ("leave", "ban") or first_ref.get(ref.room_id) != ref.ref_pos:
            continue
        stay = await event_store.last_stay(conn, ref.room_id, user_id, ref.member_pos)
        if stay is not None and ref.ref_pos <= stay[1]:
            return True
    opaque = item.content_type is None or essence_of(item.content_type) == OPAQUE
    if opaque and not await media_store.has_refs(conn, item.media_id):
        return await media_store.share_encrypted_room(conn, user_id, item.user_id)
    return False


async def record_references(conn: AsyncConnection, server_name: str, event: StoredEvent) -> None:
    """Record which of this server's media ``event`` refers to, in the event's transaction."""
    media_ids = referenced_media(event.content, server_name)
    if not media_ids:
        return
    granted = []
    for media_id in sorted(media_ids):
        item = await media_store.get_media(conn, media_id)
        if item is not None and await may_see(conn, event.sender, item):
            granted.append(media_id)
    await media_store.insert_refs(conn, granted, event.room_id, event.stream_pos)


async def forget_references(conn: AsyncConnection, event: StoredEvent) -> None:
    """The event was redacted: it no longer makes its media visible."""
    await media_store.delete_refs_at(conn, event.stream_pos)
