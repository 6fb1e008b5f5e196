"""Tests for tumar.policy.push_rules against the Matrix spec's schemas and rule list."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tumar.policy.push_rules import default_push_rules, localpart

SPEC = Path("/work/shared/matrix-spec/data/api/client-server/definitions")
USER = "@alice.smith:example.org:8448"

# The spec's predefined rules, in the spec's order, with their kinds; plus tumar's one
# server-default rule (urgent government notifications highlight), deliberately placed right
# before `.m.rule.suppress_notices`, which would otherwise silence them (docs/notifications.md).
OVERRIDE = [
    ".m.rule.master",
    ".kz.tumar.rule.urgent_notice",
    ".m.rule.suppress_notices",
    ".m.rule.invite_for_me",
    ".m.rule.member_event",
    ".m.rule.is_user_mention",
    ".m.rule.contains_display_name",
    ".m.rule.is_room_mention",
    ".m.rule.roomnotif",
    ".m.rule.tombstone",
    ".m.rule.reaction",
    ".m.rule.room.server_acl",
    ".m.rule.suppress_edits",
]
CONTENT = [".m.rule.contains_user_name"]
UNDERRIDE = [
    ".m.rule.call",
    ".m.rule.encrypted_room_one_to_one",
    ".m.rule.room_one_to_one",
    ".m.rule.message",
    ".m.rule.encrypted",
]
LEGACY = {".m.rule.contains_display_name", ".m.rule.roomnotif", ".m.rule.contains_user_name"}
KINDS = ("override", "content", "room", "sender", "underride")

pytestmark = pytest.mark.skipif(not SPEC.is_dir(), reason="Matrix spec data not available")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SPEC / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _resolve(node: Any) -> Any:
    """Inline every relative ``$ref`` to a sibling YAML file, by hand."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolve(_load(node["$ref"]))
        return {key: _resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    return node


@pytest.fixture(scope="module")
def rule_validator() -> jsonschema.protocols.Validator:
    schema = _resolve(_load("push_rule.yaml"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def ruleset_validator() -> jsonschema.protocols.Validator:
    schema = _resolve(_load("push_ruleset.yaml"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _all_rules(ruleset: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, rule) for kind in KINDS for rule in ruleset["global"][kind]]


RULES = _all_rules(default_push_rules(USER))


def test_shape() -> None:
    rules = default_push_rules(USER)
    assert list(rules) == ["global"]
    assert set(rules["global"]) == set(KINDS)
    assert rules["global"]["room"] == []
    assert rules["global"]["sender"] == []


@pytest.mark.parametrize(
    ("kind", "rule"), RULES, ids=[f"{kind}:{rule['rule_id']}" for kind, rule in RULES]
)
def test_every_rule_validates_against_spec_schema(
    kind: str, rule: dict[str, Any], rule_validator: jsonschema.protocols.Validator
) -> None:
    rule_validator.validate(rule)
    assert rule["default"] is True
    assert rule["rule_id"].startswith(".")
    if kind in ("override", "underride"):
        assert "conditions" in rule and "pattern" not in rule
    else:
        assert "pattern" in rule and "conditions" not in rule


@pytest.mark.parametrize("legacy", [True, False])
def test_ruleset_validates(legacy: bool, ruleset_validator: jsonschema.protocols.Validator) -> None:
    ruleset_validator.validate(default_push_rules(USER, legacy_mentions=legacy)["global"])


def test_rule_ids_kinds_and_order_are_the_specs() -> None:
    rules = default_push_rules(USER)["global"]
    assert [r["rule_id"] for r in rules["override"]] == OVERRIDE
    assert [r["rule_id"] for r in rules["content"]] == CONTENT
    assert [r["rule_id"] for r in rules["underride"]] == UNDERRIDE


def test_without_legacy_mentions() -> None:
    rules = default_push_rules(USER, legacy_mentions=False)["global"]
    assert [r["rule_id"] for r in rules["override"]] == [i for i in OVERRIDE if i not in LEGACY]
    assert rules["content"] == []
    assert [r["rule_id"] for r in rules["underride"]] == UNDERRIDE


def test_only_master_is_disabled() -> None:
    disabled = [rule["rule_id"] for _, rule in RULES if not rule["enabled"]]
    assert disabled == [".m.rule.master"]


def test_no_deprecated_actions() -> None:
    for _, rule in RULES:
        for action in rule["actions"]:
            if isinstance(action, str):
                assert action == "notify"
            else:
                assert set(action) <= {"set_tweak", "value"}
                assert action["set_tweak"] in ("sound", "highlight")


def test_contains_user_name_uses_localpart() -> None:
    (rule,) = default_push_rules(USER)["global"]["content"]
    assert rule["rule_id"] == ".m.rule.contains_user_name"
    assert rule["pattern"] == "alice.smith"
    assert "highlight" in json.dumps(rule["actions"])


def test_user_id_appears_where_the_spec_says() -> None:
    override = {r["rule_id"]: r for r in default_push_rules(USER)["global"]["override"]}
    assert {"kind": "event_match", "key": "state_key", "pattern": USER} in override[
        ".m.rule.invite_for_me"
    ]["conditions"]
    assert override[".m.rule.is_user_mention"]["conditions"] == [
        {"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": USER}
    ]


@pytest.mark.parametrize(
    ("rule_id", "conditions", "actions"),
    [
        (".m.rule.master", [], []),
        (
            ".kz.tumar.rule.urgent_notice",
            [
                {"kind": "event_match", "key": "type", "pattern": "m.room.message"},
                {
                    "kind": "event_property_is",
                    "key": "content.kz\\.tumar\\.notification.priority",
                    "value": "urgent",
                },
                {"kind": "sender_notification_permission", "key": "room"},
            ],
            ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}],
        ),
        (
            ".m.rule.suppress_notices",
            [{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}],
            [],
        ),
        (
            ".m.rule.is_room_mention",
            [
                {"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": True},
                {"kind": "sender_notification_permission", "key": "room"},
            ],
            ["notify", {"set_tweak": "highlight"}],
        ),
        (
            ".m.rule.tombstone",
            [
                {"kind": "event_match", "key": "type", "pattern": "m.room.tombstone"},
                {"kind": "event_match", "key": "state_key", "pattern": ""},
            ],
            ["notify", {"set_tweak": "highlight"}],
        ),
        (
            ".m.rule.suppress_edits",
            [
                {
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                }
            ],
            [],
        ),
        (
            ".m.rule.call",
            [{"kind": "event_match", "key": "type", "pattern": "m.call.invite"}],
            ["notify", {"set_tweak": "sound", "value": "ring"}],
        ),
        (
            ".m.rule.encrypted_room_one_to_one",
            [
                {"kind": "room_member_count", "is": "2"},
                {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"},
            ],
            ["notify", {"set_tweak": "sound", "value": "default"}],
        ),
        (
            ".m.rule.message",
            [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}],
            ["notify"],
        ),
    ],
)
def test_selected_definitions(rule_id: str, conditions: list[Any], actions: list[Any]) -> None:
    by_id = {rule["rule_id"]: rule for _, rule in RULES}
    assert by_id[rule_id]["conditions"] == conditions
    assert by_id[rule_id]["actions"] == actions


def test_fresh_objects_each_call() -> None:
    first = default_push_rules(USER)
    pristine = copy.deepcopy(first)
    first["global"]["override"][1]["actions"].append("notify")
    first["global"]["underride"][0]["actions"][1]["value"] = "changed"
    first["global"]["override"][2]["conditions"][0]["pattern"] = "x"
    assert default_push_rules(USER) == pristine


def test_json_serialisable() -> None:
    rules = default_push_rules(USER)
    assert json.loads(json.dumps(rules)) == rules


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("@alice:example.org", "alice"),
        ("@a.b_c=d-e/f+g:example.org:8448", "a.b_c=d-e/f+g"),
        ("@bob:[::1]:8008", "bob"),
    ],
)
def test_localpart(user_id: str, expected: str) -> None:
    assert localpart(user_id) == expected


@pytest.mark.parametrize("bad", ["alice", "alice:example.org", "@alice", "@:example.org", ""])
def test_bad_user_id(bad: str) -> None:
    with pytest.raises(ValueError):
        default_push_rules(bad)
