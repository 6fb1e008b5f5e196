"""A user's push rules: the server defaults with the user's changes, and the user's own rules.
Pure: no I/O.

Order within a kind follows the reference server: ``.m.rule.master`` first, then the user's own
rules (most important first), then the other server-default rules. The user can switch a
default rule on or off and change its actions, but not its conditions, and cannot delete it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tumar.policy.push_rules import default_push_rules

KINDS = ("override", "content", "room", "sender", "underride")
MASTER = ".m.rule.master"
MAX_RULE_ID = 255
MAX_RULES_PER_USER = 500
MAX_CONDITIONS = 20
MAX_ACTIONS = 20
ACTION_WORDS = ("notify", "dont_notify", "coalesce")  # the last two are deprecated no-ops
CONDITION_KINDS = (
    "event_match",
    "event_property_is",
    "event_property_contains",
    "contains_display_name",
    "room_member_count",
    "sender_notification_permission",
)
MEMBER_COUNT = re.compile(r"(==|<=|>=|<|>)?[0-9]{1,9}")


class RuleError(ValueError):
    """An invalid rule; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class StoredRule:
    """One row of the user's push rules: their own rule, or a change to a default one."""

    kind: str
    rule_id: str
    is_default: bool
    position: int = 0
    pattern: str | None = None
    conditions: Sequence[Mapping[str, Any]] | None = None
    actions: Sequence[Any] | None = None
    enabled: bool | None = None


def validate_rule_id(kind: str, rule_id: str) -> None:
    if kind not in KINDS:
        raise RuleError(f"Unknown push rule kind {kind!r}.")
    if not rule_id or len(rule_id) > MAX_RULE_ID:
        raise RuleError(f"A push rule id must be 1 to {MAX_RULE_ID} characters.")
    if "/" in rule_id or "\\" in rule_id:
        raise RuleError("A push rule id cannot contain slashes or backslashes.")


def validate_actions(actions: object) -> list[Any]:
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise RuleError(f"`actions` must be a list of at most {MAX_ACTIONS} actions.")
    for action in actions:
        if isinstance(action, str):
            if action not in ACTION_WORDS:
                raise RuleError(f"Unknown push rule action {action!r}.")
        elif isinstance(action, dict):
            tweak = action.get("set_tweak")
            if not isinstance(tweak, str) or not tweak:
                raise RuleError("An action object needs `set_tweak`: a tweak name.")
            if tweak == "highlight" and not isinstance(action.get("value", True), bool):
                raise RuleError("The `highlight` tweak takes a boolean value.")
        else:
            raise RuleError("Each action is a string or an object with `set_tweak`.")
    return list(actions)


def validate_conditions(conditions: object) -> list[dict[str, Any]]:
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise RuleError(f"`conditions` must be a list of at most {MAX_CONDITIONS} conditions.")
    out: list[dict[str, Any]] = []
    for condition in conditions:
        if not isinstance(condition, dict) or not isinstance(condition.get("kind"), str):
            raise RuleError("Each condition is an object with a string `kind`.")
        kind = condition["kind"]
        if kind in ("event_match",) and not (
            isinstance(condition.get("key"), str) and isinstance(condition.get("pattern"), str)
        ):
            raise RuleError("An event_match condition needs string `key` and `pattern`.")
        if kind in ("event_property_is", "event_property_contains"):
            if not isinstance(condition.get("key"), str) or "value" not in condition:
                raise RuleError(f"A {kind} condition needs a string `key` and a `value`.")
            value = condition["value"]
            if isinstance(value, (dict, list, float)):
                raise RuleError(
                    f"The `value` of {kind} must be a string, integer, boolean or null."
                )
        if kind == "room_member_count" and not (
            isinstance(condition.get("is"), str) and MEMBER_COUNT.fullmatch(condition["is"])
        ):
            raise RuleError('A room_member_count condition needs `is`, such as "2" or ">=10".')
        if kind == "sender_notification_permission" and not isinstance(condition.get("key"), str):
            raise RuleError("A sender_notification_permission condition needs a string `key`.")
        out.append(dict(condition))
    return out


