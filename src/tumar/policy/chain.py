"""The classification policy chain: pure rules that decide whether content may move, run in
the order the operator configures (setting ``classification_rules``), each returning a
verdict with its reasons. The first refusal wins; every rule's reason is kept for the audit.

A rule is a function ``(Facts) -> Verdict``. The core gathers the facts (labels, the person's
clearance, kind and organisation, DLP matches, where media came from) and calls :func:`judge`;
the rules themselves read nothing and write nothing. Extra rules are plugged in by name with
:func:`register` (e.g. from a deployment's own module named in ``classification_plugins``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["join", "invite", "send", "media", "label"]


@dataclass(frozen=True, slots=True)
class Subject:
    """The person content would reach (the joiner, the invitee, the downloader, the sender)."""

    user_id: str
    clearance: str | None  # None: no directory entry (e.g. a service account)
    kind: str | None  # official | external
    org_path: str | None


@dataclass(frozen=True, slots=True)
class DlpMatch:
    """Protected content that the new message reproduces: where it came from and how much."""

    source_room_id: str
    source_label: str
    similarity: float  # 0..1, the share of the new message's fingerprints found there


@dataclass(frozen=True, slots=True)
class Facts:
    action: Action
    labels: tuple[str, ...]  # the configured order, lowest first
    room_id: str
    room_label: str
    subject: Subject
    # The room's audience restrictions (from its label event): allowed person kinds and
    # organisation subtrees (materialised paths); empty means no restriction.
    room_kinds: tuple[str, ...] = ()
    room_org_paths: tuple[str, ...] = ()
    dlp_matches: tuple[DlpMatch, ...] = ()
    dlp_threshold: float = 1.0
    media_origin_labels: tuple[str, ...] = ()  # labels of rooms where reposted media came from
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    errcode: str = ""
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Verdict(True)

Rule = Callable[[Facts], Verdict]

_RULES: dict[str, Rule] = {}


def register(name: str) -> Callable[[Rule], Rule]:
    """Decorator: make ``rule`` available to ``classification_rules`` under ``name``."""

    def add(rule: Rule) -> Rule:
        _RULES[name] = rule
        return rule

    return add


def known_rules() -> frozenset[str]:
    return frozenset(_RULES)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    trail: tuple[tuple[str, Verdict], ...]  # every rule that ran, in order

    def __bool__(self) -> bool:
        return self.verdict.allowed


def judge(facts: Facts, order: Iterable[str]) -> Judgement:
    """Run the rules named in ``order``; stop at the first refusal."""
    trail: list[tuple[str, Verdict]] = []
    for name in order:
        rule = _RULES.get(name)
        if rule is None:
            raise KeyError(f"unknown classification rule {name!r}")
        verdict = rule(facts)
        trail.append((name, verdict))
        if not verdict:
            return Judgement(verdict, tuple(trail))
    return Judgement(ALLOW, tuple(trail))
