"""Government notifications: the notification rows, the per-recipient rows (created on
delivery), escalations, and the set-based audience queries of an audience plan.

The audience query is the SQL form of :func:`tumar.policy.audience.matches`: active people with
an active account, officials only unless named, under an included subtree and under no
excluded one, holding one of the roles when roles are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.audience import AudienceSpec, Plan
from tumar.store.directory import subtree
from tumar.store.json import dumps, loads
from tumar.store.schema import (
    current_state,
    events,
    gov_notice_escalations,
    gov_notice_recipients,
    gov_notices,
    organisations,
    people,
    receipts,
    role_grants,
    rooms,
    server_notice_rooms,
    users,
)


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: str
    author: str
    title: str
    body: str
    priority: str
    attachments: list[dict[str, Any]]
    ack_required: bool
    deadline_ts: int | None
    audience: AudienceSpec
    plan: Plan
    org_code: str | None
    status: str
    version: int
    remind_round: int
    last_remind_ts: int | None
    escalated_ts: int | None
    send_at_ts: int | None
    sent_ts: int | None
    withdrawn_ts: int | None
    withdraw_reason: str | None
    recipients_at_send: int | None
    rev: int
    created_ts: int
    updated_ts: int


@dataclass(frozen=True, slots=True)
class Delivery:
    notice_id: str
    user_id: str
    person_id: str | None
    room_id: str
    event_id: str
    stream_pos: int
    delivered_ts: int
    version: int
    remind_round: int
    read_ts: int | None
    ack_ts: int | None
    ack_via: str | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """What delivery needs to know about one user: their directory entry and account."""

    user_id: str
    person_id: str
    org_path: str
    kind: str
    status: str
    created_ts: int
    roles: frozenset[str]
    displayname: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class OrgCounts:
    audience: int = 0
    delivered: int = 0
    read: int = 0
    acknowledged: int = 0


@dataclass(frozen=True, slots=True)
class RecipientRow:
    person_id: str
    user_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    position: str | None
    delivered_ts: int | None
    read: bool
    ack_ts: int | None
    ack_via: str | None


def _notice(row: Row[Any]) -> Notice:
    return _notice_from_mapping(dict(row._mapping))


def notice_values(n: Notice) -> dict[str, Any]:
    values = {name: getattr(n, name) for name in n.__slots__}
    values["audience"] = dumps(n.audience.as_json())
    values["plan"] = dumps(n.plan.as_json())
    values["attachments"] = dumps({"items": n.attachments}) if n.attachments else None
    return values


# ---- notifications -----------------------------------------------------------------------------


async def insert_notice(conn: AsyncConnection, n: Notice) -> None:
    await conn.execute(insert(gov_notices).values(**notice_values(n)))


async def update_notice(conn: AsyncConnection, notice_id: str, **values: Any) -> None:
    await conn.execute(
        update(gov_notices).where(gov_notices.c.notice_id == notice_id).values(**values)
    )


async def get_notice(
    conn: AsyncConnection, notice_id: str, *, for_update: bool = False
) -> Notice | None:
    query = select(gov_notices).where(gov_notices.c.notice_id == notice_id)
    if for_update and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _notice(row) if row else None


async def list_notices(conn: AsyncConnection, *, limit: int, offset: int = 0) -> list[Notice]:
    query = (
        select(gov_notices)
        .order_by(gov_notices.c.created_ts.desc(), gov_notices.c.notice_id)
        .limit(limit)
        .offset(offset)
    )
    return [_notice(r) for r in await conn.execute(query)]


async def live_notices(conn: AsyncConnection, since_ts: int) -> list[Notice]:
    """Sent or withdrawn notifications sent at or after ``since_ts``: those delivery may still
    have to materialise (a withdrawal is an edit for those who have it)."""
    query = select(gov_notices).where(
        gov_notices.c.status.in_(("sent", "withdrawn")), gov_notices.c.sent_ts >= since_ts
    )
    return [_notice(r) for r in await conn.execute(query)]


async def due_scheduled(conn: AsyncConnection, now_ms: int) -> list[str]:
    query = select(gov_notices.c.notice_id).where(
        gov_notices.c.status == "scheduled", gov_notices.c.send_at_ts <= now_ms
    )
    return list((await conn.execute(query)).scalars())


# ---- audiences ---------------------------------------------------------------------------------


def _in_plan(p: Plan) -> Any:
    by_orgs: Any = false()
    if p.include_paths:
        included = true() if "" in p.include_paths else or_(*(subtree(x) for x in p.include_paths))
        conditions = [people.c.kind == "official", included]
        if p.exclude_paths:
            conditions.append(not_(or_(*(subtree(x) for x in p.exclude_paths))))
        if p.roles:
            holders = select(role_grants.c.user_id).where(role_grants.c.role.in_(p.roles))
            conditions.append(people.c.user_id.in_(holders))
        by_orgs = and_(*conditions)
    if p.person_ids:
        return or_(by_orgs, people.c.person_id.in_(p.person_ids))
    return by_orgs


def _audience_from() -> Any:
    return people.join(organisations, organisations.c.code == people.c.org_code).join(
        users, users.c.user_id == people.c.user_id
    )


def _active() -> Any:
    return and_(people.c.status == "active", users.c.deactivated == false())


async def count_audience(conn: AsyncConnection, p: Plan) -> int:
    query = select(func.count()).select_from(_audience_from()).where(_active(), _in_plan(p))
    return int((await conn.execute(query)).scalar_one())


async def audience_users(conn: AsyncConnection, p: Plan) -> list[str]:
    query = select(people.c.user_id).select_from(_audience_from()).where(_active(), _in_plan(p))
    return [str(u) for u in (await conn.execute(query)).scalars()]


async def candidate(conn: AsyncConnection, user_id: str, *, with_roles: bool) -> Candidate | None:
    query = (
        select(
            people.c.person_id,
            organisations.c.path,
            people.c.kind,
            people.c.status,
            users.c.created_ts,
            users.c.deactivated,
        )
        .select_from(_audience_from())
        .where(people.c.user_id == user_id)
    )
    row = (await conn.execute(query)).first()
    if row is None or row.deactivated:
        return None
    roles: frozenset[str] = frozenset()
    if with_roles:
        found = await conn.execute(
            select(role_grants.c.role).where(role_grants.c.user_id == user_id)
        )
        roles = frozenset(str(r) for r in found.scalars())
    return Candidate(
        user_id=user_id,
        person_id=row.person_id,
        org_path=row.path,
        kind=row.kind,
        status=row.status,
        created_ts=int(row.created_ts),
        roles=roles,
    )


async def candidates(
    conn: AsyncConnection, user_ids: Sequence[str], *, with_roles: bool
) -> dict[str, Candidate]:
    """:func:`candidate` for many users in one query (two with roles); users without an
    active account or directory entry are left out."""
    if not user_ids:
        return {}
    query = (
        select(
            people.c.user_id,
            people.c.person_id,
            organisations.c.path,
            people.c.kind,
            people.c.status,
            users.c.created_ts,
            users.c.displayname,
            users.c.avatar_url,
        )
        .select_from(_audience_from())
        .where(people.c.user_id.in_(user_ids), users.c.deactivated == false())
    )
    rows = list(await conn.execute(query))
    roles: dict[str, set[str]] = {}
    if with_roles:
        found = await conn.execute(
            select(role_grants.c.user_id, role_grants.c.role).where(
                role_grants.c.user_id.in_(user_ids)
            )
        )
        for r in found:
            roles.setdefault(r.user_id, set()).add(r.role)
    return {
        r.user_id: Candidate(
            user_id=r.user_id,
            person_id=r.person_id,
            org_path=r.path,
            kind=r.kind,
            status=r.status,
            created_ts=int(r.created_ts),
            roles=frozenset(roles.get(r.user_id, ())),
            displayname=r.displayname,
            avatar_url=r.avatar_url,
        )
        for r in rows
    }


# ---- deliveries --------------------------------------------------------------------------------


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(**row._mapping)


async def deliveries_of(
    conn: AsyncConnection, user_id: str, notice_ids: Sequence[str]
) -> dict[str, Delivery]:
    if not notice_ids:
        return {}
    query = select(gov_notice_recipients).where(
        gov_notice_recipients.c.user_id == user_id,
        gov_notice_recipients.c.notice_id.in_(notice_ids),
    )
    return {r.notice_id: _delivery(r) for r in await conn.execute(query)}


async def deliveries_for(
    conn: AsyncConnection, user_ids: Sequence[str], notice_ids: Sequence[str]
) -> dict[tuple[str, str], Delivery]:
    """The delivery rows of many users, by (user id, notice id), in one query."""
    if not user_ids or not notice_ids:
        return {}
    query = select(gov_notice_recipients).where(
        gov_notice_recipients.c.user_id.in_(user_ids),
        gov_notice_recipients.c.notice_id.in_(notice_ids),
    )
    return {(r.user_id, r.notice_id): _delivery(r) for r in await conn.execute(query)}


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[Delivery]) -> None:
    if rows:
        await conn.execute(
            insert(gov_notice_recipients),
            [{name: getattr(d, name) for name in d.__slots__} for d in rows],
        )


async def update_deliveries(
    conn: AsyncConnection, rows: Sequence[tuple[str, str, int, int]]
) -> None:
    """Many ``(notice_id, user_id, version, remind_round)`` updates in one statement."""
    if not rows:
        return
    d = gov_notice_recipients
    await conn.execute(
        update(d)
        .where(d.c.notice_id == bindparam("k_notice"), d.c.user_id == bindparam("k_user"))
        .values(version=bindparam("version"), remind_round=bindparam("remind_round")),
        [{"k_notice": n, "k_user": u, "version": v, "remind_round": r} for n, u, v, r in rows],
    )


async def lock_rooms(conn: AsyncConnection, room_ids: Sequence[str]) -> set[str]:
    """Lock many rooms for event creation (in a fixed order: no deadlock between nodes);
    returns those that exist."""
    if not room_ids:
        return set()
    query = select(rooms.c.room_id).where(rooms.c.room_id.in_(room_ids)).order_by(rooms.c.room_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return {str(r) for r in (await conn.execute(query)).scalars()}


async def notice_room_memberships(
    conn: AsyncConnection, user_ids: Sequence[str]
) -> dict[str, tuple[str, str | None]]:
    """Each user's notice room (if they have one) and their membership in it."""
    member = current_state.alias("member")
    query = (
        select(server_notice_rooms.c.user_id, server_notice_rooms.c.room_id, member.c.membership)
        .select_from(
            server_notice_rooms.outerjoin(
                member,
                and_(
                    member.c.room_id == server_notice_rooms.c.room_id,
                    member.c.type == "m.room.member",
                    member.c.state_key == server_notice_rooms.c.user_id,
                ),
            )
        )
        .where(server_notice_rooms.c.user_id.in_(user_ids))
    )
    return {r.user_id: (r.room_id, r.membership) for r in await conn.execute(query)}


