"""Table tests for the rollout rules: inherited deadlines, roll-ups, overdue figures, which
reminder is due and who hears about unregistered staff."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.rollout import (
    Deadline,
    Deadlines,
    Figures,
    OrgNode,
    days_left,
    effective_deadlines,
    nearest_head,
    parse_date,
    reminder_kind,
    roll_up,
    with_overdue,
)

D = datetime.date
MAR1, MAR15, JUN30 = D(2026, 3, 1), D(2026, 3, 15), D(2026, 6, 30)

# gov (register 03-01, transition 06-30) > mof (register 03-15) > mof-it > team;
# gov > moh; "orphan" names a parent that is not in the tree.
TREE = [
    OrgNode("gov", None, MAR1, JUN30),
    OrgNode("mof", "gov", MAR15, None),
    OrgNode("mof-it", "mof"),
    OrgNode("team", "mof-it"),
    OrgNode("moh", "gov"),
    OrgNode("orphan", "elsewhere", None, JUN30),
]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("gov", Deadlines(MAR1, "gov", JUN30, "gov")),
        ("mof", Deadlines(MAR15, "mof", JUN30, "gov")),
        ("mof-it", Deadlines(MAR15, "mof", JUN30, "gov")),
        ("team", Deadlines(MAR15, "mof", JUN30, "gov")),
        ("moh", Deadlines(MAR1, "gov", JUN30, "gov")),
        ("orphan", Deadlines(None, None, JUN30, "orphan")),
    ],
)
def test_deadlines_are_inherited_from_the_nearest_ancestor(code: str, expected: Deadlines) -> None:
    assert effective_deadlines(TREE)[code] == expected


def test_deadlines_do_not_depend_on_the_order_of_the_nodes() -> None:
    assert effective_deadlines(reversed(TREE)) == effective_deadlines(TREE)


def test_a_cycle_is_cut_instead_of_looping() -> None:
    nodes = [OrgNode("a", "b", MAR1), OrgNode("b", "a")]
    result = effective_deadlines(nodes)
    assert result["a"].register_by == MAR1
    assert set(result) == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", MAR1),
        (None, None),
        ("2026-3-1", None),
        ("01.03.2026", None),
        ("2026-02-30", None),
        ("20260301", None),
    ],
)
def test_parse_date(text: str | None, expected: datetime.date | None) -> None:
    assert parse_date(text) == expected


OWN = {
    "mof": Figures(people=2, codes_issued=2, registered=1, active_7d=1),
    "mof-it": Figures(people=4, codes_issued=1, registered=1),
    "team": Figures(people=1),
    "moh": Figures(people=2, codes_issued=1, registered=1, active_7d=1),
    "stray": Figures(people=100),  # an organisation outside the tree is ignored
}


def test_roll_up_adds_every_descendant() -> None:
    totals = roll_up(TREE, OWN)
    assert totals["team"] == Figures(people=1)
    assert totals["mof-it"] == Figures(people=5, codes_issued=1, registered=1)
    assert totals["mof"] == Figures(people=7, codes_issued=3, registered=2, active_7d=1)
    assert totals["gov"] == Figures(people=9, codes_issued=4, registered=3, active_7d=2)
    assert totals["orphan"] == Figures()
    assert "stray" not in totals


def test_roll_up_of_a_subtree_treats_its_top_as_a_root() -> None:
    totals = roll_up([n for n in TREE if n.code in ("mof-it", "team")], OWN)
    assert totals["mof-it"].people == 5


@pytest.mark.parametrize(
    ("today", "mof", "moh"),
    [
        (D(2026, 3, 1), 0, 0),  # the deadline day itself is not overdue
        (D(2026, 3, 2), 0, 1),  # moh (03-01 from gov) is late; mof (03-15) is not
        (D(2026, 3, 16), 1, 1),
    ],
)
def test_overdue_counts_the_unregistered_after_the_deadline(
    today: datetime.date, mof: int, moh: int
) -> None:
    own = with_overdue(OWN, effective_deadlines(TREE), today)
    assert own["mof"].overdue == mof
    assert own["moh"].overdue == moh
    assert own["mof-it"].overdue == (3 if today > MAR15 else 0)
    assert own["stray"].overdue == 0  # no deadline known


def test_percent_registered() -> None:
    assert Figures(people=8, registered=3).percent_registered == 37.5
    assert Figures(people=3, registered=1).percent_registered == 33.3
    assert Figures().percent_registered is None


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=20))
def test_roll_up_of_a_chain_sums_everything_at_the_top(counts: list[tuple[int, int]]) -> None:
    nodes = [OrgNode(f"o{i}", f"o{i - 1}" if i else None) for i in range(len(counts))]
    own = {f"o{i}": Figures(people=p, registered=r) for i, (p, r) in enumerate(counts)}
    totals = roll_up(nodes, own)
    if counts:
        assert totals["o0"].people == sum(p for p, _ in counts)
        assert totals["o0"].registered == sum(r for _, r in counts)


@pytest.mark.parametrize(
    ("today", "windows", "expected"),
    [
        (D(2026, 3, 1), [7, 1], None),  # 14 days left: nothing yet
        (D(2026, 3, 8), [7, 1], "register.7"),  # exactly 7 days left
        (D(2026, 3, 10), [7, 1], "register.7"),  # 5 days left (a run missed day 7)
        (D(2026, 3, 14), [7, 1], "register.1"),
        (D(2026, 3, 15), [7, 1], "register.1"),  # the day itself
        (D(2026, 3, 16), [7, 1], "register.overdue"),
        (D(2026, 5, 1), [7, 1], "register.overdue"),
        (D(2026, 3, 7), [7, 1], None),  # 8 days left
        (D(2026, 3, 14), [], None),  # no windows: only the overdue reminder
        (D(2026, 3, 16), [], "register.overdue"),
        (D(2026, 3, 15), [0], "register.0"),
        (D(2026, 3, 14), [3, 30], "register.3"),  # window order does not matter
    ],
)
def test_reminder_kind(today: datetime.date, windows: list[int], expected: str | None) -> None:
    assert reminder_kind(Deadline.REGISTER, MAR15, today, windows) == expected


def test_no_reminder_without_a_deadline() -> None:
    assert reminder_kind(Deadline.TRANSITION, None, MAR1, [7, 1]) is None
    assert reminder_kind(Deadline.TRANSITION, MAR1, D(2026, 3, 2), [7]) == "transition.overdue"
    assert days_left(MAR15, MAR1) == 14


PARENTS: dict[str, str | None] = {
    "gov": None,
    "mof": "gov",
    "mof-it": "mof",
    "team": "mof-it",
    "moh": "gov",
}


@pytest.mark.parametrize(
    ("org", "heads", "exclude", "expected"),
    [
        ("team", {"mof": "@mof:x", "gov": "@gov:x"}, None, ("mof", "@mof:x")),
        ("team", {"team": "@t:x", "mof": "@mof:x"}, None, ("team", "@t:x")),
        ("moh", {"mof": "@mof:x", "gov": "@gov:x"}, None, ("gov", "@gov:x")),
        ("moh", {"mof": "@mof:x"}, None, None),
        # a head who is the person themselves passes the reminder up
        ("team", {"team": "@t:x", "gov": "@gov:x"}, "@t:x", ("gov", "@gov:x")),
        ("unknown", {"gov": "@gov:x"}, None, None),
    ],
)
def test_nearest_head(
    org: str, heads: dict[str, str], exclude: str | None, expected: tuple[str, str] | None
) -> None:
    assert nearest_head(org, PARENTS, heads, exclude) == expected
