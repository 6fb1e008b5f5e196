"""Room labels (``room_labels``, materialised from each room's ``kz.tumar.classification``
state) and the directory facts the classification rules need.

Other features query rooms by label through :func:`rooms_with_label_at_least` and
:func:`labels_of_rooms`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Row, Select, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.schema import media_refs, organisations, people, room_labels, rooms


@dataclass(frozen=True, slots=True)
class RoomLabel:
    room_id: str
    label: str
    kinds: tuple[str, ...]
    orgs: tuple[str, ...]
    stream_pos: int
    updated_ts: int


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """What the rules need to know about an account's person (if it has one)."""

    user_id: str
    clearance: str
    kind: str
    org_code: str
    org_path: str
    status: str


def _json_list(value: Sequence[str]) -> str | None:
    return orjson.dumps(list(value)).decode() if value else None


def _tuple(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()


async def put_room_label(
    conn: AsyncConnection,
    room_id: str,
    label: str,
    kinds: Sequence[str],
    orgs: Sequence[str],
    stream_pos: int,
    ts: int,
) -> None:
    """Record the room's current label (called in the transaction of its label event, under
    the room lock)."""
    values = {
        "label": label,
        "kinds": _json_list(kinds),
        "orgs": _json_list(orgs),
        "stream_pos": stream_pos,
        "updated_ts": ts,
    }
    result = await conn.execute(
        update(room_labels).where(room_labels.c.room_id == room_id).values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(insert(room_labels).values(room_id=room_id, **values))


async def get_room_label(conn: AsyncConnection, room_id: str) -> RoomLabel | None:
    row = (await conn.execute(select(room_labels).where(room_labels.c.room_id == room_id))).first()
    if row is None:
        return None
    return RoomLabel(
        row.room_id, row.label, _tuple(row.kinds), _tuple(row.orgs), row.stream_pos, row.updated_ts
    )


async def labels_of_rooms(
    conn: AsyncConnection, room_ids: Sequence[str], default: str
) -> dict[str, str]:
    """The label of each room (``default`` for rooms without a label event)."""
    ids = sorted(set(room_ids))
    if not ids:
        return {}
    query = select(room_labels.c.room_id, room_labels.c.label).where(room_labels.c.room_id.in_(ids))
    found = {r.room_id: r.label for r in await conn.execute(query)}
    return {room_id: found.get(room_id, default) for room_id in ids}


async def rooms_with_label_at_least(
    conn: AsyncConnection, labels: Sequence[str], floor: str, *, default: str | None = None
) -> list[str]:
    """Ids of the rooms labelled ``floor`` or above in the order ``labels`` (lowest first;
    labels no longer configured count as highest). With ``default`` (normally the setting
    ``classification_default_room``), rooms without a label event count as that label."""
    position = labels.index(floor) if floor in labels else len(labels)
    lower = list(labels[:position])
    query = select(room_labels.c.room_id)
    if lower:
        query = query.where(room_labels.c.label.not_in(lower))
    found = [r.room_id for r in await conn.execute(query)]
    if default is not None and default not in lower:
        unlabelled = select(rooms.c.room_id).where(
            ~exists().where(room_labels.c.room_id == rooms.c.room_id)
        )
        found += [r.room_id for r in await conn.execute(unlabelled)]
    return sorted(found)


# ---- directory facts ------------------------------------------------------------------------


def _facts_query() -> Select[Any]:
    return select(
        people.c.user_id,
        people.c.clearance,
        people.c.kind,
        people.c.org_code,
        organisations.c.path,
        people.c.status,
    ).select_from(people.join(organisations, organisations.c.code == people.c.org_code))


async def person_facts(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, PersonFacts]:
    """The directory facts of the accounts that belong to a person (others are absent)."""
    ids = sorted(set(user_ids))
    out: dict[str, PersonFacts] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await conn.execute(_facts_query().where(people.c.user_id.in_(chunk)))
        for r in rows:
            out[r.user_id] = PersonFacts(
                r.user_id, r.clearance, r.kind, r.org_code, r.path, r.status
            )
    return out


async def org_paths(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    query = select(organisations.c.code, organisations.c.path).where(
        organisations.c.code.in_(sorted(set(codes)))
    )
    return {r.code: r.path for r in await conn.execute(query)}


async def media_origin_room(conn: AsyncConnection, media_id: str) -> str | None:
    """The room of the first event that still refers to the media: where it was posted."""
    query = (
        select(media_refs.c.room_id)
        .where(media_refs.c.media_id == media_id)
        .order_by(media_refs.c.stream_pos)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()


# ---- the admin console ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledRoom:
    room_id: str
    creator: str
    creator_org: str | None  # the creator's organisation code (None: not in the directory)
    creator_org_path: str | None
    label: str
    kinds: tuple[str, ...]
    orgs: tuple[str, ...]
    labelled: bool  # False: no label event, the default applies
    updated_ts: int | None


def _room_query() -> Select[Any]:
    return select(
        rooms.c.room_id,
        rooms.c.creator,
        people.c.org_code,
        organisations.c.path,
        room_labels.c.label,
        room_labels.c.kinds,
        room_labels.c.orgs,
        room_labels.c.updated_ts,
    ).select_from(
        rooms.outerjoin(room_labels, room_labels.c.room_id == rooms.c.room_id)
        .outerjoin(people, people.c.user_id == rooms.c.creator)
        .outerjoin(organisations, organisations.c.code == people.c.org_code)
    )


def _labelled(r: Row[Any], default: str) -> LabelledRoom:
    return LabelledRoom(
        room_id=r.room_id,
        creator=r.creator,
        creator_org=r.org_code,
        creator_org_path=r.path,
        label=r.label if r.label is not None else default,
        kinds=_tuple(r.kinds),
        orgs=_tuple(r.orgs),
        labelled=r.label is not None,
        updated_ts=r.updated_ts,
    )


async def labelled_room(conn: AsyncConnection, room_id: str, default: str) -> LabelledRoom | None:
    row = (await conn.execute(_room_query().where(rooms.c.room_id == room_id))).first()
    return _labelled(row, default) if row is not None else None


async def list_labelled_rooms(
    conn: AsyncConnection,
    *,
    scopes: Sequence[str],
    only: Sequence[str] | None,
    default: str,
    after: str | None,
    limit: int,
) -> list[LabelledRoom]:
    """Rooms whose creator's organisation lies in one of ``scopes`` ("" = every room), with a
    label in ``only`` (None = any), ordered by room id, after ``after``."""
    query = _room_query()
    if "" not in scopes:
        if not scopes:
            return []
        query = query.where(
            or_(*(organisations.c.path.startswith(s, autoescape=True) for s in scopes))
        )
    if only is not None:
        conds = [room_labels.c.label.in_(list(only))]
        if default in only:
            conds.append(room_labels.c.label.is_(None))
        query = query.where(or_(*conds))
    if after is not None:
        query = query.where(rooms.c.room_id > after)
    rows = await conn.execute(query.order_by(rooms.c.room_id).limit(limit))
    return [_labelled(r, default) for r in rows]
