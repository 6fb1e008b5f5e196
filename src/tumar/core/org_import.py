"""Importing the organisation tree from a file (CSV or XLSX): upsert by code, parents anywhere
in the file, cycles and unknown parents refused per row, within the actor's scope.

Organisation files are small (thousands of rows), so the whole file is read first (in a worker
thread), the tree resolved as a whole (:mod:`tumar.policy.org_rows`), and the accepted rows
applied parents first in one transaction with one audit row per created, changed or moved
organisation. A dry run resolves the same way and writes nothing.
"""

from __future__ import annotations

import asyncio
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core import audit
from tumar.core.audit import Entry
from tumar.core.directory import out_of_scope, who
from tumar.core.imports import (
    ImportOptions,
    ImportProgress,
    ImportReport,
    changes_dict,
    file_error,
    header_error,
)
from tumar.policy import org_rows
from tumar.policy.org_rows import Existing, OrgRow, diff_org, parse_org_row, resolve_tree
from tumar.policy.roles import Actor, Permission
from tumar.policy.staff_rows import HeaderProblem, RowError, read_header
from tumar.store import directory as store
from tumar.store.db import Database
from tumar.store.directory import Organisation
from tumar.tabular import FileProblem, open_table


class OrgImporter:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def do_import_orgs(
        self,
        actor: Actor,
        source: IO[bytes],
        options: ImportOptions,
        progress: ImportProgress | None = None,
    ) -> ImportReport:
        if not actor.scopes(Permission.ORG_WRITE):
            raise out_of_scope("You do not hold a role that allows importing organisations.")
        report, rows = await asyncio.to_thread(self._read, source, options, progress)
        if options.dry_run:
            async with self._db.read() as conn:
                await self._apply(conn, actor, rows, report, write=False)
        else:
            async with self._db.write() as conn:
                await self._apply(conn, actor, rows, report, write=True)
        if progress is not None:
            progress("importing", report.rows, report.rows)
        return report

    def _read(
        self, source: IO[bytes], options: ImportOptions, progress: ImportProgress | None
    ) -> tuple[ImportReport, list[OrgRow]]:
        def reading(done: int, total: int | None) -> None:
            if progress is not None:
                progress("reading", done, total)

        rows: list[OrgRow] = []
        try:
            with open_table(
                source,
                fmt=options.format,
                encoding=options.encoding,
                max_unpacked_bytes=options.max_unpacked_bytes,
                progress=reading,
            ) as table:
                columns = read_header(table.header, org_rows.COLUMNS, org_rows.REQUIRED)
                if isinstance(columns, HeaderProblem):
                    raise header_error(columns, "organisation")
                report = ImportReport.start("orgs", options, table, columns)
                for number, cells in table.rows:
                    report.rows += 1
                    parsed = parse_org_row(number, cells, columns)
                    if isinstance(parsed, RowError):
                        report.errors.add(parsed)
                    else:
                        rows.append(parsed)
        except FileProblem as problem:
            raise file_error(problem) from None
        return report, rows

    async def _apply(
        self,
        conn: AsyncConnection,
        actor: Actor,
        rows: list[OrgRow],
        report: ImportReport,
        write: bool,
    ) -> None:
        now = self._clock.now_ms()
        current = {o.code: o for o in await store.list_orgs(conn, [""])}
        existing = {code: Existing(o.parent_code, o.path) for code, o in current.items()}
        resolution = resolve_tree(
            rows, existing, lambda path: bool(actor.may(Permission.ORG_WRITE, path))
        )
        for error in resolution.errors:
            report.errors.add(error)
        entries: list[Entry] = []
        for row in resolution.accepted:
            before = current.get(row.code)
            diff = diff_org(before.as_dict() if before else None, row)
            path = resolution.paths[row.code]
            if diff.outcome == "unchanged":
                report.unchanged += 1
                continue
            if before is None:
                org = Organisation(
                    code=row.code,
                    path=path,
                    head_person_id=None,
                    register_by=None,
                    transition_by=None,
                    mfa_required=False,
                    created_ts=now,
                    updated_ts=now,
                    **diff.values,
                )
                if write:
                    await store.insert_org(conn, org)
                entries.append(Entry("org.create", "organisation", org.code, org.code,
                                     after=org.as_dict()))  # fmt: skip
                report.new.add(
                    {"row": row.row, "code": org.code, "parent_code": org.parent_code,
                     "path": path, "name_ru": org.name_ru}
                )  # fmt: skip
                continue
            if write:
                await self._update(conn, row.code, path, diff.values, now)
            action = "org.move" if diff.outcome == "moved" else "org.update"
            entries.append(
                Entry(
                    action, "organisation", row.code, row.code,
                    before={k: b for k, (b, _) in diff.changes.items()},
                    after={k: a for k, (_, a) in diff.changes.items()},
                )
            )  # fmt: skip
            item = {"row": row.row, "code": row.code, "path": path,
                    "changes": changes_dict(diff.changes)}  # fmt: skip
            (report.moved if diff.outcome == "moved" else report.changed).add(item)
        if write:
            await audit.record_many(conn, who(actor), now, entries)

    async def _update(
        self, conn: AsyncConnection, code: str, path: str, values: dict[str, Any], now: int
    ) -> None:
        org = await store.get_org(conn, code)  # its path may have moved with an ancestor
        assert org is not None
        if org.path != path:
            await store.repath_subtree(conn, org.path, path, now)
        await store.update_org(conn, code, **values, updated_ts=now)
