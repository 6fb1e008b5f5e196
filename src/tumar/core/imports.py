"""What the staff and organisation imports share: their options, the report's capped lists,
progress callbacks, and turning file problems into Matrix errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from tumar.errors import MatrixError
from tumar.policy.staff_rows import Columns, HeaderProblem, RowError
from tumar.tabular import FileProblem, Format, Table

T = TypeVar("T")

# (phase, done, total): phase "reading" counts bytes (CSV) or rows (XLSX); "importing" rows;
# "departures" people checked. ``total`` is None while unknown.
ImportProgress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    dry_run: bool = False
    confirm_departures: bool = False  # staff only: mark departed people and deactivate them
    org: str | None = None  # staff only: limit the import's scope to this subtree
    format: Format | None = None  # None: XLSX if the file is a ZIP archive, else CSV
    encoding: str | None = None  # CSV; None: UTF-8 (a byte-order mark is dropped)
    max_unpacked_bytes: int | None = None  # XLSX: refuse workbooks that unpack to more
    detail_limit: int = 1000  # entries kept in each list of the report


@dataclass(slots=True)
class Capped(Generic[T]):
    """A list that keeps its first ``limit`` entries and counts the rest."""

    limit: int
    items: list[T] = field(default_factory=list)
    count: int = 0

    def add(self, item: T) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(item)

    @property
    def truncated(self) -> bool:
        return self.count > len(self.items)


@dataclass(slots=True)
class Errors:
    """Row errors, keeping the ``limit`` with the lowest row numbers."""

    limit: int
    items: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, error: RowError) -> None:
        self.count += 1
        self.items.append(error)
        if len(self.items) > 2 * self.limit + 100:
            self._trim()

    def _trim(self) -> None:
        self.items.sort(key=lambda e: e.row)
        del self.items[self.limit :]

    def listed(self) -> list[dict[str, Any]]:
        self._trim()
        return [{"row": e.row, "key": e.key, "error": e.error} for e in self.items]

    @property
    def truncated(self) -> bool:
        return self.count > min(len(self.items), self.limit)


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do); lists are capped, counts complete."""

    what: Literal["staff", "orgs"]
    dry_run: bool
    format: str
    encoding: str | None
    delimiter: str | None
    ignored_columns: list[str]
    limit: int
    rows: int = 0  # non-blank data rows read
    unchanged: int = 0
    new: Capped[dict[str, Any]] = field(init=False)
    changed: Capped[dict[str, Any]] = field(init=False)
    moved: Capped[dict[str, Any]] = field(init=False)
    departed: Capped[dict[str, Any]] = field(init=False)  # staff only
    errors: Errors = field(init=False)
    departures_applied: bool = False

    def __post_init__(self) -> None:
        self.new = Capped(self.limit)
        self.changed = Capped(self.limit)
        self.moved = Capped(self.limit)
        self.departed = Capped(self.limit)
        self.errors = Errors(self.limit)

    @classmethod
    def start(
        cls, what: Literal["staff", "orgs"], options: ImportOptions, table: Table, columns: Columns
    ) -> ImportReport:
        return cls(
            what=what,
            dry_run=options.dry_run,
            format=table.format,
            encoding=table.encoding,
            delimiter=table.delimiter,
            ignored_columns=list(columns.ignored),
            limit=options.detail_limit,
        )

    def as_dict(self) -> dict[str, Any]:
        lists = {"new": self.new, "changed": self.changed, "moved": self.moved}
        if self.what == "staff":
            lists["departed"] = self.departed
        counts = {name: c.count for name, c in lists.items()}
        return {
            "dry_run": self.dry_run,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "ignored_columns": self.ignored_columns,
            "rows": self.rows,
            "counts": {**counts, "unchanged": self.unchanged, "errors": self.errors.count},
            **{name: c.items for name, c in lists.items()},
            **({"departures_applied": self.departures_applied} if self.what == "staff" else {}),
            "errors": self.errors.listed(),
            "truncated": self.errors.truncated or any(c.truncated for c in lists.values()),
        }


def file_error(problem: FileProblem) -> MatrixError:
    if problem.code == "too_large":
        return MatrixError(413, "M_TOO_LARGE", problem.message)
    if problem.code == "encoding":
        return MatrixError(400, "TUMAR_BAD_ENCODING", problem.message)
    return MatrixError(400, "TUMAR_BAD_FILE", problem.message)


def header_error(problem: HeaderProblem, what: str) -> MatrixError:
    errcode = "TUMAR_MISSING_COLUMNS" if problem.missing else "TUMAR_BAD_HEADER"
    return MatrixError(
        400,
        errcode,
        problem.message(what),
        missing=list(problem.missing),
        repeated=list(problem.repeated),
    )


def changes_dict(changes: dict[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {"before": b, "after": a} for name, (b, a) in changes.items()}
