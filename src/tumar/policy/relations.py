"""Event relationships (``m.relates_to``): reading them from content and deciding whether a
new event may relate to its parent. Pure: no I/O.

The spec lets servers ignore invalid relations; tumar refuses them instead, so a client learns
at once that its edit, reaction or thread reply went nowhere:

- every relation: the parent must be a known event in the same room;
- ``m.replace`` (edits): same sender, same event type, neither a state event, the parent not
  itself an edit, and (unencrypted) ``m.new_content`` present;
- ``m.annotation`` (reactions): a string ``key``; the parent is not an annotation or an edit;
  the same sender may not send the same type and key twice (``M_DUPLICATE_ANNOTATION``, checked
  by the caller against the relations index);
- ``m.thread``: the parent is not itself the child of a relationship (``M_UNKNOWN``, as the
  spec says).

Replies (``m.in_reply_to`` without ``rel_type``) are stored as sent and not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REPLACE = "m.replace"
ANNOTATION = "m.annotation"
THREAD = "m.thread"
REFERENCE = "m.reference"
ENCRYPTED = "m.room.encrypted"
INVALID_RELATION = "TUMAR_INVALID_RELATION"
MAX_KEY_LENGTH = 512
MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Relation:
    rel_type: str
    event_id: str
    key: str | None = None  # the annotation key of m.annotation


@dataclass(frozen=True, slots=True)
class Parent:
    """What the check needs to know of the event being related to."""

    room_id: str
    type: str
    sender: str
    state_key: str | None
    rel_type: str | None  # the parent's own relation, if any


@dataclass(frozen=True, slots=True)
class RelationVerdict:
    allowed: bool
    reason: str = ""
    errcode: str = ""

    def __bool__(self) -> bool:
        return self.allowed


_OK = RelationVerdict(True)


def _deny(reason: str, errcode: str = INVALID_RELATION) -> RelationVerdict:
    return RelationVerdict(False, reason, errcode)


class MalformedRelation(ValueError):
    """``m.relates_to`` has the wrong shape; the message is safe to show."""


def parse_relation(content: Mapping[str, Any]) -> Relation | None:
    """The relation an event's content declares, ``None`` for none (or a plain reply).

    Raises :class:`MalformedRelation` for a ``m.relates_to`` that is not an object, or a
    ``rel_type`` without a proper ``event_id`` (or an annotation without a string ``key``).
    """
    raw = content.get("m.relates_to")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MalformedRelation("`m.relates_to` must be an object.")
    rel_type = raw.get("rel_type")
    if rel_type is None:
        return None  # a rich reply, or a relation this server does not index
    if not isinstance(rel_type, str) or not rel_type or len(rel_type) > MAX_ID_LENGTH:
        raise MalformedRelation("`m.relates_to.rel_type` must be a non-empty string.")
    event_id = raw.get("event_id")
    if (
        not isinstance(event_id, str)
        or not event_id.startswith("$")
        or not 1 < len(event_id) <= MAX_ID_LENGTH
    ):
        raise MalformedRelation("`m.relates_to.event_id` must be an event id.")
    key = None
    if rel_type == ANNOTATION:
        key = raw.get("key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise MalformedRelation(
                f"An annotation needs `m.relates_to.key`: a string of 1 to {MAX_KEY_LENGTH} "
                "characters."
            )
    return Relation(rel_type, event_id, key)


def relation_type(content: Mapping[str, Any]) -> str | None:
    """The ``rel_type`` an event carries, without validating anything else."""
    raw = content.get("m.relates_to")
    if isinstance(raw, Mapping):
        value = raw.get("rel_type")
        if isinstance(value, str):
            return value
    return None


def thread_of(content: Mapping[str, Any]) -> str | None:
    """The thread root an event belongs to (the parent of its ``m.thread`` relation)."""
    raw = content.get("m.relates_to")
    if isinstance(raw, Mapping) and raw.get("rel_type") == THREAD:
        root = raw.get("event_id")
        if isinstance(root, str):
            return root
    return None


def check_relation(
    relation: Relation,
    *,
    room_id: str,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
    parent: Parent | None,
) -> RelationVerdict:
    """May an event with ``relation`` (of this type, sender and content) be sent?"""
    if parent is None or parent.room_id != room_id:
        return _deny(f"The event {relation.event_id} this relates to is not in this room.")
    if relation.rel_type == REPLACE:
        return _check_replace(event_type, state_key, sender, content, parent)
    if relation.rel_type == ANNOTATION and parent.rel_type in (ANNOTATION, REPLACE):
        return _deny(
            "An annotation must refer to the original event, not to an edit or another annotation."
        )
    if relation.rel_type == THREAD and parent.rel_type is not None:
        return _deny(
            "A thread cannot start from an event that itself relates to another event "
            f"(it has rel_type {parent.rel_type}).",
            "M_UNKNOWN",
        )
    return _OK


def _check_replace(
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
    parent: Parent,
) -> RelationVerdict:
    if parent.sender != sender:
        return _deny("You can only edit your own messages.")
    if state_key is not None or parent.state_key is not None:
        return _deny("State events cannot be edited.")
    if parent.type != event_type:
        return _deny(
            f"An edit must keep the event type: the original is {parent.type}, "
            f"the edit {event_type}."
        )
    if parent.rel_type == REPLACE:
        return _deny("An edit cannot be edited; edit the original event instead.")
    if event_type != ENCRYPTED and not isinstance(content.get("m.new_content"), Mapping):
        return _deny("An edit needs `m.new_content`: the replacement content.")
    return _OK
