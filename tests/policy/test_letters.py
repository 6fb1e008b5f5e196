"""The life cycle of official letters: every transition by every person, out of order, twice,
and a property over random sequences of actions."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.letters import (
    LETTER_EDGES,
    LETTER_FROM,
    RECIPIENT_EDGES,
    RECIPIENT_FROM,
    Action,
    LetterFacts,
    RecipientFacts,
    RecipientStatus,
    Status,
    Who,
    allowed_actions,
    check_comment,
    check_transition,
    decide,
    next_recipient_status,
    next_status,
)
from tumar.policy.roles import Grant, Role

MOF = "/gov/mof/"
MOJ = "/gov/moj/"
EDU = "/gov/edu/"


def grant(role: Role, path: str) -> Grant:
    code = path.strip("/").split("/")[-1] if path else ""
    return Grant(role, code, path)


PEOPLE: dict[str, Who] = {
    "author": Who("@author:t", MOF),
    "ap1": Who("@ap1:t", MOF),
    "ap2": Who("@ap2:t", MOF),
    "sig": Who("@sig:t", MOF, (grant(Role.SIGNATORY, MOF),)),
    "sig_unnamed": Who("@sig2:t", MOF, (grant(Role.SIGNATORY, MOF),)),
    "sig_moj": Who("@sigj:t", MOJ, (grant(Role.SIGNATORY, MOJ),)),
    "clerk_mof": Who("@clerk:t", MOF, (grant(Role.REGISTRY_CLERK, MOF),)),
    "clerk_gov": Who("@clerkgov:t", "/gov/", (grant(Role.REGISTRY_CLERK, "/gov/"),)),
    "clerk_moj": Who("@clerkj:t", MOJ, (grant(Role.REGISTRY_CLERK, MOJ),)),
    "clerk_edu": Who("@clerke:t", EDU, (grant(Role.REGISTRY_CLERK, EDU),)),
    "head_moj": Who("@headj:t", MOJ),
    "exec1": Who("@exec1:t", MOJ),
    "exec2": Who("@exec2:t", MOJ),
    "controller": Who("@ctl:t", MOJ),
    "operator": Who("@root:t", "", (Grant(Role.OPERATOR, "", ""),)),
    "org_admin": Who("@adm:t", MOF, (grant(Role.ORG_ADMIN, MOF),)),
    "stranger": Who("@x:t", EDU),
}


def letter(status: Status = Status.DRAFT, **changes: object) -> LetterFacts:
    base = LetterFacts(
        status=status,
        approval_mode="ordered",
        approvers=("@ap1:t", "@ap2:t"),
        approved_by=frozenset(),
        author="@author:t",
        signatory="@sig:t",
        sender_org_path=MOF,
        recipient=None,
        outgoing_number="MOF-00012/26" if status in (Status.REGISTERED, Status.CLOSED) else "",
        open_recipients=1,
        recipient_count=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def at_moj(status: RecipientStatus, **changes: object) -> LetterFacts:
    rec = RecipientFacts(
        org_path=MOJ,
        status=status,
        executors=("@exec1:t", "@exec2:t") if status is not RecipientStatus.DELIVERED else (),
        controller="@ctl:t",
        head="@headj:t",
        incoming_number="" if status is RecipientStatus.DELIVERED else "MOJ-IN-7/26",
    )
    return letter(Status.REGISTERED, recipient=replace(rec, **changes))  # type: ignore[arg-type]


# (case, action, facts, people allowed): everyone else in PEOPLE is refused.
CASES: list[tuple[str, Action, LetterFacts, set[str]]] = [
    ("edit draft", Action.EDIT, letter(), {"author"}),
    ("edit returned", Action.EDIT, letter(Status.RETURNED), {"author"}),
    ("submit draft", Action.SUBMIT, letter(), {"author"}),
    ("resubmit returned", Action.SUBMIT, letter(Status.RETURNED), {"author"}),
    ("withdraw draft", Action.WITHDRAW, letter(), {"author"}),
    ("withdraw approved", Action.WITHDRAW, letter(Status.APPROVED), {"author"}),
    ("approve ordered, first", Action.APPROVE, letter(Status.IN_APPROVAL), {"ap1"}),
    (
        "approve ordered, second",
        Action.APPROVE,
        letter(Status.IN_APPROVAL, approved_by=frozenset({"@ap1:t"})),
        {"ap2"},
    ),
    (
        "approve parallel",
        Action.APPROVE,
        letter(Status.IN_APPROVAL, approval_mode="parallel"),
        {"ap1", "ap2"},
    ),
    (
        "approve parallel, one done",
        Action.APPROVE,
        letter(Status.IN_APPROVAL, approval_mode="parallel", approved_by=frozenset({"@ap2:t"})),
        {"ap1"},
    ),
    ("return ordered", Action.RETURN, letter(Status.IN_APPROVAL), {"ap1"}),
    (
        "return parallel",
        Action.RETURN,
        letter(Status.IN_APPROVAL, approval_mode="parallel"),
        {"ap1", "ap2"},
    ),
    ("sign", Action.SIGN, letter(Status.APPROVED), {"sig"}),
    ("sign, named without grant", Action.SIGN, letter(Status.APPROVED, signatory="@ap1:t"), set()),
    (
        "sign, named signatory of another org",
        Action.SIGN,
        letter(Status.APPROVED, signatory="@sigj:t"),
        set(),
    ),
    ("register outgoing", Action.REGISTER_OUT, letter(Status.SIGNED), {"clerk_mof", "clerk_gov"}),
    (
        "register incoming",
        Action.REGISTER_IN,
        at_moj(RecipientStatus.DELIVERED),
        {"clerk_moj", "clerk_gov"},
    ),
    ("resolve", Action.RESOLVE, at_moj(RecipientStatus.REGISTERED), {"head_moj"}),
    ("resolve, no head", Action.RESOLVE, at_moj(RecipientStatus.REGISTERED, head=""), set()),
    ("reply", Action.REPLY, at_moj(RecipientStatus.RESOLVED), {"exec1", "exec2"}),
    (
        "reply, one replied",
        Action.REPLY,
        at_moj(RecipientStatus.IN_EXECUTION, replied_by=frozenset({"@exec1:t"})),
        {"exec2"},
    ),
    (
        "close in execution",
        Action.CLOSE,
        at_moj(RecipientStatus.IN_EXECUTION, replied_by=frozenset({"@exec1:t"})),
        {"controller", "head_moj"},
    ),
    ("close answered", Action.CLOSE, at_moj(RecipientStatus.ANSWERED), {"controller", "head_moj"}),
    (
        "close, no controller",
        Action.CLOSE,
        at_moj(RecipientStatus.ANSWERED, controller=""),
        {"head_moj"},
    ),
]


@pytest.mark.parametrize(("case", "action", "facts", "allowed"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_every_transition_by_every_person(
    case: str, action: Action, facts: LetterFacts, allowed: set[str], person: str
) -> None:
    assert check_transition(action, facts), case
    decision = decide(action, facts, PEOPLE[person])
    assert decision.allowed is (person in allowed), (case, person, decision.reason)
    if not decision:
        assert decision.reason.endswith(".")
    assert (action in allowed_actions(facts, PEOPLE[person])) is (person in allowed)


LETTER_CASES = [(a, s) for a in LETTER_FROM for s in Status]


@pytest.mark.parametrize(("action", "status"), LETTER_CASES)
def test_letter_actions_only_from_their_states(action: Action, status: Status) -> None:
    facts = letter(status)
    if action in (Action.APPROVE, Action.RETURN):
        facts = replace(facts, approved_by=frozenset())
    decision = check_transition(action, facts)
    assert decision.allowed is (status in LETTER_FROM[action]), decision.reason
    if not decision:
        # Whoever asks, including the people who could act in the right state, is refused.
        for who in PEOPLE.values():
            assert decide(action, facts, who).reason == decision.reason


RECIPIENT_CASES = [(a, s) for a in RECIPIENT_FROM for s in RecipientStatus]


@pytest.mark.parametrize(("action", "status"), RECIPIENT_CASES)
def test_recipient_actions_only_from_their_states(action: Action, status: RecipientStatus) -> None:
    facts = at_moj(status)
    assert check_transition(action, facts).allowed is (status in RECIPIENT_FROM[action])


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.REGISTERED])
@pytest.mark.parametrize("action", sorted(RECIPIENT_FROM))
def test_recipient_actions_need_a_registered_letter(status: Status, action: Action) -> None:
    facts = replace(at_moj(RecipientStatus.DELIVERED), status=status)
    for s in RECIPIENT_FROM[action]:
        facts = replace(facts, recipient=replace(facts.recipient, status=s))  # type: ignore[type-var]
        assert not check_transition(action, facts)


def test_readable_reasons() -> None:
    clerk_moj = PEOPLE["clerk_moj"]
    assert (
        decide(Action.REGISTER_OUT, letter(Status.SIGNED), clerk_moj).reason
        == "Only the registry clerk of mof may register this letter."
    )
    assert (
        decide(Action.REGISTER_OUT, letter(Status.REGISTERED), PEOPLE["clerk_mof"]).reason
        == "The letter is already registered as MOF-00012/26."
    )
    assert "already registered at moj as MOJ-IN-7/26" in (
        decide(Action.REGISTER_IN, at_moj(RecipientStatus.REGISTERED), clerk_moj).reason
    )
    assert "already signed" in decide(Action.SIGN, letter(Status.SIGNED), PEOPLE["sig"]).reason
    second = letter(Status.IN_APPROVAL)
    assert "@ap1:t's turn" in decide(Action.APPROVE, second, PEOPLE["ap2"]).reason
    done = letter(Status.IN_APPROVAL, approved_by=frozenset({"@ap1:t"}))
    assert "already approved" in decide(Action.APPROVE, done, PEOPLE["ap1"]).reason
    assert (
        "Only a signatory of mof"
        in decide(Action.SIGN, letter(Status.APPROVED), PEOPLE["operator"]).reason
    )
    named = letter(Status.APPROVED)
    assert "names @sig:t" in decide(Action.SIGN, named, PEOPLE["sig_unnamed"]).reason
    replied = at_moj(RecipientStatus.IN_EXECUTION, replied_by=frozenset({"@exec1:t"}))
    assert decide(Action.REPLY, replied, PEOPLE["exec1"]).reason == "You have already replied."
    assert (
        "no head of moj"
        in decide(
            Action.RESOLVE, at_moj(RecipientStatus.REGISTERED, head=""), PEOPLE["head_moj"]
        ).reason
    )
    assert "withdrawn" in check_transition(Action.SUBMIT, letter(Status.WITHDRAWN)).reason
    assert "in approval" in check_transition(Action.EDIT, letter(Status.IN_APPROVAL)).reason


def test_submission_needs_a_signatory_and_recipients() -> None:
    assert "signatory" in check_transition(Action.SUBMIT, letter(signatory="")).reason
    assert "recipient" in check_transition(Action.SUBMIT, letter(recipient_count=0)).reason


def test_next_status_table() -> None:
    assert next_status(Action.SUBMIT, letter()) is Status.IN_APPROVAL
    assert next_status(Action.SUBMIT, letter(approvers=())) is Status.APPROVED
    assert next_status(Action.APPROVE, letter(Status.IN_APPROVAL)) is Status.IN_APPROVAL
    last = letter(Status.IN_APPROVAL, approved_by=frozenset({"@ap1:t"}))
    assert next_status(Action.APPROVE, last) is Status.APPROVED
    assert next_status(Action.RETURN, last) is Status.RETURNED
    assert next_status(Action.EDIT, letter(Status.RETURNED)) is Status.RETURNED
    assert next_status(Action.SIGN, letter(Status.APPROVED)) is Status.SIGNED
    assert next_status(Action.REGISTER_OUT, letter(Status.SIGNED)) is Status.REGISTERED
    assert next_status(Action.WITHDRAW, letter()) is Status.WITHDRAWN
    answered = at_moj(RecipientStatus.ANSWERED)
    assert next_status(Action.CLOSE, answered) is Status.CLOSED
    assert next_status(Action.CLOSE, replace(answered, open_recipients=2)) is Status.REGISTERED
    assert next_status(Action.RESOLVE, answered) is Status.REGISTERED


def test_next_recipient_status_table() -> None:
    assert next_recipient_status(Action.SIGN, letter(Status.APPROVED)) is None
    d = at_moj(RecipientStatus.DELIVERED)
    assert next_recipient_status(Action.REGISTER_IN, d) is RecipientStatus.REGISTERED
    r = at_moj(RecipientStatus.REGISTERED)
    assert next_recipient_status(Action.RESOLVE, r) is RecipientStatus.RESOLVED
    res = at_moj(RecipientStatus.RESOLVED)
    assert next_recipient_status(Action.REPLY, res, "@exec1:t") is RecipientStatus.IN_EXECUTION
    one = at_moj(RecipientStatus.IN_EXECUTION, replied_by=frozenset({"@exec1:t"}))
    assert next_recipient_status(Action.REPLY, one, "@exec2:t") is RecipientStatus.ANSWERED
    assert next_recipient_status(Action.CLOSE, one) is RecipientStatus.CLOSED


def test_comments() -> None:
    assert not check_comment(Action.RETURN, "  ")
    assert check_comment(Action.RETURN, "Fix the date")
    assert check_comment(Action.APPROVE, "")
    assert not check_comment(Action.APPROVE, "x" * 2001)


# -- property: random sequences never leave the life-cycle order -------------------------------


@dataclass
class Model:
    """A letter with two recipient organisations, as the server would keep it."""

    facts: LetterFacts
    recipients: dict[str, RecipientFacts]
    approval_log: list[str]
    signed_by: str = ""
    number: str = ""

    def for_recipient(self, path: str) -> LetterFacts:
        open_count = sum(r.status is not RecipientStatus.CLOSED for r in self.recipients.values())
        return replace(self.facts, recipient=self.recipients[path], open_recipients=open_count)


def apply(model: Model, action: Action, path: str, who: Who) -> bool:
    facts = model.for_recipient(path) if model.recipients else model.facts
    if action in RECIPIENT_FROM and not model.recipients:
        facts = replace(facts, recipient=RecipientFacts(MOJ))
    if not decide(action, facts, who):
        return False
    old = facts.status
    new = next_status(action, facts)
    assert (old, new) in LETTER_EDGES, (action, old, new)
    if action in RECIPIENT_FROM:
        rec = model.recipients[path]
        new_rec = next_recipient_status(action, facts, who.user_id)
        assert new_rec is not None and (rec.status, new_rec) in RECIPIENT_EDGES
        if action is Action.RESOLVE:
            rec = replace(rec, executors=("@exec1:t", "@exec2:t"), controller="@ctl:t")
        if action is Action.REPLY:
            rec = replace(rec, replied_by=rec.replied_by | {who.user_id})
        model.recipients[path] = replace(rec, status=new_rec)
    if action is Action.SUBMIT:
        model.facts = replace(model.facts, approved_by=frozenset())
        model.approval_log = []
    if action is Action.APPROVE:
        model.facts = replace(model.facts, approved_by=model.facts.approved_by | {who.user_id})
        model.approval_log.append(who.user_id)
    if action is Action.SIGN:
        model.signed_by = who.user_id
    if action is Action.REGISTER_OUT:
        model.number = "MOF-1/26"
        model.facts = replace(model.facts, outgoing_number=model.number)
        heads = {MOJ: "@headj:t", EDU: "@heade:t"}
        model.recipients = {p: RecipientFacts(p, head=heads[p]) for p in (MOJ, EDU)}
    model.facts = replace(model.facts, status=new)
    return True


ALL_PEOPLE = {**PEOPLE, "head_edu": Who("@heade:t", EDU)}


def _allowed_moves(model: Model) -> list[tuple[Action, str, str]]:
    moves = []
    for person, who in sorted(ALL_PEOPLE.items()):
        for path in (MOJ, EDU):
            facts = model.for_recipient(path) if model.recipients else model.facts
            for action in allowed_actions(facts, who):
                moves.append((action, path, person))
    return moves


@settings(max_examples=100, deadline=None)
@given(mode=st.sampled_from(["ordered", "parallel"]), data=st.data())
def test_random_sequences_keep_the_life_cycle_order(mode: str, data: st.DataObject) -> None:
    facts = replace(letter(), approval_mode=mode)  # type: ignore[arg-type]
    model = Model(facts, {}, [])
    seen: list[Status] = [Status.DRAFT]
    for _ in range(data.draw(st.integers(0, 40), label="length")):
        # A quarter of the steps are any action by anyone, the rest moves someone may make now.
        moves = _allowed_moves(model)
        legal = data.draw(st.integers(0, 3), label="legal") > 0
        if moves and legal:
            action, path, person = data.draw(st.sampled_from(moves), label="move")
        else:
            action = data.draw(st.sampled_from(list(Action)), label="action")
            path = data.draw(st.sampled_from([MOJ, EDU]), label="org")
            person = data.draw(st.sampled_from(sorted(ALL_PEOPLE)), label="person")
        before = model.facts.status
        if before in (Status.WITHDRAWN, Status.CLOSED):
            assert not moves
            assert not apply(model, action, path, ALL_PEOPLE[person])
            continue
        if apply(model, action, path, ALL_PEOPLE[person]):
            seen.append(model.facts.status)
        status = model.facts.status
        if status in (Status.APPROVED, Status.SIGNED, Status.REGISTERED, Status.CLOSED):
            assert set(model.approval_log) == {"@ap1:t", "@ap2:t"}
            if mode == "ordered":
                assert model.approval_log == ["@ap1:t", "@ap2:t"]
        if status in (Status.SIGNED, Status.REGISTERED, Status.CLOSED):
            assert model.signed_by == "@sig:t"
        if status in (Status.REGISTERED, Status.CLOSED):
            assert model.number and Status.SIGNED in seen
        else:
            assert not model.recipients
        if status is Status.CLOSED:
            assert all(r.status is RecipientStatus.CLOSED for r in model.recipients.values())
        for rec in model.recipients.values():
            if rec.status is RecipientStatus.ANSWERED:
                assert rec.replied_by == {"@exec1:t", "@exec2:t"}
            if rec.status is RecipientStatus.CLOSED:
                assert rec.replied_by
    # Once past signature the letter never goes back.
    if Status.SIGNED in seen:
        after = seen[seen.index(Status.SIGNED) :]
        assert set(after) <= {Status.SIGNED, Status.REGISTERED, Status.CLOSED}


@pytest.mark.parametrize("mode", ["ordered", "parallel"])
@pytest.mark.parametrize("pick", [0, -1])
def test_legal_moves_alone_lead_to_closed(mode: str, pick: int) -> None:
    """Taking any allowed move but withdrawal, return and edit, the letter always ends closed."""
    model = Model(replace(letter(), approval_mode=mode), {}, [])  # type: ignore[arg-type]
    for _ in range(100):
        moves = [
            m
            for m in _allowed_moves(model)
            if m[0] not in (Action.WITHDRAW, Action.RETURN, Action.EDIT)
        ]
        if not moves:
            break
        action, path, person = moves[pick]
        assert apply(model, action, path, ALL_PEOPLE[person])
    assert model.facts.status is Status.CLOSED
    assert all(r.status is RecipientStatus.CLOSED for r in model.recipients.values())
