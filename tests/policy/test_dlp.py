"""The DLP rules of the classification chain, as tables."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tumar.policy.chain import Action, DlpMatch, Facts, Subject, judge, known_rules
from tumar.policy.dlp import (
    DLP_ERRCODE,
    DLP_MEDIA_ERRCODE,
    SEND_RULES,
    dlp_rule,
    media_origin_rule,
)

LABELS = ("public", "internal", "official-use")
SUBJECT = Subject("@a:tumar.test", None, None, None)


def facts(room_label: str = "internal", **kw: object) -> Facts:
    base = Facts(
        action="send",
        labels=LABELS,
        room_id="!target:tumar.test",
        room_label=room_label,
        subject=SUBJECT,
        dlp_threshold=0.5,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def match(label: str, share: float, room: str = "!src:tumar.test") -> DlpMatch:
    return DlpMatch(room, label, share)


@pytest.mark.parametrize(
    ("room_label", "matches", "allowed"),
    [
        ("internal", (), True),
        ("internal", (match("official-use", 0.9),), False),
        ("internal", (match("official-use", 0.5),), False),  # the threshold itself refuses
        ("internal", (match("official-use", 0.49),), True),
        ("public", (match("internal", 0.7),), False),
        ("internal", (match("internal", 1.0),), True),  # same label
        ("official-use", (match("internal", 1.0),), True),  # lower source
        ("official-use", (match("official-use", 1.0),), True),
        ("internal", (match("internal", 1.0), match("official-use", 0.2)), True),
        ("internal", (match("internal", 1.0, "!a:t"), match("official-use", 0.6, "!b:t")), False),
        ("internal", (match("secret-removed", 0.8),), False),  # unknown labels rank highest
        ("secret-removed", (match("official-use", 1.0),), True),
    ],
)
def test_dlp_rule(room_label: str, matches: tuple[DlpMatch, ...], allowed: bool) -> None:
    verdict = dlp_rule(facts(room_label, dlp_matches=matches))
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.errcode == DLP_ERRCODE
        assert room_label in verdict.reason
        assert "!" not in verdict.reason  # never names a room
        assert "%" not in verdict.reason  # nor how much matched


def test_dlp_reason_names_the_highest_label() -> None:
    verdict = dlp_rule(
        facts("public", dlp_matches=(match("internal", 0.9), match("official-use", 0.6)))
    )
    assert "labelled official-use" in verdict.reason


@pytest.mark.parametrize(
    ("room_label", "origins", "allowed"),
    [
        ("internal", (), True),
        ("internal", ("official-use",), False),
        ("internal", ("internal",), True),
        ("internal", ("public", "internal"), True),
        ("internal", ("public", "official-use"), False),
        ("public", ("internal",), False),
        ("official-use", ("official-use", "internal"), True),
    ],
)
def test_media_origin_rule(room_label: str, origins: tuple[str, ...], allowed: bool) -> None:
    verdict = media_origin_rule(facts(room_label, media_origin_labels=origins))
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.errcode == DLP_MEDIA_ERRCODE
        assert "file" in verdict.reason


@pytest.mark.parametrize("action", ["join", "invite", "media", "label"])
def test_rules_allow_the_actions_they_do_not_handle(action: Action) -> None:
    refused = facts(
        "public",
        action=action,
        dlp_matches=(match("official-use", 1.0),),
        media_origin_labels=("official-use",),
    )
    assert dlp_rule(refused)
    assert media_origin_rule(refused)


def test_registered_on_the_chain() -> None:
    assert known_rules() >= SEND_RULES
    both = facts(
        "internal", dlp_matches=(match("official-use", 1.0),), media_origin_labels=("official-use",)
    )
    judgement = judge(both, ["media_origin", "dlp"])
    assert judgement.verdict.errcode == DLP_MEDIA_ERRCODE  # the configured order decides
    assert [name for name, _ in judgement.trail] == ["media_origin"]
    judgement = judge(both, ["dlp", "media_origin"])
    assert judgement.verdict.errcode == DLP_ERRCODE
    assert judge(facts("internal"), ["dlp", "media_origin"])
