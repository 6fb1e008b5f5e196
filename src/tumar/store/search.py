"""Full-text search over event text: SQLite FTS5 or PostgreSQL ``to_tsvector``.

``event_search`` holds the text (one row per event, written in the event's transaction). The
full-text index is the migration's: an FTS5 table kept in step by triggers on SQLite, a GIN
index over ``to_tsvector('simple', value)`` on PostgreSQL. The ``simple`` configuration (no
stemming, no stop words) suits Kazakh, Russian and English alike.

Search terms are reduced to words (letters and digits) and each word matches as a prefix; all
words must match. Nothing a client types reaches the query syntax of either database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    column,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.events import StoredEvent
from tumar.store.schema import event_search, events

SEARCHABLE = {"m.room.message": "body", "m.room.name": "name", "m.room.topic": "topic"}
MAX_TERMS = 16
MAX_VALUE = 65_536
_WORD = re.compile(r"[^\W_]+")
_fts = table("event_search_fts", column("rowid"))
_TSVECTOR = func.to_tsvector(literal_column("'simple'"), event_search.c.value)


def words(term: str) -> list[str]:
    """The words of a search term (letters and digits), lower case, at most ``MAX_TERMS``."""
    return all_words(term)[:MAX_TERMS]


def all_words(text: str) -> list[str]:
    """Every word of ``text`` (letters and digits), lower case."""
    return [w.lower() for w in _WORD.findall(text)]


async def index_event(
    conn: AsyncConnection, ev: StoredEvent, blind: Callable[[str], str] | None = None
) -> None:
    """Index the searchable text of ``ev``; with ``blind`` (an event sealed at rest), the
    blind index that function makes of the text is stored instead of the text."""
    field = SEARCHABLE.get(ev.type)
    if field is None:
        return
    value = ev.content.get(field)
    if not isinstance(value, str) or not value.strip():
        return
    value = value[:MAX_VALUE]
    await conn.execute(
        _INSERT_INDEX,  # built once: every message sent comes here
        {
            "stream_pos": ev.stream_pos,
            "event_id": ev.event_id,
            "room_id": ev.room_id,
            "key": f"content.{field}",
            "value": blind(value) if blind is not None else value,
        },
    )


_INSERT_INDEX = insert(event_search)


async def unindex_event(conn: AsyncConnection, stream_pos: int) -> None:
    await conn.execute(delete(event_search).where(event_search.c.stream_pos == stream_pos))


@dataclass(frozen=True, slots=True)
class RoomScope:
    """A room the searcher may read, up to ``upto`` (None: all of it)."""

    room_id: str
    upto: int | None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    words: Sequence[str]
    rooms: Sequence[RoomScope]
    keys: Sequence[str]
    senders: Sequence[str] | None = None
    not_senders: Sequence[str] = ()
    types: Sequence[str] | None = None
    not_types: Sequence[str] = ()
    by_rank: bool = True
    blind: Sequence[Sequence[str]] = ()
    """Alternatives to ``words`` for sealed events: per sealed room, the words as that room's
    blind tokens (matched exactly, since every prefix was indexed)."""


@dataclass(frozen=True, slots=True)
class Hit:
    stream_pos: int
    rank: float


def _scope(rooms: Sequence[RoomScope]) -> ColumnElement[bool]:
    whole = [r.room_id for r in rooms if r.upto is None]
    parts: list[ColumnElement[bool]] = []
    if whole:
        parts.append(event_search.c.room_id.in_(whole))
    parts += [
        and_(event_search.c.room_id == r.room_id, event_search.c.stream_pos <= r.upto)
        for r in rooms
        if r.upto is not None
    ]
    return or_(*parts) if parts else false()


def _type_condition(patterns: Sequence[str]) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    for p in patterns:
        if p.endswith("*") and "*" not in p[:-1]:
            prefix = p[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(events.c.type.like(prefix + "%", escape="\\"))
        else:
            parts.append(events.c.type == p)
    return or_(*parts) if parts else false()


async def search(
    conn: AsyncConnection,
    query: SearchQuery,
    *,
    is_sqlite: bool,
    limit: int,
    before: int | None = None,
    offset: int = 0,
) -> tuple[list[Hit], int]:
    """Matching events (newest first, or best first ``by_rank``) and the total count."""
    if not query.words or not query.rooms:
        return [], 0
    rank: ColumnElement[Any]
    matches: ColumnElement[bool]
    source: FromClause
    if is_sqlite:
        match = " ".join('"' + w.replace('"', "") + '"*' for w in query.words)
        if query.blind:
            groups = [match, *(" ".join(f'"{t}"' for t in group) for group in query.blind)]
            match = " OR ".join(f"({g})" for g in groups)
        rank = -func.bm25(literal_column("event_search_fts"))
        source = event_search.join(_fts, _fts.c.rowid == event_search.c.stream_pos)
        matches = literal_column("event_search_fts").op("MATCH")(bindparam("fts_query", match))
    else:
        tsquery = " & ".join(f"'{w}':*" for w in query.words)
        if query.blind:
            groups = [tsquery, *(" & ".join(f"'{t}'" for t in group) for group in query.blind)]
            tsquery = " | ".join(f"({g})" for g in groups)
        ts = func.to_tsquery(literal_column("'simple'"), tsquery)
        rank = func.ts_rank(_TSVECTOR, ts)
        source = event_search
        matches = _TSVECTOR.op("@@")(ts)
    source = source.join(events, events.c.stream_pos == event_search.c.stream_pos)
    conditions = [matches, _scope(query.rooms), event_search.c.key.in_(list(query.keys))]
    if query.senders is not None:
        conditions.append(events.c.sender.in_(list(query.senders)))
    if query.not_senders:
        conditions.append(events.c.sender.not_in(list(query.not_senders)))
    if query.types is not None:
        conditions.append(_type_condition(query.types))
    if query.not_types:
        conditions.append(~_type_condition(query.not_types))
    total = await conn.execute(select(func.count()).select_from(source).where(*conditions))
    count = int(total.scalar_one())
    page = select(event_search.c.stream_pos, rank.label("rank")).select_from(source)
    page = page.where(*conditions)
    if query.by_rank:
        page = page.order_by(literal_column("rank").desc(), event_search.c.stream_pos.desc())
        page = page.offset(offset)
    else:
        if before is not None:
            page = page.where(event_search.c.stream_pos < before)
        page = page.order_by(event_search.c.stream_pos.desc())
    rows = await conn.execute(page.limit(limit))
    return [Hit(int(r.stream_pos), float(r.rank or 0.0)) for r in rows], count
