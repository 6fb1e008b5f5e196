"""The registration rollout: the dashboard, registrations over time, the overdue list and
reminders, each limited to the administrator's ``rollout`` scope.

Figures come from one aggregate query grouped by organisation (``store/rollout.py``);
deadlines are inherited and figures rolled up the tree in memory (``policy/rollout.py``).
"Today" is the date in ``rollout_timezone``.

Reminders (``do_remind``): for each unregistered official whose ``register_by`` is within a
reminder window or has passed, their unit head (the nearest organisation up the tree whose
head has an account) gets one message listing such staff (``core/rollout_reminders.py``
plans them). A registered official counts as
having *made the transition* once they have used tumar (a device seen) in the last 7 days;
those who have not get a reminder of ``transition_by`` in their own server-notice room. Each
(person, kind, deadline) is reminded once: the record is written in the message's transaction.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.directory import check, out_of_scope, who
from tumar.core.rollout_reminders import Notice, ReminderReport, plan_reminders
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError, not_found
from tumar.policy import rollout as rules
from tumar.policy.roles import Actor, Permission
from tumar.policy.rollout import Deadline, Deadlines, Figures, OrgNode
from tumar.store import directory as directory_store
from tumar.store import rollout as store
from tumar.store.db import Database
from tumar.store.directory import Organisation
from tumar.store.rollout import DAY_MS, StaffRow

ACTIVE_DAYS = 7
EPOCH = datetime.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Scope:
    """The subtrees an answer covers, with the deadlines that apply in them."""

    paths: tuple[str, ...]  # subtree roots; ("",) = everything
    roots: tuple[Organisation, ...]  # the top organisations of the answer
    orgs: tuple[Organisation, ...]  # every organisation in the subtrees, in tree order
    deadlines: dict[str, Deadlines]  # of those organisations and their ancestors
    parents: dict[str, str | None]  # of those organisations and their ancestors

    def nodes(self) -> list[OrgNode]:
        return [OrgNode(o.code, o.parent_code) for o in self.orgs]


@dataclass(frozen=True, slots=True)
class OrgRollout:
    org: Organisation
    deadlines: Deadlines
    own: Figures  # the organisation's own staff
    total: Figures  # the organisation and everything below it


@dataclass(frozen=True, slots=True)
class Dashboard:
    as_of: datetime.date
    roots: tuple[str, ...]
    total: Figures
    organisations: list[OrgRollout]


@dataclass(frozen=True, slots=True)
class OverduePerson:
    person: StaffRow
    org: Organisation
    register_by: datetime.date
    days_overdue: int


@dataclass(frozen=True, slots=True)
class DayCount:
    date: datetime.date
    registered: int  # accounts created that day
    cumulative: int  # accounts created up to the end of that day


@dataclass(frozen=True, slots=True)
class Timeseries:
    as_of: datetime.date
    registered_before: int  # accounts created before the first day
    days: list[DayCount]


@dataclass(frozen=True, slots=True)
class OverduePage:
    as_of: datetime.date
    people: list[OverduePerson]
    total: int


class RolloutService:
    def __init__(
        self, db: Database, clock: Clock, settings: Settings, notices: ServerNotices
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._notices = notices
        self._zone = ZoneInfo(settings.rollout_timezone)

    # ---- time -------------------------------------------------------------------------------

    def _local_now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock.now_ms() / 1000, self._zone)

    def today(self) -> datetime.date:
        return self._local_now().date()

    def _offset_ms(self) -> int:
        offset = self._local_now().utcoffset()
        return int(offset.total_seconds() * 1000) if offset is not None else 0

    def _active_since(self) -> int:
        return self._clock.now_ms() - ACTIVE_DAYS * DAY_MS

    # ---- scope ------------------------------------------------------------------------------

    async def _scope(self, conn: AsyncConnection, actor: Actor, org_code: str | None) -> Scope:
        """The subtree of ``org_code``, or every subtree the actor holds ``rollout`` on."""
        if org_code is not None:
            org = await directory_store.get_org(conn, org_code)
            if org is None:
                raise not_found(f"No organisation with code {org_code}.")
            check(actor.may(Permission.ROLLOUT, org.path))
            paths: tuple[str, ...] = (org.path,)
        else:
            scopes = sorted(set(actor.scopes(Permission.ROLLOUT)))
            if not scopes:
                raise out_of_scope("You do not hold a role that allows rollout.")
            kept: list[str] = []
            for path in scopes:  # sorted, so a subtree comes after the path that holds it
                if not any(path.startswith(k) for k in kept):
                    kept.append(path)
            paths = ("",) if "" in kept else tuple(kept)
        orgs = await directory_store.list_orgs(conn, paths)
        in_scope = {o.code for o in orgs}
        ancestor_codes = {
            code for p in paths for code in p.strip("/").split("/")[:-1] if code
        } - in_scope
        ancestors = await directory_store.get_orgs(conn, sorted(ancestor_codes))
        everything = [*orgs, *ancestors.values()]
        nodes = [
            OrgNode(
                o.code,
                o.parent_code,
                rules.parse_date(o.register_by),
                rules.parse_date(o.transition_by),
            )
            for o in everything
        ]
        roots = tuple(
            o for o in orgs if o.path in paths or (paths == ("",) and o.parent_code is None)
        )
        return Scope(
            paths=paths,
            roots=roots,
            orgs=tuple(orgs),
            deadlines=rules.effective_deadlines(nodes),
            parents={o.code: o.parent_code for o in everything},
        )

    # ---- the dashboard ----------------------------------------------------------------------

    async def dashboard(self, actor: Actor, org_code: str | None = None) -> Dashboard:
        now = self._clock.now_ms()
        today = self.today()
        async with self._db.read() as conn:
            scope = await self._scope(conn, actor, org_code)
            counts = await store.org_counts(
                conn, scope.paths, now_ms=now, active_since_ms=self._active_since()
            )
        own = rules.with_overdue(
            {
                code: Figures(
                    people=c.people,
                    codes_issued=c.codes_issued,
                    registered=c.registered,
                    active_7d=c.active,
                )
                for code, c in counts.items()
            },
            scope.deadlines,
            today,
        )
        totals = rules.roll_up(scope.nodes(), own)
        grand = Figures()
        for root in scope.roots:
            grand = grand + totals.get(root.code, Figures())
        return Dashboard(
            as_of=today,
            roots=tuple(r.code for r in scope.roots),
            total=grand,
            organisations=[
                OrgRollout(
                    org=o,
                    deadlines=scope.deadlines.get(o.code, Deadlines()),
                    own=own.get(o.code, Figures()),
                    total=totals.get(o.code, Figures()),
                )
                for o in scope.orgs
            ],
        )

    async def timeseries(self, actor: Actor, org_code: str | None, days: int) -> Timeseries:
        """Registrations per day over the last ``days`` days (today included), and how many
        had registered before the first of them. Days are cut at local midnight (at the
        zone's current offset from UTC)."""
        offset = self._offset_ms()
        today = self.today()
        today_index = (today - EPOCH).days
        first = today_index - days + 1
        since_ms = first * DAY_MS - offset
        async with self._db.read() as conn:
            scope = await self._scope(conn, actor, org_code)
            per_day, before = await store.registrations_by_day(
                conn, scope.paths, since_ms=since_ms, offset_ms=offset
            )
        out: list[DayCount] = []
        running = before
        for index in range(first, today_index + 1):
            running += per_day.get(index, 0)
            date = EPOCH + datetime.timedelta(days=index)
            out.append(DayCount(date, per_day.get(index, 0), running))
        return Timeseries(today, before, out)

    # ---- overdue people ---------------------------------------------------------------------

    async def overdue(
        self, actor: Actor, org_code: str | None, *, limit: int | None, offset: int = 0
    ) -> OverduePage:
        """Unregistered officials whose effective ``register_by`` has passed (a page of them,
        or all with ``limit=None``), and their total count."""
        today = self.today()
        async with self._db.read() as conn:
            scope = await self._scope(conn, actor, org_code)
            late = [
                o.code
                for o in scope.orgs
                if rules.is_overdue(scope.deadlines[o.code].register_by, today)
            ]
            rows, total = await store.unregistered_in(conn, late, limit=limit, offset=offset)
        by_code = {o.code: o for o in scope.orgs}
        out = []
        for row in rows:
            deadline = scope.deadlines[row.org_code].register_by
            assert deadline is not None
            out.append(OverduePerson(row, by_code[row.org_code], deadline, (today - deadline).days))
        return OverduePage(today, out, total)

    # ---- reminders --------------------------------------------------------------------------

    async def do_remind(
        self, actor: Actor, org_code: str | None = None, *, dry_run: bool = False
    ) -> ReminderReport:
        today = self.today()
        windows = self._settings.rollout_reminder_days
        async with self._db.read() as conn:
            scope = await self._scope(conn, actor, org_code)
            due_register: dict[str, str] = {}
            due_transition: dict[str, str] = {}
            for o in scope.orgs:
                dl = scope.deadlines[o.code]
                kind = rules.reminder_kind(Deadline.REGISTER, dl.register_by, today, windows)
                if kind is not None:
                    due_register[o.code] = kind
                kind = rules.reminder_kind(Deadline.TRANSITION, dl.transition_by, today, windows)
                if kind is not None:
                    due_transition[o.code] = kind
            unregistered, _ = await store.unregistered_in(conn, sorted(due_register))
            inactive = await store.inactive_registered_in(
                conn, sorted(due_transition), active_since_ms=self._active_since()
            )
            sent = await store.reminders_sent(
                conn, [p.person_id for p in (*unregistered, *inactive)]
            )
            heads = await store.head_accounts(conn, scope.parents)
        notices, without_head = plan_reminders(
            scope.deadlines, scope.parents, due_register, due_transition,
            unregistered, inactive, sent, heads, active_days=ACTIVE_DAYS,
        )  # fmt: skip
        report = ReminderReport.of(today, dry_run, notices, without_head)
        if dry_run:
            return report
        skipped = 0
        for notice in notices:
            if not await self._deliver(actor, notice):
                skipped += 1
        return replace(report, skipped=skipped)

    async def _deliver(self, actor: Actor, notice: Notice) -> bool:
        """Send one reminder with its records and audit row; False if it was already sent by
        a concurrent run or the recipient can no longer receive notices."""
        now = self._clock.now_ms()

        async def record(conn: AsyncConnection) -> None:
            await store.insert_reminders(conn, notice.records, now)
            await audit.record(
                conn, who(actor), now, "rollout.remind", "user", notice.recipient,
                org_code=notice.org_code,
                after={"kind": notice.kind, "deadline": notice.records[0][2],
                       "people": len(notice.records)},
            )  # fmt: skip

        try:
            await self._notices.send(notice.recipient, notice.content, also=record)
        except IntegrityError:
            return False
        except MatrixError as exc:
            if exc.status in (400, 404):
                return False
            raise
        return True