async def delivery(conn: AsyncConnection, notice_id: str, user_id: str) -> Delivery | None:
    found = await deliveries_of(conn, user_id, [notice_id])
    return found.get(notice_id)


async def delivery_by_event(conn: AsyncConnection, event_id: str) -> Delivery | None:
    query = select(gov_notice_recipients).where(gov_notice_recipients.c.event_id == event_id)
    row = (await conn.execute(query)).first()
    return _delivery(row) if row else None


async def insert_delivery(conn: AsyncConnection, d: Delivery) -> None:
    values = {name: getattr(d, name) for name in d.__slots__}
    await conn.execute(insert(gov_notice_recipients).values(**values))


async def update_delivery(
    conn: AsyncConnection, notice_id: str, user_id: str, **values: Any
) -> int:
    result = await conn.execute(
        update(gov_notice_recipients)
        .where(
            gov_notice_recipients.c.notice_id == notice_id,
            gov_notice_recipients.c.user_id == user_id,
        )
        .values(**values)
    )
    return int(result.rowcount)


async def inbox(conn: AsyncConnection, user_id: str, limit: int) -> list[tuple[Notice, Delivery]]:
    d = gov_notice_recipients
    query = (
        select(gov_notices, *(c.label(f"d_{c.name}") for c in d.c))
        .select_from(d.join(gov_notices, gov_notices.c.notice_id == d.c.notice_id))
        .where(d.c.user_id == user_id)
        .order_by(d.c.delivered_ts.desc(), d.c.notice_id)
        .limit(limit)
    )
    out = []
    for row in await conn.execute(query):
        m = row._mapping
        n = _notice_from_mapping({c.name: m[c.name] for c in gov_notices.c})
        dl = Delivery(**{c.name: m[f"d_{c.name}"] for c in d.c})
        out.append((n, dl))
    return out


