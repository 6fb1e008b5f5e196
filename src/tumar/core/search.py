"""Server-side search (``POST /search``) over the rooms a user may read.

A joined room is searched whole; a room the user left (or was banned from) only up to the end
of their last stay, as every other read. Forgotten rooms are left out. Results come newest
first (``recent``) or best first (``rank``), with bundled aggregations, the events around each
one if asked, and ``next_batch`` to page on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.at_rest import AtRest
from tumar.core.device_gate import DeviceGate
from tumar.core.requester import Requester
from tumar.core.serialize import client_events
from tumar.core.tokens import pagination_token
from tumar.errors import bad_json, invalid_param
from tumar.policy.filters import FilterError, RoomEventFilter, parse_filter
from tumar.store import events as event_store
from tumar.store import relations as relation_store
from tumar.store import rooms as room_store
from tumar.store import search as search_store
from tumar.store.db import Database
from tumar.store.events import StoredEvent
from tumar.store.search import RoomScope, SearchQuery

KEYS = ("content.body", "content.name", "content.topic")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_CONTEXT = 20
MAX_TERM = 1_000


@dataclass(frozen=True, slots=True)
class RoomEventsSearch:
    search_term: str
    keys: tuple[str, ...] = KEYS
    filter: RoomEventFilter = field(default_factory=RoomEventFilter)
    by_rank: bool = True
    before_limit: int = 0
    after_limit: int = 0
    include_profile: bool = False
    include_state: bool = False
    group_by: tuple[str, ...] = ()


def parse_room_events(raw: object) -> RoomEventsSearch:
    """The ``room_events`` category of a ``/search`` body (400 on anything malformed)."""
    if not isinstance(raw, Mapping):
        raise bad_json("`search_categories.room_events` must be an object.")
    term = raw.get("search_term")
    if not isinstance(term, str) or len(term) > MAX_TERM:
        raise bad_json(f"`search_term` must be a string of at most {MAX_TERM} characters.")
    keys = raw.get("keys", list(KEYS))
    if not isinstance(keys, list) or not keys or any(k not in KEYS for k in keys):
        raise bad_json(f"`keys` must be a non-empty list of {', '.join(KEYS)}.")
    order = raw.get("order_by", "rank")
    if order not in ("rank", "recent"):
        raise bad_json("`order_by` must be rank or recent.")
    flt = RoomEventFilter()
    if raw.get("filter") is not None:
        try:
            flt = parse_filter({"room": {"timeline": raw["filter"]}}).room.timeline
        except FilterError as exc:
            raise bad_json(str(exc)) from None
    context = raw.get("event_context") or {}
    if not isinstance(context, Mapping):
        raise bad_json("`event_context` must be an object.")
    limits = []
    for name in ("before_limit", "after_limit"):
        value = context.get(name, 5 if context else 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad_json(f"`event_context.{name}` must be a whole number.")
        limits.append(min(value, MAX_CONTEXT))
    include_profile = context.get("include_profile", False)
    include_state = raw.get("include_state", False)
    if not isinstance(include_profile, bool) or not isinstance(include_state, bool):
        raise bad_json("`include_profile` and `include_state` must be booleans.")
    groupings = raw.get("groupings") or {}
    group_by: list[str] = []
    if not isinstance(groupings, Mapping) or not isinstance(groupings.get("group_by", []), list):
        raise bad_json("`groupings.group_by` must be a list.")
    for group in groupings.get("group_by", []):
        key = group.get("key") if isinstance(group, Mapping) else None
        if key not in ("room_id", "sender"):
            raise bad_json("A grouping `key` is room_id or sender.")
        group_by.append(key)
    return RoomEventsSearch(
        search_term=term,
        keys=tuple(keys),
        filter=flt,
        by_rank=order == "rank",
        before_limit=limits[0],
        after_limit=limits[1],
        include_profile=include_profile,
        include_state=include_state,
        group_by=tuple(group_by),
    )


class SearchService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        at_rest: AtRest | None = None,
        gate: DeviceGate | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._at_rest = at_rest
        self._gate = gate  # conditional access by device (core/device_gate.py)

    async def _scopes(self, conn: AsyncConnection, user_id: str) -> list[RoomScope]:
        forgotten = await room_store.forgotten_set(conn, user_id)
        scopes = []
        for m in await event_store.memberships_of(conn, user_id, ("join", "leave", "ban")):
            if m.room_id in forgotten:
                continue
            if m.membership == "join":
                scopes.append(RoomScope(m.room_id, None))
                continue
            stay = await event_store.last_stay(conn, m.room_id, user_id, m.stream_pos)
            if stay is not None:
                scopes.append(RoomScope(m.room_id, stay[1]))
        return scopes

    async def search(
        self, requester: Requester, q: RoomEventsSearch, next_batch: str | None
    ) -> dict[str, Any]:
        words = search_store.words(q.search_term)
        flt = q.filter
        limit = min(flt.limit if flt.limit is not None else DEFAULT_LIMIT, MAX_LIMIT)
        before, offset = _token(next_batch, q.by_rank)
        async with self._db.read() as conn:
            scopes = [
                s
                for s in await self._scopes(conn, requester.user_id)
                if (flt.rooms is None or s.room_id in flt.rooms)
                and (not flt.not_rooms or s.room_id not in flt.not_rooms)
            ]
            if self._gate is not None:  # rooms gated for this session's device are left out
                ids = [s.room_id for s in scopes]
                gated = await self._gate.searchable(conn, requester, ids, flt.rooms)
                scopes = [s for s in scopes if s.room_id not in gated]
            query = SearchQuery(
                words=words,
                rooms=scopes,
                keys=q.keys,
                senders=flt.senders,
                not_senders=flt.not_senders or (),
                types=flt.types,
                not_types=flt.not_types or (),
                by_rank=q.by_rank,
                blind=await self._blind(conn, [s.room_id for s in scopes], words),
            )
            hits, count = await search_store.search(
                conn,
                query,
                is_sqlite=self._db.is_sqlite,
                limit=limit + 1,
                before=before,
                offset=offset,
            )
            page = hits[:limit]
            by_pos = await relation_store.events_at(conn, [h.stream_pos for h in page])
            results = [by_pos[h.stream_pos] for h in page if h.stream_pos in by_pos]
            upto = {s.room_id: s.upto for s in scopes}
            body: dict[str, Any] = {
                "count": count,
                "highlights": words,
                "results": await self._results(conn, requester, results, page, upto, q),
            }
            if q.include_state:
                body["state"] = {}
                for room_id in sorted({e.room_id for e in results}):
                    state = await self._state(conn, room_id, upto[room_id])
                    body["state"][room_id] = await self._serialise(
                        conn, requester, state, upto[room_id]
                    )
        if q.group_by:
            body["groups"] = _groups(results, q.group_by)
        if len(hits) > limit and page:
            body["next_batch"] = f"o{offset + limit}" if q.by_rank else f"p{page[-1].stream_pos}"
        return {"search_categories": {"room_events": body}}

    async def _blind(
        self, conn: AsyncConnection, room_ids: list[str], words: list[str]
    ) -> list[list[str]]:
        """The search words as blind tokens of each room with content sealed at rest."""
        if self._at_rest is None:
            return []
        return await self._at_rest.blind_groups(conn, room_ids, words)

    async def _state(
        self, conn: AsyncConnection, room_id: str, upto: int | None
    ) -> list[StoredEvent]:
        if upto is None:
            return await event_store.current_state_events(conn, room_id)
        return await event_store.state_before(conn, room_id, upto + 1)

    async def _serialise(
        self,
        conn: AsyncConnection,
        requester: Requester,
        events: list[StoredEvent],
        upto: int | None,
    ) -> list[dict[str, Any]]:
        return await client_events(
            conn,
            events,
            now_ms=self._clock.now_ms(),
            viewer_user=requester.user_id,
            viewer_device=requester.device_id,
            aggregate=True,
            visible_upto=upto,
        )

    async def _results(
        self,
        conn: AsyncConnection,
        requester: Requester,
        results: list[StoredEvent],
        hits: list[search_store.Hit],
        upto: dict[str, int | None],
        q: RoomEventsSearch,
    ) -> list[dict[str, Any]]:
        rank = {h.stream_pos: h.rank for h in hits}
        out = []
        for ev in results:
            [event] = await self._serialise(conn, requester, [ev], upto[ev.room_id])
            item: dict[str, Any] = {"rank": rank[ev.stream_pos], "result": event}
            if q.before_limit or q.after_limit or q.include_profile:
                item["context"] = await self._context(conn, requester, ev, upto[ev.room_id], q)
            out.append(item)
        return out

    async def _context(
        self,
        conn: AsyncConnection,
        requester: Requester,
        ev: StoredEvent,
        upto: int | None,
        q: RoomEventsSearch,
    ) -> dict[str, Any]:
        before = await event_store.room_timeline(
            conn, ev.room_id, upto=ev.stream_pos - 1, backwards=True, limit=q.before_limit
        )
        after = await event_store.room_timeline(
            conn,
            ev.room_id,
            after=ev.stream_pos,
            upto=upto,
            backwards=False,
            limit=q.after_limit,
        )
        context: dict[str, Any] = {
            "start": pagination_token((before[-1].stream_pos if before else ev.stream_pos) - 1),
            "end": pagination_token(after[-1].stream_pos if after else ev.stream_pos),
            "events_before": await self._serialise(conn, requester, before, upto),
            "events_after": await self._serialise(conn, requester, after, upto),
        }
        if q.include_profile:
            senders = sorted({e.sender for e in (*before, ev, *after)})
            members = await event_store.current_state_events(
                conn, ev.room_id, keys=[("m.room.member", s) for s in senders]
            )
            context["profile_info"] = {
                str(m.state_key): {
                    k: m.content[k]
                    for k in ("displayname", "avatar_url")
                    if isinstance(m.content.get(k), str)
                }
                for m in members
            }
        return context


def _token(value: str | None, by_rank: bool) -> tuple[int | None, int]:
    """(``before`` position for ``recent``, ``offset`` for ``rank``) from ``next_batch``."""
    if value is None:
        return None, 0
    prefix, digits = value[:1], value[1:]
    if prefix != ("o" if by_rank else "p") or not digits.isdigit() or len(digits) > 18:
        raise invalid_param(f"Invalid next_batch token {value[:40]!r}.")
    return (None, int(digits)) if by_rank else (int(digits), 0)


def _groups(results: list[StoredEvent], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        groups: dict[str, dict[str, Any]] = {}
        for ev in results:
            name = ev.room_id if key == "room_id" else ev.sender
            group = groups.setdefault(name, {"results": [], "order": len(groups) + 1})
            group["results"].append(ev.event_id)
        out[key] = groups
    return out
