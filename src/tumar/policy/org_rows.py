"""Rows of an organisation file: columns, valid rows, and the tree they make together with the
organisations already in the directory. Pure functions; the importer does the I/O.

Columns: ``code``, ``parent_code`` (empty for a top-level organisation), ``kind``, ``name_kk``,
``name_ru``, ``name_en`` are required; ``region`` is optional. A parent may be an organisation
already in the directory or one that comes anywhere in the file, before or after its children.
Rows that would make a cycle, name an unknown parent, repeat a code, or lie outside the actor's
scope are refused, and so are the rows below a refused one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tumar.policy.directory import ORG_KINDS, child_path, valid_org_code
from tumar.policy.staff_rows import MAX_TEXT, Columns, Diff, RowError, cell, extra_cells

REQUIRED = ("code", "parent_code", "kind", "name_kk", "name_ru", "name_en")
OPTIONAL = ("region",)
COLUMNS = REQUIRED + OPTIONAL
FIELDS = ("parent_code", "kind", "name_kk", "name_ru", "name_en", "region")


@dataclass(frozen=True, slots=True)
class OrgRow:
    row: int
    code: str
    parent_code: str | None
    values: dict[str, str | None]  # the fields of FIELDS this file sets


def parse_org_row(row: int, cells: Sequence[str | None], columns: Columns) -> OrgRow | RowError:
    problems: list[str] = []
    if (extra := extra_cells(cells, columns)) is not None:
        problems.append(extra)
    code = cell(cells, columns, "code")
    parent = cell(cells, columns, "parent_code")
    if code is None:
        problems.append("code is empty")
    elif not valid_org_code(code):
        problems.append(f"code {code!r} must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    if parent is not None and not valid_org_code(parent):
        problems.append(f"parent_code {parent!r} is not a valid organisation code")
    if parent is not None and parent == code:
        problems.append("an organisation cannot be its own parent")
    values: dict[str, str | None] = {"parent_code": parent}
    for name in ("kind", "name_kk", "name_ru", "name_en"):
        value = cell(cells, columns, name)
        if value is None:
            problems.append(f"{name} is empty")
        values[name] = value
    if "region" in columns.index:
        values["region"] = cell(cells, columns, "region")
    kind = values["kind"]
    if kind is not None and kind not in ORG_KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(ORG_KINDS)}")
    for name, value in values.items():
        if value is not None and len(value) > MAX_TEXT:
            problems.append(f"{name} is longer than {MAX_TEXT} characters")
    if problems:
        return RowError(row, code, "; ".join(problems) + ".")
    assert code is not None
    return OrgRow(row, code, parent, values)


@dataclass(frozen=True, slots=True)
class Existing:
    parent_code: str | None
    path: str


@dataclass(slots=True)
class Resolution:
    accepted: list[OrgRow]  # parents before children
    errors: list[RowError]
    paths: dict[str, str]  # final path of every accepted row's organisation
    parents: dict[str, str | None] = field(default_factory=dict)


def resolve_tree(
    rows: Sequence[OrgRow],
    existing: Mapping[str, Existing],
    may_write: Callable[[str], bool],
) -> Resolution:
    """Which rows can be applied, in which order, and the paths they give.

    ``existing`` holds every organisation in the directory. ``may_write(path)`` says whether
    the actor may change the organisation at ``path`` or create one below it; the empty path
    stands for the top level (operators only).
    """
    errors: dict[int, str] = {}
    by_code: dict[str, list[OrgRow]] = {}
    for r in rows:
        by_code.setdefault(r.code, []).append(r)
    for code, same in by_code.items():
        if len(same) > 1:
            listed = ", ".join(str(r.row) for r in same)
            for r in same:
                errors[r.row] = f"code {code} appears more than once in the file (rows {listed})."
    live = {r.code: r for r in rows if r.row not in errors}

    while True:
        parents = {code: e.parent_code for code, e in existing.items()}
        parents.update({code: r.parent_code for code, r in live.items()})
        gone = {r.code: r.row for r in rows if r.row in errors}
        refused = {r.row: why for r in live.values() if (why := _problem(r, parents, gone))}
        if not refused:
            paths = _paths(parents, existing, live)
            refused = {
                r.row: why
                for r in live.values()
                if (why := _scope_problem(r, existing.get(r.code), paths, may_write))
            }
            # Refusing a row changes the paths below it: keep only the shallowest refusals,
            # which no other refusal can change, and look again.
            if refused:
                level = {r.row: paths[r.code].count("/") for r in live.values()}
                top = min(level[row] for row in refused)
                refused = {row: why for row, why in refused.items() if level[row] == top}
        if not refused:
            break
        errors.update(refused)
        live = {code: r for code, r in live.items() if r.row not in refused}

    depth = {code: paths[code].count("/") for code in live}
    accepted = sorted(live.values(), key=lambda r: (depth[r.code], r.row))
    return Resolution(
        accepted=accepted,
        errors=[RowError(row, _code_at(rows, row), why) for row, why in sorted(errors.items())],
        paths={code: paths[code] for code in live},
        parents=parents,
    )


def _code_at(rows: Sequence[OrgRow], row: int) -> str | None:
    return next((r.code for r in rows if r.row == row), None)


def _problem(
    row: OrgRow, parents: Mapping[str, str | None], refused: Mapping[str, int]
) -> str | None:
    """A cycle through the row, or a parent that is neither in the directory nor accepted
    from the file (``refused``: codes of refused rows and their row numbers). A problem higher
    up is left for the row it belongs to, so that each row names its own parent."""
    seen = {row.code}
    at = row.parent_code
    while at is not None:
        if at not in parents:
            if at != row.parent_code:
                return None
            if at in refused:
                return f"parent {at} was refused (row {refused[at]})."
            return f"parent {at} is neither in the directory nor in this file."
        if at == row.code:
            return f"parent_code {row.parent_code} would make a cycle in the organisation tree."
        if at in seen:
            return None
        seen.add(at)
        at = parents[at]
    return None


def _paths(
    parents: Mapping[str, str | None],
    existing: Mapping[str, Existing],
    live: Mapping[str, OrgRow],
) -> dict[str, str]:
    """Final paths of the file's organisations (the tree is known to be acyclic here)."""
    memo: dict[str, str] = {}

    def path(code: str) -> str:
        if code in memo:
            return memo[code]
        if code not in live:
            result = existing[code].path
            # an existing organisation below a moved one moves along
            chain = []
            at: str | None = code
            while at is not None and at not in live:
                chain.append(at)
                at = parents.get(at)
            if at is not None:
                result = path(at)
                for c in reversed(chain):
                    result = child_path(result, c)
        else:
            parent = parents[code]
            result = child_path("" if parent is None else path(parent), code)
        memo[code] = result
        return result

    return {code: path(code) for code in live}


def _scope_problem(
    row: OrgRow,
    before: Existing | None,
    paths: Mapping[str, str],
    may_write: Callable[[str], bool],
) -> str | None:
    parent_path = paths[row.code][: -len(row.code) - 1]
    if before is not None and not may_write(before.path):
        return f"organisation {row.code} is outside your administrative scope."
    moving = before is None or before.parent_code != row.parent_code
    if moving and not may_write("" if row.parent_code is None else parent_path):
        if row.parent_code is None:
            return "only an operator may create or move a top-level organisation."
        return f"parent {row.parent_code} is outside your administrative scope."
    return None


def diff_org(existing: Mapping[str, Any] | None, row: OrgRow) -> Diff:
    if existing is None:
        values: dict[str, Any] = {name: row.values.get(name) for name in FIELDS}
        return Diff("new", values)
    values = {name: existing[name] for name in FIELDS}
    values.update(row.values)
    changes = {
        name: (existing[name], values[name]) for name in FIELDS if existing[name] != values[name]
    }
    if not changes:
        return Diff("unchanged", values)
    return Diff("moved" if "parent_code" in changes else "changed", values, changes)
