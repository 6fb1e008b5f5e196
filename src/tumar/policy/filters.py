"""Matrix sync/event filters: parsing, matching and ``event_fields`` projection.

Pure code: no I/O, no clock. The API layer turns :class:`FilterError` into ``M_BAD_JSON``.

Decisions (see the constants below):

* ``limit`` must be a JSON integer ``>= 0`` (booleans and floats are rejected). The spec asks
  for ``> 0``; ``0`` is accepted as a leniency because some clients and bots send it to skip
  history, and it means "no events". Values above :data:`MAX_EVENT_LIMIT` are accepted when the
  filter is stored and clamped when used (:func:`effective_limit`).
* When a filter gives no ``limit``, :data:`DEFAULT_TIMELINE_LIMIT` applies.
* Lists that are absent (or ``null``) do not restrict anything; an empty list matches nothing.
  ``not_*`` lists always win over their positive counterparts.
* Unknown keys are ignored, for forward compatibility.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from annotated_types import Ge
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

__all__ = [
    "DEFAULT_TIMELINE_LIMIT",
    "MAX_EVENT_LIMIT",
    "EventFilter",
    "Filter",
    "FilterError",
    "RoomEventFilter",
    "RoomFilter",
    "apply_event_fields",
    "effective_limit",
    "event_matches",
    "filter_to_json",
    "parse_filter",
    "room_allowed",
    "split_dotted_path",
    "type_matches",
]

DEFAULT_TIMELINE_LIMIT = 10
"""Events per room timeline (and per filter) when the filter gives no ``limit``."""

MAX_EVENT_LIMIT = 1000
"""Upper bound applied to any ``limit``, to avoid resource exhaustion."""

_Limit = Annotated[int, Strict(), Ge(0)]
_Strings = tuple[Annotated[str, Strict()], ...]
_Bool = Annotated[bool, Strict()]


class FilterError(ValueError):
    """The filter JSON is malformed. The message is readable and safe to return to clients."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class EventFilter(_Frozen):
    """The spec's ``EventFilter`` (used for presence and global account data)."""

    limit: _Limit | None = None
    types: _Strings | None = None
    not_types: _Strings | None = None
    senders: _Strings | None = None
    not_senders: _Strings | None = None


class RoomEventFilter(EventFilter):
    """The spec's ``RoomEventFilter`` (timeline, state, ephemeral, per-room account data)."""

    rooms: _Strings | None = None
    not_rooms: _Strings | None = None
    contains_url: _Bool | None = None
    lazy_load_members: _Bool = False
    include_redundant_members: _Bool = False
    unread_thread_notifications: _Bool = False


class RoomFilter(_Frozen):
    """The spec's ``RoomFilter``; ``rooms``/``not_rooms`` apply before the inner filters."""

    rooms: _Strings | None = None
    not_rooms: _Strings | None = None
    include_leave: _Bool = False
    timeline: RoomEventFilter = Field(default_factory=RoomEventFilter)
    state: RoomEventFilter = Field(default_factory=RoomEventFilter)
    ephemeral: RoomEventFilter = Field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = Field(default_factory=RoomEventFilter)


class Filter(_Frozen):
    """A whole sync filter, as uploaded to ``POST /user/{userId}/filter`` or sent inline."""

    event_fields: _Strings | None = None
    event_format: Literal["client", "federation"] = "client"
    presence: EventFilter = Field(default_factory=EventFilter)
    account_data: EventFilter = Field(default_factory=EventFilter)
    room: RoomFilter = Field(default_factory=RoomFilter)


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "filter"


def parse_filter(raw: object) -> Filter:
    """Validate a decoded JSON filter. Raises :class:`FilterError` on any wrong type."""
    if not isinstance(raw, dict):
        raise FilterError("filter must be a JSON object")
    try:
        return Filter.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_location(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise FilterError("invalid filter: " + "; ".join(problems)) from None


def filter_to_json(f: Filter) -> dict[str, Any]:
    """The filter as JSON, keeping only the keys the client set (for ``GET .../filter/{id}``)."""
    return f.model_dump(mode="json", exclude_unset=True)


def effective_limit(f: EventFilter | None, *, default: int = DEFAULT_TIMELINE_LIMIT) -> int:
    """The number of events to return: the filter's ``limit`` (or ``default``), clamped."""
    limit = default if f is None or f.limit is None else f.limit
    return max(0, min(limit, MAX_EVENT_LIMIT))


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether ``event_type`` matches ``pattern``, where ``*`` matches any run of characters.

    Linear-time greedy matching (no regular expressions), so a client-supplied pattern such as
    ``*a*a*a*a*b`` cannot make matching blow up.
    """
    if "*" not in pattern:
        return pattern == event_type
    head, *middle, tail = pattern.split("*")
    end = len(event_type) - len(tail)
    if end < len(head) or not event_type.startswith(head) or not event_type.endswith(tail):
        return False
    pos = len(head)
    for piece in middle:
        found = event_type.find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True


def _any_type(patterns: Sequence[str], event_type: str) -> bool:
    return any(type_matches(p, event_type) for p in patterns)


def event_matches(
    f: EventFilter | RoomEventFilter,
    *,
    event_type: str,
    sender: str,
    room_id: str | None = None,
    has_url: bool = False,
) -> bool:
    """Whether an event passes ``f``. ``not_*`` lists win over the positive ones.

    ``room_id=None`` means the event is not tied to a room: ``rooms``/``not_rooms`` are skipped.
    ``has_url`` says whether the event's ``content`` has a ``url`` key (for ``contains_url``).
    """
    if f.not_types is not None and _any_type(f.not_types, event_type):
        return False
    if f.types is not None and not _any_type(f.types, event_type):
        return False
    if f.not_senders is not None and sender in f.not_senders:
        return False
    if f.senders is not None and sender not in f.senders:
        return False
    if isinstance(f, RoomEventFilter):
        if room_id is not None:
            if f.not_rooms is not None and room_id in f.not_rooms:
                return False
            if f.rooms is not None and room_id not in f.rooms:
                return False
        if f.contains_url is not None and f.contains_url != has_url:
            return False
    return True


def room_allowed(f: RoomFilter, room_id: str) -> bool:
    """Whether the room passes the top-level ``room.rooms``/``room.not_rooms`` lists."""
    if f.not_rooms is not None and room_id in f.not_rooms:
        return False
    return f.rooms is None or room_id in f.rooms


def split_dotted_path(path: str) -> list[str]:
    """Split a spec dot-separated property path into property names.

    ``\\.`` is a literal dot and ``\\\\`` a literal backslash; any other backslash is kept
    as-is (so ``\\x`` stays a backslash followed by ``x``).
    """
    names: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path) and path[i + 1] in ".\\":
            current.append(path[i + 1])
            i += 2
            continue
        if char == ".":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    names.append("".join(current))
    return names


def apply_event_fields(event: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Keep only the listed dot-separated paths of ``event`` (a deep copy; input untouched).

    Paths only descend through JSON objects; a path that is missing, or that runs through a
    non-object, contributes nothing. An empty ``fields`` gives an empty object: callers apply
    this only when the filter has ``event_fields`` at all.
    """
    result: dict[str, Any] = {}
    for path in fields:
        names = split_dotted_path(path)
        source: Any = event
        for name in names:
            if not isinstance(source, dict) or name not in source:
                break
            source = source[name]
        else:
            target = result
            for name in names[:-1]:
                child = target.get(name)
                if not isinstance(child, dict):
                    child = target[name] = {}
                target = child
            target[names[-1]] = copy.deepcopy(source)
    return result
