"""Registered official correspondence: the only writer of letters. Drafting, approval,
signature, registration with an outgoing number (which delivers the letter to every recipient
organisation), and at each recipient organisation registration with an incoming number, the
head's resolution, the executors' replies and closing. The design is in
``docs/correspondence.md``.

Every step is one transaction: the letter row is locked, the step is checked by the pure life
cycle (``policy/letters.py``: out of order or twice is 409 ``TUMAR_LETTER_TRANSITION``, the
wrong person 403 ``M_FORBIDDEN``) and by the letter's classification label, then the change,
its status-history row and its audit row are written together. Messages to people's notices
rooms go out after the commit (``core/correspondence_notices.py``). Signing keys are in
``core/correspondence_keys.py``; numbering in ``core/correspondence_numbers.py``; journal and
control in ``core/correspondence_control.py``; verification and bundles in
``core/correspondence_bundle.py``.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core import correspondence_access as access
from tumar.core.correspondence_access import Context, Party
from tumar.core.correspondence_bundle import bundle
from tumar.core.correspondence_control import LetterControl, RemindResult
from tumar.core.correspondence_drafts import LetterDraft, check_draft, check_text
from tumar.core.correspondence_keys import SigningKeys
from tumar.core.correspondence_notices import LetterNotices
from tumar.core.correspondence_numbers import LetterNumbering
from tumar.core.data_keys import DataKeyring
from tumar.core.directory import check
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomCreator, RoomPlan
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError, not_found
from tumar.policy import letters as cycle
from tumar.policy.letter_signing import VerificationReport
from tumar.policy.letters import Action, RecipientStatus, Status
from tumar.policy.notice_markdown import UnsafeContent, render
from tumar.policy.roles import Actor, Permission, Role
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store import events as event_store
from tumar.store.correspondence import Approval, Letter, LetterQuery
from tumar.store.db import Database
from tumar.store.media_storage import MediaStorage

MAX_TEXT = 10_000  # a resolution or a reply
MAX_EXECUTORS = 20
BOXES = ("drafts", "outbox", "inbox", "tasks", "all")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def transition_error(reason: str) -> MatrixError:
    return MatrixError(409, "TUMAR_LETTER_TRANSITION", reason)


@dataclass(frozen=True, slots=True)
class Resolution:
    text: str
    executors: tuple[str, ...]
    due_date: str  # YYYY-MM-DD (the day ends at midnight in ``letters_timezone``)
    controller: str | None = None


@dataclass(frozen=True, slots=True)
class LetterView:
    """A letter as one person sees it: everything read, and what they may do now."""

    ctx: Context
    body_html: str
    allowed: tuple[str, ...]  # letter-level actions and recipient actions, names only
    allowed_by_org: dict[str, tuple[str, ...]]

    @property
    def letter(self) -> Letter:
        return self.ctx.letter


class CorrespondenceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        numbering: LetterNumbering,
        keys: SigningKeys,
        notices: LetterNotices,
        creator: RoomCreator,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.numbering = numbering
        self.keys = keys
        self.notices = notices
        self._creator = creator
        self.control = LetterControl(db, clock, settings, notices)

    def start(self) -> None:
        self.control.start()

    async def stop(self) -> None:
        await self.control.stop()

    # ---- reading ------------------------------------------------------------------------------

    async def _party(self, conn: AsyncConnection, requester: Requester) -> Party:
        return await access.party(conn, requester.user_id, requester.is_admin, self._settings)

    async def _context(
        self, conn: AsyncConnection, letter_id: str, *, lock: bool = False
    ) -> Context:
        ctx = await access.load(conn, letter_id, lock=lock)
        if ctx is None:
            raise not_found(f"There is no letter {letter_id}.")
        return ctx

    def view(self, ctx: Context, p: Party) -> LetterView:
        try:
            body_html = render(
                ctx.letter.body, max_chars=self._settings.letters_max_body_chars
            ).html
        except UnsafeContent:
            body_html = ""
        allowed: list[str] = [
            a.value for a in cycle.LETTER_ACTIONS if cycle.decide(a, access.facts(ctx), p.who)
        ]
        by_org: dict[str, tuple[str, ...]] = {}
        for rec in ctx.recipients:
            facts = access.facts(ctx, rec.org_code)
            acts = tuple(
                a.value for a in sorted(cycle.RECIPIENT_ACTIONS) if cycle.decide(a, facts, p.who)
            )
            by_org[rec.org_code] = acts
            allowed.extend(a for a in acts if a not in allowed)
        order = [a.value for a in Action]
        return LetterView(ctx, body_html, tuple(sorted(allowed, key=order.index)), by_org)

    async def get(self, requester: Requester, letter_id: str) -> LetterView:
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            p = await self._party(conn, requester)
        access.check_visible(ctx, p, self._settings)
        return self.view(ctx, p)

    async def list_letters(
        self, requester: Requester, box: str = "all", text: str | None = None, limit: int = 100
    ) -> list[LetterView]:
        if box not in BOXES:
            raise MatrixError(400, "M_INVALID_PARAM", f"box is one of {', '.join(BOXES)}.")
        async with self._db.read() as conn:
            p = await self._party(conn, requester)
            codes = await self._my_orgs(conn, p)
            found = await store.candidate_letters(
                conn,
                LetterQuery(
                    user_id=p.user_id,
                    sender_orgs=tuple(codes),
                    recipient_orgs=tuple(codes),
                    text=text or None,
                    limit=max(limit * 3, 200),
                ),
            )
            contexts = [c for c in [await access.load(conn, x.letter_id) for x in found] if c]
        out: list[LetterView] = []
        for ctx in contexts:
            if not access.involved(ctx, p.who) or not access.label_verdict(ctx, p, self._settings):
                continue
            v = self.view(ctx, p)
            if self._in_box(box, v, p):
                out.append(v)
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _in_box(box: str, v: LetterView, p: Party) -> bool:
        status = v.letter.status
        if box == "drafts":
            return v.letter.author == p.user_id and status in ("draft", "returned")
        if box == "outbox":
            return access.sender_side(v.ctx, p.who) and status not in ("draft", "returned")
        if box == "inbox":
            return bool(access.recipient_orgs_of(v.ctx, p.who))
        if box == "tasks":
            return any(a not in ("edit", "withdraw") for a in v.allowed)
        return True

    async def _my_orgs(self, conn: AsyncConnection, p: Party) -> list[str]:
        """Organisations whose letters the person may handle: where they are a registry clerk
        (with the subtree) or the head."""
        scopes = [g.path for g in p.who.grants if g.role is Role.REGISTRY_CLERK]
        codes = {o.code for o in await directory_store.list_orgs(conn, scopes)} if scopes else set()
        person = await directory_store.person_by_user(conn, p.user_id)
        if person is not None:
            codes.update(await store.orgs_headed_by(conn, person.person_id))
        return sorted(codes)

    # ---- drafting -----------------------------------------------------------------------------

    async def do_create(self, requester: Requester, draft: LetterDraft) -> LetterView:
        draft = check_text(self._settings, draft)
        now = self._clock.now_ms()
        letter_id = "l_" + secrets.token_hex(8)
        async with self._db.write() as conn:
            p = await self._party(conn, requester)
            items = await check_draft(conn, self._settings, p, draft, letter_id)
            assert draft.label is not None
            letter = Letter(
                letter_id=letter_id, sender_org=draft.sender_org, author=p.user_id,
                subject=draft.subject, body=draft.body, label=draft.label,
                label_orgs=draft.label_orgs, reply_to=draft.reply_to,
                approval_mode=draft.approval, approvers=draft.approvers,
                signatory=draft.signatory, status=Status.DRAFT.value, round=0,
                outgoing_number=None, outgoing_year=None, outgoing_seq=None,
                registered_ts=None, registered_by=None, room_id=None,
                created_ts=now, updated_ts=now,
            )  # fmt: skip
            await store.insert_letter(conn, letter)
            await store.replace_recipients(conn, letter_id, draft.recipients)
            await store.replace_attachments(conn, letter_id, items)
            await store.add_history(
                conn, letter_id, ts=now, actor=p.user_id, action="create", status="draft"
            )
            await audit.record(
                conn, audit.Who(p.user_id, requester.ip), now, "letter.create", "letter",
                letter_id, org_code=draft.sender_org,
                after={"subject": draft.subject, "recipients": list(draft.recipients),
                       "label": draft.label},
            )  # fmt: skip
            ctx = await self._context(conn, letter_id)
        return self.view(ctx, p)

    async def do_edit(self, requester: Requester, letter_id: str, draft: LetterDraft) -> LetterView:
        draft = check_text(self._settings, draft)
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.EDIT)
            if draft.sender_org != ctx.letter.sender_org:
                raise MatrixError(400, "M_INVALID_PARAM", "The sender of a letter cannot change.")
            items = await check_draft(conn, self._settings, p, draft, letter_id)
            now = self._clock.now_ms()
            await store.update_letter(
                conn, letter_id, subject=draft.subject, body=draft.body, label=draft.label,
                label_orgs=draft.label_orgs, reply_to=draft.reply_to,
                approval_mode=draft.approval, approvers=draft.approvers,
                signatory=draft.signatory, updated_ts=now,
            )  # fmt: skip
            await store.replace_recipients(conn, letter_id, draft.recipients)
            await store.replace_attachments(conn, letter_id, items)
            await self._record(conn, requester, ctx, "edit", ctx.letter.status, now)
            ctx = await self._context(conn, letter_id)
        return self.view(ctx, p)

    # ---- the steps ----------------------------------------------------------------------------

    async def _begin(
        self,
        conn: AsyncConnection,
        requester: Requester,
        letter_id: str,
        action: Action,
        org_code: str | None = None,
    ) -> tuple[Context, Party]:
        """Lock and read the letter; refuse the step unless it is in order (409) and the
        requester is the person for it (403) and the label admits them (403)."""
        ctx = await self._context(conn, letter_id, lock=True)
        p = await self._party(conn, requester)
        if org_code is not None and ctx.recipient(org_code) is None:
            raise not_found(f"The letter {letter_id} is not addressed to {org_code}.")
        facts = access.facts(ctx, org_code)
        if not access.involved(ctx, p.who):  # strangers learn nothing of the letter's state
            person = cycle.check_person(action, facts, p.who)
            raise MatrixError(
                403, "M_FORBIDDEN", person.reason or "You take no part in this letter."
            )
        state = cycle.check_transition(action, facts)
        if not state:
            raise transition_error(state.reason)
        person = cycle.check_person(action, facts, p.who)
        if not person:
            raise MatrixError(403, "M_FORBIDDEN", person.reason)
        access.check_label(ctx, p, self._settings)
        return ctx, p

    async def _record(
        self,
        conn: AsyncConnection,
        requester: Requester,
        ctx: Context,
        action: str,
        status: str,
        now: int,
        *,
        org_code: str | None = None,
        comment: str | None = None,
        after: dict[str, object] | None = None,
    ) -> None:
        letter_id = ctx.letter.letter_id
        await store.add_history(
            conn, letter_id, ts=now, actor=requester.user_id, action=action, status=status,
            org_code=org_code, comment=comment,
        )  # fmt: skip
        await audit.record(
            conn, audit.Who(requester.user_id, requester.ip), now, f"letter.{action}", "letter",
            letter_id, org_code=org_code or ctx.letter.sender_org,
            before={"status": ctx.letter.status}, after={"status": status, **(after or {})},
        )  # fmt: skip

    async def do_submit(self, requester: Requester, letter_id: str) -> LetterView:
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.SUBMIT)
            self._check_audience(ctx)
            status = cycle.next_status(Action.SUBMIT, access.facts(ctx)).value
            now = self._clock.now_ms()
            await store.update_letter(
                conn, letter_id, status=status, round=ctx.letter.round + 1, updated_ts=now
            )
            await self._record(conn, requester, ctx, "submit", status, now)
            ctx = await self._context(conn, letter_id)
        first = (
            ctx.letter.approvers[:1]
            if ctx.letter.approval_mode == "ordered"
            else ctx.letter.approvers
        )
        if status == Status.IN_APPROVAL.value:
            await self.notices.tell(
                first, letter_id, f"A letter awaits your approval: {ctx.letter.subject}"
            )
        else:
            await self.notices.tell(
                [ctx.letter.signatory],
                letter_id,
                f"A letter awaits your signature: {ctx.letter.subject}",
            )
        return self.view(ctx, p)

    def _check_audience(self, ctx: Context) -> None:
        recipient_paths = {
            r.org_code: ctx.org_paths.get(r.org_code, "\x00missing") for r in ctx.recipients
        }
        missing = [c for c, path in recipient_paths.items() if path.startswith("\x00")]
        if missing:
            raise MatrixError(
                400, "TUMAR_UNKNOWN_ORG", f"There is no organisation with the code {missing[0]}."
            )
        outside = access.recipients_outside(
            ctx.letter.label, ctx.letter.label_orgs, ctx.sender_path, recipient_paths,
            ctx.org_paths, self._settings,
        )  # fmt: skip
        if outside:
            raise MatrixError(
                403, "TUMAR_AUDIENCE",
                f"The letter is labelled {ctx.letter.label}; it may go only to organisations "
                f"in its label's audience, and {', '.join(outside)} is not.",
            )  # fmt: skip

    async def do_approve(
        self, requester: Requester, letter_id: str, comment: str | None = None
    ) -> LetterView:
        return await self._decide_approval(requester, letter_id, Action.APPROVE, comment or "")

    async def do_return(self, requester: Requester, letter_id: str, comment: str) -> LetterView:
        return await self._decide_approval(requester, letter_id, Action.RETURN, comment)

    async def _decide_approval(
        self, requester: Requester, letter_id: str, action: Action, comment: str
    ) -> LetterView:
        checked = cycle.check_comment(action, comment)
        if not checked:
            raise MatrixError(400, "M_INVALID_PARAM", checked.reason)
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, action)
            facts = access.facts(ctx)
            status = cycle.next_status(action, facts).value
            now = self._clock.now_ms()
            decision = "approved" if action is Action.APPROVE else "returned"
            await store.insert_approval(
                conn,
                Approval(letter_id, ctx.letter.round, p.user_id, decision, comment or None, now),
            )
            await store.update_letter(conn, letter_id, status=status, updated_ts=now)
            await self._record(
                conn, requester, ctx, action.value, status, now, comment=comment or None
            )
            ctx = await self._context(conn, letter_id)
        subject = ctx.letter.subject
        if status == Status.RETURNED.value:
            await self.notices.tell(
                [ctx.letter.author], letter_id, f"Your letter was returned: {subject}"
            )
        elif status == Status.APPROVED.value:
            await self.notices.tell(
                [ctx.letter.signatory], letter_id, f"A letter awaits your signature: {subject}"
            )
        elif ctx.letter.approval_mode == "ordered":
            nxt = cycle.approvers_now(access.facts(ctx))
            await self.notices.tell(nxt, letter_id, f"A letter awaits your approval: {subject}")
        return self.view(ctx, p)

    async def do_withdraw(self, requester: Requester, letter_id: str) -> LetterView:
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.WITHDRAW)
            now = self._clock.now_ms()
            status = Status.WITHDRAWN.value
            await store.update_letter(conn, letter_id, status=status, updated_ts=now)
            await self._record(conn, requester, ctx, "withdraw", status, now)
            ctx = await self._context(conn, letter_id)
        return self.view(ctx, p)

    async def do_sign(self, requester: Requester, letter_id: str, key_id: str | None) -> LetterView:
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.SIGN)
            now = self._clock.now_ms()
            signature = await self.keys.sign_letter(conn, ctx, p.user_id, key_id, now)
            status = Status.SIGNED.value
            await store.update_letter(conn, letter_id, status=status, updated_ts=now)
            await self._record(
                conn, requester, ctx, "sign", status, now,
                after={"key_id": signature.key_id, "kind": signature.kind},
            )  # fmt: skip
            ctx = await self._context(conn, letter_id)
            clerks = await store.clerks_for(conn, ctx.sender_path)
        await self.notices.tell(
            clerks, letter_id, f"A signed letter awaits registration: {ctx.letter.subject}"
        )
        return self.view(ctx, p)

    async def do_register(self, requester: Requester, letter_id: str) -> LetterView:
        """The sender's clerk registers the letter with an outgoing number; it is delivered to
        every recipient organisation in the same transaction."""
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.REGISTER_OUT)
            self._check_audience(ctx)
            now = self._clock.now_ms()
            number = await self.numbering.take(conn, ctx.letter.sender_org, "out", now)
            await self.keys.seal_registration(conn, ctx, p.user_id, number.text, now)
            status = Status.REGISTERED.value
            await store.update_letter(
                conn, letter_id, status=status, outgoing_number=number.text,
                outgoing_year=number.year, outgoing_seq=number.seq, registered_ts=now,
                registered_by=p.user_id, updated_ts=now,
            )  # fmt: skip
            for rec in ctx.recipients:
                await store.update_recipient(
                    conn, letter_id, rec.org_code,
                    status=RecipientStatus.DELIVERED.value, delivered_ts=now,
                )  # fmt: skip
            await self._record(
                conn, requester, ctx, "register_out", status, now,
                after={"outgoing_number": number.text},
            )  # fmt: skip
            ctx = await self._context(conn, letter_id)
            told: list[str] = []
            for rec in ctx.recipients:
                told.extend(await store.clerks_for(conn, ctx.org_paths.get(rec.org_code, "\x00")))
                if rec.org_code in ctx.heads:
                    told.append(ctx.heads[rec.org_code])
        await self.notices.tell(
            told, letter_id,
            f"A new letter {number.text} from {ctx.letter.sender_org}: {ctx.letter.subject}",
        )  # fmt: skip
        return self.view(ctx, p)

    # ---- at a recipient organisation ----------------------------------------------------------

    async def do_register_in(self, requester: Requester, letter_id: str, org: str) -> LetterView:
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.REGISTER_IN, org)
            now = self._clock.now_ms()
            number = await self.numbering.take(conn, org, "in", now)
            status = RecipientStatus.REGISTERED.value
            await store.update_recipient(
                conn, letter_id, org, status=status, incoming_number=number.text,
                incoming_year=number.year, incoming_seq=number.seq, registered_ts=now,
                registered_by=p.user_id,
            )  # fmt: skip
            await self._record(
                conn, requester, ctx, "register_in", status, now, org_code=org,
                after={"incoming_number": number.text},
            )  # fmt: skip
            await store.update_letter(conn, letter_id, updated_ts=now)
            ctx = await self._context(conn, letter_id)
        head = ctx.heads.get(org)
        if head:
            await self.notices.tell(
                [head], letter_id,
                f"A letter {number.text} awaits your resolution: {ctx.letter.subject}",
            )  # fmt: skip
        return self.view(ctx, p)

    def due_ts(self, due_date: str) -> int:
        """The end of ``due_date`` (midnight after it) in ``letters_timezone``."""
        if not _DATE.match(due_date):
            raise MatrixError(400, "M_INVALID_PARAM", "due_date is a date: YYYY-MM-DD.")
        try:
            day = datetime.date.fromisoformat(due_date)
        except ValueError:
            raise MatrixError(400, "M_INVALID_PARAM", f"{due_date} is not a date.") from None
        end = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time(), self.numbering.zone
        )
        return int(end.timestamp() * 1000)

    async def _members_of(
        self, conn: AsyncConnection, ctx: Context, org: str, user_ids: Sequence[str], what: str
    ) -> None:
        """Executors and controllers are people of the recipient organisation's subtree."""
        path = ctx.org_paths.get(org, "\x00")
        found = await directory_store.people_by_users(conn, list(user_ids))
        for user_id in user_ids:
            person = found.get(user_id)
            if person is None or person.status != "active":
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"{what} {user_id} is not in the directory."
                )
            person_path = await directory_store.person_org_path(conn, person.person_id) or ""
            if not person_path.startswith(path):
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"{what} {user_id} is not a person of {org}."
                )

    async def do_resolve(
        self, requester: Requester, letter_id: str, org: str, res: Resolution
    ) -> LetterView:
        text = res.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"The resolution is 1 to {MAX_TEXT} characters."
            )
        if not res.executors or len(res.executors) > MAX_EXECUTORS:
            raise MatrixError(400, "M_INVALID_PARAM", f"Name 1 to {MAX_EXECUTORS} executors.")
        if len(set(res.executors)) != len(res.executors):
            raise MatrixError(400, "M_INVALID_PARAM", "executors names someone twice.")
        due = self.due_ts(res.due_date)
        now = self._clock.now_ms()
        if due <= now:
            raise MatrixError(400, "M_INVALID_PARAM", "The due date has already passed.")
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.RESOLVE, org)
            controller = res.controller or p.user_id
            await self._members_of(conn, ctx, org, res.executors, "Executor")
            await self._members_of(conn, ctx, org, [controller], "Controller")
            status = RecipientStatus.RESOLVED.value
            await store.update_recipient(
                conn, letter_id, org, status=status, resolution=text, executors=res.executors,
                controller=controller, due_ts=due, resolved_by=p.user_id, resolved_ts=now,
            )  # fmt: skip
            await self._record(
                conn, requester, ctx, "resolve", status, now, org_code=org, comment=text,
                after={"executors": list(res.executors), "controller": controller,
                       "due_date": res.due_date},
            )  # fmt: skip
            await store.update_letter(conn, letter_id, updated_ts=now)
            ctx = await self._context(conn, letter_id)
        await self.notices.tell(
            res.executors, letter_id,
            f"You are assigned a letter, due {res.due_date}: {ctx.letter.subject}",
        )  # fmt: skip
        if controller != p.user_id:
            await self.notices.tell(
                [controller], letter_id,
                f"You control a letter, due {res.due_date}: {ctx.letter.subject}",
            )  # fmt: skip
        return self.view(ctx, p)

    async def do_reply(
        self,
        requester: Requester,
        letter_id: str,
        org: str,
        text: str,
        reply_letter_id: str | None = None,
    ) -> LetterView:
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise MatrixError(400, "M_INVALID_PARAM", f"The reply is 1 to {MAX_TEXT} characters.")
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.REPLY, org)
            if reply_letter_id is not None:
                reply = await store.get_letter(conn, reply_letter_id)
                if reply is None or reply.reply_to != letter_id:
                    raise MatrixError(
                        400, "M_INVALID_PARAM",
                        f"{reply_letter_id} is not a letter in reply to {letter_id}.",
                    )  # fmt: skip
            facts = access.facts(ctx, org)
            status = cycle.next_recipient_status(Action.REPLY, facts, p.user_id)
            assert status is not None
            now = self._clock.now_ms()
            await store.update_recipient(
                conn, letter_id, org, status=status.value, reply_text=text,
                reply_letter_id=reply_letter_id, replied_by=p.user_id, replied_ts=now,
            )  # fmt: skip
            await self._record(
                conn, requester, ctx, "reply", status.value, now, org_code=org, comment=text,
                after={"reply_letter_id": reply_letter_id},
            )  # fmt: skip
            await store.update_letter(conn, letter_id, updated_ts=now)
            ctx = await self._context(conn, letter_id)
            rec = ctx.recipient(org)
        if rec is not None and rec.controller:
            await self.notices.tell(
                [rec.controller], letter_id,
                f"{p.user_id} replied on a letter you control: {ctx.letter.subject}",
            )  # fmt: skip
        return self.view(ctx, p)

    async def do_close(self, requester: Requester, letter_id: str, org: str) -> LetterView:
        async with self._db.write() as conn:
            ctx, p = await self._begin(conn, requester, letter_id, Action.CLOSE, org)
            facts = access.facts(ctx, org)
            status = RecipientStatus.CLOSED.value
            now = self._clock.now_ms()
            await store.update_recipient(
                conn, letter_id, org, status=status, closed_by=p.user_id, closed_ts=now
            )
            letter_status = cycle.next_status(Action.CLOSE, facts).value
            await store.update_letter(conn, letter_id, status=letter_status, updated_ts=now)
            await self._record(
                conn, requester, ctx, "close", status, now, org_code=org,
                after={"letter_status": letter_status},
            )  # fmt: skip
            ctx = await self._context(conn, letter_id)
        return self.view(ctx, p)

    # ---- verification and export ---------------------------------------------------------------

    async def verify(self, requester: Requester, letter_id: str) -> VerificationReport:
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            p = await self._party(conn, requester)
            access.check_visible(ctx, p, self._settings)
            return await self._verify(conn, ctx)

    async def _verify(self, conn: AsyncConnection, ctx: Context) -> VerificationReport:
        if not ctx.signatures:
            raise transition_error("The letter is not signed yet; there is nothing to verify.")
        return await self.keys.verify(conn, ctx)

    async def verify_offline(self, letter_id: str) -> tuple[Context, VerificationReport]:
        """For the command line: no requester, straight from the database and media store."""
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            return ctx, await self._verify(conn, ctx)

    async def verify_offline_or_plain(
        self, letter_id: str
    ) -> tuple[Context, VerificationReport | None]:
        """The letter and, if it is signed, its verification report (command line)."""
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            report = await self.keys.verify(conn, ctx) if ctx.signatures else None
        return ctx, report

    async def export(self, requester: Requester, letter_id: str) -> tuple[Context, bytes]:
        """The zip bundle of a registered letter."""
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            p = await self._party(conn, requester)
            access.check_visible(ctx, p, self._settings)
        return ctx, await self._bundle(ctx)

    async def export_offline(self, letter_id: str) -> tuple[Context, bytes]:
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
        return ctx, await self._bundle(ctx)

    async def _bundle(self, ctx: Context) -> bytes:
        if ctx.letter.outgoing_number is None:
            raise transition_error("Only a registered letter can be exported.")
        async with self._db.read() as conn:
            report = await self.keys.verify(conn, ctx)
        limit = max(self._settings.letters_max_attachment_bytes, 1)
        return await bundle(ctx, report, self.keys, limit)

    async def attachment(
        self, requester: Requester, letter_id: str, index: int
    ) -> tuple[str, str | None, bytes]:
        """An attachment's name, type and bytes, for the people who may see the letter."""
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            p = await self._party(conn, requester)
        access.check_visible(ctx, p, self._settings)
        found = [a for a in ctx.attachments if a.position == index]
        if not found:
            raise not_found(f"The letter has no attachment {index}.")
        data = await self.keys.read_media(found[0].mxc, max(found[0].size, 1))
        if data is None:
            raise not_found("The content of this attachment is not available.")
        return found[0].name, found[0].content_type, data

    async def verify_as_admin(self, actor: Actor, letter_id: str) -> VerificationReport:
        """Administrators who register or audit for the sender organisation may verify."""
        ctx, report = await self.verify_offline(letter_id)
        path = ctx.sender_path
        allowed = actor.may(Permission.LETTERS_REGISTER, path)
        if not allowed:
            allowed = actor.may(Permission.AUDIT_EXPORT, path)
        check(allowed)
        return report

    async def remind_as_admin(self, actor: Actor) -> RemindResult:
        check(actor.may(Permission.OPERATOR, ""))
        return await self.control.do_remind()

    async def actor(self, requester: Requester) -> Actor:
        """The requester with their grants (journal and control check them)."""
        async with self._db.read() as conn:
            p = await self._party(conn, requester)
        return Actor(requester.user_id, p.who.grants, requester.ip)

    # ---- a room for discussion ------------------------------------------------------------------

    async def do_link_room(
        self, requester: Requester, letter_id: str, room_id: str | None
    ) -> LetterView:
        """Link an ordinary room for discussing the letter: the given room (the requester must
        be joined to it), or a new private room labelled like the letter."""
        async with self._db.read() as conn:
            ctx = await self._context(conn, letter_id)
            p = await self._party(conn, requester)
        access.check_visible(ctx, p, self._settings)
        if ctx.letter.room_id is not None:
            return self.view(ctx, p)
        if room_id is None:
            title = ctx.letter.outgoing_number or ctx.letter.subject
            plan = RoomPlan(
                creator=p.user_id,
                preset="private_chat",
                name=f"Letter {title}"[:200],
                topic=ctx.letter.subject,
                label={"label": ctx.letter.label},
            )
            room_id = await self._creator.do_create_room(requester, plan, "private")
        else:
            async with self._db.read() as conn:
                members = await event_store.room_members(conn, room_id, ("join",))
            if p.user_id not in members:
                raise MatrixError(403, "M_FORBIDDEN", "You are not joined to that room.")
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            current = await store.get_letter(conn, letter_id, for_update=True)
            if current is not None and current.room_id is None:
                await store.update_letter(conn, letter_id, room_id=room_id, updated_ts=now)
                await audit.record(
                    conn, audit.Who(p.user_id, requester.ip), now, "letter.room", "letter",
                    letter_id, org_code=ctx.letter.sender_org, after={"room_id": room_id},
                )  # fmt: skip
            ctx = await self._context(conn, letter_id)
        return self.view(ctx, p)


def build_correspondence(
    db: Database,
    clock: Clock,
    settings: Settings,
    keyring: DataKeyring,
    media: MediaStorage,
    notices: ServerNotices,
    creator: RoomCreator,
) -> CorrespondenceService:
    """The correspondence service and its parts (the composition root calls this)."""
    return CorrespondenceService(
        db,
        clock,
        settings,
        LetterNumbering(db, clock, settings),
        SigningKeys(db, clock, settings, keyring, media),
        LetterNotices(notices, settings),
        creator,
    )
