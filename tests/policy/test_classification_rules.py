"""Table tests for the classification rules (``clearance``, ``audience``), label changes, who a
change excludes, E2EE per label, and the label event's content."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tumar.policy import classification_rules as rules
from tumar.policy.chain import Action, Facts, Subject, judge
from tumar.policy.classification_rules import Change
from tumar.policy.directory import PERSON_KINDS
from tumar.policy.labels import (
    OFFICER_KEY,
    LabelProblem,
    LabelState,
    parse_content,
    state_of,
)

LABELS = ("public", "internal", "official-use")
ORDER = ("clearance", "audience")
MOF = "/gov/mof/"
MOH = "/gov/moh/"


def facts(
    action: Action = "join",
    label: str = "internal",
    clearance: str | None = "internal",
    kind: str | None = "official",
    org: str | None = MOF + "it/",
    kinds: tuple[str, ...] = (),
    orgs: tuple[str, ...] = (),
    external_max: str | None = "internal",
) -> Facts:
    return Facts(
        action=action,
        labels=LABELS,
        room_id="!r:x",
        room_label=label,
        subject=Subject("@u:x", clearance, kind, org),
        room_kinds=kinds,
        room_org_paths=orgs,
        extra={rules.EXTERNAL_MAX: external_max} if external_max else {},
    )


CLEARANCE_CASES = [
    # (name, facts, allowed)
    ("equal", facts(label="internal", clearance="internal"), True),
    ("above", facts(label="public", clearance="official-use"), True),
    ("below", facts(label="official-use", clearance="internal"), False),
    ("none", facts(label="public", clearance=None), False),
    ("unknown clearance", facts(label="public", clearance="secret"), False),
    ("unknown room label ranks highest", facts(label="gone", clearance="official-use"), False),
    ("invite below", facts(action="invite", label="official-use", clearance="public"), False),
    ("media below", facts(action="media", label="official-use", clearance="internal"), False),
    ("label below", facts(action="label", label="official-use", clearance="internal"), False),
    ("send is not its business", facts(action="send", label="official-use", clearance=None), True),
]


@pytest.mark.parametrize(
    ("name", "f", "allowed"), CLEARANCE_CASES, ids=[c[0] for c in CLEARANCE_CASES]
)
def test_clearance(name: str, f: Facts, allowed: bool) -> None:
    verdict = rules.clearance(f)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.errcode == "TUMAR_CLEARANCE"
        assert f.room_label in verdict.reason


AUDIENCE_CASES = [
    ("no restriction", facts(), True),
    ("kind admitted", facts(kinds=("official",)), True),
    ("kind refused", facts(kind="external", kinds=("official",)), False),
    ("no directory entry, kinds restricted", facts(kind=None, kinds=("official",)), False),
    ("org inside the subtree", facts(orgs=(MOF,)), True),
    ("org is the subtree root", facts(org=MOF, orgs=(MOF,)), True),
    ("org outside", facts(org=MOH, orgs=(MOF,)), False),
    ("one of several subtrees", facts(org=MOH, orgs=(MOF, MOH)), True),
    ("no org, orgs restricted", facts(org=None, orgs=(MOF,)), False),
    ("prefix is not a subtree", facts(org="/gov/mofx/", orgs=(MOF,)), False),
    ("external up to the cap", facts(kind="external", label="internal"), True),
    (
        "external above the cap",
        facts(kind="external", label="official-use", clearance="official-use"),
        False,
    ),
    (
        "external, no cap",
        facts(kind="external", label="official-use", clearance="official-use", external_max=None),
        True,
    ),
    ("official above the cap", facts(label="official-use", clearance="official-use"), True),
    ("media ignores audience", facts(action="media", org=MOH, orgs=(MOF,)), True),
    ("send ignores audience", facts(action="send", kind="external", kinds=("official",)), True),
    ("invite checks audience", facts(action="invite", org=MOH, orgs=(MOF,)), False),
    ("label checks audience", facts(action="label", kind="external", kinds=("official",)), False),
]


@pytest.mark.parametrize(
    ("name", "f", "allowed"), AUDIENCE_CASES, ids=[c[0] for c in AUDIENCE_CASES]
)
def test_audience(name: str, f: Facts, allowed: bool) -> None:
    verdict = rules.audience(f)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.errcode == "TUMAR_AUDIENCE"
        assert verdict.reason


def test_the_chain_stops_at_the_first_refusal_and_keeps_the_trail() -> None:
    f = facts(label="official-use", clearance="internal", kind="external", kinds=("official",))
    judgement = judge(f, ORDER)
    assert judgement.verdict.errcode == "TUMAR_CLEARANCE"
    assert [name for name, _ in judgement.trail] == ["clearance"]
    judgement = judge(f, ("audience", "clearance"))
    assert judgement.verdict.errcode == "TUMAR_AUDIENCE"
    assert judge(facts(), ORDER).verdict.allowed


CHANGE_CASES = [
    # (name, old, new, old paths, new paths, change)
    ("same", LabelState("internal"), LabelState("internal"), (), (), Change.SAME),
    ("up", LabelState("internal"), LabelState("official-use"), (), (), Change.RAISE),
    ("down", LabelState("official-use"), LabelState("internal"), (), (), Change.LOWER),
    (
        "narrow kinds",
        LabelState("internal"),
        LabelState("internal", ("official",)),
        (),
        (),
        Change.RAISE,
    ),
    (
        "drop kinds",
        LabelState("internal", ("official",)),
        LabelState("internal"),
        (),
        (),
        Change.LOWER,
    ),
    (
        "other kind",
        LabelState("internal", ("official",)),
        LabelState("internal", ("external",)),
        (),
        (),
        Change.LOWER,
    ),
    (
        "narrow orgs",
        LabelState("internal"),
        LabelState("internal", (), ("mof",)),
        (),
        (MOF,),
        Change.RAISE,
    ),
    (
        "sub-org",
        LabelState("internal", (), ("mof",)),
        LabelState("internal", (), ("mof-it",)),
        (MOF,),
        (MOF + "it/",),
        Change.RAISE,
    ),
    (
        "drop orgs",
        LabelState("internal", (), ("mof",)),
        LabelState("internal"),
        (MOF,),
        (),
        Change.LOWER,
    ),
    (
        "other org",
        LabelState("internal", (), ("mof",)),
        LabelState("internal", (), ("moh",)),
        (MOF,),
        (MOH,),
        Change.LOWER,
    ),
    (
        "up but wider",
        LabelState("internal", ("official",)),
        LabelState("official-use"),
        (),
        (),
        Change.LOWER,
    ),
    (
        "unknown old label ranks highest",
        LabelState("gone"),
        LabelState("official-use"),
        (),
        (),
        Change.LOWER,
    ),
]


@pytest.mark.parametrize(
    ("name", "old", "new", "old_paths", "new_paths", "expected"),
    CHANGE_CASES,
    ids=[c[0] for c in CHANGE_CASES],
)
def test_change_of(
    name: str,
    old: LabelState,
    new: LabelState,
    old_paths: tuple[str, ...],
    new_paths: tuple[str, ...],
    expected: Change,
) -> None:
    assert rules.change_of(old, new, LABELS, old_paths, new_paths) is expected


@pytest.mark.parametrize(
    ("change", "officer", "allowed"),
    [
        (Change.SAME, False, True),
        (Change.RAISE, False, True),
        (Change.LOWER, False, False),
        (Change.LOWER, True, True),
        (Change.RAISE, True, True),
    ],
)
def test_only_officers_lower(change: Change, officer: bool, allowed: bool) -> None:
    verdict = rules.may_change(change, officer=officer)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.errcode == "TUMAR_LABEL_LOWERING"
        assert "security officer" in verdict.reason


def test_excluded_members_are_named_and_counted() -> None:
    base = facts(action="label", label="official-use")
    members = [Subject(f"@u{i}:x", "internal", "official", MOF) for i in range(12)]
    members.append(Subject("@boss:x", "official-use", "official", MOF))
    excluded = rules.excluded_members(base, members, ORDER)
    assert [s.user_id for s, _ in excluded] == [f"@u{i}:x" for i in range(12)]
    verdict = rules.exclusion_verdict("official-use", excluded)
    assert verdict.errcode == "TUMAR_LABEL_EXCLUDES_MEMBERS"
    assert "12 current member(s)" in verdict.reason
    assert "@u0:x" in verdict.reason and "@u9:x" in verdict.reason
    assert "@u10:x" not in verdict.reason and "and 2 more" in verdict.reason
    assert rules.exclusion_verdict("official-use", []).allowed
    assert rules.excluded_members(base, members[-1:], ORDER) == []


@pytest.mark.parametrize(
    ("label", "by_label", "fallback", "mode"),
    [
        ("official-use", {"official-use": "forbidden"}, "allowed", "forbidden"),
        ("internal", {"official-use": "forbidden"}, "allowed", "allowed"),
        ("internal", {"official-use": "forbidden"}, "required", "required"),
        ("public", {"public": "required"}, "forbidden", "required"),
    ],
)
def test_e2ee_mode_per_label(label: str, by_label: Any, fallback: Any, mode: str) -> None:
    assert rules.e2ee_mode(label, by_label, fallback) == mode


@pytest.mark.parametrize(
    ("mode", "encrypted", "errcode"),
    [
        ("forbidden", True, "TUMAR_E2EE_FORBIDDEN"),
        ("forbidden", False, ""),
        ("allowed", True, ""),
        ("allowed", False, ""),
        ("required", False, "TUMAR_E2EE_REQUIRED"),
        ("required", True, ""),
    ],
)
def test_relabel_against_encryption(mode: Any, encrypted: bool, errcode: str) -> None:
    verdict = rules.may_relabel_encryption("official-use", mode, encrypted)
    assert verdict.allowed is (errcode == "")
    assert verdict.errcode == errcode


CONTENT_CASES: list[tuple[str, dict[str, Any], bool, str | LabelState]] = [
    ("plain", {"label": "internal"}, False, LabelState("internal")),
    (
        "audience sorted",
        {"label": "public", "kinds": ["official"], "orgs": ["moh", "mof"]},
        False,
        LabelState("public", ("official",), ("mof", "moh")),
    ),
    ("unknown label", {"label": "secret"}, False, "TUMAR_UNKNOWN_LABEL"),
    ("missing label", {}, False, "M_BAD_JSON"),
    ("label not a string", {"label": 3}, False, "M_BAD_JSON"),
    ("unknown key", {"label": "internal", "colour": "red"}, False, "M_BAD_JSON"),
    ("officer key from a client", {"label": "internal", OFFICER_KEY: "@x:y"}, False, "M_BAD_JSON"),
    (
        "officer key from the server",
        {"label": "internal", OFFICER_KEY: "@x:y"},
        True,
        LabelState("internal"),
    ),
    ("unknown kind", {"label": "internal", "kinds": ["robot"]}, False, "M_BAD_JSON"),
    (
        "repeated kind",
        {"label": "internal", "kinds": ["official", "official"]},
        False,
        "M_BAD_JSON",
    ),
    ("kinds not a list", {"label": "internal", "kinds": "official"}, False, "M_BAD_JSON"),
    ("empty org code", {"label": "internal", "orgs": [""]}, False, "M_BAD_JSON"),
    (
        "too many orgs",
        {"label": "internal", "orgs": [f"o{i}" for i in range(101)]},
        False,
        "M_BAD_JSON",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "officer", "expected"), CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES]
)
def test_parse_content(
    name: str, content: dict[str, Any], officer: bool, expected: str | LabelState
) -> None:
    parsed = parse_content(content, LABELS, PERSON_KINDS, officer=officer)
    if isinstance(expected, LabelState):
        assert parsed == expected
    else:
        assert isinstance(parsed, LabelProblem)
        assert parsed.errcode == expected
        assert parsed.reason


def test_state_of_stored_content_round_trips() -> None:
    state = LabelState("official-use", ("official",), ("mof",))
    assert state_of(state.content(), "internal") == state
    assert state_of(None, "internal") == LabelState("internal")
    assert state_of({"label": 5}, "internal") == LabelState("internal")
    assert replace(state, kinds=()).content() == {"label": "official-use", "orgs": ["mof"]}
