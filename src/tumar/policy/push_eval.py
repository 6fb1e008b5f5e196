"""Evaluating push rules against an event: which actions apply, and so whether the event
notifies the user and whether it is a highlight. Pure: no I/O.

Follows the spec's "Push Rules" section: rules in kind order (override, content, room, sender,
underride), the first enabled rule whose conditions all hold decides; unknown condition kinds
never match. Globs are case-insensitive (``*`` and ``?``); an ``event_match`` on
``content.body`` and content rules match whole words, and so does ``contains_display_name``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

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


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans and numbers apart (``True != 1``)."""
    return type(a) is type(b) and a == b


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _member_count_test(spec: str) -> Callable[[int], bool] | None:
    """``room_member_count``'s ``is`` (``2``, ``>10``, ``<=5``...) as a test of a count;
    ``None`` when malformed."""
    match = re.fullmatch(r"(==|<=|>=|<|>)?([0-9]+)", spec)
    if match is None:
        return None
    compare, number = _COMPARE[match.group(1) or "=="], int(match.group(2))
    return lambda count: compare(count, number)


# ---- compiled rules ----------------------------------------------------------------------------
#
# Every unread count evaluates a user's whole rule set against each new event, for every
# member a message wakes. A rule set is therefore turned once into closures, one per condition,
# with its keys split and its globs compiled; evaluating it is then a walk over those.

Matcher = Callable[[Mapping[str, Any], PushContext], bool]


def _never(_event: Mapping[str, Any], _ctx: PushContext) -> bool:
    return False


def _always(_event: Mapping[str, Any], _ctx: PushContext) -> bool:
    return True


_MISSING: Any = object()


def _get(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``, or ``_MISSING``."""
    node: Any = event
    for part in path:
        if not isinstance(node, Mapping):
            return _MISSING
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def _text_matcher(path: tuple[str, ...], pattern: str, words: bool) -> Matcher:
    """The string at ``path`` matches the glob ``pattern`` (whole value, or whole words)."""
    if not words and "*" not in pattern and "?" not in pattern:
        # A literal (event types, msgtypes): equality, ignoring case.
        literal = pattern.casefold()

        def equals(event: Mapping[str, Any], _ctx: PushContext) -> bool:
            value = _get(event, path)
            return isinstance(value, str) and (value == pattern or value.casefold() == literal)

        return equals
    regex = _glob(pattern, words)
    test = regex.search if words else regex.fullmatch

    def matches(event: Mapping[str, Any], _ctx: PushContext) -> bool:
        value = _get(event, path)
        return isinstance(value, str) and test(value.casefold()) is not None

    return matches


def compile_condition(condition: Mapping[str, Any]) -> Matcher:
    kind = condition.get("kind")
    if kind == "event_match":
        key, pattern = condition.get("key"), condition.get("pattern")
        if not isinstance(key, str) or not isinstance(pattern, str):
            return _never
        return _text_matcher(_path(key), pattern, words=key == "content.body")
    if kind in ("event_property_is", "event_property_contains"):
        key = condition.get("key")
        if not isinstance(key, str):
            return _never
        path, wanted = _path(key), condition.get("value")
        if kind == "event_property_is":

            def property_is(event: Mapping[str, Any], _ctx: PushContext) -> bool:
                value = _get(event, path)
                return value is not _MISSING and _same(value, wanted)

            return property_is

        def property_contains(event: Mapping[str, Any], _ctx: PushContext) -> bool:
            value = _get(event, path)
            return isinstance(value, list) and any(_same(v, wanted) for v in value)

        return property_contains
    if kind == "contains_display_name":
        return _contains_display_name
    if kind == "room_member_count":
        spec = condition.get("is")
        test = _member_count_test(spec) if isinstance(spec, str) else None
        if test is None:
            return _never
        return lambda _event, ctx: test(ctx.member_count)
    if kind == "sender_notification_permission":
        key = condition.get("key")
        if not isinstance(key, str):
            return _never
        return lambda _event, ctx: ctx.sender_power >= ctx.notification_levels.get(key, 50)
    return _never  # unknown kinds never match


_BODY = _path("content.body")


def _contains_display_name(event: Mapping[str, Any], ctx: PushContext) -> bool:
    body = _get(event, _BODY)
    name = ctx.display_name
    if not isinstance(body, str) or not name or not name.strip():
        return False
    return _whole_words(name).search(body.casefold()) is not None


@lru_cache(maxsize=4096)
def _whole_words(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?:^|\W){re.escape(text.casefold())}(?:$|\W)")


def condition_holds(
    condition: Mapping[str, Any], event: Mapping[str, Any], ctx: PushContext
) -> bool:
    return compile_condition(condition)(event, ctx)


def compile_rule(kind: str, rule: Mapping[str, Any]) -> Matcher:
    if kind == "content":
        pattern = rule.get("pattern")
        if not isinstance(pattern, str):
            return _never
        return _text_matcher(_BODY, pattern, words=True)
    if kind == "room" and "conditions" not in rule:
        room = rule.get("rule_id")
        return lambda event, _ctx: event.get("room_id") == room
    if kind == "sender" and "conditions" not in rule:
        sender = rule.get("rule_id")
        return lambda event, _ctx: event.get("sender") == sender
    conditions = tuple(
        compile_condition(c) for c in rule.get("conditions") or [] if isinstance(c, Mapping)
    )
    if not conditions:
        return _always
    if len(conditions) == 1:
        return conditions[0]

    if len(conditions) == 2:  # most rules: the type, then one more
        first, second = conditions
        return lambda event, ctx: first(event, ctx) and second(event, ctx)
    return lambda event, ctx: all(holds(event, ctx) for holds in conditions)


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A rule set's enabled rules in evaluation order, each with its outcome."""

    rules: tuple[tuple[Matcher, Outcome], ...]

    def evaluate(self, event: Mapping[str, Any], ctx: PushContext) -> Outcome:
        """The outcome of the first matching rule (nothing if none matches)."""
        for matches, result in self.rules:
            if matches(event, ctx):
                return result
        return NOTHING


def compile_rules(rules: Mapping[str, Sequence[Mapping[str, Any]]]) -> CompiledRules:
    return CompiledRules(
        tuple(
            _compiled(kind, orjson.dumps(rule, option=orjson.OPT_SORT_KEYS))
            for kind in KIND_ORDER
            for rule in rules.get(kind, ())
            if rule.get("enabled", True)
        )
    )


@lru_cache(maxsize=8192)
def _compiled(kind: str, rule_json: bytes) -> tuple[Matcher, Outcome]:
    """One rule, compiled once for every user who has the same rule: most of the defaults are
    the same for everyone, so a cache of many users' rule sets holds one copy of them."""
    rule = orjson.loads(rule_json)
    return compile_rule(kind, rule), outcome(rule.get("actions") or [])


def evaluate(
    rules: Mapping[str, Sequence[Mapping[str, Any]]], event: Mapping[str, Any], ctx: PushContext
) -> Outcome:
    """The outcome of the first enabled matching rule (nothing if none matches). Callers
    that evaluate many events keep :func:`compile_rules`' result instead."""
    return compile_rules(rules).evaluate(event, ctx)


def outcome(actions: Sequence[Any]) -> Outcome:
    notify = "notify" in actions
    highlight = any(
        isinstance(a, Mapping)
        and a.get("set_tweak") == "highlight"
        and a.get("value", True) is True
        for a in actions
    )
    return Outcome(notify, notify and highlight, tuple(actions))
