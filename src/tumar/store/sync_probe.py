"""One statement that opens an incremental ``/sync``: it reads the stream position P that
ends the window (the sync's first read, so its snapshot), and tells which of the per-user
kinds that are usually empty have anything in (after, P]: account data, to-device messages,
presence, and device-list changes. Only the kinds that do are then read; in the common case
(a woken long-poll about a new message) that is one statement instead of five.

Each flag is ``EXISTS`` over the same rows as the read it stands for, so a flag is false only
when that read would be empty. Account data, to-device messages and the membership moves of
device lists share their statement with the read (built by the store modules). Presence and
key changes are written for a narrow window: the rows in the window first, then for each
whether its user is the syncing user or shares a joined room with them, instead of the
reads' room-mates first, which costs a read of every member of every room the user is in
(those reads also serve initial syncs, whose window is everything). A wide window (more than
``WINDOW_ROWS`` such rows) is checked from the room-mates after all: row by row, its cost
would grow with everyone who changed something since the user's last sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from tumar.store.db import POSITION
from tumar.store.e2e_keys import membership_moves
from tumar.store.hot import HotQuery
from tumar.store.presence import room_mates_query
from tumar.store.schema import current_state, device_list_changes, presence
from tumar.store.to_device import stored_for_device
from tumar.store.userdata import account_data_changed

WINDOW_ROWS = 32
"""Presence and key changes in a window checked one by one against the user's rooms; beyond
that, the check starts from the user's room-mates."""


@dataclass(frozen=True, slots=True)
class Changed:
    """Which kinds have rows in the window (all true: read everything)."""

    account_data: bool = True
    to_device: bool = True
    presence: bool = True
    device_lists: bool = True


EVERYTHING = Changed()


def _user_or_room_mate(user: Any, other: Any) -> ColumnElement[bool]:
    """``other`` is ``user``, or both are joined to the same room."""
    mine, theirs = current_state.alias("mine"), current_state.alias("theirs")
    member = "m.room.member"
    shares = exists().where(
        theirs.c.state_key == other,
        theirs.c.type == member,
        theirs.c.membership == "join",
        mine.c.room_id == theirs.c.room_id,
        mine.c.type == member,
        mine.c.state_key == user,
        mine.c.membership == "join",
    )
    return or_(other == user, shares)


def _changed_in_window(table: Any) -> ColumnElement[bool]:
    """Whether ``table`` has a row changed in (after, upto] by the user or a room-mate.

    A narrow window (at most ``WINDOW_ROWS`` rows) is checked row by row against the user's
    rooms. A wide one (a morning's logins; a notification's wake-up, which follows everyone's
    first sync) is checked from the user's room-mates instead, as the read does: its cost
    then grows with the people the user shares rooms with, not with everyone who changed
    something on the server since the user's last sync."""
    c = table.c
    user: Any = bindparam("user_id")
    in_window = (c.stream_pos > bindparam("after"), c.stream_pos <= bindparam("upto"))
    first = select(c.user_id).where(*in_window).limit(WINDOW_ROWS + 1).subquery()
    narrow = select(first.c.user_id).where(_user_or_room_mate(user, first.c.user_id))
    wide = select(func.count()).select_from(first).scalar_subquery() > WINDOW_ROWS
    mates = select(c.user_id).where(
        *in_window, or_(c.user_id == user, c.user_id.in_(room_mates_query(user)))
    )
    return or_(narrow.exists(), and_(wide, mates.exists()))


_POSITION = POSITION.scalar_subquery()


def _upto_is_position(statement: Select[Any]) -> Select[Any]:
    """``statement`` with every ``upto`` parameter replaced by the position, read in the same
    statement."""

    def replace(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key == "upto":
            return _POSITION
        return None

    no_options: dict[str, Any] = {}
    return cast(Select[Any], visitors.replacement_traverse(statement, no_options, replace))


_PROBE = HotQuery(
    _upto_is_position(
        select(
            _POSITION.label("pos"),
            account_data_changed().exists().label("account_data"),
            stored_for_device().exists().label("to_device"),
            _changed_in_window(presence).label("presence"),
            or_(_changed_in_window(device_list_changes), membership_moves().exists()).label(
                "device_lists"
            ),
        )
    )
)


async def changed(
    conn: AsyncConnection, user_id: str, device_id: str, after: int
) -> tuple[int, Changed]:
    """The current position P, and what changed for this user and device in (after, P];
    to-device messages count whether acknowledged or not (the sync deletes acknowledged ones
    it finds)."""
    params = {"user_id": user_id, "device_id": device_id, "after": after}
    row = (await _PROBE.rows(conn, params))[0]
    return int(row.pos), Changed(
        account_data=bool(row.account_data),
        to_device=bool(row.to_device),
        presence=bool(row.presence),
        device_lists=bool(row.device_lists),
    )
