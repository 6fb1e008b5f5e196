"""The classification rules of the policy chain (``clearance``, ``audience``) and the pure
decisions about a room's label: raising or lowering it, who a change would exclude, and the
end-to-end encryption mode per label. Pure: the core gathers the facts.

Actions the rules judge (``Facts.action``):

- ``join`` / ``invite``: the subject is the person who would join or be invited;
- ``media``: the subject downloads media whose origin room carries ``room_label``;
- ``label``: the room's label (and audience) would become ``room_label``; the subject is a
  current member, who must still be admitted afterwards.

``send`` is judged by the DLP rules (``dlp``, ``media_origin``); these rules allow it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from enum import Enum

from tumar.policy.chain import ALLOW, Facts, Judgement, Subject, Verdict, judge, register
from tumar.policy.e2ee import E2eeMode
from tumar.policy.labels import LabelState, rank, reaches

CLEARANCE = "TUMAR_CLEARANCE"
AUDIENCE = "TUMAR_AUDIENCE"
LOWERING = "TUMAR_LABEL_LOWERING"
EXCLUDES = "TUMAR_LABEL_EXCLUDES_MEMBERS"
E2EE_FORBIDDEN = "TUMAR_E2EE_FORBIDDEN"
E2EE_REQUIRED = "TUMAR_E2EE_REQUIRED"
MEMBER_ACTIONS = ("join", "invite", "label")
MAX_NAMED = 10  # members named in a refusal; the rest are counted

# ``Facts.extra`` key: the highest label external partners may reach (setting
# ``classification_external_max``); absent: no limit beyond their clearance.
EXTERNAL_MAX = "external_max"


def _who(f: Facts) -> str:
    return f.subject.user_id


@register("clearance")
def clearance(f: Facts) -> Verdict:
    """The subject's clearance must reach the label (``join``, ``invite``, ``media``,
    ``label``)."""
    if f.action == "send":
        return ALLOW
    held = f.subject.clearance
    if held is not None and reaches(held, f.room_label, f.labels):
        return ALLOW
    what = f"clearance {held}" if held is not None else "no clearance"
    if f.action == "media":
        return Verdict(
            False,
            CLEARANCE,
            f"This file was shared in a room labelled {f.room_label}, and you hold {what}.",
        )
    return Verdict(
        False,
        CLEARANCE,
        f"{_who(f)} holds {what}, below the room's label {f.room_label}.",
    )


def _in_subtrees(path: str | None, roots: Sequence[str]) -> bool:
    return path is not None and any(path.startswith(root) for root in roots)


@register("audience")
def audience(f: Facts) -> Verdict:
    """The room must admit the subject's kind and organisation; external partners never reach
    above ``external_max`` (``join``, ``invite``, ``label``)."""
    if f.action not in MEMBER_ACTIONS:
        return ALLOW
    kind = f.subject.kind
    if f.room_kinds and kind not in f.room_kinds:
        admitted = " and ".join(f.room_kinds)
        return Verdict(
            False,
            AUDIENCE,
            f"This room admits only {admitted} accounts; {_who(f)} is "
            + (f"{kind}." if kind else "not in the directory."),
        )
    if f.room_org_paths and not _in_subtrees(f.subject.org_path, f.room_org_paths):
        return Verdict(
            False,
            AUDIENCE,
            f"This room admits only people of the organisations it names; {_who(f)} is "
            + ("in another organisation." if f.subject.org_path else "not in the directory."),
        )
    cap = f.extra.get(EXTERNAL_MAX)
    if (
        kind == "external"
        and isinstance(cap, str)
        and rank(f.room_label, f.labels) > rank(cap, f.labels)
    ):
        return Verdict(
            False,
            AUDIENCE,
            f"{_who(f)} is an external partner; partners take part in rooms labelled up to "
            f"{cap}, and this one is {f.room_label}.",
        )
    return ALLOW


# ---- changing a room's label ----------------------------------------------------------------


class Change(Enum):
    SAME = "same"
    RAISE = "raise"  # a higher label, or a narrower audience
    LOWER = "lower"  # a lower label, or a wider audience (even together with a higher label)


def _widens_kinds(old: Sequence[str], new: Sequence[str]) -> bool:
    if not old:
        return False
    return not new or not set(new) <= set(old)


def _widens_orgs(old_paths: Sequence[str], new_paths: Sequence[str]) -> bool:
    if not old_paths:
        return False
    return not new_paths or not all(_in_subtrees(p, old_paths) for p in new_paths)


def change_of(
    old: LabelState,
    new: LabelState,
    labels: Sequence[str],
    old_paths: Sequence[str] = (),
    new_paths: Sequence[str] = (),
) -> Change:
    """How ``new`` compares with ``old``; ``*_paths`` are the materialised paths of the
    organisations each names (codes that no longer exist are left out by the caller)."""
    if old == new:
        return Change.SAME
    lower = rank(new.label, labels) < rank(old.label, labels)
    if lower or _widens_kinds(old.kinds, new.kinds) or _widens_orgs(old_paths, new_paths):
        return Change.LOWER
    return Change.RAISE


def may_change(change: Change, *, officer: bool) -> Verdict:
    """Room admins raise; only a security officer lowers (through the admin API or CLI)."""
    if change is Change.LOWER and not officer:
        return Verdict(
            False,
            LOWERING,
            "Only a security officer can lower a room's label or widen its audience, with a "
            "reason that is kept in the audit log. Ask your security officer.",
        )
    return ALLOW


def excluded_members(
    base: Facts, members: Iterable[Subject], order: Iterable[str]
) -> list[tuple[Subject, Verdict]]:
    """The members the new label (``base`` with action ``label``) would no longer admit."""
    order = tuple(order)
    out = []
    for subject in members:
        verdict: Judgement = judge(replace(base, subject=subject), order)
        if not verdict:
            out.append((subject, verdict.verdict))
    return out


def exclusion_verdict(label: str, excluded: Sequence[tuple[Subject, Verdict]]) -> Verdict:
    """Refuse a change that would leave members behind, naming them (we refuse rather than
    remove them: nobody loses a room silently)."""
    if not excluded:
        return ALLOW
    named = ", ".join(s.user_id for s, _ in excluded[:MAX_NAMED])
    more = len(excluded) - MAX_NAMED
    tail = f" and {more} more" if more > 0 else ""
    first = excluded[0][1].reason
    return Verdict(
        False,
        EXCLUDES,
        f"The label {label} would exclude {len(excluded)} current member(s): {named}{tail}. "
        f"Remove them first, or choose another label. ({first})",
    )


# ---- end-to-end encryption per label --------------------------------------------------------


def e2ee_mode(label: str, by_label: Mapping[str, E2eeMode], fallback: E2eeMode) -> E2eeMode:
    """The E2EE mode of rooms with ``label``: ``e2ee_by_label``, else the global ``e2ee``."""
    return by_label.get(label, fallback)


def may_relabel_encryption(label: str, mode: E2eeMode, encrypted: bool) -> Verdict:
    """A room's encryption can never be turned off, so an encrypted room cannot take a label
    whose mode is ``forbidden``; and a label whose mode is ``required`` needs it on first."""
    if mode == "forbidden" and encrypted:
        return Verdict(
            False,
            E2EE_FORBIDDEN,
            f"This room is end-to-end encrypted, and rooms labelled {label} must not be: the "
            "server keeps and protects their text. Encryption cannot be turned off; create a "
            f"new room labelled {label} instead.",
        )
    if mode == "required" and not encrypted:
        return Verdict(
            False,
            E2EE_REQUIRED,
            f"Rooms labelled {label} must be end-to-end encrypted; turn encryption on first.",
        )
    return ALLOW
