"""Government notifications: authoring (draft, preview, send, schedule, correct, withdraw), the
recipient side (inbox, read, acknowledge) and the reminder run. Reports are in
``core/gov_notices_report.py``, delivery in ``core/gov_notices_delivery.py``; the design is in
``docs/notifications.md``.

Every authoring command is one transaction with its audit row. Sending writes one row and
allocates one stream position, then rings one doorbell with the notifications marker: nothing
is written per recipient until delivery (``core/gov_notices_delivery.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit, media_access
from tumar.core.directory import check, out_of_scope, who
from tumar.core.gov_notices_content import PRIORITIES, notice_content
from tumar.core.gov_notices_delivery import MARKER, NoticeDelivery
from tumar.core.requester import Requester
from tumar.errors import MatrixError, not_found
from tumar.policy import audience as rules
from tumar.policy.audience import AudienceSpec, Plan
from tumar.policy.media import referenced_media
from tumar.policy.notice_markdown import UnsafeContent, check_title, render
from tumar.policy.roles import Actor, Permission
from tumar.store import directory as directory_store
from tumar.store import gov_notices as store
from tumar.store import media as media_store
from tumar.store.db import Database
from tumar.store.gov_notices import Delivery, Notice

MAX_ATTACHMENTS = 10


@dataclass(frozen=True, slots=True)
class Draft:
    title: str
    body: str
    priority: str
    audience: AudienceSpec
    ack_required: bool = False
    deadline_ts: int | None = None
    send_at_ts: int | None = None
    attachments: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Correction:
    title: str | None = None
    body: str | None = None
    priority: str | None = None
    deadline_ts: int | None = None


@dataclass(frozen=True, slots=True)
class InboxItem:
    notice: Notice
    delivery: Delivery
    read: bool


def _summary(n: Notice) -> dict[str, Any]:
    return {
        "title": n.title,
        "priority": n.priority,
        "ack_required": n.ack_required,
        "deadline_ts": n.deadline_ts,
        "audience": n.audience.as_json(),
        "status": n.status,
        "version": n.version,
    }


class GovNoticeService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        bus: Bus,
        delivery: NoticeDelivery,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._bus = bus
        self.delivery = delivery

    # ---- checks -------------------------------------------------------------------------------

    async def _check_attachments(
        self, conn: AsyncConnection, actor: Actor, attachments: tuple[dict[str, Any], ...]
    ) -> None:
        """Each attachment is media the author may see (uploaded by them, or shown in a room
        of theirs): delivery lets every recipient's notice room show it."""
        for item in attachments:
            media_ids = referenced_media({"url": item.get("url")}, self._settings.server_name)
            allowed = bool(media_ids)
            for media_id in sorted(media_ids):
                found = await media_store.get_media(conn, media_id)
                if found is None or not await media_access.may_see(conn, actor.user_id, found):
                    allowed = False
            if not allowed:
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"There is no media {item.get('url')} you may attach."
                )

    async def _plan(self, conn: AsyncConnection, actor: Actor, spec: AudienceSpec) -> Plan:
        codes = sorted({*spec.orgs, *spec.exclude_orgs})
        orgs = await directory_store.get_orgs(conn, codes)
        people_paths: dict[str, str] = {}
        for person_id in sorted(set(spec.people)):
            path = await directory_store.person_org_path(conn, person_id)
            if path is not None:
                people_paths[person_id] = path
        result = rules.plan(
            spec,
            org_paths={c: o.path for c, o in orgs.items()},
            people_paths=people_paths,
            author_scopes=actor.scopes(Permission.NOTIFY),
        )
        if isinstance(result, rules.Refusal):
            raise MatrixError(result.status, result.errcode, result.reason)
        return result

    def _check_draft(self, draft: Draft, *, check_deadline: bool = True) -> Draft:
        try:
            title = check_title(draft.title)
            render(draft.body, max_chars=self._settings.gov_notices_max_body_chars)
        except UnsafeContent as exc:
            status = 413 if exc.errcode == "M_TOO_LARGE" else 400
            raise MatrixError(status, exc.errcode, exc.reason) from None
        if draft.priority not in PRIORITIES:
            raise MatrixError(
                400, "M_INVALID_PARAM", "The priority is information, important or urgent."
            )
        now = self._clock.now_ms()
        if draft.deadline_ts is not None and check_deadline:
            if not draft.ack_required:
                raise MatrixError(
                    400, "M_INVALID_PARAM", "A deadline is for acknowledgement: set ack_required."
                )
            start = max(now, draft.send_at_ts or now)
            if draft.deadline_ts <= start:
                raise MatrixError(
                    400, "TUMAR_DEADLINE_PASSED", "The deadline must be after the time of sending."
                )
        if draft.send_at_ts is not None and draft.send_at_ts <= now:
            raise MatrixError(
                400, "TUMAR_DEADLINE_PASSED", "The scheduled send time has already passed."
            )
        if len(draft.attachments) > MAX_ATTACHMENTS:
            raise MatrixError(400, "M_INVALID_PARAM", f"At most {MAX_ATTACHMENTS} attachments.")
        prefix = f"mxc://{self._settings.server_name}/"
        for item in draft.attachments:
            if not str(item.get("url", "")).startswith(prefix):
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"Attachments must be media of this server ({prefix})."
                )
        return replace(draft, title=title)

    def _readable(self, actor: Actor, n: Notice) -> None:
        if not rules.may_read(n.plan, actor.scopes(Permission.NOTIFY)):
            raise out_of_scope("This notification concerns organisations outside your scope.")

    async def _get(self, conn: AsyncConnection, notice_id: str, *, lock: bool = False) -> Notice:
        n = await store.get_notice(conn, notice_id, for_update=lock)
        if n is None:
            raise not_found(f"There is no notification {notice_id}.")
        return n

    # ---- authoring ----------------------------------------------------------------------------

    async def preview(self, actor: Actor, spec: AudienceSpec) -> int:
        async with self._db.read() as conn:
            p = await self._plan(conn, actor, spec)
            return await store.count_audience(conn, p)

    async def do_create(self, actor: Actor, draft: Draft, *, send: bool = False) -> Notice:
        """Store a draft; with ``send``, send it at once (or schedule it, with a send time)."""
        draft = self._check_draft(draft)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            p = await self._plan(conn, actor, draft.audience)
            await self._check_attachments(conn, actor, draft.attachments)
            n = Notice(
                notice_id="n_" + secrets.token_hex(8),
                author=actor.user_id,
                title=draft.title,
                body=draft.body,
                priority=draft.priority,
                attachments=[dict(a) for a in draft.attachments],
                ack_required=draft.ack_required,
                deadline_ts=draft.deadline_ts,
                audience=draft.audience,
                plan=p,
                org_code=(draft.audience.orgs or ("",))[0] or None,
                status="draft",
                version=1,
                remind_round=0,
                last_remind_ts=None,
                escalated_ts=None,
                send_at_ts=draft.send_at_ts,
                sent_ts=None,
                withdrawn_ts=None,
                withdraw_reason=None,
                recipients_at_send=None,
                rev=0,
                created_ts=now,
                updated_ts=now,
            )
            await store.insert_notice(conn, n)
            await audit.record(
                conn, who(actor), now, "notice.create", "notice", n.notice_id,
                org_code=n.org_code, after=_summary(n),
            )  # fmt: skip
            if send:
                n, users = await self._send_in(conn, actor, n)
        if send and n.status == "sent":
            await self._ring(n, users)
        return n

    async def do_send(self, actor: Actor, notice_id: str) -> Notice:
        async with self._db.write() as conn:
            n = await self._get(conn, notice_id, lock=True)
            self._readable(actor, n)
            if n.status != "draft":
                raise MatrixError(
                    409, "TUMAR_NOTICE_NOT_DRAFT", f"The notification is already {n.status}."
                )
            # Scope and content are checked again: the directory or the author's roles may
            # have changed since the draft was saved.
            self._check_draft(
                Draft(n.title, n.body, n.priority, n.audience, n.ack_required, n.deadline_ts,
                      n.send_at_ts, tuple(n.attachments))
            )  # fmt: skip
            n = replace(n, plan=await self._plan(conn, actor, n.audience))
            if not actor.user_id.startswith("scheduler:"):
                await self._check_attachments(conn, actor, tuple(n.attachments))
            await store.update_notice(conn, n.notice_id, plan=store.notice_values(n)["plan"])
            n, users = await self._send_in(conn, actor, n)
        if n.status == "sent":
            await self._ring(n, users)
        return n

    async def _send_in(
        self, conn: AsyncConnection, actor: Actor, n: Notice
    ) -> tuple[Notice, list[str]]:
        now = self._clock.now_ms()
        if n.send_at_ts is not None and n.send_at_ts > now:
            await store.update_notice(conn, n.notice_id, status="scheduled", updated_ts=now)
            await audit.record(
                conn, who(actor), now, "notice.schedule", "notice", n.notice_id,
                org_code=n.org_code, after={"send_at_ts": n.send_at_ts},
            )  # fmt: skip
            return replace(n, status="scheduled", updated_ts=now), []
        count = await store.count_audience(conn, n.plan)
        if not count:
            raise MatrixError(
                400, "TUMAR_EMPTY_AUDIENCE", "Nobody with an account is in this audience."
            )
        pos = await self._db.allocate_positions(conn)
        values = {
            "status": "sent",
            "sent_ts": now,
            "rev": pos,
            "recipients_at_send": count,
            "updated_ts": now,
        }
        await store.update_notice(conn, n.notice_id, **values)
        await audit.record(
            conn, who(actor), now, "notice.send", "notice", n.notice_id,
            org_code=n.org_code, after={"recipients": count},
        )  # fmt: skip
        return replace(n, **values), []  # type: ignore[arg-type]

    async def _ring(self, n: Notice, users: list[str] | None = None) -> None:
        """Tell every node to reload the live notifications: each delivers at once to the
        users long-polling on it, and to everyone else at their next sync. ``users``: more
        users to wake (none today; the audience is never listed)."""
        self.delivery.invalidate()
        bell = Doorbell(position=n.rev, users=frozenset(users or ()), rooms=frozenset({MARKER}))
        await self._bus.publish(bell)

    async def send_scheduled(self, notice_id: str) -> None:
        """Send a scheduled notification whose time has come (the reminder run does this)."""
        async with self._db.write() as conn:
            n = await self._get(conn, notice_id, lock=True)
            if n.status != "scheduled":
                return  # sent by a concurrent run, or withdrawn
            author = Actor(f"scheduler:{n.author}", ())
            n = replace(n, send_at_ts=None)
            try:
                n, users = await self._send_in(conn, author, n)
            except MatrixError as exc:  # nobody left in the audience: it cannot go out
                users = []
                now = self._clock.now_ms()
                await store.update_notice(
                    conn, notice_id, status="withdrawn", withdrawn_ts=now,
                    withdraw_reason=exc.error, updated_ts=now,
                )  # fmt: skip
        if n.status == "sent":
            await self._ring(n, users)

    async def do_reminder_round(self, notice_id: str, by: audit.Who) -> None:
        """Everyone who has the notification and has not acknowledged it gets a reminder on
        their next sync."""
        async with self._db.write() as conn:
            n = await self._get(conn, notice_id, lock=True)
            if n.status != "sent":
                return
            now = self._clock.now_ms()
            pos = await self._db.allocate_positions(conn)
            values = {"remind_round": n.remind_round + 1, "last_remind_ts": now, "rev": pos}
            await store.update_notice(conn, notice_id, **values)
            await audit.record(
                conn, by, now, "notice.remind", "notice", notice_id, org_code=n.org_code,
                after={"round": n.remind_round + 1},
            )  # fmt: skip
        await self._ring(replace(n, **values))  # type: ignore[arg-type]

    async def mark_escalated(self, notice_id: str, ts: int) -> None:
        async with self._db.write() as conn:
            await store.update_notice(conn, notice_id, escalated_ts=ts)

    async def do_correct(self, actor: Actor, notice_id: str, fix: Correction) -> Notice:
        """Change a sent notification; recipients who have it see an edit."""
        async with self._db.write() as conn:
            n = await self._get(conn, notice_id, lock=True)
            self._readable(actor, n)
            if n.status != "sent":
                raise MatrixError(
                    409,
                    "TUMAR_NOTICE_WITHDRAWN"
                    if n.status == "withdrawn"
                    else "TUMAR_NOTICE_NOT_SENT",
                    f"Only a sent notification can be corrected; this one is {n.status}.",
                )
            draft = self._check_draft(
                Draft(
                    fix.title if fix.title is not None else n.title,
                    fix.body if fix.body is not None else n.body,
                    fix.priority if fix.priority is not None else n.priority,
                    n.audience,
                    n.ack_required,
                    fix.deadline_ts if fix.deadline_ts is not None else n.deadline_ts,
                    None,
                    tuple(n.attachments),
                ),
                check_deadline=fix.deadline_ts is not None,
            )
            now = self._clock.now_ms()
            pos = await self._db.allocate_positions(conn)
            values = {
                "title": draft.title,
                "body": draft.body,
                "priority": draft.priority,
                "deadline_ts": draft.deadline_ts,
                "version": n.version + 1,
                "rev": pos,
                "updated_ts": now,
            }
            if draft == Draft(n.title, n.body, n.priority, n.audience, n.ack_required,
                              n.deadline_ts, None, tuple(n.attachments)):  # fmt: skip
                raise MatrixError(400, "M_INVALID_PARAM", "The correction changes nothing.")
            await store.update_notice(conn, notice_id, **values)
            after = replace(n, **values)  # type: ignore[arg-type]
            await audit.record(
                conn, who(actor), now, "notice.correct", "notice", notice_id,
                org_code=n.org_code, before=_summary(n), after=_summary(after),
            )  # fmt: skip
        await self._ring(after)
        return after

    async def do_withdraw(self, actor: Actor, notice_id: str, reason: str | None) -> Notice:
        async with self._db.write() as conn:
            n = await self._get(conn, notice_id, lock=True)
            self._readable(actor, n)
            if n.status == "withdrawn":
                raise MatrixError(
                    409, "TUMAR_NOTICE_WITHDRAWN", "The notification is already withdrawn."
                )
            now = self._clock.now_ms()
            if n.status in ("draft", "scheduled"):
                values: dict[str, Any] = {
                    "status": "withdrawn", "withdrawn_ts": now, "withdraw_reason": reason,
                    "updated_ts": now,
                }  # fmt: skip
            else:
                pos = await self._db.allocate_positions(conn)
                values = {
                    "status": "withdrawn", "withdrawn_ts": now, "withdraw_reason": reason,
                    "version": n.version + 1, "rev": pos, "updated_ts": now,
                }  # fmt: skip
            await store.update_notice(conn, notice_id, **values)
            after = replace(n, **values)
            await audit.record(
                conn, who(actor), now, "notice.withdraw", "notice", notice_id,
                org_code=n.org_code, before={"status": n.status},
                after={"status": "withdrawn", "reason": reason},
            )  # fmt: skip
        if n.status == "sent":
            await self._ring(after)
        return after

    async def get(self, actor: Actor, notice_id: str) -> Notice:
        async with self._db.read() as conn:
            n = await self._get(conn, notice_id)
        self._readable(actor, n)
        return n

    async def list_notices(self, actor: Actor, *, limit: int, offset: int = 0) -> list[Notice]:
        scopes = actor.scopes(Permission.NOTIFY)
        check(actor.may(Permission.NOTIFY, scopes[0] if scopes else "/"))
        async with self._db.read() as conn:
            found = await store.list_notices(conn, limit=limit + offset + 500)
        return [n for n in found if rules.may_read(n.plan, scopes)][offset : offset + limit]

    def content_preview(self, n: Notice) -> dict[str, Any]:
        """The message recipients will see."""
        return notice_content(n, self.delivery.shown_reactions)

    # ---- recipients ---------------------------------------------------------------------------

    async def inbox(self, requester: Requester, *, limit: int = 100) -> list[InboxItem]:
        await self.delivery.ensure(requester.user_id)
        async with self._db.read() as conn:
            rows = await store.inbox(conn, requester.user_id, limit)
            out = []
            for n, d in rows:
                read = d.read_ts is not None or d.ack_ts is not None
                if not read:
                    read = await store.read_by_receipt(conn, d)
                out.append(InboxItem(n, d, read))
        return out

    async def _mine(
        self, conn: AsyncConnection, requester: Requester, notice_id: str
    ) -> tuple[Notice, Delivery]:
        n = await store.get_notice(conn, notice_id)
        if n is None or n.status in ("draft", "scheduled"):
            raise not_found(f"There is no notification {notice_id}.")
        d = await store.delivery(conn, notice_id, requester.user_id)
        if d is None:
            raise MatrixError(
                403, "TUMAR_NOT_A_RECIPIENT", "This notification was not sent to you."
            )
        return n, d

    async def do_acknowledge(
        self, requester: Requester, notice_id: str, *, via: str = "api"
    ) -> tuple[Delivery, bool]:
        """Returns the delivery and whether it was acknowledged before (nothing changes)."""
        await self.delivery.ensure(requester.user_id)
        async with self._db.write() as conn:
            n, d = await self._mine(conn, requester, notice_id)
            if n.status == "withdrawn":
                raise MatrixError(
                    409, "TUMAR_NOTICE_WITHDRAWN",
                    "This notification has been withdrawn; there is nothing to acknowledge.",
                )  # fmt: skip
            if not n.ack_required:
                raise MatrixError(
                    409, "TUMAR_ACK_NOT_REQUIRED", "This notification needs no acknowledgement."
                )
            if d.ack_ts is not None:
                return d, True
            now = self._clock.now_ms()
            values = {"ack_ts": now, "ack_via": via, "read_ts": d.read_ts or now}
            await store.update_delivery(conn, notice_id, requester.user_id, **values)
        return replace(d, **values), False  # type: ignore[arg-type]

    async def do_mark_read(self, requester: Requester, notice_id: str) -> Delivery:
        await self.delivery.ensure(requester.user_id)
        async with self._db.write() as conn:
            _n, d = await self._mine(conn, requester, notice_id)
            if d.read_ts is not None:
                return d
            now = self._clock.now_ms()
            await store.update_delivery(conn, notice_id, requester.user_id, read_ts=now)
        return replace(d, read_ts=now)