def new_rule(kind: str, rule_id: str, body: Mapping[str, Any]) -> StoredRule:
    """A user-defined rule from a ``PUT /pushrules/global/{kind}/{ruleId}`` body."""
    validate_rule_id(kind, rule_id)
    if rule_id.startswith("."):
        raise RuleError("Rule ids starting with '.' are reserved for the server's rules.")
    actions = validate_actions(body.get("actions"))
    pattern = None
    conditions: list[dict[str, Any]] | None = None
    if kind == "content":
        pattern = body.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise RuleError("A content rule needs `pattern`: a glob matched against the body.")
    elif kind in ("override", "underride"):
        conditions = validate_conditions(body.get("conditions", []))
    elif kind == "room" and not rule_id.startswith("!"):
        raise RuleError("The id of a room rule is the room id it applies to.")
    elif kind == "sender" and not rule_id.startswith("@"):
        raise RuleError("The id of a sender rule is the user id it applies to.")
    return StoredRule(
        kind, rule_id, False, pattern=pattern, conditions=conditions, actions=actions, enabled=True
    )


def _as_json(rule: StoredRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule_id": rule.rule_id,
        "default": False,
        "enabled": rule.enabled is not False,
        "actions": list(rule.actions or []),
    }
    if rule.kind == "content":
        out["pattern"] = rule.pattern
    elif rule.kind in ("override", "underride"):
        out["conditions"] = [dict(c) for c in rule.conditions or []]
    elif rule.kind == "room":
        out["conditions"] = [{"kind": "event_match", "key": "room_id", "pattern": rule.rule_id}]
    elif rule.kind == "sender":
        out["conditions"] = [{"kind": "event_match", "key": "sender", "pattern": rule.rule_id}]
    return out


def ruleset(
    user_id: str, stored: Sequence[StoredRule], *, legacy_mentions: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """The user's whole rule set (``global`` of ``GET /pushrules/``), in evaluation order."""
    defaults = default_push_rules(user_id, legacy_mentions=legacy_mentions)["global"]
    changes = {(r.kind, r.rule_id): r for r in stored if r.is_default}
    own = sorted((r for r in stored if not r.is_default), key=lambda r: r.position)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        base = []
        for rule in defaults[kind]:
            change = changes.get((kind, rule["rule_id"]))
            if change is not None:
                if change.enabled is not None:
                    rule["enabled"] = change.enabled
                if change.actions is not None:
                    rule["actions"] = copy.deepcopy(list(change.actions))
            base.append(rule)
        mine = [_as_json(r) for r in own if r.kind == kind]
        first = [r for r in base if r["rule_id"] == MASTER]
        rest = [r for r in base if r["rule_id"] != MASTER]
        out[kind] = first + mine + rest
    return out


def client_view(rules: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rule set as clients see it: room and sender rules carry no conditions (the spec's
    format), everything else as evaluated."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, items in rules.items():
        if kind in ("room", "sender"):
            out[kind] = [{k: v for k, v in r.items() if k != "conditions"} for r in items]
        else:
            out[kind] = [dict(r) for r in items]
    return out


def find(
    rules: Mapping[str, list[dict[str, Any]]], kind: str, rule_id: str
) -> dict[str, Any] | None:
    return next((r for r in rules.get(kind, []) if r["rule_id"] == rule_id), None)


def order_after_put(
    current: Sequence[str], rule_id: str, before: str | None, after: str | None
) -> list[str]:
    """The order of the user's rules of one kind (most important first) once ``rule_id`` is
    put: just before ``before`` or just after ``after`` if given; else where it was, or first
    if it is new. ``before`` and ``after`` name the user's own rules, never server defaults."""
    others = [r for r in current if r != rule_id]
    anchor = before if before is not None else after
    if anchor is None:
        if rule_id in current:
            return list(current)
        return [rule_id, *others]
    if anchor not in others:
        raise RuleError(f"The rule {anchor!r} to place this rule next to does not exist.")
    index = others.index(anchor) + (0 if before is not None else 1)
    return [*others[:index], rule_id, *others[index:]]
