"""The forwarding-control rules of the classification chain (DLP). Pure.

``dlp``: a message may not reproduce content of a room labelled higher than the room it is
posted in, when the share of its fingerprints found in that room reaches the threshold.

``media_origin``: a message may not refer to media that so far appears only in rooms labelled
higher than the room it is posted in.

Both handle the action ``send`` and allow every other action. The reasons name labels only:
never the source room, never the content, never how much matched (so a refusal tells the
sender as little as possible about what the higher room holds).
"""

from __future__ import annotations

from tumar.policy.chain import ALLOW, Facts, Verdict, register
from tumar.policy.labels import rank

DLP_ERRCODE = "TUMAR_DLP"
DLP_MEDIA_ERRCODE = "TUMAR_DLP_MEDIA"

# The rules of this module; the core runs the configured rules that handle sends.
SEND_RULES = frozenset({"dlp", "media_origin"})


def _highest_above(candidates: list[str], floor: str, labels: tuple[str, ...]) -> str | None:
    above = [c for c in candidates if rank(c, labels) > rank(floor, labels)]
    return max(above, key=lambda c: rank(c, labels)) if above else None


@register("dlp")
def dlp_rule(facts: Facts) -> Verdict:
    if facts.action != "send":
        return ALLOW
    sources = [m.source_label for m in facts.dlp_matches if m.similarity >= facts.dlp_threshold]
    label = _highest_above(sources, facts.room_label, facts.labels)
    if label is None:
        return ALLOW
    return Verdict(
        False,
        DLP_ERRCODE,
        f"This message repeats content from a room labelled {label}, so it cannot be posted "
        f"in this room, which is labelled {facts.room_label}. Share it only in rooms labelled "
        f"{label} or higher.",
    )


@register("media_origin")
def media_origin_rule(facts: Facts) -> Verdict:
    if facts.action != "send":
        return ALLOW
    label = _highest_above(list(facts.media_origin_labels), facts.room_label, facts.labels)
    if label is None:
        return ALLOW
    return Verdict(
        False,
        DLP_MEDIA_ERRCODE,
        f"This message shares a file from a room labelled {label}, so it cannot be posted in "
        f"this room, which is labelled {facts.room_label}. Share it only in rooms labelled "
        f"{label} or higher.",
    )
