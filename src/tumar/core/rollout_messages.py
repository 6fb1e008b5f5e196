"""The text of rollout reminders (Kazakh, Russian, English), as ``m.notice`` contents. Pure.

Each content also carries ``tumar.rollout``: the kind, the deadline and the people concerned,
for clients and tools that want to act on a reminder rather than read it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from tumar.store.rollout import StaffRow

MAX_LISTED = 100  # people named in one message to a head; the rest are counted


def _staff_line(person: StaffRow) -> str:
    position = f", {person.position}" if person.position else ""
    return f"• {person.personnel_number} {person.name_cyr} ({person.org_code}{position})"


def head_digest(kind: str, deadline: datetime.date, staff: Sequence[StaffRow]) -> dict[str, Any]:
    """To a unit head: their staff who have not registered, before or after ``register_by``."""
    n = len(staff)
    date = deadline.isoformat()
    if kind.endswith(".overdue"):
        lines = [
            f"tumar-ға тіркелу мерзімі ({date}) өтіп кетті: бөлімшеңіздің {n} қызметкері әлі "
            "тіркелмеген.",
            f"Срок регистрации в tumar ({date}) прошёл: {n} сотрудник(ов) вашего подразделения "
            "ещё не зарегистрировались.",
            f"The deadline to register with tumar ({date}) has passed: {n} of your staff have "
            "not registered yet.",
        ]
    else:
        lines = [
            f"Еске салу: tumar-ға тіркелу мерзімі — {date}. Бөлімшеңіздің {n} қызметкері әлі "
            "тіркелмеген.",
            f"Напоминание: срок регистрации в tumar — {date}. {n} сотрудник(ов) вашего "
            "подразделения ещё не зарегистрировались.",
            f"Reminder: everyone must register with tumar by {date}. {n} of your staff have "
            "not registered yet.",
        ]
    listed = [_staff_line(p) for p in staff[:MAX_LISTED]]
    if n > MAX_LISTED:
        listed.append(f"… +{n - MAX_LISTED}")
    return {
        "msgtype": "m.notice",
        "body": "\n".join([*lines, "", *listed]),
        "tumar.rollout": {
            "kind": kind,
            "deadline": date,
            "count": n,
            "people": [p.personnel_number for p in staff[:MAX_LISTED]],
        },
    }


def personal_reminder(kind: str, deadline: datetime.date, active_days: int) -> dict[str, Any]:
    """To a registered official who has not used tumar lately, before or after
    ``transition_by``."""
    date = deadline.isoformat()
    if kind.endswith(".overdue"):
        lines = [
            f"tumar-ға толық көшу мерзімі ({date}) өтіп кетті, ал сіз соңғы {active_days} күнде "
            "tumar-ды пайдаланбадыңыз.",
            f"Срок полного перехода на tumar ({date}) прошёл, а вы не пользовались tumar "
            f"последние {active_days} дней.",
            f"The deadline to move to tumar ({date}) has passed, and you have not used tumar in "
            f"the last {active_days} days.",
        ]
    else:
        lines = [
            f"Еске салу: tumar-ға толық көшу мерзімі — {date}. Сіз соңғы {active_days} күнде "
            "tumar-ды пайдаланбадыңыз.",
            f"Напоминание: полный переход на tumar — до {date}. Вы не пользовались tumar "
            f"последние {active_days} дней.",
            f"Reminder: the move to tumar must be complete by {date}. You have not used tumar "
            f"in the last {active_days} days.",
        ]
    return {
        "msgtype": "m.notice",
        "body": "\n".join(lines),
        "tumar.rollout": {"kind": kind, "deadline": date},
    }
