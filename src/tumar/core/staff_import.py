"""Importing staff from an HR file (CSV or XLSX): upsert by personnel number, within the
actor's scope, with a dry run, per-row errors, and departures only on confirmation.

The file is read in three passes, so that nothing is written unless the whole file could be
read, and memory stays flat however long it is:

1. **read** (in a worker thread): decode and check every row; valid rows go to a temporary
   spool file, bad ones become row errors; remember every personnel number seen and which
   ones repeat. An unreadable file (encoding, CSV syntax, not a workbook) or a wrong header
   raises here, before anything is written.
2. **import**: the spool in batches of ``batch_size`` rows, one transaction per batch: bulk
   lookups of the batch's people and organisations, the diff of each row, bulk inserts and
   updates, and one audit row per created, changed or moved person in the same transaction.
   A dry run reads the same way and writes nothing.
3. **departures**: active officials in the import's scope whose personnel number is nowhere in
   the file. They are only reported unless departures are confirmed; then each one's account
   is deactivated (every session revoked, rooms left) and the person marked departed, with an
   audit row.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import IO, Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.accounts import AccountService
from tumar.core.audit import Entry
from tumar.core.directory import check, new_person_id, out_of_scope, who
from tumar.core.imports import (
    ImportOptions,
    ImportProgress,
    ImportReport,
    changes_dict,
    file_error,
    header_error,
)
from tumar.core.membership import MembershipService
from tumar.core.requester import Requester
from tumar.errors import MatrixError, not_found
from tumar.policy.roles import Actor, Permission, contains
from tumar.policy.staff_rows import (
    Columns,
    HeaderProblem,
    RowError,
    StaffRow,
    cell,
    diff_person,
    parse_staff_row,
    read_header,
)
from tumar.store import activation as activation_store
from tumar.store import directory as store
from tumar.store.db import Database
from tumar.store.directory import Person
from tumar.tabular import FileProblem, open_table

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Read:
    """What the reading pass leaves for the others."""

    report: ImportReport
    spool: IO[bytes]
    valid: int = 0
    first_row: dict[str, int] = field(default_factory=dict)  # personnel number -> first row
    repeats: dict[str, list[int]] = field(default_factory=dict)  # number -> all its rows


@dataclass(slots=True)
class _Batch:
    """The outcome of one batch, merged into the report once its transaction committed."""

    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    unchanged: int = 0


class StaffImporter:
    batch_size = 1000  # rows per transaction

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        accounts: AccountService,
        membership: MembershipService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._accounts = accounts
        self._membership = membership

    async def do_import_people(
        self,
        actor: Actor,
        source: IO[bytes],
        options: ImportOptions,
        progress: ImportProgress | None = None,
    ) -> ImportReport:
        """Import a staff file (a seekable binary file) for ``actor``; see the module doc."""
        scopes, label = await self._scopes(actor, options.org)
        with tempfile.TemporaryFile() as spool:
            read = await asyncio.to_thread(self._read, source, options, spool, progress)
            spool.seek(0)
            report = read.report
            await self._import(actor, read, scopes, label, options, progress)
            await self._departures(actor, read, scopes, options, progress)
            report.departures_applied = options.confirm_departures and not options.dry_run
        return report

    async def _scopes(self, actor: Actor, org_code: str | None) -> tuple[list[str], str]:
        """The subtrees the import may touch, and how to name them in errors."""
        scopes = actor.scopes(Permission.PEOPLE_WRITE)
        if not scopes:
            raise out_of_scope("You do not hold a role that allows importing people.")
        if org_code is None:
            return scopes, "your administrative scope"
        async with self._db.read() as conn:
            org = await store.get_org(conn, org_code)
        if org is None:
            raise not_found(f"No organisation with code {org_code}.")
        check(actor.may(Permission.PEOPLE_WRITE, org.path))
        return [org.path], f"organisation {org_code} (the scope of this import)"

    # ---- pass 1: read ---------------------------------------------------------------------

    def _read(
        self,
        source: IO[bytes],
        options: ImportOptions,
        spool: IO[bytes],
        progress: ImportProgress | None,
    ) -> _Read:
        def reading(done: int, total: int | None) -> None:
            if progress is not None:
                progress("reading", done, total)

        labels = self._settings.classification_labels
        try:
            with open_table(
                source,
                fmt=options.format,
                encoding=options.encoding,
                max_unpacked_bytes=options.max_unpacked_bytes,
                progress=reading,
            ) as table:
                columns = read_header(table.header)
                if isinstance(columns, HeaderProblem):
                    raise header_error(columns, "staff")
                report = ImportReport.start("staff", options, table, columns)
                read = _Read(report, spool)
                for number, cells in table.rows:
                    self._read_row(read, number, cells, columns, labels)
        except FileProblem as problem:
            raise file_error(problem) from None
        return read

    @staticmethod
    def _read_row(
        read: _Read, number: int, cells: list[str | None], columns: Columns, labels: list[str]
    ) -> None:
        read.report.rows += 1
        key = cell(cells, columns, "personnel_number")
        if key is not None:
            first = read.first_row.setdefault(key, number)
            if first != number:
                read.repeats.setdefault(key, [first]).append(number)
        parsed = parse_staff_row(number, cells, columns, labels)
        if isinstance(parsed, RowError):
            read.report.errors.add(parsed)
            return
        read.valid += 1
        read.spool.write(
            orjson.dumps([parsed.row, parsed.number, parsed.org_code, parsed.values]) + b"\n"
        )

    # ---- pass 2: import -------------------------------------------------------------------

    async def _import(
        self,
        actor: Actor,
        read: _Read,
        scopes: list[str],
        label: str,
        options: ImportOptions,
        progress: ImportProgress | None,
    ) -> None:
        report = read.report
        done = 0
        for rows in self._batches(read):
            batch = await self._apply(actor, rows, scopes, label, options.dry_run)
            for item in batch.new:
                report.new.add(item)
            for item in batch.changed:
                report.changed.add(item)
            for item in batch.moved:
                report.moved.add(item)
            for error in batch.errors:
                report.errors.add(error)
            report.unchanged += batch.unchanged
            done += len(rows)
            if progress is not None:
                progress("importing", done, read.valid)
        if progress is not None:  # repeated numbers were skipped, not counted
            progress("importing", read.valid, read.valid)

    def _batches(self, read: _Read) -> Iterator[list[StaffRow]]:
        """Valid rows from the spool; rows whose number repeats become errors on the way."""
        batch: list[StaffRow] = []
        for line in read.spool:
            row, number, org_code, values = orjson.loads(line)
            if number in read.repeats:
                rows = ", ".join(str(r) for r in read.repeats[number])
                read.report.errors.add(
                    RowError(
                        row,
                        number,
                        f"personnel number {number} appears more than once in the file "
                        f"(rows {rows}); none of them was imported.",
                    )
                )
                continue
            batch.append(StaffRow(row, number, org_code, values))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _apply(
        self, actor: Actor, rows: list[StaffRow], scopes: list[str], label: str, dry_run: bool
    ) -> _Batch:
        for attempt in (1, 2):
            try:
                if dry_run:
                    async with self._db.read() as conn:
                        return await self._diff_batch(conn, actor, rows, scopes, label, False)
                async with self._db.write() as conn:
                    return await self._diff_batch(conn, actor, rows, scopes, label, True)
            except IntegrityError:
                # Another import inserted one of these numbers meanwhile: look them up again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _diff_batch(
        self,
        conn: AsyncConnection,
        actor: Actor,
        rows: list[StaffRow],
        scopes: list[str],
        label: str,
        write: bool,
    ) -> _Batch:
        now = self._clock.now_ms()
        existing = await store.people_by_numbers(conn, [r.number for r in rows])
        codes = {r.org_code for r in rows} | {p.org_code for p in existing.values()}
        paths = {code: org.path for code, org in (await store.get_orgs(conn, list(codes))).items()}

        def in_scope(code: str) -> bool:
            path = paths.get(code)
            return path is not None and any(contains(s, path) for s in scopes)

        batch = _Batch()
        inserts: list[Person] = []
        updates: list[Person] = []
        entries: list[Entry] = []
        for row in rows:
            before = existing.get(row.number)
            problem = None
            if row.org_code not in paths:
                problem = f"unknown organisation code {row.org_code}."
            elif not in_scope(row.org_code):
                problem = f"organisation {row.org_code} is outside {label}."
            elif before is not None and not in_scope(before.org_code):
                problem = (
                    f"personnel number {row.number} belongs to a person outside {label}; "
                    "ask an administrator of their organisation to transfer them."
                )
            if problem is not None:
                batch.errors.append(RowError(row.row, row.number, problem))
                continue
            current = store.person_values(before) if before else None
            diff = diff_person(current, row, self._settings.default_clearance)
            if diff.outcome == "unchanged":
                batch.unchanged += 1
                continue
            if before is None:
                person = Person(
                    person_id=new_person_id(),
                    personnel_number=row.number,
                    user_id=None,
                    created_ts=now,
                    updated_ts=now,
                    **diff.values,
                )
                inserts.append(person)
                entries.append(
                    Entry("person.create", "person", person.person_id, person.org_code,
                          after=store.person_values(person))
                )  # fmt: skip
                batch.new.append(
                    {
                        "row": row.row,
                        "personnel_number": row.number,
                        "org_code": person.org_code,
                        "name_cyr": person.name_cyr,
                        "name_lat": person.name_lat,
                    }
                )
                continue
            person = replace(before, **diff.values, updated_ts=now)
            updates.append(person)
            action = "person.move" if diff.outcome == "moved" else "person.update"
            entries.append(
                Entry(
                    action, "person", person.person_id, person.org_code,
                    before={k: b for k, (b, _) in diff.changes.items()},
                    after={k: a for k, (_, a) in diff.changes.items()},
                )
            )  # fmt: skip
            item = {
                "row": row.row,
                "personnel_number": row.number,
                "person_id": person.person_id,
                "org_code": person.org_code,
                "changes": changes_dict(diff.changes),
            }
            if diff.outcome == "moved":
                item["from_org"] = before.org_code
                batch.moved.append(item)
            else:
                batch.changed.append(item)
        if write:
            await store.insert_people(conn, inserts)
            await store.update_people(conn, updates)
            await audit.record_many(conn, who(actor), now, entries)
        return batch

    # ---- pass 3: departures ---------------------------------------------------------------

    async def _departures(
        self,
        actor: Actor,
        read: _Read,
        scopes: list[str],
        options: ImportOptions,
        progress: ImportProgress | None,
    ) -> None:
        apply = options.confirm_departures and not options.dry_run
        checked = 0
        async with self._db.read() as conn:
            pages = store.stream_active_people(conn, scopes, kind="official", size=self.batch_size)
            async for page in pages:
                gone = [p for p in page if p.personnel_number not in read.first_row]
                if apply and gone:
                    gone = await self._depart(actor, gone)  # in transactions of their own
                for p in gone:
                    read.report.departed.add(
                        {
                            "personnel_number": p.personnel_number,
                            "person_id": p.person_id,
                            "org_code": p.org_code,
                            "name_cyr": p.name_cyr,
                            "name_lat": p.name_lat,
                            "user_id": p.user_id,
                        }
                    )
                checked += len(page)
                if progress is not None:
                    progress("departures", checked, None)

    async def _depart(self, actor: Actor, gone: list[Person]) -> list[Person]:
        """Mark people departed and revoke their live activation codes; deactivate their
        accounts (every session and device revoked) in the same transaction, one per account,
        then leave the account's rooms as ``tumar user deactivate`` does."""
        departed: list[Person] = []
        without_account: list[Person] = []
        for person in gone:
            if person.user_id is None:
                without_account.append(person)
                continue
            within = partial(self._mark_one, actor, person, departed)
            try:
                rooms = await self._accounts.do_deactivate(person.user_id, within=within)
            except MatrixError as exc:
                if exc.errcode != "M_NOT_FOUND":  # an account id with no account behind it
                    raise
                without_account.append(person)
                continue
            await self._leave(person.user_id, rooms)
        if without_account:
            now = self._clock.now_ms()
            async with self._db.write() as conn:
                departed.extend(await self._mark(conn, actor, without_account, now))
        return sorted(departed, key=lambda p: p.personnel_number)

    async def _mark_one(
        self, actor: Actor, person: Person, into: list[Person], conn: AsyncConnection
    ) -> None:
        into.extend(await self._mark(conn, actor, [person], self._clock.now_ms()))

    async def _mark(
        self, conn: AsyncConnection, actor: Actor, people: list[Person], now: int
    ) -> list[Person]:
        marked = await store.mark_departed(conn, [p.person_id for p in people], now)
        departed = [p for p in people if p.person_id in marked]
        await activation_store.revoke_live_codes(conn, [p.person_id for p in departed], now)
        await audit.record_many(
            conn,
            who(actor),
            now,
            [
                Entry(
                    "person.depart", "person", p.person_id, p.org_code,
                    before={"status": "active"},
                    after={"status": "departed", "deactivated": p.user_id},
                )
                for p in departed
            ],
        )  # fmt: skip
        return departed

    async def _leave(self, user_id: str, rooms: list[str]) -> None:
        for room_id in rooms:
            try:
                await self._membership.do_membership(Requester(user_id, ""), room_id, "leave")
            except MatrixError as exc:
                log.warning("departed %s could not leave %s: %s", user_id, room_id, exc.errcode)
