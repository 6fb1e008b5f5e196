"""Rows of a staff file: header, row checks, and the diff against the directory."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.staff_rows import (
    Columns,
    HeaderProblem,
    RowError,
    StaffRow,
    diff_person,
    parse_staff_row,
    read_header,
)

LABELS = ["public", "internal", "official-use"]
HEADER = ["personnel_number", "org_code", "name_cyr", "name_lat", "position", "email",
          "phone", "clearance", "kind"]  # fmt: skip


def columns(header: list[str | None] | None = None) -> Columns:
    result = read_header(header or list(HEADER))
    assert isinstance(result, Columns)
    return result


def test_header_names_are_forgiving_about_case_spaces_and_hyphens() -> None:
    result = columns(["\ufeffPersonnel Number", " ORG-CODE ", "Name_Cyr", "name lat", None, "Note"])
    assert result.index == {"personnel_number": 0, "org_code": 1, "name_cyr": 2, "name_lat": 3}
    assert result.ignored == ("note",)
    assert result.width == 6


def test_header_lists_every_missing_and_repeated_column() -> None:
    result = read_header(["org_code", "name_cyr", "email", "Email"])
    assert isinstance(result, HeaderProblem)
    assert result.missing == ("personnel_number", "name_lat")
    assert result.repeated == ("email",)
    message = result.message()
    assert "personnel_number, name_lat" in message and "email" in message


def row(**cells: str | None) -> list[str | None]:
    base: dict[str, str | None] = {
        "personnel_number": "1001",
        "org_code": "mof",
        "name_cyr": "Иванов Иван",
        "name_lat": "Ivanov Ivan",
    }
    base.update(cells)
    return [base.get(name) for name in HEADER]


def test_a_valid_row() -> None:
    parsed = parse_staff_row(2, row(position="Chief", clearance="public"), columns(), LABELS)
    assert isinstance(parsed, StaffRow)
    assert (parsed.row, parsed.number, parsed.org_code) == (2, "1001", "mof")
    assert parsed.values["position"] == "Chief" and parsed.values["email"] is None


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        ({"personnel_number": None}, "personnel_number is empty"),
        ({"personnel_number": "10 01"}, "personnel_number must be"),
        ({"personnel_number": "x" * 65}, "personnel_number must be"),
        ({"org_code": None}, "org_code is empty"),
        ({"name_cyr": None, "name_lat": None}, "name_cyr is empty; name_lat is empty"),
        ({"clearance": "top-secret"}, "clearance 'top-secret' is not one of"),
        ({"kind": "contractor"}, "kind 'contractor' is not one of official, external"),
        ({"email": "not-an-address"}, "is not an e-mail address"),
        ({"position": "x" * 501}, "position is longer than 500"),
        ({"name_lat": "Ivan\x00"}, "name_lat contains control characters"),
    ],
)
def test_bad_rows_say_what_is_wrong(cells: dict[str, Any], fragment: str) -> None:
    parsed = parse_staff_row(7, row(**cells), columns(), LABELS)
    assert isinstance(parsed, RowError)
    assert parsed.row == 7
    assert fragment in parsed.error


def test_cells_beyond_the_header_are_an_error_but_empty_ones_are_not() -> None:
    assert isinstance(parse_staff_row(2, [*row(), None, None], columns(), LABELS), StaffRow)
    parsed = parse_staff_row(2, [*row(), "stray"], columns(), LABELS)
    assert isinstance(parsed, RowError) and "more than the 9 columns" in parsed.error


def person(**fields: Any) -> dict[str, Any]:
    base = {
        "org_code": "mof",
        "name_cyr": "Иванов Иван",
        "name_lat": "Ivanov Ivan",
        "position": "Chief",
        "email": "ivan@mof.kz",
        "phone": None,
        "clearance": "official-use",
        "kind": "official",
        "status": "active",
    }
    base.update(fields)
    return base


def staff_row(header: list[str] | None = None, **cells: str | None) -> StaffRow:
    cols = columns(list(header or HEADER))
    values = row(**cells)
    by_name = dict(zip(HEADER, values, strict=True))
    parsed = parse_staff_row(2, [by_name[h] for h in (header or HEADER)], cols, LABELS)
    assert isinstance(parsed, StaffRow), parsed
    return parsed


def test_a_new_person_gets_the_defaults() -> None:
    diff = diff_person(None, staff_row(), "internal")
    assert diff.outcome == "new"
    assert diff.values["clearance"] == "internal" and diff.values["kind"] == "official"
    assert diff.values["status"] == "active"


def test_the_same_row_again_is_unchanged() -> None:
    same = staff_row(position="Chief", email="ivan@mof.kz", clearance="official-use")
    assert diff_person(person(), same, "internal").outcome == "unchanged"


def test_empty_clearance_and_kind_keep_the_existing_values() -> None:
    diff = diff_person(person(), staff_row(position="Chief", email="ivan@mof.kz"), "internal")
    assert diff.outcome == "unchanged"


def test_an_empty_optional_cell_clears_but_an_absent_column_keeps() -> None:
    diff = diff_person(person(), staff_row(email="ivan@mof.kz"), "internal")
    assert diff.outcome == "changed"
    assert diff.changes == {"position": ("Chief", None)}
    narrow = ["personnel_number", "org_code", "name_cyr", "name_lat"]
    assert diff_person(person(), staff_row(narrow), "internal").outcome == "unchanged"


def test_an_org_change_is_a_move_with_every_changed_field() -> None:
    diff = diff_person(
        person(), staff_row(org_code="mof-it", position="Head", email="ivan@mof.kz"), "internal"
    )
    assert diff.outcome == "moved"
    assert diff.changes == {"org_code": ("mof", "mof-it"), "position": ("Chief", "Head")}


def test_a_departed_person_in_the_file_comes_back() -> None:
    diff = diff_person(
        person(status="departed"), staff_row(position="Chief", email="ivan@mof.kz"), "internal"
    )
    assert diff.outcome == "changed"
    assert diff.changes == {"status": ("departed", "active")}
