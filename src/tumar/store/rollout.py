"""Rollout figures: a few aggregate queries grouped by organisation, the overdue people, the
registrations per day, and the reminders already sent.

Every query covers the subtrees ``roots`` (materialised paths; ``""`` means everything) and
counts *active officials* only: departed staff and external partners are not part of the
rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.directory import subtree
from tumar.store.schema import (
    activation_codes,
    devices,
    organisations,
    people,
    rollout_reminders,
    users,
)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class OrgCounts:
    """Counts of one organisation's own active officials (not its subtree)."""

    people: int = 0
    registered: int = 0
    codes_issued: int = 0
    active: int = 0


@dataclass(frozen=True, slots=True)
class StaffRow:
    """An active official, as the overdue list and the reminders need them."""

    person_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    position: str | None
    user_id: str | None


def _in_roots(roots: Sequence[str]) -> Any | None:
    """The condition "the person's organisation lies in one of ``roots``", or None for all."""
    if "" in roots:
        return None
    return or_(*(subtree(p) for p in roots))


def _officials(*extra: Any) -> list[Any]:
    return [people.c.status == "active", people.c.kind == "official", *extra]


def _scoped(query: Any, roots: Sequence[str]) -> Any:
    """Restrict a query over ``people`` to ``roots`` (joining organisations only if needed)."""
    cond = _in_roots(roots)
    if cond is None:
        return query
    return query.join(organisations, organisations.c.code == people.c.org_code).where(cond)


async def org_counts(
    conn: AsyncConnection, roots: Sequence[str], *, now_ms: int, active_since_ms: int
) -> dict[str, OrgCounts]:
    """Per organisation code: active officials, how many have an account, a live or used
    activation code, and a device seen since ``active_since_ms``.

    One pass over ``people`` grouped by organisation; the code and device conditions are
    uncorrelated ``IN`` subqueries, which both databases evaluate once into a hash or a
    temporary index and then probe per person (no per-person query, no DISTINCT sort).
    """
    if not roots:
        return {}
    live_codes = select(activation_codes.c.person_id).where(
        or_(
            activation_codes.c.used_ts.is_not(None),
            and_(activation_codes.c.revoked_ts.is_(None), activation_codes.c.expiry_ts > now_ms),
        )
    )
    seen = select(devices.c.user_id).where(devices.c.last_seen_ts >= active_since_ms)

    def flag(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    query = select(
        people.c.org_code,
        func.count().label("people"),
        func.count(people.c.user_id).label("registered"),
        flag(people.c.person_id.in_(live_codes)).label("codes_issued"),
        flag(people.c.user_id.in_(seen)).label("active"),
    ).select_from(people)
    query = _scoped(query, roots).where(*_officials()).group_by(people.c.org_code)
    return {
        r.org_code: OrgCounts(int(r.people), int(r.registered), int(r.codes_issued), int(r.active))
        for r in await conn.execute(query)
    }


def _staff_query() -> Any:
    return select(
        people.c.person_id,
        people.c.personnel_number,
        people.c.name_cyr,
        people.c.name_lat,
        people.c.org_code,
        people.c.position,
        people.c.user_id,
    ).select_from(people)


def _staff(row: Any) -> StaffRow:
    return StaffRow(**row._mapping)


async def unregistered_in(
    conn: AsyncConnection,
    org_codes: Sequence[str],
    *,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[StaffRow], int]:
    """Active officials without an account in the organisations ``org_codes``, ordered by
    organisation and personnel number, and their total count."""
    if not org_codes:
        return [], 0
    where = _officials(people.c.user_id.is_(None), people.c.org_code.in_(org_codes))
    total = int(
        (await conn.execute(select(func.count()).select_from(people).where(*where))).scalar_one()
    )
    query = _staff_query().where(*where).order_by(people.c.org_code, people.c.personnel_number)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [_staff(r) for r in await conn.execute(query)], total


async def inactive_registered_in(
    conn: AsyncConnection, org_codes: Sequence[str], *, active_since_ms: int
) -> list[StaffRow]:
    """Active officials of ``org_codes`` whose account is active but who have no device seen
    since ``active_since_ms``."""
    if not org_codes:
        return []
    seen = exists().where(
        devices.c.user_id == people.c.user_id, devices.c.last_seen_ts >= active_since_ms
    )
    query = (
        _staff_query()
        .join(users, users.c.user_id == people.c.user_id)
        .where(
            *_officials(people.c.org_code.in_(org_codes)),
            users.c.deactivated.is_(False),
            ~seen,
        )
        .order_by(people.c.org_code, people.c.personnel_number)
    )
    return [_staff(r) for r in await conn.execute(query)]


async def registrations_by_day(
    conn: AsyncConnection, roots: Sequence[str], *, since_ms: int, offset_ms: int
) -> tuple[dict[int, int], int]:
    """Accounts of active officials created since ``since_ms`` counted per day (the day
    number since the epoch of ``created_ts + offset_ms``, i.e. in the local time zone), and
    how many were created before ``since_ms``. One grouped query."""
    if not roots:
        return {}, 0
    day = case(
        (users.c.created_ts < since_ms, -1),
        else_=(users.c.created_ts + offset_ms) // DAY_MS,
    ).label("day")
    query = select(day, func.count().label("n")).select_from(
        people.join(users, users.c.user_id == people.c.user_id)
    )
    query = _scoped(query, roots).where(*_officials()).group_by(day)
    counts = {int(r.day): int(r.n) for r in await conn.execute(query)}
    before = counts.pop(-1, 0)
    return counts, before


async def head_accounts(conn: AsyncConnection, org_codes: Iterable[str]) -> dict[str, str]:
    """Organisation code -> the account of its head, for heads who are active people with an
    active account (only they can receive a notice)."""
    codes = list(org_codes)
    if not codes:
        return {}
    query = (
        select(organisations.c.code, people.c.user_id)
        .select_from(
            organisations.join(people, people.c.person_id == organisations.c.head_person_id).join(
                users, users.c.user_id == people.c.user_id
            )
        )
        .where(
            organisations.c.code.in_(codes),
            people.c.status == "active",
            users.c.deactivated.is_(False),
        )
    )
    return {r.code: r.user_id for r in await conn.execute(query)}


async def reminders_sent(
    conn: AsyncConnection, person_ids: Iterable[str]
) -> set[tuple[str, str, str]]:
    """(person_id, kind, deadline) of the reminders already sent to or about ``person_ids``."""
    ids = list(dict.fromkeys(person_ids))
    found: set[tuple[str, str, str]] = set()
    for start in range(0, len(ids), 5000):  # stay far below SQLite's bound-parameter limit
        rows = await conn.execute(
            select(
                rollout_reminders.c.person_id,
                rollout_reminders.c.kind,
                rollout_reminders.c.deadline,
            ).where(rollout_reminders.c.person_id.in_(ids[start : start + 5000]))
        )
        found.update((r.person_id, r.kind, r.deadline) for r in rows)
    return found


async def insert_reminders(
    conn: AsyncConnection, rows: Iterable[tuple[str, str, str]], sent_ts: int
) -> None:
    """Record reminders; a row that exists already fails the transaction (a concurrent run
    sent it first), so the message written with it is rolled back too."""
    values = [{"person_id": p, "kind": k, "deadline": d, "sent_ts": sent_ts} for p, k, d in rows]
    if values:
        await conn.execute(insert(rollout_reminders), values)
