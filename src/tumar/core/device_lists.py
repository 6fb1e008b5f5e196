"""Device-list changes: recorded when a user's keys change, read by ``/sync`` and
``/keys/changes``.

A change is one row per user holding the latest stream position at which that user's device
keys or cross-signing keys changed. Who needs to hear about it (the users who share a room
with them) is worked out when reading, from the room memberships at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Doorbell
from tumar.store import e2e_keys as key_store
from tumar.store import to_device as to_device_store
from tumar.store.db import Database


@dataclass(frozen=True, slots=True)
class DeviceListDelta:
    changed: list[str]
    left: list[str]


async def record_change(db: Database, conn: AsyncConnection, user_id: str) -> Doorbell:
    """Inside a write transaction: take a stream position for a change of ``user_id``'s keys.
    Returns the doorbell to ring after commit (the user and everyone sharing a room)."""
    pos = await db.allocate_positions(conn)
    await key_store.mark_device_list_change(conn, user_id, pos)
    users = await key_store.room_mates(conn, user_id)
    users.add(user_id)
    return Doorbell(position=pos, users=frozenset(users))


async def forget_devices(
    db: Database, conn: AsyncConnection, user_id: str, device_ids: list[str]
) -> Doorbell | None:
    """Inside the transaction that deletes devices: delete their keys and pending to-device
    messages, and record a device-list change. Returns the doorbell to ring after commit."""
    if not device_ids:
        return None
    await key_store.delete_device_keys(conn, user_id, device_ids)
    await to_device_store.delete_for_devices(conn, user_id, device_ids)
    return await record_change(db, conn, user_id)


async def changes_between(
    conn: AsyncConnection, user_id: str, after: int, upto: int
) -> DeviceListDelta:
    """What ``user_id`` must hear about for positions in (after, upto]:

    - ``changed``: users sharing a joined room with them whose keys changed, users who started
      sharing a room with them (they joined one of the user's rooms, or the user joined theirs),
      and the user themselves when their own keys changed;
    - ``left``: users who shared a room with them and now share none.
    """
    changed, moves = await key_store.device_list_activity(conn, user_id, after, upto)
    if moves:
        mates = await key_store.room_mates(conn, user_id)
        newly: set[str] = set()
        maybe_left: set[str] = set()
        rooms_i_joined: set[str] = set()
        rooms_i_left: set[str] = set()
        for move in moves:
            if move.user_id == user_id:
                if move.membership == "join":
                    rooms_i_joined.add(move.room_id)
                elif move.membership in ("leave", "ban"):
                    rooms_i_left.add(move.room_id)
            elif move.membership == "join":
                newly.add(move.user_id)
            elif move.membership in ("leave", "ban"):
                maybe_left.add(move.user_id)
        newly |= await key_store.joined_members(conn, sorted(rooms_i_joined))
        maybe_left |= await key_store.joined_members(conn, sorted(rooms_i_left))
        changed |= {u for u in newly if u in mates}
        left = {u for u in maybe_left if u not in mates and u != user_id}
        changed -= left
    else:
        left = set()
    return DeviceListDelta(sorted(changed), sorted(left))
