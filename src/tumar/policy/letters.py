"""The life cycle of a registered official letter and who may move it: pure decisions, no I/O.

A letter is drafted by its author, approved by a list of approvers (in order, or in any order),
signed by the named signatory (who holds ``letters.sign`` for the sender organisation),
registered with an outgoing number by the sender's registry clerk and so delivered to every
recipient organisation. Each recipient organisation then moves on its own: its clerk registers
the letter with an incoming number, its head writes a resolution (executors, due date,
controller), the executors reply, and the controller or the head closes it. The letter as a
whole is closed when the last recipient organisation closes its copy.

::

    DRAFT/RETURNED --submit--> IN_APPROVAL (or APPROVED when there are no approvers)
    IN_APPROVAL --approve--> IN_APPROVAL while approvals are pending, APPROVED after the last
    IN_APPROVAL --return (comment)--> RETURNED --edit, submit--> IN_APPROVAL (approvals anew)
    APPROVED --sign--> SIGNED --register_out--> REGISTERED (delivered to every recipient)
    REGISTERED --close of the last open recipient copy--> CLOSED

    per recipient organisation, once the letter is REGISTERED:
    DELIVERED --register_in--> REGISTERED --resolve--> RESOLVED
    RESOLVED | IN_EXECUTION --reply--> IN_EXECUTION, or ANSWERED after the last executor
    IN_EXECUTION | ANSWERED --close--> CLOSED

The author may withdraw a letter that is not yet signed (``WITHDRAWN`` is final).

:func:`decide` answers whether a person may apply an action now, with a readable reason;
:func:`check_transition` is its state-only half (the server answers 409 when it refuses and 403
when only :func:`decide` refuses); :func:`next_status` and :func:`next_recipient_status` are the
transition tables. Legal acts (signing, registering) need the specific role (signatory, registry
clerk); the technical operator role does not sign or register letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from tumar.policy.decision import Decision
from tumar.policy.roles import PERMISSIONS, Grant, Permission, Role, contains

MAX_COMMENT = 2000  # characters of an approval or return comment


class Status(StrEnum):
    """Letter-level status."""

    DRAFT = "draft"
    IN_APPROVAL = "in_approval"
    RETURNED = "returned"
    APPROVED = "approved"
    SIGNED = "signed"
    REGISTERED = "registered"  # registered outgoing and delivered to every recipient
    CLOSED = "closed"  # every recipient organisation closed its copy
    WITHDRAWN = "withdrawn"  # withdrawn by the author before signature


class RecipientStatus(StrEnum):
    """Status of the letter at one recipient organisation."""

    DELIVERED = "delivered"
    REGISTERED = "registered"  # incoming number given
    RESOLVED = "resolved"  # the head's resolution names executors
    IN_EXECUTION = "in_execution"  # some executors replied
    ANSWERED = "answered"  # every executor replied
    CLOSED = "closed"


class Action(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN = "return"
    SIGN = "sign"
    REGISTER_OUT = "register_out"
    REGISTER_IN = "register_in"
    RESOLVE = "resolve"
    REPLY = "reply"
    CLOSE = "close"
    WITHDRAW = "withdraw"


LETTER_ACTIONS = frozenset(
    {
        Action.EDIT,
        Action.SUBMIT,
        Action.APPROVE,
        Action.RETURN,
        Action.SIGN,
        Action.REGISTER_OUT,
        Action.WITHDRAW,
    }
)
RECIPIENT_ACTIONS = frozenset({Action.REGISTER_IN, Action.RESOLVE, Action.REPLY, Action.CLOSE})

ApprovalMode = Literal["ordered", "parallel"]


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """One recipient organisation's copy of the letter, as far as decisions need it."""

    org_path: str
    status: RecipientStatus = RecipientStatus.DELIVERED
    executors: tuple[str, ...] = ()
    controller: str = ""
    head: str = ""  # user id of the organisation's head ("" if the directory names none)
    incoming_number: str = ""
    replied_by: frozenset[str] = frozenset()  # executors who have replied


@dataclass(frozen=True, slots=True)
class LetterFacts:
    """What :func:`decide` needs to know about a letter (read by the server before deciding)."""

    status: Status
    approval_mode: ApprovalMode
    approvers: tuple[str, ...]
    approved_by: frozenset[str]
    author: str
    signatory: str  # "" when no signatory is named yet
    sender_org_path: str
    recipient: RecipientFacts | None = None  # for recipient actions
    outgoing_number: str = ""
    open_recipients: int = 1  # recipient organisations not yet closed (including this one)
    recipient_count: int = 1  # recipient organisations named on the letter