def _notice_from_mapping(m: dict[str, Any]) -> Notice:
    m["audience"] = AudienceSpec.from_json(loads(m["audience"]))
    m["plan"] = Plan.from_json(loads(m["plan"]))
    m["attachments"] = list(loads(m["attachments"]).get("items", [])) if m["attachments"] else []
    return Notice(**m)


async def read_by_receipt(conn: AsyncConnection, d: Delivery) -> bool:
    query = select(_receipt_after(d.room_id, d.user_id, d.stream_pos))
    return bool((await conn.execute(query)).scalar_one())


def _receipt_after(room_id: Any, user_id: Any, stream_pos: Any) -> Any:
    """A read receipt of the user in the room at or after the event (a receipt marks every
    earlier event read too)."""
    return exists(
        select(receipts.c.event_id)
        .select_from(receipts.join(events, events.c.event_id == receipts.c.event_id))
        .where(
            receipts.c.room_id == room_id,
            receipts.c.user_id == user_id,
            # The event is in the room too: lets the planner use events_room_pos, whatever
            # it believes about the size of the tables.
            events.c.room_id == room_id,
            events.c.stream_pos >= stream_pos,
        )
    )


async def notice_rooms(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, str | None]:
    """Each user's notice room if they are joined to it or invited (else None), in one query."""
    member = current_state.alias("member")
    query = (
        select(server_notice_rooms.c.user_id, server_notice_rooms.c.room_id, member.c.membership)
        .select_from(
            server_notice_rooms.outerjoin(
                member,
                and_(
                    member.c.room_id == server_notice_rooms.c.room_id,
                    member.c.type == "m.room.member",
                    member.c.state_key == server_notice_rooms.c.user_id,
                ),
            )
        )
        .where(server_notice_rooms.c.user_id.in_(user_ids))
    )
    found: dict[str, str | None] = dict.fromkeys(user_ids)
    for row in await conn.execute(query):
        if row.membership in ("join", "invite"):
            found[row.user_id] = row.room_id
    return found


