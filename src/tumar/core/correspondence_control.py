"""The registry journal of an organisation, control of execution, and the reminder run.

- Journal: the letters an organisation registered, outgoing or incoming, in number order,
  filtered by registration date, number and text; as rows or CSV (cells that spreadsheet
  programs would run as formulas are quoted with ``'``).
- Control: open assignments (resolved, not closed) with their due dates, counted per unit and
  rolled up the organisation tree (a ministry's totals include its departments').
- Reminder run (every ``letters_tick_seconds`` on each node, or ``tumar letters control
  --remind``): executors who still owe a reply are reminded ``letters_remind_days`` before the
  due date; after it the controller (else the head) gets an escalation. Each reminder and
  escalation is marked once in its own transaction, so concurrent runs on several nodes send
  each one once.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.correspondence_notices import LetterNotices
from tumar.core.directory import check
from tumar.errors import MatrixError, not_found
from tumar.policy.roles import Actor, Permission, contains
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store.correspondence import JournalQuery, Letter, Recipient
from tumar.store.db import Database
from tumar.store.directory import Organisation

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
SYSTEM = audit.Who("system:letters")
Stamp = Callable[[int | None], str | None]

JOURNAL_COLUMNS = (
    "number", "registered_at", "letter_id", "subject", "sender_org", "recipients",
    "outgoing_number", "status", "label", "due_date", "executors",
)  # fmt: skip


def cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True, slots=True)
class JournalEntry:
    letter: Letter
    recipient: Recipient | None  # the organisation's copy, for incoming
    recipients: tuple[str, ...]

    @property
    def number(self) -> str | None:
        if self.recipient is not None:
            return self.recipient.incoming_number
        return self.letter.outgoing_number

    @property
    def registered_ts(self) -> int | None:
        if self.recipient is not None:
            return self.recipient.registered_ts
        return self.letter.registered_ts


@dataclass(frozen=True, slots=True)
class Counts:
    open: int = 0
    overdue: int = 0
    due_soon: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.open + other.open, self.overdue + other.overdue, self.due_soon + other.due_soon
        )


@dataclass(frozen=True, slots=True)
class UnitControl:
    org: Organisation
    own: Counts
    total: Counts


@dataclass(frozen=True, slots=True)
class ControlReport:
    org_code: str
    as_of_ts: int
    units: list[UnitControl]
    items: list[tuple[Letter, Recipient]]


@dataclass(frozen=True, slots=True)
class RemindResult:
    reminders: list[tuple[str, str]] = field(default_factory=list)  # (letter, org)
    escalations: list[tuple[str, str]] = field(default_factory=list)


class LetterControl:
    def __init__(
        self, db: Database, clock: Clock, settings: Settings, notices: LetterNotices
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._notices = notices
        self._task: asyncio.Task[None] | None = None

    async def _org(self, actor: Actor, org_code: str, *, head_ok: bool = True) -> Organisation:
        async with self._db.read() as conn:
            org = await directory_store.get_org(conn, org_code)
            if org is None:
                raise not_found(f"There is no organisation {org_code}.")
            if head_ok and org.head_person_id:
                head = await directory_store.get_person(conn, org.head_person_id)
                if head is not None and head.user_id == actor.user_id:
                    return org
        check(actor.may(Permission.LETTERS_REGISTER, org.path))
        return org

    # ---- journal ---------------------------------------------------------------------------

    async def journal(self, actor: Actor, q: JournalQuery) -> list[JournalEntry]:
        if q.direction not in ("in", "out"):
            raise MatrixError(400, "M_INVALID_PARAM", "direction is in or out.")
        await self._org(actor, q.org_code)
        return await self.journal_unchecked(q)

    async def journal_unchecked(self, q: JournalQuery) -> list[JournalEntry]:
        async with self._db.read() as conn:
            rows = await store.journal(conn, q)
            recs = await store.recipients_of(conn, [letter.letter_id for letter, _ in rows])
        return [
            JournalEntry(letter, rec, tuple(r.org_code for r in recs.get(letter.letter_id, [])))
            for letter, rec in rows
        ]

    @staticmethod
    def journal_csv(entries: list[JournalEntry], iso: Stamp, due: Stamp) -> str:
        """The journal as CSV with a byte-order mark (spreadsheets read it as UTF-8)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(JOURNAL_COLUMNS)
        for e in entries:
            rec = e.recipient
            row = (
                e.number, iso(e.registered_ts), e.letter.letter_id, e.letter.subject,
                e.letter.sender_org, " ".join(e.recipients), e.letter.outgoing_number,
                rec.status if rec is not None else e.letter.status, e.letter.label,
                due(rec.due_ts) if rec is not None else None,
                " ".join(rec.executors) if rec is not None else None,
            )  # fmt: skip
            writer.writerow([cell(v) for v in row])
        return "\ufeff" + out.getvalue()

    # ---- control ---------------------------------------------------------------------------

    async def control(self, actor: Actor, org_code: str) -> ControlReport:
        org = await self._org(actor, org_code)
        return await self.control_unchecked(org)

    async def control_unchecked(self, org: Organisation) -> ControlReport:
        now = self._clock.now_ms()
        soon = now + self._settings.letters_remind_days * DAY_MS
        async with self._db.read() as conn:
            units = await directory_store.list_orgs(conn, [org.path])
            items = await store.under_control(conn, [u.code for u in units])
        own: dict[str, Counts] = {u.code: Counts() for u in units}
        for _letter, rec in items:
            if rec.status not in store.OPEN_ASSIGNMENT or rec.due_ts is None:
                continue
            own[rec.org_code] = own[rec.org_code] + Counts(
                1, int(rec.due_ts <= now), int(now < rec.due_ts <= soon)
            )
        report_units = []
        for unit in sorted(units, key=lambda u: u.path):
            total = Counts()
            for other in units:
                if contains(unit.path, other.path):
                    total = total + own[other.code]
            report_units.append(UnitControl(unit, own[unit.code], total))
        open_items = [(x, r) for x, r in items if r.status in store.OPEN_ASSIGNMENT]
        return ControlReport(org.code, now, report_units, open_items)

    async def get_org(self, org_code: str) -> Organisation:
        async with self._db.read() as conn:
            org = await directory_store.get_org(conn, org_code)
        if org is None:
            raise not_found(f"There is no organisation {org_code}.")
        return org

    # ---- reminders -------------------------------------------------------------------------

    async def do_remind(self) -> RemindResult:
        now = self._clock.now_ms()
        result = RemindResult()
        days = self._settings.letters_remind_days
        async with self._db.read() as conn:
            due = await store.due_for_reminder(conn, now + days * DAY_MS, now) if days else []
            overdue = await store.overdue_unescalated(conn, now)
        for letter_id, org in due:
            users = await self._mark(letter_id, org, "reminded_ts", now, "letter.remind")
            if users is not None:
                result.reminders.append((letter_id, org))
                await self._notices.tell(
                    users[0],
                    letter_id,
                    f"Reminder: the letter assigned to you is due soon: {users[1]}",
                )
        for letter_id, org in overdue:
            users = await self._mark(letter_id, org, "escalated_ts", now, "letter.escalate")
            if users is not None:
                result.escalations.append((letter_id, org))
                await self._notices.tell(
                    users[2], letter_id, f"Overdue: the letter you control is past due: {users[1]}"
                )
        return result

    async def _mark(
        self, letter_id: str, org: str, column: str, now: int, action: str
    ) -> tuple[list[str], str, list[str]] | None:
        """Mark once; returns (executors still owing a reply, subject, controller or head)."""
        async with self._db.write() as conn:
            if not await store.mark_recipient(conn, letter_id, org, column, now):
                return None
            letter = await store.get_letter(conn, letter_id)
            recs = [r for r in await store.recipients(conn, letter_id) if r.org_code == org]
            assert letter is not None and recs
            rec = recs[0]
            replied = {
                h.actor
                for h in await store.history(conn, letter_id)
                if h.action == "reply" and h.org_code == org
            }
            owing = [e for e in rec.executors if e not in replied]
            watchers = [rec.controller] if rec.controller else []
            if not watchers:
                o = await directory_store.get_org(conn, org)
                if o is not None and o.head_person_id:
                    head = await directory_store.get_person(conn, o.head_person_id)
                    if head is not None and head.user_id:
                        watchers = [head.user_id]
            await audit.record(
                conn, SYSTEM, now, action, "letter", letter_id, org_code=org,
                after={"executors": owing, "to": watchers if column == "escalated_ts" else owing},
            )  # fmt: skip
        return owing, letter.subject, watchers

    # ---- the background run -----------------------------------------------------------------

    def start(self) -> None:
        if self._settings.letters_tick_seconds > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.letters_tick_seconds)
            try:
                await self.do_remind()
            except Exception:
                log.exception("the correspondence reminder run failed")