@dataclass(frozen=True, slots=True)
class Who:
    """The person asking: user id, the organisation of their person record ("" if none), and
    their administrative grants."""

    user_id: str
    org_path: str = ""
    grants: tuple[Grant, ...] = field(default=())


def org_code(path: str) -> str:
    """The code of an organisation from its materialised path (``/gov/mof/`` -> ``mof``)."""
    parts = [p for p in path.split("/") if p]
    return parts[-1] if parts else "(none)"


def holds(who: Who, permission: Permission, org_path: str) -> bool:
    """Whether ``who`` holds ``permission`` for ``org_path`` through a role other than the
    technical operator role (legal acts need the named role)."""
    return any(
        g.role is not Role.OPERATOR
        and permission in PERMISSIONS[g.role]
        and contains(g.path, org_path)
        for g in who.grants
    )


def pending_approvers(letter: LetterFacts) -> tuple[str, ...]:
    """Approvers who have not approved yet, in the letter's order."""
    return tuple(a for a in letter.approvers if a not in letter.approved_by)


def approvers_now(letter: LetterFacts) -> tuple[str, ...]:
    """Who may approve or return the letter now: the next one in order, or any pending one."""
    pending = pending_approvers(letter)
    if letter.approval_mode == "ordered":
        return pending[:1]
    return pending


# -- the transition tables -------------------------------------------------------------------

# Letter-level: from which statuses an action may start.
LETTER_FROM: dict[Action, frozenset[Status]] = {
    Action.EDIT: frozenset({Status.DRAFT, Status.RETURNED}),
    Action.SUBMIT: frozenset({Status.DRAFT, Status.RETURNED}),
    Action.APPROVE: frozenset({Status.IN_APPROVAL}),
    Action.RETURN: frozenset({Status.IN_APPROVAL}),
    Action.SIGN: frozenset({Status.APPROVED}),
    Action.REGISTER_OUT: frozenset({Status.SIGNED}),
    Action.WITHDRAW: frozenset(
        {Status.DRAFT, Status.IN_APPROVAL, Status.RETURNED, Status.APPROVED}
    ),
}

# Recipient-level: from which recipient statuses an action may start (the letter must be
# REGISTERED, i.e. delivered).
RECIPIENT_FROM: dict[Action, frozenset[RecipientStatus]] = {
    Action.REGISTER_IN: frozenset({RecipientStatus.DELIVERED}),
    Action.RESOLVE: frozenset({RecipientStatus.REGISTERED}),
    Action.REPLY: frozenset({RecipientStatus.RESOLVED, RecipientStatus.IN_EXECUTION}),
    Action.CLOSE: frozenset({RecipientStatus.IN_EXECUTION, RecipientStatus.ANSWERED}),
}

# Every legal letter-level edge (for documentation and the property test).
LETTER_EDGES: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.DRAFT, Status.DRAFT),
        (Status.RETURNED, Status.RETURNED),
        (Status.DRAFT, Status.IN_APPROVAL),
        (Status.DRAFT, Status.APPROVED),
        (Status.RETURNED, Status.IN_APPROVAL),
        (Status.RETURNED, Status.APPROVED),
        (Status.IN_APPROVAL, Status.IN_APPROVAL),
        (Status.IN_APPROVAL, Status.APPROVED),
        (Status.IN_APPROVAL, Status.RETURNED),
        (Status.APPROVED, Status.SIGNED),
        (Status.SIGNED, Status.REGISTERED),
        (Status.REGISTERED, Status.REGISTERED),
        (Status.REGISTERED, Status.CLOSED),
        (Status.DRAFT, Status.WITHDRAWN),
        (Status.IN_APPROVAL, Status.WITHDRAWN),
        (Status.RETURNED, Status.WITHDRAWN),
        (Status.APPROVED, Status.WITHDRAWN),
    }
)

RECIPIENT_EDGES: frozenset[tuple[RecipientStatus, RecipientStatus]] = frozenset(
    {
        (RecipientStatus.DELIVERED, RecipientStatus.REGISTERED),
        (RecipientStatus.REGISTERED, RecipientStatus.RESOLVED),
        (RecipientStatus.RESOLVED, RecipientStatus.IN_EXECUTION),
        (RecipientStatus.RESOLVED, RecipientStatus.ANSWERED),
        (RecipientStatus.IN_EXECUTION, RecipientStatus.IN_EXECUTION),
        (RecipientStatus.IN_EXECUTION, RecipientStatus.ANSWERED),
        (RecipientStatus.IN_EXECUTION, RecipientStatus.CLOSED),
        (RecipientStatus.ANSWERED, RecipientStatus.CLOSED),
    }
)


