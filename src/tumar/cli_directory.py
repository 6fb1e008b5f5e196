"""``tumar org ...`` and ``tumar people ...``: the organisation directory on the command line.

The command line acts as a global operator; audit rows name ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from tumar.core.directory import cli_actor
from tumar.core.imports import ImportOptions
from tumar.core.services import Services
from tumar.errors import MatrixError
from tumar.policy.roles import Actor
from tumar.store.directory import PeopleQuery

ROW_ERRORS = 3  # exit status: imported, but some rows were refused


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    org = sub.add_parser("org", help="the organisation tree")
    orgs = org.add_subparsers(dest="org_command", required=True)
    org_list = orgs.add_parser("list", help="print the organisation tree")
    common(org_list)
    org_import = orgs.add_parser(
        "import", help="create and update organisations from a CSV or XLSX file"
    )
    common(org_import)
    _import_arguments(org_import)

    people = sub.add_parser("people", help="officials and external partners")
    cmds = people.add_subparsers(dest="people_command", required=True)
    listing = cmds.add_parser("list", help="list people")
    common(listing)
    listing.add_argument("--org", help="only this organisation and its units")
    listing.add_argument("--query", help="text in names, personnel number, position, e-mail")
    listing.add_argument("--status", choices=["active", "departed"])
    listing.add_argument("--limit", type=int, default=1000, help="at most this many (1000)")
    show = cmds.add_parser("show", help="show one person by personnel number")
    common(show)
    show.add_argument("number", help="personnel number")
    imp = cmds.add_parser(
        "import", help="create, update, move and (with confirmation) depart staff from HR"
    )
    common(imp)
    _import_arguments(imp)
    imp.add_argument(
        "--confirm-departures",
        action="store_true",
        help="mark people of the scope missing from the file as departed and deactivate "
        "their accounts (without it they are only reported)",
    )
    imp.add_argument("--org", help="import into this subtree only; departures look only here")


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="CSV (UTF-8) or XLSX file with a header row")
    p.add_argument("--dry-run", action="store_true", help="show the changes; change nothing")
    p.add_argument("--format", choices=["csv", "xlsx"], help="default: from the file's content")
    p.add_argument("--encoding", help="CSV text encoding, e.g. cp1251 (default UTF-8)")
    p.add_argument(
        "--show",
        type=int,
        default=100,
        metavar="N",
        help="list at most N entries of each kind (default 100; 0: only the summary)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    if args.command == "org":
        if args.org_command == "list":
            return await _org_list(svc)
        return await _org_import(args, svc)
    if args.people_command == "list":
        return await _people_list(args, svc)
    if args.people_command == "show":
        return await _people_show(args, svc)
    if args.people_command == "import":
        return await _people_import(args, svc)
    raise AssertionError(args)


def _actor() -> Actor:
    return cli_actor(getpass.getuser())


# ---- listing --------------------------------------------------------------------------------


async def _org_list(svc: Services) -> int:
    orgs = await svc.directory.list_orgs(_actor())
    for o in orgs:
        depth = o.path.count("/") - 2
        region = f"  ({o.region})" if o.region else ""
        print(f"{'  ' * depth}{o.code}  [{o.kind}]  {o.name_ru} / {o.name_en}{region}")
    if not orgs:
        print("No organisations yet: tumar org import FILE", file=sys.stderr)
    return 0


async def _people_list(args: argparse.Namespace, svc: Services) -> int:
    actor = _actor()
    org_path = None
    if args.org is not None:
        org_path = (await svc.directory.get_org(actor, args.org)).path
    query = PeopleQuery(
        scopes=(), org_path=org_path, text=args.query, status=args.status, limit=args.limit
    )
    found, total = await svc.directory.list_people(actor, query)
    for p in found:
        cells = (p.personnel_number, p.org_code, p.name_cyr, p.name_lat, p.position or "",
                 p.status, p.user_id or "")  # fmt: skip
        print("\t".join(cells))
    print(f"{len(found)} of {total} people", file=sys.stderr)
    return 0


async def _people_show(args: argparse.Namespace, svc: Services) -> int:
    actor = _actor()
    person = await svc.directory.get_person_by_number(actor, args.number)
    org = await svc.directory.get_org(actor, person.org_code)
    fields = person.as_dict()
    fields["org"] = f"{org.code} ({org.name_ru} / {org.name_en}), {org.path}"
    for name in ("personnel_number", "person_id", "name_cyr", "name_lat", "org", "position",
                 "email", "phone", "clearance", "kind", "status", "user_id"):  # fmt: skip
        value = fields[name]
        print(f"{name + ':':<18}{'' if value is None else value}")
    return 0


# ---- imports --------------------------------------------------------------------------------


def _options(args: argparse.Namespace, **extra: Any) -> ImportOptions:
    return ImportOptions(
        dry_run=args.dry_run,
        format=args.format,
        encoding=args.encoding,
        detail_limit=max(args.show, 0),
        **extra,
    )


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise MatrixError(400, "TUMAR_BAD_FILE", f"Cannot read {path}: {exc.strerror}.") from None


async def _people_import(args: argparse.Namespace, svc: Services) -> int:
    options = _options(args, confirm_departures=args.confirm_departures, org=args.org)
    bar = ProgressBar(sys.stderr, enabled=not args.no_progress)
    with _open(args.file) as fh:
        try:
            report = await svc.staff_import.do_import_people(_actor(), fh, options, bar)
        finally:
            bar.close()
    result = report.as_dict()
    _print_report(result, args.show, person=True)
    if result["counts"]["departed"] and not result["departures_applied"]:
        how = "import without --dry-run and with" if args.dry_run else "run again with"
        print(
            "Departed people were only reported. To mark them departed and deactivate their "
            f"accounts, {how} --confirm-departures."
        )
    return ROW_ERRORS if result["counts"]["errors"] else 0


async def _org_import(args: argparse.Namespace, svc: Services) -> int:
    bar = ProgressBar(sys.stderr, enabled=not args.no_progress)
    with _open(args.file) as fh:
        try:
            report = await svc.org_import.do_import_orgs(_actor(), fh, _options(args), bar)
        finally:
            bar.close()
    result = report.as_dict()
    _print_report(result, args.show, person=False)
    return ROW_ERRORS if result["counts"]["errors"] else 0


def _print_report(result: dict[str, Any], show: int, *, person: bool) -> None:
    if result["ignored_columns"]:
        print("Ignored column(s): " + ", ".join(result["ignored_columns"]), file=sys.stderr)
    key = "personnel_number" if person else "code"
    if show > 0:
        for item in result["new"]:
            what = (
                f"{item['org_code']}  {item['name_cyr']} ({item['name_lat']})"
                if person
                else f"{item['path']}  {item['name_ru']}"
            )
            print(f"new       row {item['row']:<7} {item[key]}  {what}")
        for kind in ("changed", "moved"):
            for item in result[kind]:
                changes = "; ".join(
                    f"{name}: {_text(c['before'])} -> {_text(c['after'])}"
                    for name, c in item["changes"].items()
                )
                print(f"{kind:<9} row {item['row']:<7} {item[key]}  {changes}")
        for item in result.get("departed", []):
            account = f"  account {item['user_id']}" if item["user_id"] else ""
            print(
                f"departed  {'':<11} {item['personnel_number']}  {item['org_code']}  "
                f"{item['name_cyr']}{account}"
            )
        for error in result["errors"]:
            print(f"error     row {error['row']:<7} {error['key'] or ''}  {error['error']}")
        if result["truncated"]:
            print(f"(lists cut at {show} entries of each kind; see --show)")
    counts = result["counts"]
    parts = [f"{counts[k]} {k}" for k in ("new", "changed", "moved", "unchanged")]
    if person:
        parts.append(f"{counts['departed']} departed")
    parts.append(f"{counts['errors']} error{'s' if counts['errors'] != 1 else ''}")
    print(f"{', '.join(parts)} in {result['rows']} rows.")
    if result["dry_run"]:
        print("Dry run: nothing was changed.")


def _text(value: object) -> str:
    return "(empty)" if value is None else repr(value)


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO, enabled: bool = True, width: int = 30) -> None:
        self._stream = stream
        self._enabled = enabled and stream.isatty()
        self._width = width
        self._phase = ""
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if phase == self._phase and now - self._last < 0.1 and done != total:
            return
        if phase != self._phase and self._phase:
            self._stream.write("\n")
        self._phase, self._last = phase, now
        if total:
            share = min(done / total, 1.0)
            filled = int(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            line = f"{phase:<11}[{bar}] {share:4.0%}"
            if phase != "reading":  # reading counts bytes of a CSV file
                line += f"  {done:,}/{total:,}"
        else:
            line = f"{phase:<11}{done:,}"
        self._stream.write("\r" + line.ljust(70))
        self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._phase:
            self._stream.write("\n")
            self._stream.flush()
