"""The retention job: purges messages older than their room label's retention, with everything
derived from them and the media that nothing refers to any more. See ``docs/retention.md``.

What purging means for the timeline: the event row stays, so stream positions, sync tokens,
pagination and replies to it stay valid; its content is emptied by the redaction algorithm and
``redacted_by`` carries a purge marker (:func:`tumar.policy.retention.purge_marker`), so clients
see a redacted event, "redacted" by the server's notices account. Its search text, relations,
media references, reports and DLP fingerprints are deleted (``store.retention.DERIVED_TABLES``);
media that no remaining event refers to are deleted from the media store. State events
(membership, power levels, create, join rules, the label, name, topic ...) are never purged.

Each batch is one transaction: it locks the room, re-reads the legal holds (a hold placed on
the room waits for the batch, or the batch sees the hold), purges, and writes its audit row.
Media objects are deleted after the commit, so a rolled-back batch never loses a file.

After the messages, device check-ins older than ``device_checkin_history_days`` are deleted
(``device_checkins``: reported state, position and networks), a batch per transaction, except
every device's newest check-in and the devices of accounts under legal hold. Replay protection
does not need them: it reads the last sequence number on ``managed_devices``. Their totals go
into the run's audit row, not one row per batch: a large fleet expires some 400,000 check-ins
an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.core.directory import out_of_scope, who
from tumar.core.media import original_key, thumbnail_key
from tumar.policy import retention as rules
from tumar.policy.media import THUMBNAIL_METHODS, THUMBNAIL_SIZES
from tumar.policy.redaction import redact_content
from tumar.policy.roles import Actor, Permission
from tumar.store import devices as device_store
from tumar.store import retention as store
from tumar.store.db import Database
from tumar.store.events import StoredEvent
from tumar.store.media_storage import MediaStorage

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "cli", "admin"]
SYSTEM = Who("system:retention")
DAY_MS = 86_400_000
# Batches of device check-ins one run deletes at most (with the default batch of 500: a
# million rows, more than twice what 100,000 devices checking in every 15 minutes add in the
# hour between runs). A first run over years of history works through it over several runs
# instead of holding the job for hours; the rest goes in the next run.
CHECKIN_BATCHES_PER_RUN = 2_000


@dataclass(frozen=True, slots=True)
class LabelPolicy:
    label: str
    days: int | None  # None: kept forever
    configured: bool  # whether the label is one of classification_labels


@dataclass(slots=True)
class RoomOutcome:
    room_id: str
    label: str
    retention_days: int
    cutoff_ts: int
    purged: int = 0  # purged (or, in a dry run, that would be)
    kept: Counter[str] = field(default_factory=Counter)  # reason -> messages kept anyway
    media_refs: int = 0  # media referenced by the purged messages


@dataclass(slots=True)
class RunReport:
    dry_run: bool
    now_ms: int
    run_id: int | None = None
    rooms: list[RoomOutcome] = field(default_factory=list)
    media_deleted: int = 0
    checkin_cutoff_ts: int | None = None  # None: check-ins not looked at (a one-room run)
    checkins_purged: int = 0  # device check-ins deleted (in a dry run: that would be)

    @property
    def events_purged(self) -> int:
        return sum(r.purged for r in self.rooms)

    @property
    def rooms_touched(self) -> int:
        return sum(1 for r in self.rooms if r.purged)

    def kept(self, reason: str) -> int:
        return sum(r.kept[reason] for r in self.rooms)


class RetentionService:
    def __init__(
        self, db: Database, clock: Clock, settings: Settings, storage: MediaStorage
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._storage = storage
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one run at a time per node

    # ---- the policy ---------------------------------------------------------------------------

    @property
    def policy(self) -> dict[str, int | None]:
        return dict(self._settings.retention_days)

    def policy_view(self) -> list[LabelPolicy]:
        """Every configured label with its retention, then labels the policy names that are
        not configured (a typo, or a label removed since)."""
        labels = list(self._settings.classification_labels)
        view = [LabelPolicy(lb, self.policy.get(lb), True) for lb in labels]
        view += [
            LabelPolicy(lb, self.policy[lb], False)
            for lb in rules.unknown_labels(self.policy, labels)
        ]
        return view

    @property
    def purged_by(self) -> str:
        s = self._settings
        return f"@{s.server_notices_localpart}:{s.server_name}"

    # ---- administrators -----------------------------------------------------------------------

    def check_reader(self, actor: Actor) -> None:
        if not actor.scopes(Permission.LEGAL_HOLD):
            raise out_of_scope("You do not hold a role that allows legal_hold.")

    async def report(self, actor: Actor, room_id: str | None = None) -> RunReport:
        """A dry run: what the job would purge now. It covers every room, so it needs the
        legal-hold permission everywhere."""
        if not actor.is_global(Permission.LEGAL_HOLD):
            raise out_of_scope(
                "The retention report covers every room: it needs legal_hold everywhere."
            )
        return await self.do_run(who(actor), "admin", dry_run=True, room_id=room_id)

    async def run_as(self, actor: Actor) -> RunReport:
        if not actor.is_global(Permission.OPERATOR):
            raise out_of_scope("Only an operator may run the retention job by hand.")
        return await self.do_run(who(actor), "admin")

    async def list_runs(self, limit: int = 20) -> list[store.Run]:
        async with self._db.read() as conn:
            return await store.list_runs(conn, limit)

    # ---- the job ------------------------------------------------------------------------------

    async def do_run(
        self,
        author: Who,
        trigger: Trigger,
        *,
        dry_run: bool = False,
        room_id: str | None = None,
    ) -> RunReport:
        """Purge what has expired (or, with ``dry_run``, only count it). A run that purged
        something, or that a person asked for, is recorded in ``retention_runs`` and audited."""
        async with self._lock:
            report = RunReport(dry_run=dry_run, now_ms=self._clock.now_ms())
            try:
                await self._run(author, trigger, report, room_id)
                if room_id is None:
                    await self._checkins(author, trigger, report)
            except Exception:
                if not dry_run and report.run_id is not None:
                    await self._finish(author, trigger, report, "failed")
                raise
            if not dry_run and (report.run_id is not None or trigger != "schedule"):
                await self._finish(author, trigger, report, "done")
            return report

    async def _run(
        self, author: Who, trigger: Trigger, report: RunReport, only: str | None
    ) -> None:
        async with self._db.read() as conn:
            labelled = await store.room_labels_or(conn, self._settings.classification_default_room)
        for room_id in sorted(labelled):
            if only is not None and room_id != only:
                continue
            label = labelled[room_id]
            days = rules.retention_days(label, self.policy)
            cutoff = rules.cutoff_ms(label, report.now_ms, self.policy)
            if days is None or cutoff is None:
                continue
            outcome = RoomOutcome(room_id, label, days, cutoff)
            report.rooms.append(outcome)
            cursor = 0
            while True:
                seen, cursor, gone = await self._batch(author, trigger, report, outcome, cursor)
                await self._delete_objects(gone)
                report.media_deleted += len(gone)
                if seen < self._settings.retention_batch_size:
                    break

    async def _batch(
        self,
        author: Who,
        trigger: Trigger,
        report: RunReport,
        outcome: RoomOutcome,
        cursor: int,
    ) -> tuple[int, int, list[str]]:
        """One batch of one room: (candidates seen, new cursor, media ids to delete)."""
        size = self._settings.retention_batch_size
        opener = self._db.read() if report.dry_run else self._db.write()
        async with opener as conn:
            if not report.dry_run and not await self._db.lock_room(conn, outcome.room_id):
                return 0, cursor, []
            held = await store.held(conn)
            batch = await store.candidates(
                conn, outcome.room_id, before_ts=outcome.cutoff_ts, after_pos=cursor, limit=size
            )
            expired: list[StoredEvent] = []
            for ev in batch:
                verdict = rules.judge(
                    label=outcome.label,
                    event_ts=ev.origin_server_ts,
                    now_ms=report.now_ms,
                    policy=self.policy,
                    is_state=ev.state_key is not None,
                    already_gone=ev.redacted_by is not None,
                    room_held=ev.room_id in held.rooms,
                    sender_held=ev.sender in held.users,
                )
                if verdict:
                    expired.append(ev)
                else:
                    outcome.kept[verdict.reason.value] += 1
            next_cursor = batch[-1].stream_pos if batch else cursor
            if not expired:
                return len(batch), next_cursor, []
            media_ids = await store.referenced_media(conn, [e.stream_pos for e in expired])
            outcome.purged += len(expired)
            outcome.media_refs += len(media_ids)
            if report.dry_run:
                return len(batch), next_cursor, []
            if report.run_id is None:
                report.run_id = await store.insert_run(
                    conn, trigger=trigger, actor=author.actor, started_ts=report.now_ms
                )
            derived = await store.delete_derived(conn, outcome.room_id, expired)
            marker = rules.purge_marker(report.now_ms, self.purged_by)
            for ev in expired:
                await store.mark_purged(conn, ev, redact_content(ev.type, ev.content), marker)
            gone = await store.unreferenced_media(conn, media_ids, self._settings.server_name)
            await store.delete_media_rows(conn, gone)
            await audit.record(
                conn,
                author,
                report.now_ms,
                "retention.purge",
                "room",
                outcome.room_id,
                after={
                    "run_id": report.run_id,
                    "label": outcome.label,
                    "retention_days": outcome.retention_days,
                    "before_ts": outcome.cutoff_ts,
                    "events": len(expired),
                    "first_pos": expired[0].stream_pos,
                    "last_pos": expired[-1].stream_pos,
                    "derived_rows": derived,
                    "media_deleted": gone,
                },
            )
        return len(batch), next_cursor, gone

    async def _checkins(self, author: Who, trigger: Trigger, report: RunReport) -> None:
        """Delete the device check-ins received before the horizon, except each device's newest
        and those of devices of held accounts: batches of ``retention_batch_size``, each its own
        transaction and each starting where the last one ended, until none is left or
        :data:`CHECKIN_BATCHES_PER_RUN` have run."""
        cutoff = report.now_ms - self._settings.device_checkin_history_days * DAY_MS
        report.checkin_cutoff_ts = cutoff
        size = self._settings.retention_batch_size
        if report.dry_run:
            async with self._db.read() as conn:
                keep = (await store.held(conn)).users
                report.checkins_purged = await device_store.count_expired_checkins(
                    conn, cutoff, keep_users=keep, at_most=size * CHECKIN_BATCHES_PER_RUN
                )
            return
        after: device_store.CheckinKey | None = None
        for _ in range(CHECKIN_BATCHES_PER_RUN):
            async with self._db.write() as conn:
                keep = (await store.held(conn)).users
                deleted, after = await device_store.purge_checkins(
                    conn, cutoff, size, keep_users=keep, after=after
                )
                if deleted and report.run_id is None:
                    report.run_id = await store.insert_run(
                        conn, trigger=trigger, actor=author.actor, started_ts=report.now_ms
                    )
            report.checkins_purged += deleted
            if after is None:
                return

    async def _delete_objects(self, media_ids: list[str]) -> None:
        for media_id in media_ids:
            keys = [original_key(media_id)] + [
                thumbnail_key(media_id, w, h, m)
                for w, h in THUMBNAIL_SIZES
                for m in THUMBNAIL_METHODS
            ]
            for key in keys:
                try:
                    await self._storage.delete(key)
                except Exception:
                    log.exception("could not delete a purged media object", extra={"key": key})

    async def _finish(self, author: Who, trigger: Trigger, report: RunReport, status: str) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            if report.run_id is None:
                report.run_id = await store.insert_run(
                    conn, trigger=trigger, actor=author.actor, started_ts=report.now_ms
                )
            totals = {
                "trigger": trigger,
                "status": status,
                "events_purged": report.events_purged,
                "media_deleted": report.media_deleted,
                "rooms": report.rooms_touched,
                "kept_by_room_hold": report.kept(rules.Reason.ROOM_HELD),
                "kept_by_sender_hold": report.kept(rules.Reason.SENDER_HELD),
                "policy": self.policy,
                "checkins_purged": report.checkins_purged,
                "checkins_before_ts": report.checkin_cutoff_ts,
            }
            await store.finish_run(
                conn,
                report.run_id,
                finished_ts=now,
                status=status,
                events_purged=report.events_purged,
                media_deleted=report.media_deleted,
                rooms=report.rooms_touched,
            )
            target = str(report.run_id)
            await audit.record(
                conn, author, now, "retention.run", "retention_run", target, after=totals
            )

    # ---- in the server ------------------------------------------------------------------------

    def start(self) -> None:
        """Run the job every ``retention_interval_seconds`` (the first run one interval after
        start, so a restart loop cannot purge in a tight loop); 0 disables it."""
        if self._settings.retention_interval_seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.retention_interval_seconds)
            try:
                report = await self.do_run(SYSTEM, "schedule")
            except Exception:
                log.exception("retention run failed")
                continue
            if report.events_purged or report.checkins_purged:
                log.info(
                    "retention run purged messages and check-ins",
                    extra={
                        "events": report.events_purged,
                        "media": report.media_deleted,
                        "checkins": report.checkins_purged,
                    },
                )
