"""Reports of government notifications (per organisation, rolled up the tree; the people still
pending; CSV) and the reminder run (scheduled sends, reminder rounds, escalation to unit heads
after the deadline).

A report is one grouped query over the audience joined with the per-recipient rows (read also
counts a read receipt at or after the notice in the recipient's notice room); the roll-up is
done in memory over the organisations the notification concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.core.directory import who
from tumar.core.gov_notices import GovNoticeService
from tumar.core.gov_notices_content import escalation_content
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError
from tumar.policy.audience import may_read
from tumar.policy.roles import Actor, Permission, effective_grants
from tumar.store import directory as directory_store
from tumar.store import gov_notices as store
from tumar.store.db import Database
from tumar.store.directory import Organisation
from tumar.store.gov_notices import Notice, OrgCounts, RecipientRow

log = logging.getLogger(__name__)
HOUR_MS = 3_600_000
MAX_NAMES = 50  # people named in one escalation message


@dataclass(frozen=True, slots=True)
class Figures:
    audience: int
    delivered: int
    read: int
    acknowledged: int
    pending: int  # not acknowledged (not read, when no acknowledgement is asked)
    overdue: int  # pending after the deadline


@dataclass(frozen=True, slots=True)
class OrgReport:
    org: Organisation
    own: Figures
    total: Figures


@dataclass(frozen=True, slots=True)
class Report:
    notice: Notice
    as_of_ts: int
    overdue: bool  # the deadline has passed
    total: Figures
    organisations: list[OrgReport]


@dataclass
class RemindReport:
    dry_run: bool
    sent_scheduled: list[str] = field(default_factory=list)
    reminder_rounds: list[str] = field(default_factory=list)
    escalations: int = 0
    escalated_people: int = 0
    without_head: int = 0


def _figures(c: OrgCounts, n: Notice, overdue: bool) -> Figures:
    done = c.acknowledged if n.ack_required else c.read
    pending = c.audience - done
    return Figures(c.audience, c.delivered, c.read, c.acknowledged, pending,
                   pending if overdue else 0)  # fmt: skip


def _add(a: OrgCounts, b: OrgCounts) -> OrgCounts:
    return OrgCounts(
        a.audience + b.audience,
        a.delivered + b.delivered,
        a.read + b.read,
        a.acknowledged + b.acknowledged,
    )


class NoticeReports:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        service: GovNoticeService,
        notices: ServerNotices,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._service = service
        self._notices = notices

    async def report(self, actor: Actor, notice_id: str) -> Report:
        n = await self._service.get(actor, notice_id)
        async with self._db.read() as conn:
            own = await store.report_counts(conn, n.notice_id, n.plan)
            orgs = await directory_store.list_orgs(conn, list(n.plan.scope_paths) or [""])
            known = {o.code for o in orgs}
            missing = [c for c in own if c not in known]  # people who moved out of the scope
            orgs += (await directory_store.get_orgs(conn, missing)).values()
        now = self._clock.now_ms()
        overdue = n.deadline_ts is not None and now > n.deadline_ts
        totals: dict[str, OrgCounts] = {o.code: own.get(o.code, OrgCounts()) for o in orgs}
        by_code = {o.code: o for o in orgs}
        for o in sorted(orgs, key=lambda o: o.path.count("/"), reverse=True):
            parent = o.parent_code
            if parent is not None and parent in totals:
                totals[parent] = _add(totals[parent], totals[o.code])
        roots = [o for o in orgs if o.parent_code not in by_code]
        grand = OrgCounts()
        for o in roots:
            grand = _add(grand, totals[o.code])
        shown = [
            OrgReport(o, _figures(own.get(o.code, OrgCounts()), n, overdue),
                      _figures(totals[o.code], n, overdue))
            for o in sorted(orgs, key=lambda o: o.path)
            if totals[o.code].audience
        ]  # fmt: skip
        return Report(n, now, overdue, _figures(grand, n, overdue), shown)

    async def recipients(
        self,
        actor: Actor,
        notice_id: str,
        *,
        pending_only: bool,
        org: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> tuple[Notice, list[RecipientRow], int]:
        n = await self._service.get(actor, notice_id)
        async with self._db.read() as conn:
            paths = None
            if org is not None:
                found = await directory_store.get_org(conn, org)
                if found is None:
                    raise_unknown_org(org)
                assert found is not None
                paths = [found.path]
            rows, total = await store.report_people(
                conn, n.notice_id, n.plan, pending_only=pending_only, org_paths=paths,
                limit=limit, offset=offset,
            )  # fmt: skip
        return n, rows, total

    # ---- the reminder run ---------------------------------------------------------------------

    async def do_remind(self, actor: Actor, *, dry_run: bool = False) -> RemindReport:
        """Send due scheduled notifications, start due reminder rounds, and escalate overdue
        acknowledgements to unit heads. Safe to run often and on several nodes."""
        report = RemindReport(dry_run=dry_run)
        now = self._clock.now_ms()
        scopes = actor.scopes(Permission.NOTIFY)
        if not scopes:
            raise MatrixError(
                403, "TUMAR_OUT_OF_SCOPE", "You do not hold a role that allows notify."
            )
        async with self._db.read() as conn:
            scheduled = await store.due_scheduled(conn, now)
            since = now - self._settings.gov_notices_delivery_days * 86_400_000
            live = [n for n in await store.live_notices(conn, since) if n.status == "sent"]
        for notice_id in scheduled:
            report.sent_scheduled.append(notice_id)
            if not dry_run:
                await self._service.send_scheduled(notice_id)
        every = self._settings.gov_notices_remind_every_hours * HOUR_MS
        for n in live:
            if not n.ack_required or not may_read(n.plan, scopes):
                continue
            before_deadline = n.deadline_ts is None or now < n.deadline_ts
            last = n.last_remind_ts or n.sent_ts or now
            if every and before_deadline and now - last >= every:
                report.reminder_rounds.append(n.notice_id)
                if not dry_run:
                    await self._service.do_reminder_round(n.notice_id, Who(actor.user_id))
            if (
                self._settings.gov_notices_escalate
                and not before_deadline
                and n.escalated_ts is None
            ):
                await self._escalate(actor, n, report)
        return report

    async def _escalate(self, actor: Actor, n: Notice, report: RemindReport) -> None:
        async with self._db.read() as conn:
            pending, _total = await store.report_people(
                conn, n.notice_id, n.plan, pending_only=True, limit=None
            )
            done = await store.escalated_orgs(conn, n.notice_id)
            orgs = {o.code: o for o in await directory_store.list_orgs(conn, [""])}
            heads: dict[str, str] = {}
            for o in orgs.values():
                if o.head_person_id:
                    person = await directory_store.get_person(conn, o.head_person_id)
                    if person is not None and person.user_id and person.status == "active":
                        heads[o.code] = person.user_id
        by_org: defaultdict[str, list[RecipientRow]] = defaultdict(list)
        for row in pending:
            by_org[row.org_code].append(row)
        now = self._clock.now_ms()
        for org_code, rows in sorted(by_org.items()):
            if org_code in done:
                continue
            head = _head_for(org_code, orgs, heads)
            if head is None:
                report.without_head += len(rows)
                continue
            report.escalations += 1
            report.escalated_people += len(rows)
            if report.dry_run:
                continue
            org = orgs[org_code]
            names = [f"{r.name_cyr} ({r.personnel_number})" for r in rows[:MAX_NAMES]]
            content = escalation_content(n, org.name_ru, names, max(0, len(rows) - MAX_NAMES))

            async def record(conn: AsyncConnection, org_code: str = org_code, head: str = head,
                             count: int = len(rows)) -> None:  # fmt: skip
                await store.insert_escalation(conn, n.notice_id, org_code, head, count, now)
                await audit.record(
                    conn, who(actor), now, "notice.escalate", "notice", n.notice_id,
                    org_code=org_code, after={"head": head, "overdue": count},
                )  # fmt: skip

            await self._notices.send(head, content, also=record)
        if not report.dry_run:
            await self._service.mark_escalated(n.notice_id, now)


def _head_for(code: str, orgs: dict[str, Organisation], heads: dict[str, str]) -> str | None:
    """The head of the organisation, or of the nearest one up the tree that has one."""
    seen = 0
    current: str | None = code
    while current is not None and seen < 100:
        if current in heads:
            return heads[current]
        org = orgs.get(current)
        current = org.parent_code if org is not None else None
        seen += 1
    return None


def raise_unknown_org(code: str) -> None:
    raise MatrixError(400, "TUMAR_UNKNOWN_ORG", f"There is no organisation with the code {code}.")


class NoticeTicker:
    """The reminder run in the background of each node, every ``gov_notices_tick_seconds``
    (several nodes may run it: each step re-checks in its transaction)."""

    def __init__(self, reports: NoticeReports, seconds: int) -> None:
        self._reports = reports
        self._seconds = seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._seconds > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        actor = Actor("system:notices", effective_grants(True, ()))
        while True:
            await asyncio.sleep(self._seconds)
            try:
                await self._reports.do_remind(actor)
            except Exception:
                log.exception("the notification reminder run failed")
