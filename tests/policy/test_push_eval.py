"""Table tests for tumar.policy.push_eval: conditions, rule order and outcomes, with the
server-default rules of tumar.policy.push_rules."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.push_eval import (
    PushContext,
    compile_rules,
    condition_holds,
    evaluate,
    glob_matches,
    outcome,
)
from tumar.policy.push_rules import default_push_rules

ME = "@alice:example.org"
CTX = PushContext(ME, "Alice Smith", 3, 0, {"room": 50})


def message(body: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": "@bob:example.org",
        "room_id": "!r:example.org",
        "content": {"msgtype": "m.text", "body": body, **content},
    }


@pytest.mark.parametrize(
    ("pattern", "value", "words", "expected"),
    [
        ("cake", "cake", False, True),
        ("cake", "CAKE", False, True),
        ("cake", "cakes", False, False),
        ("cake*", "cakes", False, True),
        ("c?ke", "coke", False, True),
        ("cake", "I like cake!", True, True),
        ("cake", "pancakes", True, False),
        ("торт", "Хочу ТОРТ сегодня", True, True),
        ("a.b", "aXb", False, False),  # regex characters are literal
    ],
)
def test_glob(pattern: str, value: str, words: bool, expected: bool) -> None:
    assert glob_matches(pattern, value, words=words) is expected


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ({"kind": "event_match", "key": "type", "pattern": "m.room.*"}, message("x"), True),
        ({"kind": "event_match", "key": "content.body", "pattern": "x"}, message("a x b"), True),
        ({"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}, message("x"),
         False),
        ({"kind": "event_match", "key": "content.missing", "pattern": "*"}, message("x"), False),
        # Literal patterns (no glob characters) compare whole values, ignoring case.
        ({"kind": "event_match", "key": "type", "pattern": "M.Room.Message"}, message("x"), True),
        ({"kind": "event_match", "key": "type", "pattern": "m.room"}, message("x"), False),
        ({"kind": "event_match", "key": "content.n", "pattern": "1"}, message("x", n=1), False),
        ({"kind": "event_match", "key": "content", "pattern": "x"}, message("x"), False),
        ({"kind": "event_match", "key": "content.msgtype.deeper", "pattern": "m.text"},
         message("x"), False),
        ({"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
         message("x", **{"m.mentions": {"room": True}}), True),
        ({"kind": "event_property_is", "key": "content.n", "value": 1}, message("x", n=True),
         False),
        ({"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids",
          "value": ME}, message("x", **{"m.mentions": {"user_ids": [ME]}}), True),
        ({"kind": "event_property_contains", "key": "content.body", "value": "x"}, message("x"),
         False),
        ({"kind": "contains_display_name"}, message("hi alice smith!"), True),
        ({"kind": "contains_display_name"}, message("hi alice smithers"), False),
        ({"kind": "room_member_count", "is": "3"}, message("x"), True),
        ({"kind": "room_member_count", "is": ">=4"}, message("x"), False),
        ({"kind": "room_member_count", "is": "<4"}, message("x"), True),
        ({"kind": "room_member_count", "is": "==3"}, message("x"), True),
        ({"kind": "room_member_count", "is": ">2"}, message("x"), True),
        ({"kind": "room_member_count", "is": "<=2"}, message("x"), False),
        ({"kind": "room_member_count", "is": "three"}, message("x"), False),
        ({"kind": "room_member_count", "is": 3}, message("x"), False),
        ({"kind": "contains_display_name"}, {**message("x"), "content": {"body": 7}}, False),
        ({"kind": "sender_notification_permission", "key": "room"}, message("x"), False),
        ({"kind": "org.unknown"}, message("x"), False),
    ],
)  # fmt: skip
def test_conditions(condition: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, event, CTX) is expected


RULES = default_push_rules(ME)["global"]


@pytest.mark.parametrize(
    ("event", "notify", "highlight"),
    [
        (message("hello"), True, False),
        (message("hello alice"), True, True),  # the localpart (legacy content rule)
        (message("ALICE SMITH, look"), True, True),  # the display name
        (message("x", **{"m.mentions": {"user_ids": [ME]}}), True, True),
        (message("x", msgtype="m.notice"), False, False),  # suppress_notices
        ({**message("x"), "type": "m.reaction"}, False, False),
        (message("* x", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$e"}}), False,
         False),  # suppress_edits
        ({**message("x"), "type": "org.custom"}, False, False),  # nothing matches
        ({**message("x"), "type": "m.room.encrypted"}, True, False),
    ],
)  # fmt: skip
def test_default_rules(event: dict[str, Any], notify: bool, highlight: bool) -> None:
    result = evaluate(RULES, event, CTX)
    assert (result.notify, result.highlight) == (notify, highlight)


def test_compiled_rules_skip_disabled_ones_and_keep_their_order() -> None:
    first = {"rule_id": "a", "enabled": True, "conditions": [], "actions": ["notify"]}
    off = {"rule_id": "b", "enabled": False, "conditions": [], "actions": []}
    later = {"rule_id": "c", "conditions": [], "actions": []}
    rules = {"underride": [first], "override": [off, later]}
    compiled = compile_rules(rules)
    assert len(compiled.rules) == 2  # the disabled one is gone
    assert compiled.evaluate(message("x"), CTX).notify is False  # override before underride
    assert compile_rules({"underride": [first]}).evaluate(message("x"), CTX).notify is True


def test_room_mention_needs_power() -> None:
    event = message("@room", **{"m.mentions": {"room": True}})
    assert evaluate(RULES, event, CTX).highlight is False
    powerful = PushContext(ME, None, 3, 50, {"room": 50})
    assert evaluate(RULES, event, powerful).highlight is True


def test_order_and_disabled_rules() -> None:
    rules = default_push_rules(ME)["global"]
    rules["room"] = [{"rule_id": "!r:example.org", "enabled": True, "actions": []}]
    assert evaluate(rules, message("hello"), CTX).notify is False  # room before underride
    assert evaluate(rules, message("hello alice"), CTX).highlight is True  # content first
    rules["override"][0]["enabled"] = True  # the master rule silences everything
    assert evaluate(rules, message("hello alice"), CTX).notify is False


def test_outcome() -> None:
    assert outcome(["notify", {"set_tweak": "highlight", "value": False}]).highlight is False
    assert outcome(["notify", {"set_tweak": "highlight"}]).highlight is True
    assert outcome([{"set_tweak": "highlight"}]).notify is False
