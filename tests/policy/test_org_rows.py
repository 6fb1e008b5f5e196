"""Organisation files: row checks and the tree they make with the directory's organisations."""

from __future__ import annotations

from collections.abc import Callable

from tumar.policy.org_rows import (
    COLUMNS,
    REQUIRED,
    Existing,
    OrgRow,
    diff_org,
    parse_org_row,
    resolve_tree,
)
from tumar.policy.staff_rows import Columns, RowError, read_header

HEADER = list(COLUMNS)


def cols() -> Columns:
    result = read_header(HEADER, COLUMNS, REQUIRED)
    assert isinstance(result, Columns)
    return result


def r(row: int, code: str, parent: str | None, kind: str = "unit") -> OrgRow:
    parsed = parse_org_row(row, [code, parent, kind, code, code, code, None], cols())
    assert isinstance(parsed, OrgRow), parsed
    return parsed


EXISTING = {
    "gov": Existing(None, "/gov/"),
    "mof": Existing("gov", "/gov/mof/"),
    "mof-it": Existing("mof", "/gov/mof/mof-it/"),
    "moh": Existing("gov", "/gov/moh/"),
}


def anywhere(_path: str) -> bool:
    return True


def within(root: str) -> Callable[[str], bool]:
    return lambda path: path != "" and path.startswith(root)


def errors(rows: list[OrgRow], may: Callable[[str], bool] = anywhere) -> dict[int, str]:
    return {e.row: e.error for e in resolve_tree(rows, EXISTING, may).errors}


def test_bad_rows() -> None:
    for cells, fragment in (
        (["Bad Code", None, "unit", "a", "b", "c", None], "code 'Bad Code' must be"),
        (["x", None, "club", "a", "b", "c", None], "kind 'club' is not one of"),
        (["x", "x", "unit", "a", "b", "c", None], "cannot be its own parent"),
        (["x", "gov", "unit", None, "b", "c", None], "name_kk is empty"),
        ([None, "gov", "unit", "a", "b", "c", None], "code is empty"),
    ):
        parsed = parse_org_row(3, cells, cols())
        assert isinstance(parsed, RowError) and fragment in parsed.error, (cells, parsed)


def test_parents_may_come_later_and_are_applied_first() -> None:
    rows = [r(2, "unit-b", "dep-a"), r(3, "dep-a", "mof", "department"), r(4, "x", "unit-b")]
    result = resolve_tree(rows, EXISTING, anywhere)
    assert not result.errors
    assert [row.code for row in result.accepted] == ["dep-a", "unit-b", "x"]
    assert result.paths["x"] == "/gov/mof/dep-a/unit-b/x/"


def test_cycles_in_the_file_are_refused_with_their_descendants() -> None:
    found = errors([r(2, "a", "b"), r(3, "b", "a"), r(4, "c", "a"), r(5, "d", "mof")])
    assert set(found) == {2, 3, 4}
    assert "cycle" in found[2] and "cycle" in found[3]
    assert 5 not in found


def test_a_move_below_its_own_descendant_is_a_cycle() -> None:
    found = errors([r(2, "mof", "mof-it", "ministry")])
    assert "cycle" in found[2]


def test_unknown_parents_and_children_of_refused_rows() -> None:
    found = errors([r(2, "a", "nowhere"), r(3, "b", "a"), r(4, "c", "b")])
    assert "parent nowhere is neither in the directory nor in this file" in found[2]
    assert "parent a was refused (row 2)" in found[3]
    assert "parent b was refused (row 3)" in found[4]


def test_repeated_codes_refuse_every_occurrence() -> None:
    found = errors([r(2, "a", "mof"), r(3, "a", "moh"), r(4, "b", "mof")])
    assert set(found) == {2, 3}
    assert "rows 2, 3" in found[2]


def test_scope_limits_what_an_administrator_may_create_change_or_move() -> None:
    mine = within("/gov/mof/")
    found = errors(
        [
            r(2, "new-unit", "mof-it"),  # below my subtree: fine
            r(3, "their-unit", "moh"),  # below another ministry
            r(4, "moh", "gov", "ministry"),  # another ministry itself
            r(5, "mof-it", "moh", "department"),  # moving my unit out of my subtree
            r(6, "top", None, "government"),  # a new top-level organisation
            r(7, "deeper", "their-unit"),  # below a refused row
        ],
        mine,
    )
    assert set(found) == {3, 4, 5, 6, 7}
    assert "outside your administrative scope" in found[3]
    assert "only an operator" in found[6]


def test_existing_units_below_a_moved_one_move_along() -> None:
    rows = [r(2, "mof", "moh", "ministry"), r(3, "team", "mof-it")]
    result = resolve_tree(rows, EXISTING, anywhere)
    assert not result.errors
    assert result.paths == {"mof": "/gov/moh/mof/", "team": "/gov/moh/mof/mof-it/team/"}


def test_diff_org() -> None:
    before = {"parent_code": "gov", "kind": "ministry", "name_kk": "mof", "name_ru": "mof",
              "name_en": "mof", "region": "Astana"}  # fmt: skip
    # the row has no region column here, so region is kept
    same = OrgRow(2, "mof", "gov", {k: v for k, v in before.items() if k != "region"})
    assert diff_org(before, same).outcome == "unchanged"
    renamed = OrgRow(2, "mof", "gov", {**before, "name_en": "Finance"})
    assert diff_org(before, renamed).changes == {"name_en": ("mof", "Finance")}
    moved = OrgRow(2, "mof", "moh", {**before, "parent_code": "moh"})
    assert diff_org(before, moved).outcome == "moved"
    assert diff_org(None, moved).outcome == "new"
