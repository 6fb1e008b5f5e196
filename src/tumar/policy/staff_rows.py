"""Rows of a staff file from HR: the columns, what makes a row valid, and how a row differs
from the person already in the directory. Pure functions; the importer does the I/O.

Columns (header names are matched without regard to case, surrounding spaces, or ``-`` and
space written for ``_``): ``personnel_number``, ``org_code``, ``name_cyr`` and ``name_lat`` are
required; ``position``, ``email``, ``phone``, ``clearance`` and ``kind`` are optional.

A column that the file leaves out is not managed by the file: existing people keep their value.
An empty cell in a present column clears ``position``, ``email`` and ``phone``; an empty
``clearance`` or ``kind`` keeps an existing person's value and gives a new person the defaults
(``default_clearance``, ``official``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tumar.policy.directory import PERSON_KINDS, valid_org_code

REQUIRED = ("personnel_number", "org_code", "name_cyr", "name_lat")
OPTIONAL = ("position", "email", "phone", "clearance", "kind")
COLUMNS = REQUIRED + OPTIONAL
# The person's fields an import may set (personnel_number is the key; status comes back to
# "active" when a departed person reappears in a file).
FIELDS = (
    "org_code",
    "name_cyr",
    "name_lat",
    "position",
    "email",
    "phone",
    "clearance",
    "kind",
    "status",
)
MAX_NUMBER = 64
MAX_TEXT = 500

_NUMBER = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def column_name(text: str) -> str:
    """A header cell as a column name: lower case, ``_`` for spaces and hyphens."""
    return re.sub(r"[\s\-]+", "_", text.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True, slots=True)
class Columns:
    index: dict[str, int]  # known column -> position in a row
    ignored: tuple[str, ...]  # header cells that are not columns of ours
    width: int  # cells in the header row


@dataclass(frozen=True, slots=True)
class HeaderProblem:
    missing: tuple[str, ...]
    repeated: tuple[str, ...]

    def message(self, what: str = "staff") -> str:
        parts = []
        if self.missing:
            parts.append("missing required column(s): " + ", ".join(self.missing))
        if self.repeated:
            parts.append("repeated column(s): " + ", ".join(self.repeated))
        return f"The header row of the {what} file is wrong: " + "; ".join(parts) + "."


def read_header(
    header: Sequence[str | None],
    known: Sequence[str] = COLUMNS,
    required: Sequence[str] = REQUIRED,
) -> Columns | HeaderProblem:
    index: dict[str, int] = {}
    ignored: list[str] = []
    repeated: list[str] = []
    for i, cell in enumerate(header):
        name = column_name(cell or "")
        if not name:
            continue
        if name not in known:
            ignored.append(name)
        elif name in index:
            repeated.append(name)
        else:
            index[name] = i
    missing = tuple(c for c in required if c not in index)
    if missing or repeated:
        return HeaderProblem(missing, tuple(repeated))
    return Columns(index, tuple(ignored), len(header))


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    key: str | None  # the personnel number (or organisation code) when the row has one
    error: str


@dataclass(frozen=True, slots=True)
class StaffRow:
    row: int
    number: str
    org_code: str
    values: dict[str, str | None]  # the fields of FIELDS this file sets, org_code included


def cell(cells: Sequence[str | None], columns: Columns, name: str) -> str | None:
    i = columns.index.get(name)
    if i is None or i >= len(cells):
        return None
    return cells[i]


def extra_cells(cells: Sequence[str | None], columns: Columns) -> str | None:
    """A problem when the row has filled cells to the right of the header's last column."""
    if any(cells[columns.width :]):
        return f"{len(cells)} cells, more than the {columns.width} columns of the header"
    return None


def parse_staff_row(
    row: int, cells: Sequence[str | None], columns: Columns, labels: Sequence[str]
) -> StaffRow | RowError:
    """Check one data row (cells already stripped, empty = None)."""
    problems: list[str] = []
    if (extra := extra_cells(cells, columns)) is not None:
        problems.append(extra)
    number = cell(cells, columns, "personnel_number")
    if number is None:
        problems.append("personnel_number is empty")
    elif not _NUMBER.match(number):
        problems.append(
            f"personnel_number must be 1-{MAX_NUMBER} characters without spaces or control "
            "characters"
        )
    values: dict[str, str | None] = {}
    for name in ("org_code", "name_cyr", "name_lat"):
        value = cell(cells, columns, name)
        if value is None:
            problems.append(f"{name} is empty")
        values[name] = value
    for name in ("position", "email", "phone", "clearance", "kind"):
        if name in columns.index:
            values[name] = cell(cells, columns, name)
    for name, value in values.items():
        if value is not None and len(value) > MAX_TEXT:
            problems.append(f"{name} is longer than {MAX_TEXT} characters")
        elif value is not None and _CONTROL.search(value):
            problems.append(f"{name} contains control characters")
    org_code = values["org_code"]
    if org_code is not None and not valid_org_code(org_code):
        problems.append(f"unknown organisation code {org_code!r}")
    email = values.get("email")
    if email is not None and not _EMAIL.match(email):
        problems.append(f"email {email!r} is not an e-mail address")
    clearance = values.get("clearance")
    if clearance is not None and clearance not in labels:
        problems.append(f"clearance {clearance!r} is not one of {', '.join(labels)}")
    kind = values.get("kind")
    if kind is not None and kind not in PERSON_KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(PERSON_KINDS)}")
    if problems:
        return RowError(row, number, "; ".join(problems) + ".")
    assert number is not None and values["org_code"] is not None
    return StaffRow(row, number, values["org_code"], values)


Outcome = Literal["new", "changed", "moved", "unchanged"]


@dataclass(frozen=True, slots=True)
class Diff:
    outcome: Outcome
    values: dict[str, Any]  # the person's fields after the import (all of FIELDS)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (before, after)


def diff_person(existing: Mapping[str, Any] | None, row: StaffRow, default_clearance: str) -> Diff:
    """What importing ``row`` does to the person with its number (None: there is none)."""
    if existing is None:
        values = {name: row.values.get(name) for name in FIELDS}
        values["clearance"] = values["clearance"] or default_clearance
        values["kind"] = values["kind"] or "official"
        values["status"] = "active"
        return Diff("new", values)
    values = {name: existing[name] for name in FIELDS}
    for name, value in row.values.items():
        if value is None and name in ("clearance", "kind"):
            continue
        values[name] = value
    values["status"] = "active"
    changes = {
        name: (existing[name], values[name]) for name in FIELDS if existing[name] != values[name]
    }
    if not changes:
        return Diff("unchanged", values)
    return Diff("moved" if "org_code" in changes else "changed", values, changes)
