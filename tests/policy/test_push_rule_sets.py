"""Table tests for tumar.policy.push_rule_sets: validating user rules, merging them with the
server defaults, and ordering."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.push_rule_sets import (
    RuleError,
    StoredRule,
    client_view,
    find,
    new_rule,
    order_after_put,
    ruleset,
)

ME = "@alice:example.org"


@pytest.mark.parametrize(
    ("kind", "rule_id", "body"),
    [
        ("override", ".mine", {"actions": []}),
        ("override", "a/b", {"actions": []}),
        ("override", "", {"actions": []}),
        ("nonsense", "x", {"actions": []}),
        ("override", "x", {}),
        ("override", "x", {"actions": "notify"}),
        ("override", "x", {"actions": ["notify", "shout"]}),
        ("override", "x", {"actions": [{"set_tweak": "highlight", "value": "yes"}]}),
        ("override", "x", {"actions": [], "conditions": [{"kind": "event_match", "key": "a"}]}),
        ("override", "x", {"actions": [], "conditions": [{"kind": "room_member_count",
                                                            "is": "two"}]}),
        ("override", "x", {"actions": [], "conditions": [{"kind": "event_property_is",
                                                            "key": "a", "value": 1.5}]}),
        ("content", "x", {"actions": []}),
        ("room", "x", {"actions": []}),
        ("sender", "x", {"actions": []}),
    ],
)  # fmt: skip
def test_invalid_rules(kind: str, rule_id: str, body: dict[str, Any]) -> None:
    with pytest.raises(RuleError):
        new_rule(kind, rule_id, body)


def test_merge_order_and_view() -> None:
    stored = [
        new_rule("override", "mine", {"actions": ["notify"], "conditions": []}),
        StoredRule("override", ".m.rule.suppress_notices", True, enabled=False),
        StoredRule("underride", ".m.rule.message", True, actions=["notify", {"set_tweak": "sound",
                                                                              "value": "x"}]),
        new_rule("room", "!r:example.org", {"actions": []}),
    ]  # fmt: skip
    rules = ruleset(ME, stored)
    # The user's own overrides come after master and before the other server defaults, of
    # which tumar's urgent-notice rule comes first, so that suppress_notices cannot silence it.
    assert [r["rule_id"] for r in rules["override"]][:4] == [
        ".m.rule.master",
        "mine",
        ".kz.tumar.rule.urgent_notice",
        ".m.rule.suppress_notices",
    ]
    assert find(rules, "override", ".m.rule.suppress_notices")["enabled"] is False  # type: ignore[index]
    message = find(rules, "underride", ".m.rule.message")
    assert message is not None and message["actions"][1]["value"] == "x"
    room = find(rules, "room", "!r:example.org")
    assert room is not None and room["conditions"][0]["pattern"] == "!r:example.org"
    view = client_view(rules)
    assert "conditions" not in view["room"][0]
    assert find(view, "override", "mine")["default"] is False  # type: ignore[index]


@pytest.mark.parametrize(
    ("current", "rule_id", "before", "after", "expected"),
    [
        ([], "a", None, None, ["a"]),
        (["a", "b"], "c", None, None, ["c", "a", "b"]),
        (["a", "b"], "b", None, None, ["a", "b"]),  # an update keeps its place
        (["a", "b"], "c", "b", None, ["a", "c", "b"]),
        (["a", "b"], "c", None, "a", ["a", "c", "b"]),
        (["a", "b"], "a", None, "b", ["b", "a"]),
    ],
)
def test_order(
    current: list[str], rule_id: str, before: str | None, after: str | None, expected: list[str]
) -> None:
    assert order_after_put(current, rule_id, before, after) == expected


def test_order_needs_an_existing_anchor() -> None:
    with pytest.raises(RuleError):
        order_after_put(["a"], "b", "missing", None)