# ---- reports -----------------------------------------------------------------------------------


async def report_counts(conn: AsyncConnection, notice_id: str, p: Plan) -> dict[str, OrgCounts]:
    """Counts per organisation (its own people), in two grouped queries that stay cheap
    whatever the planner believes about the tables: the audience now (no join with the
    deliveries), and the deliveries (driven by the notification's rows), which also count the
    recipients who have left the audience since."""
    d = gov_notice_recipients
    audience = (
        select(people.c.org_code, func.count().label("n"))
        .select_from(_audience_from())
        .where(_active(), _in_plan(p))
        .group_by(people.c.org_code)
    )
    counts = {r.org_code: int(r.n) for r in await conn.execute(audience)}
    read = or_(
        d.c.read_ts.is_not(None),
        d.c.ack_ts.is_not(None),
        _receipt_after(d.c.room_id, d.c.user_id, d.c.stream_pos),
    )
    delivered = (
        select(
            people.c.org_code,
            func.count().label("delivered"),
            func.sum(case((read, 1), else_=0)).label("read"),
            func.count(d.c.ack_ts).label("acknowledged"),
            func.sum(case((_in_plan(p), 0), else_=1)).label("outside"),
        )
        .select_from(d.join(people, people.c.user_id == d.c.user_id))
        .join(organisations, organisations.c.code == people.c.org_code)
        .join(users, users.c.user_id == people.c.user_id)
        .where(d.c.notice_id == notice_id, _active())
        .group_by(people.c.org_code)
    )
    out = {code: OrgCounts(audience=n) for code, n in counts.items()}
    for r in await conn.execute(delivered):
        out[r.org_code] = OrgCounts(
            audience=counts.get(r.org_code, 0) + int(r.outside or 0),
            delivered=int(r.delivered),
            read=int(r.read or 0),
            acknowledged=int(r.acknowledged),
        )
    return out