def _after_reply(rec: RecipientFacts, who_id: str | None) -> RecipientStatus:
    replied = rec.replied_by | ({who_id} if who_id else frozenset())
    if rec.executors and all(e in replied for e in rec.executors):
        return RecipientStatus.ANSWERED
    return RecipientStatus.IN_EXECUTION


def next_status(action: Action, letter: LetterFacts) -> Status:
    """The letter-level status after ``action`` (assumed allowed by :func:`decide`).

    For APPROVE the approving person is the next pending one (ordered) or any pending one
    (parallel): the letter becomes APPROVED when that was the last pending approval. Recipient
    actions leave the letter REGISTERED, except the CLOSE of the last open recipient."""
    match action:
        case Action.EDIT:
            return letter.status
        case Action.SUBMIT:
            return Status.IN_APPROVAL if letter.approvers else Status.APPROVED
        case Action.APPROVE:
            return Status.APPROVED if len(pending_approvers(letter)) <= 1 else Status.IN_APPROVAL
        case Action.RETURN:
            return Status.RETURNED
        case Action.SIGN:
            return Status.SIGNED
        case Action.REGISTER_OUT:
            return Status.REGISTERED
        case Action.WITHDRAW:
            return Status.WITHDRAWN
        case Action.CLOSE:
            return Status.CLOSED if letter.open_recipients <= 1 else letter.status
        case Action.REGISTER_IN | Action.RESOLVE | Action.REPLY:
            return letter.status


def next_recipient_status(
    action: Action, letter: LetterFacts, who_id: str | None = None
) -> RecipientStatus | None:
    """The recipient's status after ``action`` (``None`` for letter-level actions).

    For REPLY pass the replying executor's id: the copy is ANSWERED once every executor has
    replied, IN_EXECUTION before."""
    rec = letter.recipient
    if rec is None or action not in RECIPIENT_ACTIONS:
        return None
    match action:
        case Action.REGISTER_IN:
            return RecipientStatus.REGISTERED
        case Action.RESOLVE:
            return RecipientStatus.RESOLVED
        case Action.REPLY:
            return _after_reply(rec, who_id)
        case _:
            return RecipientStatus.CLOSED


# -- decisions ---------------------------------------------------------------------------------


def _already(action: Action, letter: LetterFacts) -> str:
    """A readable reason for an action that comes too late (the step is done)."""
    s = letter.status
    if s is Status.WITHDRAWN:
        return "The letter was withdrawn by its author."
    if s is Status.CLOSED:
        return "The letter is closed."
    match action:
        case Action.SIGN if s in (Status.SIGNED, Status.REGISTERED):
            return "The letter is already signed."
        case Action.REGISTER_OUT if s is Status.REGISTERED:
            return f"The letter is already registered as {letter.outgoing_number or '(number)'}."
        case Action.EDIT | Action.SUBMIT if s is Status.IN_APPROVAL:
            return "The letter is in approval; it can be edited only when returned."
        case Action.EDIT | Action.SUBMIT | Action.WITHDRAW:
            return f"The letter is {s.value.replace('_', ' ')}; it can no longer be changed."
        case Action.APPROVE | Action.RETURN if s is Status.APPROVED:
            return "The letter is already approved."
        case _:
            pass
    step = action.value.replace("_", " ")
    return f"The letter is {s.value.replace('_', ' ')}; {step} is not possible now."


def _recipient_already(action: Action, rec: RecipientFacts) -> str:
    s = rec.status
    code = org_code(rec.org_path)
    if s is RecipientStatus.CLOSED:
        return f"The letter is closed at {code}."
    if action is Action.REGISTER_IN:
        return f"The letter is already registered at {code} as {rec.incoming_number or '(number)'}."
    if action is Action.RESOLVE:
        if s is RecipientStatus.DELIVERED:
            return f"The letter must first be registered at {code}."
        return f"A resolution on the letter has already been given at {code}."
    if action is Action.REPLY:
        if s in (RecipientStatus.DELIVERED, RecipientStatus.REGISTERED):
            return f"There is no resolution on the letter at {code} yet."
        return f"Every executor at {code} has already replied."
    # CLOSE
    if s is RecipientStatus.RESOLVED:
        return f"No executor at {code} has replied yet."
    return f"The letter at {code} is {s.value.replace('_', ' ')}; it cannot be closed yet."


