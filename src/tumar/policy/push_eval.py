"""Evaluating push rules against an event: which actions apply, and so whether the event
notifies the user and whether it is a highlight. Pure: no I/O.

Follows the spec's "Push Rules" section: rules in kind order (override, content, room, sender,
underride), the first enabled rule whose conditions all hold decides; unknown condition kinds
never match. Globs are case-insensitive (``*`` and ``?``); an ``event_match`` on
``content.body`` and content rules match whole words, and so does ``contains_display_name``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tumar.policy.filters import split_dotted_path

KIND_ORDER = ("override", "content", "room", "sender", "underride")


@dataclass(frozen=True, slots=True)
class PushContext:
    """What the conditions need besides the event, for one recipient in one room."""

    user_id: str
    display_name: str | None
    member_count: int
    sender_power: int
    notification_levels: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    notify: bool
    highlight: bool
    actions: tuple[Any, ...] = ()


NOTHING = Outcome(False, False)


@lru_cache(maxsize=4096)
def _glob(pattern: str, words: bool) -> re.Pattern[str]:
    body = "".join(
        ".*?" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.casefold()
    )
    if words:
        return re.compile(rf"(?:^|\W)(?:{body})(?:$|\W)", re.DOTALL)
    return re.compile(rf"(?:{body})", re.DOTALL)


def glob_matches(pattern: str, value: str, *, words: bool = False) -> bool:
    """``pattern`` matches the whole of ``value`` (or, with ``words``, a run of whole words
    in it), ignoring case."""
    regex = _glob(pattern, words)
    folded = value.casefold()
    if words:
        return regex.search(folded) is not None
    return regex.fullmatch(folded) is not None


@lru_cache(maxsize=1024)
def _path(key: str) -> tuple[str, ...]:
    """A rule's key split once (every unread count evaluates the same few keys)."""
    return tuple(split_dotted_path(key))


def _lookup(event: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = event
    for part in _path(key):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans and numbers apart (``True != 1``)."""
    return type(a) is type(b) and a == b


def _member_count(spec: str, count: int) -> bool:
    match = re.fullmatch(r"(==|<=|>=|<|>)?([0-9]+)", spec)
    if match is None:
        return False
    op, number = match.group(1) or "==", int(match.group(2))
    return {
        "==": count == number,
        "<": count < number,
        ">": count > number,
        "<=": count <= number,
        ">=": count >= number,
    }[op]


def condition_holds(
    condition: Mapping[str, Any], event: Mapping[str, Any], ctx: PushContext
) -> bool:
    kind = condition.get("kind")
    if kind == "event_match":
        key, pattern = condition.get("key"), condition.get("pattern")
        if not isinstance(key, str) or not isinstance(pattern, str):
            return False
        found, value = _lookup(event, key)
        return (
            found
            and isinstance(value, str)
            and glob_matches(pattern, value, words=key == "content.body")
        )
    if kind in ("event_property_is", "event_property_contains"):
        key = condition.get("key")
        if not isinstance(key, str):
            return False
        found, value = _lookup(event, key)
        if not found:
            return False
        if kind == "event_property_is":
            return _same(value, condition.get("value"))
        return isinstance(value, list) and any(_same(v, condition.get("value")) for v in value)
    if kind == "contains_display_name":
        found, body = _lookup(event, "content.body")
        name = ctx.display_name
        return bool(found and isinstance(body, str) and name and name.strip()) and bool(
            re.search(rf"(?:^|\W){re.escape(str(name).casefold())}(?:$|\W)", str(body).casefold())
        )
    if kind == "room_member_count":
        spec = condition.get("is")
        return isinstance(spec, str) and _member_count(spec, ctx.member_count)
    if kind == "sender_notification_permission":
        key = condition.get("key")
        if not isinstance(key, str):
            return False
        return ctx.sender_power >= ctx.notification_levels.get(key, 50)
    return False  # unknown kinds never match


def _rule_matches(
    kind: str, rule: Mapping[str, Any], event: Mapping[str, Any], ctx: PushContext
) -> bool:
    if kind == "content":
        pattern = rule.get("pattern")
        found, body = _lookup(event, "content.body")
        return (
            isinstance(pattern, str)
            and found
            and isinstance(body, str)
            and glob_matches(pattern, body, words=True)
        )
    if kind == "room" and "conditions" not in rule:
        return event.get("room_id") == rule.get("rule_id")
    if kind == "sender" and "conditions" not in rule:
        return event.get("sender") == rule.get("rule_id")
    conditions = rule.get("conditions") or []
    return all(condition_holds(c, event, ctx) for c in conditions if isinstance(c, Mapping))


def evaluate(
    rules: Mapping[str, Sequence[Mapping[str, Any]]], event: Mapping[str, Any], ctx: PushContext
) -> Outcome:
    """The outcome of the first enabled matching rule (nothing if none matches)."""
    for kind in KIND_ORDER:
        for rule in rules.get(kind, ()):
            if rule.get("enabled", True) and _rule_matches(kind, rule, event, ctx):
                return outcome(rule.get("actions") or [])
    return NOTHING


def outcome(actions: Sequence[Any]) -> Outcome:
    notify = "notify" in actions
    highlight = any(
        isinstance(a, Mapping)
        and a.get("set_tweak") == "highlight"
        and a.get("value", True) is True
        for a in actions
    )
    return Outcome(notify, notify and highlight, tuple(actions))
