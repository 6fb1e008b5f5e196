"""Classification labels: an ordered set, lowest first (``public`` < ``internal`` <
``official-use`` by default). Pure.

Every room carries its label as the state event ``kz.tumar.classification`` (state key ``""``,
content ``{"label": "<name>"}``, optionally ``"kinds"`` and ``"orgs"``: the person kinds and
organisation subtrees the room admits). A room without that event (created before labels
existed) counts as the configured default for rooms (``classification_default_room``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LABEL_EVENT = "kz.tumar.classification"
LABEL_ERRCODE_PREFIX = "TUMAR_"


def rank(label: str, labels: Sequence[str]) -> int:
    """Position of ``label`` in ``labels`` (0 is the lowest). Unknown labels rank highest, so
    a label that an operator removed from the configuration still protects its rooms."""
    try:
        return labels.index(label)
    except ValueError:
        return len(labels)


def at_least(label: str, floor: str, labels: Sequence[str]) -> bool:
    """Whether ``label`` is ``floor`` or above."""
    return rank(label, labels) >= rank(floor, labels)


def reaches(clearance: str, label: str, labels: Sequence[str]) -> bool:
    """Whether a person with ``clearance`` may see content labelled ``label``."""
    return rank(clearance, labels) >= rank(label, labels) and clearance in labels


# ---- the content of the label event ---------------------------------------------------------

MAX_AUDIENCE_ORGS = 100
OFFICER_KEY = (
    "kz.tumar.set_by"  # set by the server on a security officer's change, never by clients
)


@dataclass(frozen=True, slots=True)
class LabelState:
    """A room's label and its audience restrictions (empty: no restriction). ``orgs`` are
    organisation codes; each allows that organisation's whole subtree."""

    label: str
    kinds: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()

    def content(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.kinds:
            out["kinds"] = list(self.kinds)
        if self.orgs:
            out["orgs"] = list(self.orgs)
        return out


@dataclass(frozen=True, slots=True)
class LabelProblem:
    errcode: str
    reason: str


def parse_content(
    content: Mapping[str, Any], labels: Sequence[str], kinds: Sequence[str], *, officer: bool
) -> LabelState | LabelProblem:
    """The label event's content as a :class:`LabelState`, or what is wrong with it. Only the
    server writes ``kz.tumar.set_by`` (for a security officer's change)."""
    allowed = {"label", "kinds", "orgs"} | ({OFFICER_KEY} if officer else set())
    extra = sorted(set(content) - allowed)
    if extra:
        return LabelProblem("M_BAD_JSON", f"Unknown keys in the label: {', '.join(extra)}.")
    label = content.get("label")
    if not isinstance(label, str):
        return LabelProblem("M_BAD_JSON", "The label event needs a `label` string.")
    if label not in labels:
        return LabelProblem(
            "TUMAR_UNKNOWN_LABEL",
            f"There is no label {label!r}; the labels are: {', '.join(labels)}.",
        )
    room_kinds = content.get("kinds", [])
    if not isinstance(room_kinds, list) or not all(isinstance(k, str) for k in room_kinds):
        return LabelProblem("M_BAD_JSON", "`kinds` must be a list of person kinds.")
    unknown = sorted(set(room_kinds) - set(kinds))
    if unknown or len(set(room_kinds)) != len(room_kinds):
        return LabelProblem(
            "M_BAD_JSON",
            f"`kinds` must name each of {', '.join(kinds)} at most once"
            + (f" (unknown: {', '.join(unknown)})." if unknown else "."),
        )
    orgs = content.get("orgs", [])
    if not isinstance(orgs, list) or not all(isinstance(o, str) and o for o in orgs):
        return LabelProblem("M_BAD_JSON", "`orgs` must be a list of organisation codes.")
    if len(orgs) > MAX_AUDIENCE_ORGS or len(set(orgs)) != len(orgs):
        return LabelProblem(
            "M_BAD_JSON", f"`orgs` must hold at most {MAX_AUDIENCE_ORGS} distinct codes."
        )
    return LabelState(label, tuple(sorted(room_kinds)), tuple(sorted(orgs)))


def state_of(content: Mapping[str, Any] | None, default: str) -> LabelState:
    """The label state of stored content, leniently (what the server stored was checked)."""
    if content is None:
        return LabelState(default)
    label = content.get("label")
    kinds = content.get("kinds")
    orgs = content.get("orgs")
    return LabelState(
        label if isinstance(label, str) else default,
        tuple(k for k in kinds if isinstance(k, str)) if isinstance(kinds, list) else (),
        tuple(o for o in orgs if isinstance(o, str)) if isinstance(orgs, list) else (),
    )
