"""One statement that opens an incremental ``/sync``: it reads the stream position P that
ends the window (the sync's first read; every later read of the window is bounded by P,
``core/sync.py``), and tells which of the per-user kinds that are usually empty have
anything in (after, P]: account data, to-device messages, presence, and device-list
changes. Only the kinds that do are then read; in the common case (a woken long-poll about a
new message) that is one statement instead of five. It also reads the device's one-time
key counts, which every sync answers with (one round trip fewer on PostgreSQL).

The same statement lists the user's memberships, one row each, and says for each joined room
whether it has events and receipts in (after, P]: the sync then reads the timelines and
receipts of those rooms only, without a statement to find them (on PostgreSQL each statement
is a round trip, and a woken sync made three of them before it read a timeline). For those
rooms it also gives the version of the user's own read receipts (the latest position among
them; every receipt write takes a new position), by which the unread counts know whether
what they read before still holds (``core/notifications.py``).

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

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from tumar.store.db import POSITION
from tumar.store.e2e_keys import key_counts_column, membership_moves, parse_key_counts
from tumar.store.events import Membership
from tumar.store.hot import HotQuery
from tumar.store.presence import room_mates_query
from tumar.store.push import READ_RECEIPT_TYPES
from tumar.store.schema import current_state, device_list_changes, events, presence, receipts
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


_FLAGS = _upto_is_position(
    select(
        _POSITION.label("pos"),
        account_data_changed().exists().label("account_data"),
        stored_for_device().exists().label("to_device"),
        _changed_in_window(presence).label("presence"),
        or_(_changed_in_window(device_list_changes), membership_moves().exists()).label(
            "device_lists"
        ),
        key_counts_column().label("keys"),
    )
).subquery("probe")


def _joined_room_has_rows(table: Any) -> ColumnElement[bool]:
    """The membership row is a join, and ``table`` has rows of its room in (after, P] that
    the user may see (another's private read receipt is not for them)."""
    c, member = table.c, current_state.c
    rows = exists().where(
        c.room_id == member.room_id,
        c.stream_pos > bindparam("after"),
        c.stream_pos <= _FLAGS.c.pos,
    )
    if table is receipts:
        private = and_(c.receipt_type == "m.read.private", c.user_id != bindparam("user_id"))
        rows = rows.where(~private)
    return and_(member.membership == "join", rows)


def _read_receipts_version() -> ColumnElement[Any]:
    """For a joined room with events or receipts in the window: the latest position of the
    user's own read receipts there (0 without any); else NULL."""
    c = receipts.c
    latest = (
        select(func.coalesce(func.max(c.stream_pos), 0))
        .where(
            c.room_id == current_state.c.room_id,
            c.receipt_type.in_(READ_RECEIPT_TYPES),
            c.user_id == bindparam("user_id"),
        )
        .scalar_subquery()
    )
    shown = or_(_joined_room_has_rows(events), _joined_room_has_rows(receipts))
    return case((shown, latest), else_=None)


_OPENING = HotQuery(
    select(
        _FLAGS,
        current_state.c.room_id,
        current_state.c.membership,
        current_state.c.event_id,
        current_state.c.stream_pos.label("member_pos"),
        _joined_room_has_rows(events).label("has_events"),
        _joined_room_has_rows(receipts).label("has_receipts"),
        _read_receipts_version().label("read_version"),
    ).select_from(
        _FLAGS.outerjoin(  # the flags' one row, also for a user without memberships
            current_state,
            and_(
                current_state.c.state_key == bindparam("user_id"),
                current_state.c.type == "m.room.member",
            ),
        )
    )
)


@dataclass(frozen=True, slots=True)
class Opening:
    """What an incremental sync learns from its first statement."""

    pos: int  # P, the end of the window
    changed: Changed
    memberships: list[Membership]  # the user's current membership in every room they have one
    with_events: frozenset[str]  # joined rooms with events in (after, P]
    with_receipts: frozenset[str]  # joined rooms with receipts in (after, P]
    read_versions: dict[str, int]  # of the user's read receipts, in those two kinds of rooms
    key_counts: tuple[dict[str, int], list[str]]  # of the device (``e2e_keys.key_counts``)


async def open_window(conn: AsyncConnection, user_id: str, device_id: str, after: int) -> Opening:
    """The current position P, what changed for this user and device in (after, P], and the
    user's rooms; to-device messages count whether acknowledged or not (the sync deletes
    acknowledged ones it finds)."""
    params = {"user_id": user_id, "device_id": device_id, "after": after}
    rows = await _OPENING.rows(conn, params)
    first = rows[0]
    changed = Changed(
        account_data=bool(first.account_data),
        to_device=bool(first.to_device),
        presence=bool(first.presence),
        device_lists=bool(first.device_lists),
    )
    found = [r for r in rows if r.room_id is not None]
    return Opening(
        int(first.pos),
        changed,
        [Membership(r.room_id, r.membership, r.event_id, r.member_pos) for r in found],
        frozenset(r.room_id for r in found if r.has_events),
        frozenset(r.room_id for r in found if r.has_receipts),
        {r.room_id: int(r.read_version) for r in found if r.read_version is not None},
        parse_key_counts(first.keys),
    )