def check_transition(action: Action, letter: LetterFacts) -> Decision:
    """Whether ``action`` may happen in the letter's current state, whoever asks. A refusal
    here means out of order or twice (409), not a question of authority."""
    if action in LETTER_FROM:
        if letter.status not in LETTER_FROM[action]:
            return Decision.deny(_already(action, letter))
        if action is Action.SUBMIT and letter.recipient_count < 1:
            return Decision.deny("Name at least one recipient organisation before submitting.")
        if action is Action.SUBMIT and not letter.signatory:
            return Decision.deny("Name the signatory before submitting the letter.")
        if action in (Action.APPROVE, Action.RETURN) and not approvers_now(letter):
            return Decision.deny("The letter has no approval pending.")
        return Decision.allow()
    if letter.status is Status.CLOSED:
        return Decision.deny("The letter is closed.")
    if letter.status is not Status.REGISTERED:
        return Decision.deny("The letter has not been registered and delivered yet.")
    rec = letter.recipient
    if rec is None:
        return Decision.deny("Name the recipient organisation.")
    if rec.status not in RECIPIENT_FROM[action]:
        return Decision.deny(_recipient_already(action, rec))
    return Decision.allow()


def check_person(action: Action, letter: LetterFacts, who: Who) -> Decision:
    """Whether ``who`` is the person who may apply ``action`` (state not considered)."""
    sender = org_code(letter.sender_org_path)
    match action:
        case Action.EDIT | Action.SUBMIT | Action.WITHDRAW:
            if who.user_id != letter.author:
                return Decision.deny(f"Only the author of the letter may {action.value} it.")
        case Action.APPROVE | Action.RETURN:
            now = approvers_now(letter)
            if who.user_id not in now:
                if who.user_id in letter.approved_by:
                    return Decision.deny("You have already approved this letter.")
                if who.user_id in letter.approvers and now:
                    return Decision.deny(f"It is {now[0]}'s turn to approve the letter.")
                return Decision.deny("You are not an approver of this letter.")
        case Action.SIGN:
            if not holds(who, Permission.LETTERS_SIGN, letter.sender_org_path):
                return Decision.deny(f"Only a signatory of {sender} may sign this letter.")
            if who.user_id != letter.signatory:
                return Decision.deny(
                    f"The letter names {letter.signatory or 'no one'} as its signatory."
                )
        case Action.REGISTER_OUT:
            if not holds(who, Permission.LETTERS_REGISTER, letter.sender_org_path):
                return Decision.deny(
                    f"Only the registry clerk of {sender} may register this letter."
                )
        case _:
            return _check_recipient_person(action, letter, who)
    return Decision.allow()


def _check_recipient_person(action: Action, letter: LetterFacts, who: Who) -> Decision:
    rec = letter.recipient
    if rec is None:
        return Decision.deny("Name the recipient organisation.")
    code = org_code(rec.org_path)
    match action:
        case Action.REGISTER_IN:
            if not holds(who, Permission.LETTERS_REGISTER, rec.org_path):
                return Decision.deny(f"Only the registry clerk of {code} may register this letter.")
        case Action.RESOLVE:
            if not rec.head:
                return Decision.deny(f"The directory names no head of {code}.")
            if who.user_id != rec.head:
                return Decision.deny(f"Only the head of {code} may give a resolution.")
        case Action.REPLY:
            if who.user_id not in rec.executors:
                return Decision.deny(
                    f"Only the executors named in the resolution at {code} may reply."
                )
            if who.user_id in rec.replied_by:
                return Decision.deny("You have already replied.")
        case _:  # CLOSE
            if who.user_id not in {rec.controller, rec.head} - {""}:
                return Decision.deny(
                    f"Only the controller or the head of {code} may close the letter."
                )
    return Decision.allow()


def decide(action: Action, letter: LetterFacts, who: Who) -> Decision:
    """Whether ``who`` may apply ``action`` to ``letter`` now, with a readable reason."""
    state = check_transition(action, letter)
    if not state:
        return state
    return check_person(action, letter, who)


def allowed_actions(letter: LetterFacts, who: Who) -> tuple[Action, ...]:
    """The actions ``who`` may apply now (recipient actions for ``letter.recipient`` only)."""
    return tuple(a for a in Action if decide(a, letter, who))


def check_comment(action: Action, comment: str) -> Decision:
    """A return needs a comment saying why; comments are bounded."""
    text = comment.strip()
    if action is Action.RETURN and not text:
        return Decision.deny("Say why the letter is returned (a comment is required).")
    if len(comment) > MAX_COMMENT:
        return Decision.deny(f"A comment may have at most {MAX_COMMENT} characters.")
    return Decision.allow()
