"""Which rollout reminders to send, to whom, with what text: planned from what the reminder run
read (no I/O here; ``RolloutService.do_remind`` reads and delivers).

- Unregistered officials whose ``register_by`` reminder is due are listed to their unit head
  (the nearest organisation up the tree whose head can receive a notice), one message per
  head, kind and deadline. People with no such head are only counted.
- Registered officials who have not used tumar in the last days and whose ``transition_by``
  reminder is due get a personal message.
- A (person, kind, deadline) already in ``sent`` is left out, so each goes out once.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tumar.core.rollout_messages import head_digest, personal_reminder
from tumar.policy import rollout as rules
from tumar.policy.rollout import Deadlines
from tumar.store.rollout import StaffRow

Record = tuple[str, str, str]  # (person_id, kind, deadline)


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send, and the reminders it stands for."""

    recipient: str
    content: dict[str, object]
    records: list[Record]
    org_code: str  # for the audit row: the head's organisation, or the person's

    @property
    def kind(self) -> str:
        return self.records[0][1]

    @property
    def to_head(self) -> bool:
        return self.kind.startswith("register.")


@dataclass(frozen=True, slots=True)
class ReminderReport:
    as_of: datetime.date
    dry_run: bool
    head_notices: int = 0  # messages to unit heads
    staff_listed: int = 0  # unregistered officials named in them
    personal_notices: int = 0  # messages to registered officials who are not active
    without_head: int = 0  # unregistered officials with no head to tell (nothing recorded)
    skipped: int = 0  # already sent by a concurrent run, or the recipient is gone
    recipients: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, as_of: datetime.date, dry_run: bool, notices: Sequence[Notice], without_head: int
    ) -> ReminderReport:
        return cls(
            as_of=as_of,
            dry_run=dry_run,
            head_notices=sum(1 for n in notices if n.to_head),
            staff_listed=sum(len(n.records) for n in notices if n.to_head),
            personal_notices=sum(1 for n in notices if not n.to_head),
            without_head=without_head,
            recipients=sorted({n.recipient for n in notices}),
        )


def plan_reminders(
    deadlines: Mapping[str, Deadlines],
    parents: Mapping[str, str | None],
    due_register: Mapping[str, str],
    due_transition: Mapping[str, str],
    unregistered: Sequence[StaffRow],
    inactive: Sequence[StaffRow],
    sent: set[Record],
    heads: Mapping[str, str],
    *,
    active_days: int,
) -> tuple[list[Notice], int]:
    """The notices to send, and how many unregistered officials have nobody to tell.

    ``due_register`` / ``due_transition`` map an organisation to the reminder kind due there
    today; ``unregistered`` / ``inactive`` are the people of those organisations; ``heads``
    maps organisations to the account of a head who can receive a notice.
    """
    notices: list[Notice] = []
    digests: dict[tuple[str, str, str], list[StaffRow]] = {}
    digest_org: dict[tuple[str, str, str], str] = {}
    without_head = 0
    for person in unregistered:
        kind = due_register[person.org_code]
        deadline = deadlines[person.org_code].register_by
        assert deadline is not None
        if (person.person_id, kind, deadline.isoformat()) in sent:
            continue
        found = rules.nearest_head(person.org_code, parents, heads)
        if found is None:
            without_head += 1
            continue
        head_org, head = found
        key = (head, kind, deadline.isoformat())
        digests.setdefault(key, []).append(person)
        digest_org.setdefault(key, head_org)
    for (head, kind, date), staff in digests.items():
        notices.append(
            Notice(
                recipient=head,
                content=head_digest(kind, datetime.date.fromisoformat(date), staff),
                records=[(p.person_id, kind, date) for p in staff],
                org_code=digest_org[(head, kind, date)],
            )
        )
    for person in inactive:
        kind = due_transition[person.org_code]
        deadline = deadlines[person.org_code].transition_by
        assert deadline is not None and person.user_id is not None
        if (person.person_id, kind, deadline.isoformat()) in sent:
            continue
        notices.append(
            Notice(
                recipient=person.user_id,
                content=personal_reminder(kind, deadline, active_days),
                records=[(person.person_id, kind, deadline.isoformat())],
                org_code=person.org_code,
            )
        )
    return notices, without_head
