"""Who is asking about a letter, and what they may see of it: the facts the pure life cycle
(``policy/letters.py``) and the classification chain (``policy/chain.py``) decide on, read in
the caller's transaction. Decides nothing itself.

Who sees a letter:

- on the sender's side: its author, approvers and signatory; once signed, the sender's
  registry clerks;
- at each recipient organisation, once delivered: its registry clerks, its head, and the
  executors and controller of its resolution;

and, of those, only people whose clearance reaches the letter's label and who belong to the
label's audience (``label_orgs`` with the sender's subtree) under the configured
classification chain, as for rooms. Accounts without a directory entry count as holding
``default_clearance`` with no organisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.errors import MatrixError, PolicyDenied
from tumar.policy import classification_rules as rules
from tumar.policy.chain import Facts, Subject, Verdict, judge, known_rules
from tumar.policy.labels import rank
from tumar.policy.letters import (
    LetterFacts,
    RecipientFacts,
    RecipientStatus,
    Status,
    Who,
    holds,
)
from tumar.policy.roles import Grant, Permission, Role, effective_grants
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store.correspondence import Approval, Attachment, HistoryEntry, Letter, Recipient
from tumar.store.correspondence import Signature as StoredSignature

SENDER_CLERK_FROM = frozenset({Status.SIGNED, Status.REGISTERED, Status.CLOSED})


@dataclass(frozen=True, slots=True)
class Party:
    """The person asking: their decision facts and classification facts."""

    who: Who
    clearance: str | None
    kind: str | None

    @property
    def user_id(self) -> str:
        return self.who.user_id


@dataclass(frozen=True, slots=True)
class Context:
    """A letter with everything read about it in one transaction."""

    letter: Letter
    recipients: list[Recipient]
    attachments: list[Attachment]
    approvals: list[Approval]
    history: list[HistoryEntry]
    signatures: list[StoredSignature]
    org_paths: dict[str, str]  # sender and recipient codes (and label audience) -> path
    heads: dict[str, str]  # org code -> user id of its head
    names: dict[str, str] = field(default_factory=dict)  # org code -> name_en

    def recipient(self, org_code: str) -> Recipient | None:
        return next((r for r in self.recipients if r.org_code == org_code), None)

    @property
    def sender_path(self) -> str:
        return self.org_paths.get(self.letter.sender_org, "\x00missing")


async def party(conn: AsyncConnection, user_id: str, is_admin: bool, settings: Settings) -> Party:
    person = await directory_store.person_by_user(conn, user_id)
    rows = await directory_store.grants_of(conn, user_id)
    grants = effective_grants(is_admin, (Grant(Role(r.role), r.org_code, r.path) for r in rows))
    path = ""
    if person is not None:
        path = await directory_store.person_org_path(conn, person.person_id) or ""
        return Party(Who(user_id, path, grants), person.clearance, person.kind)
    return Party(Who(user_id, path, grants), settings.default_clearance, None)


async def load(conn: AsyncConnection, letter_id: str, *, lock: bool = False) -> Context | None:
    letter = await store.get_letter(conn, letter_id, for_update=lock)
    if letter is None:
        return None
    recs = await store.recipients(conn, letter_id)
    codes = sorted({letter.sender_org, *(r.org_code for r in recs), *letter.label_orgs})
    orgs = await directory_store.get_orgs(conn, codes)
    heads: dict[str, str] = {}
    for code, org in orgs.items():
        if org.head_person_id:
            head = await directory_store.get_person(conn, org.head_person_id)
            if head is not None and head.user_id:
                heads[code] = head.user_id
    return Context(
        letter=letter,
        recipients=recs,
        attachments=await store.attachments(conn, letter_id),
        approvals=await store.approvals(conn, letter_id),
        history=await store.history(conn, letter_id),
        signatures=await store.signatures(conn, letter_id),
        org_paths={c: o.path for c, o in orgs.items()},
        heads=heads,
        names={c: o.name_en for c, o in orgs.items()},
    )


def recipient_status(rec: Recipient) -> RecipientStatus:
    try:
        return RecipientStatus(rec.status)
    except ValueError:  # "pending": not delivered yet (the letter is not registered)
        return RecipientStatus.DELIVERED


def facts(ctx: Context, org_code: str | None = None) -> LetterFacts:
    letter = ctx.letter
    approved = frozenset(
        a.user_id for a in ctx.approvals if a.round == letter.round and a.decision == "approved"
    )
    rec_facts = None
    if org_code is not None:
        rec = ctx.recipient(org_code)
        if rec is not None:
            replied = frozenset(
                h.actor for h in ctx.history if h.action == "reply" and h.org_code == org_code
            )
            rec_facts = RecipientFacts(
                org_path=ctx.org_paths.get(org_code, "\x00missing"),
                status=recipient_status(rec),
                executors=rec.executors,
                controller=rec.controller or "",
                head=ctx.heads.get(org_code, ""),
                incoming_number=rec.incoming_number or "",
                replied_by=replied,
            )
    return LetterFacts(
        status=Status(letter.status),
        approval_mode="ordered" if letter.approval_mode == "ordered" else "parallel",
        approvers=letter.approvers,
        approved_by=approved,
        author=letter.author,
        signatory=letter.signatory,
        sender_org_path=ctx.sender_path,
        recipient=rec_facts,
        outgoing_number=letter.outgoing_number or "",
        open_recipients=sum(1 for r in ctx.recipients if r.status != "closed"),
        recipient_count=len(ctx.recipients),
    )


def sender_side(ctx: Context, who: Who) -> bool:
    letter = ctx.letter
    if who.user_id in (letter.author, letter.signatory, *letter.approvers):
        return True
    return Status(letter.status) in SENDER_CLERK_FROM and holds(
        who, Permission.LETTERS_REGISTER, ctx.sender_path
    )


def recipient_orgs_of(ctx: Context, who: Who) -> list[str]:
    """The recipient organisations whose copy ``who`` takes part in (delivered copies only)."""
    out = []
    for rec in ctx.recipients:
        if rec.delivered_ts is None:
            continue
        path = ctx.org_paths.get(rec.org_code, "\x00missing")
        if (
            who.user_id in rec.executors
            or who.user_id == rec.controller
            or who.user_id == ctx.heads.get(rec.org_code)
            or holds(who, Permission.LETTERS_REGISTER, path)
        ):
            out.append(rec.org_code)
    return out


def involved(ctx: Context, who: Who) -> bool:
    return sender_side(ctx, who) or bool(recipient_orgs_of(ctx, who))


def audience_paths(ctx: Context) -> tuple[str, ...]:
    """The label audience: the named organisations' subtrees plus the sender's (none: open)."""
    if not ctx.letter.label_orgs:
        return ()
    paths = [ctx.org_paths.get(c, "\x00missing:" + c) for c in ctx.letter.label_orgs]
    return tuple(sorted({*paths, ctx.sender_path}))


def label_verdict(ctx: Context, p: Party, settings: Settings) -> Verdict:
    """Whether the letter's label admits ``p`` (the classification chain, as for joining a
    room labelled like the letter)."""
    labels = tuple(settings.classification_labels)
    cap = settings.classification_external_max
    chain_facts = Facts(
        action="join",
        labels=labels,
        room_id=f"letter:{ctx.letter.letter_id}",
        room_label=ctx.letter.label,
        subject=Subject(p.user_id, p.clearance, p.kind, p.who.org_path or None),
        room_org_paths=audience_paths(ctx),
        extra={rules.EXTERNAL_MAX: cap} if cap else {},
    )
    order = [n for n in settings.classification_rules if n in known_rules()]
    verdict = judge(chain_facts, order).verdict
    if not verdict:
        reason = verdict.reason.replace("room", "letter")
        return Verdict(False, verdict.errcode, reason)
    return verdict


def check_label(ctx: Context, p: Party, settings: Settings) -> None:
    verdict = label_verdict(ctx, p, settings)
    if not verdict:
        raise PolicyDenied(403, verdict.errcode or "M_FORBIDDEN", verdict.reason)


def check_visible(ctx: Context, p: Party, settings: Settings) -> None:
    """404 for people not involved (nothing revealed), 403 when the label keeps them out."""
    if not involved(ctx, p.who):
        raise MatrixError(404, "M_NOT_FOUND", f"There is no letter {ctx.letter.letter_id}.")
    check_label(ctx, p, settings)


def recipients_outside(
    label: str,
    label_orgs: Sequence[str],
    sender_path: str,
    recipient_paths: dict[str, str],
    org_paths: dict[str, str],
    settings: Settings,
) -> list[str]:
    """Recipient organisations a letter labelled ``label`` may not go to: above
    ``letters_open_label_max`` only organisations inside the label's audience (``label_orgs``,
    else the sender's own subtree) may receive it."""
    cap = settings.letters_open_label_max
    labels = settings.classification_labels
    if not cap or rank(label, labels) <= rank(cap, labels):
        return []
    roots = [org_paths[c] for c in label_orgs if c in org_paths] or [sender_path]
    return [
        code
        for code, path in recipient_paths.items()
        if not any(path.startswith(root) for root in roots)
    ]