async def report_people(
    conn: AsyncConnection,
    notice_id: str,
    p: Plan,
    *,
    pending_only: bool,
    org_paths: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[RecipientRow], int]:
    """The recipients (all, or those who have not acknowledged), in audience order (unit
    path, personnel number), paged. The people are paged first, with the deliveries only
    probed by primary key (an anti-join for ``pending_only``); then the deliveries and read
    receipts of the page's people alone are looked up."""
    d = gov_notice_recipients
    delivered = exists(
        select(d.c.user_id).where(d.c.notice_id == notice_id, d.c.user_id == people.c.user_id)
    )
    where = and_(_active(), or_(_in_plan(p), delivered))
    if pending_only:
        acknowledged = exists(
            select(d.c.user_id).where(
                d.c.notice_id == notice_id,
                d.c.user_id == people.c.user_id,
                d.c.ack_ts.is_not(None),
            )
        )
        where = and_(where, not_(acknowledged))
    if org_paths is not None and "" not in org_paths:
        where = and_(where, or_(*(subtree(x) for x in org_paths)) if org_paths else false())
    count = select(func.count()).select_from(_audience_from()).where(where)
    total = int((await conn.execute(count)).scalar_one())
    query = (
        select(
            people.c.person_id,
            people.c.user_id,
            people.c.personnel_number,
            people.c.name_cyr,
            people.c.name_lat,
            people.c.org_code,
            people.c.position,
        )
        .select_from(_audience_from())
        .where(where)
        .order_by(organisations.c.path, people.c.personnel_number, people.c.person_id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    page = list(await conn.execute(query))
    found: dict[str, Any] = {}
    user_ids = [r.user_id for r in page]
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        read = or_(
            d.c.read_ts.is_not(None),
            d.c.ack_ts.is_not(None),
            _receipt_after(d.c.room_id, d.c.user_id, d.c.stream_pos),
        )
        rows = await conn.execute(
            select(
                d.c.user_id, d.c.delivered_ts, d.c.ack_ts, d.c.ack_via, read.label("read")
            ).where(d.c.notice_id == notice_id, d.c.user_id.in_(chunk))
        )
        found.update((r.user_id, r) for r in rows)
    out = []
    for r in page:
        got = found.get(r.user_id)
        out.append(
            RecipientRow(
                person_id=r.person_id,
                user_id=r.user_id,
                personnel_number=r.personnel_number,
                name_cyr=r.name_cyr,
                name_lat=r.name_lat,
                org_code=r.org_code,
                position=r.position,
                delivered_ts=got.delivered_ts if got is not None else None,
                read=bool(got.read) if got is not None else False,
                ack_ts=got.ack_ts if got is not None else None,
                ack_via=got.ack_via if got is not None else None,
            )
        )
    return out, total


# ---- escalations -------------------------------------------------------------------------------


async def escalated_orgs(conn: AsyncConnection, notice_id: str) -> set[str]:
    query = select(gov_notice_escalations.c.org_code).where(
        gov_notice_escalations.c.notice_id == notice_id
    )
    return {str(c) for c in (await conn.execute(query)).scalars()}


async def insert_escalation(
    conn: AsyncConnection, notice_id: str, org_code: str, head_user_id: str, overdue: int, ts: int
) -> None:
    await conn.execute(
        insert(gov_notice_escalations).values(
            notice_id=notice_id,
            org_code=org_code,
            head_user_id=head_user_id,
            overdue=overdue,
            sent_ts=ts,
        )
    )


async def delete_notice(conn: AsyncConnection, notice_id: str) -> None:
    """Only drafts are ever deleted (nothing was delivered)."""
    await conn.execute(delete(gov_notices).where(gov_notices.c.notice_id == notice_id))
