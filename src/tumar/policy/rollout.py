"""The registration rollout: deadlines inherited down the organisation tree, figures rolled up
it, and which reminder is due. Pure functions: the caller supplies the tree, the counts and
today's date.

Deadlines are dates. A deadline is met on its own day: people are *overdue* from the day after
``register_by``. Reminder windows are days before a deadline (``[7, 1]``: a week before and the
day before); each window sends at most one reminder per person and deadline, and one more goes
out once the deadline has passed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Deadline(StrEnum):
    REGISTER = "register"  # register_by: every official has an account
    TRANSITION = "transition"  # transition_by: every official works in tumar


@dataclass(frozen=True, slots=True)
class OrgNode:
    """What the rollout needs of an organisation: its place in the tree and its own dates."""

    code: str
    parent_code: str | None
    register_by: datetime.date | None = None
    transition_by: datetime.date | None = None


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Effective deadlines of one organisation and the organisation each was set on."""

    register_by: datetime.date | None = None
    register_by_from: str | None = None
    transition_by: datetime.date | None = None
    transition_by_from: str | None = None

    def date_of(self, which: Deadline) -> datetime.date | None:
        return self.register_by if which is Deadline.REGISTER else self.transition_by


def parse_date(value: str | None) -> datetime.date | None:
    """An ISO date as stored (``YYYY-MM-DD``); anything else counts as unset."""
    if value is None or len(value) != 10:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def effective_deadlines(nodes: Iterable[OrgNode]) -> dict[str, Deadlines]:
    """Each organisation's deadlines: its own where set, else its nearest ancestor's.

    A parent missing from ``nodes`` ends the walk (the node counts as a root); a cycle, which
    the directory never stores, is cut where it closes.
    """
    by_code = {n.code: n for n in nodes}
    result: dict[str, Deadlines] = {}
    for start in by_code:
        chain: list[OrgNode] = []
        seen: set[str] = set()
        code: str | None = start
        while code is not None and code in by_code and code not in result and code not in seen:
            seen.add(code)
            chain.append(by_code[code])
            code = by_code[code].parent_code
        inherited = result.get(code, Deadlines()) if code is not None else Deadlines()
        for node in reversed(chain):  # from the top of the walk down to ``start``
            inherited = Deadlines(
                register_by=node.register_by or inherited.register_by,
                register_by_from=node.code if node.register_by else inherited.register_by_from,
                transition_by=node.transition_by or inherited.transition_by,
                transition_by_from=(
                    node.code if node.transition_by else inherited.transition_by_from
                ),
            )
            result[node.code] = inherited
    return result


@dataclass(frozen=True, slots=True)
class Figures:
    """Rollout figures of one organisation (its own staff, or its whole subtree)."""

    people: int = 0  # active officials
    codes_issued: int = 0  # of them, with a live or used activation code
    registered: int = 0  # with an account
    active_7d: int = 0  # with a device seen in the last 7 days
    overdue: int = 0  # not registered after the effective register_by

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.people + other.people,
            self.codes_issued + other.codes_issued,
            self.registered + other.registered,
            self.active_7d + other.active_7d,
            self.overdue + other.overdue,
        )

    @property
    def percent_registered(self) -> float | None:
        """Registered as a percentage of people, one decimal; None without people."""
        if self.people == 0:
            return None
        return round(100 * self.registered / self.people, 1)


def is_overdue(deadline: datetime.date | None, today: datetime.date) -> bool:
    return deadline is not None and today > deadline


def with_overdue(
    own: Mapping[str, Figures], deadlines: Mapping[str, Deadlines], today: datetime.date
) -> dict[str, Figures]:
    """Own figures with ``overdue`` filled in: everyone unregistered in a unit whose
    effective ``register_by`` has passed."""
    out: dict[str, Figures] = {}
    for code, figures in own.items():
        late = is_overdue(deadlines.get(code, Deadlines()).register_by, today)
        unregistered = max(figures.people - figures.registered, 0)
        out[code] = Figures(
            figures.people,
            figures.codes_issued,
            figures.registered,
            figures.active_7d,
            unregistered if late else 0,
        )
    return out


def roll_up(nodes: Sequence[OrgNode], own: Mapping[str, Figures]) -> dict[str, Figures]:
    """Subtree totals: each organisation's own figures plus those of every descendant.

    Children are added to their parent after their own subtree is complete (deepest first), so
    the work is linear in the number of organisations. Counts of codes not in ``nodes`` are
    ignored.
    """
    by_code = {n.code: n for n in nodes}
    children: dict[str, list[str]] = {}
    for node in nodes:
        if node.parent_code is not None and node.parent_code in by_code:
            children.setdefault(node.parent_code, []).append(node.code)
    totals: dict[str, Figures] = {}
    roots = [n.code for n in nodes if n.parent_code is None or n.parent_code not in by_code]
    for root in roots:
        # Iterative post-order: push a node, then its children; total a node once its
        # children are done.
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            code, expanded = stack.pop()
            if expanded:
                total = own.get(code, Figures())
                for child in children.get(code, ()):
                    total = total + totals[child]
                totals[code] = total
            elif code not in totals:
                stack.append((code, True))
                stack.extend((c, False) for c in children.get(code, ()) if c not in totals)
    return totals


# ---- reminders ------------------------------------------------------------------------------


def days_left(deadline: datetime.date, today: datetime.date) -> int:
    """Days until the deadline: 0 on the day itself, negative once it has passed."""
    return (deadline - today).days


def reminder_kind(
    which: Deadline, deadline: datetime.date | None, today: datetime.date, windows: Sequence[int]
) -> str | None:
    """The reminder due today for a deadline, or None.

    ``<which>.overdue`` once the deadline has passed; otherwise ``<which>.<N>`` for the
    smallest window N with ``days_left <= N`` (so a run that missed the 7-day window on day 5
    still sends it, and on the last day only the 1-day one is due). Reminders are idempotent
    per person, kind and deadline, so each of these goes out once.
    """
    if deadline is None:
        return None
    left = days_left(deadline, today)
    if left < 0:
        return f"{which.value}.overdue"
    due = [n for n in windows if n >= 0 and left <= n]
    if not due:
        return None
    return f"{which.value}.{min(due)}"


def reminder_horizon(windows: Sequence[int]) -> int:
    """The largest window: deadlines further away than this need no reminder yet."""
    return max((n for n in windows if n >= 0), default=-1)


def nearest_head(
    org_code: str,
    parents: Mapping[str, str | None],
    heads: Mapping[str, str],
    exclude: str | None = None,
) -> tuple[str, str] | None:
    """The unit head who hears about an unregistered person of ``org_code``: the head of the
    unit itself or of its nearest ancestor with a head (``heads`` holds only heads who can
    receive a notice). ``exclude`` skips a head who is the person themselves. Returns
    (organisation code, head) or None."""
    code: str | None = org_code
    seen: set[str] = set()
    while code is not None and code not in seen:
        seen.add(code)
        head = heads.get(code)
        if head is not None and head != exclude:
            return code, head
        code = parents.get(code)
    return None
