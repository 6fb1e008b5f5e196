"""The organisation tree, people and role grants."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.presence import room_mates_query
from tumar.store.schema import current_state, organisations, people, role_grants, users


@dataclass(frozen=True, slots=True)
class Organisation:
    code: str
    parent_code: str | None
    path: str
    kind: str
    name_kk: str
    name_ru: str
    name_en: str
    region: str | None
    head_person_id: str | None
    register_by: str | None
    transition_by: str | None
    mfa_required: bool
    created_ts: int
    updated_ts: int

    def as_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    personnel_number: str
    org_code: str
    position: str | None
    name_cyr: str
    name_lat: str
    email: str | None
    phone: str | None
    clearance: str
    kind: str
    status: str
    user_id: str | None
    created_ts: int
    updated_ts: int

    def as_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True, slots=True)
class GrantRow:
    user_id: str
    role: str
    org_code: str
    path: str  # "" for a global grant
    granted_by: str
    created_ts: int


def _fields(obj: Any) -> dict[str, Any]:
    """A flat field copy (``dataclasses.asdict`` deep-copies, and is slow in bulk imports)."""
    return {name: getattr(obj, name) for name in obj.__slots__}


def _org(row: Row[Any]) -> Organisation:
    return Organisation(**row._mapping)


def _person(row: Row[Any]) -> Person:
    return Person(**row._mapping)


def subtree(path: str) -> Any:
    """A condition: the organisation's path lies within the subtree rooted at ``path``."""
    return organisations.c.path.startswith(path, autoescape=True)


# ---- organisations --------------------------------------------------------------------------


async def get_org(conn: AsyncConnection, code: str) -> Organisation | None:
    row = (await conn.execute(select(organisations).where(organisations.c.code == code))).first()
    return _org(row) if row else None


async def get_orgs(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, Organisation]:
    if not codes:
        return {}
    rows = await conn.execute(select(organisations).where(organisations.c.code.in_(codes)))
    return {r.code: _org(r) for r in rows}


async def list_orgs(conn: AsyncConnection, scopes: Sequence[str]) -> list[Organisation]:
    """Organisations within any of the subtrees ``scopes`` ("" = all), in tree order (sorted
    here, by code point: database collations may ignore the '/' separators)."""
    query = select(organisations)
    if "" not in scopes:
        if not scopes:
            return []
        query = query.where(or_(*(subtree(p) for p in scopes)))
    return sorted((_org(r) for r in await conn.execute(query)), key=lambda o: o.path)


async def insert_org(conn: AsyncConnection, org: Organisation) -> None:
    await conn.execute(insert(organisations).values(**org.as_dict()))


async def update_org(conn: AsyncConnection, code: str, **values: Any) -> None:
    await conn.execute(update(organisations).where(organisations.c.code == code).values(**values))


async def repath_subtree(conn: AsyncConnection, old: str, new: str, ts: int) -> None:
    """Move every organisation under ``old`` to ``new`` (both materialised paths)."""
    await conn.execute(
        update(organisations)
        .where(subtree(old))
        .values(path=new + func.substr(organisations.c.path, len(old) + 1), updated_ts=ts)
    )


async def count_children(conn: AsyncConnection, code: str) -> int:
    query = select(func.count()).where(organisations.c.parent_code == code)
    return int((await conn.execute(query)).scalar_one())


async def count_grants_on(conn: AsyncConnection, code: str) -> int:
    query = select(func.count()).where(role_grants.c.org_code == code)
    return int((await conn.execute(query)).scalar_one())


async def delete_org(conn: AsyncConnection, code: str) -> None:
    await conn.execute(delete(organisations).where(organisations.c.code == code))


# ---- people ---------------------------------------------------------------------------------


async def get_person(conn: AsyncConnection, person_id: str) -> Person | None:
    row = (await conn.execute(select(people).where(people.c.person_id == person_id))).first()
    return _person(row) if row else None


async def person_by_number(conn: AsyncConnection, number: str) -> Person | None:
    query = select(people).where(people.c.personnel_number == number)
    row = (await conn.execute(query)).first()
    return _person(row) if row else None


async def person_by_user(conn: AsyncConnection, user_id: str) -> Person | None:
    row = (await conn.execute(select(people).where(people.c.user_id == user_id))).first()
    return _person(row) if row else None


async def people_by_users(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, Person]:
    if not user_ids:
        return {}
    rows = await conn.execute(select(people).where(people.c.user_id.in_(user_ids)))
    return {r.user_id: _person(r) for r in rows}


async def count_people_in_org(conn: AsyncConnection, code: str) -> int:
    query = select(func.count()).where(people.c.org_code == code)
    return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class PeopleQuery:
    scopes: tuple[str, ...]  # subtree paths the reader may see ("" = all)
    org_path: str | None = None  # only this subtree
    text: str | None = None  # substring of names, personnel number, position, e-mail
    status: str | None = None
    kind: str | None = None
    registered: bool | None = None
    limit: int = 100
    offset: int = 0


async def list_people(conn: AsyncConnection, q: PeopleQuery) -> tuple[list[Person], int]:
    """People matching ``q`` in personnel-number order, and the total count of matches."""
    conds: list[Any] = []
    if "" not in q.scopes:
        if not q.scopes:
            return [], 0
        conds.append(or_(*(subtree(p) for p in q.scopes)))
    if q.org_path is not None:
        conds.append(subtree(q.org_path))
    if q.text:
        pattern = (
            "%" + q.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        conds.append(
            or_(
                *(
                    func.lower(func.coalesce(col, "")).like(pattern, escape="\\")
                    for col in (
                        people.c.name_cyr,
                        people.c.name_lat,
                        people.c.personnel_number,
                        people.c.position,
                        people.c.email,
                        people.c.user_id,
                    )
                )
            )
        )
    if q.status is not None:
        conds.append(people.c.status == q.status)
    if q.kind is not None:
        conds.append(people.c.kind == q.kind)
    if q.registered is not None:
        conds.append(people.c.user_id.is_not(None) if q.registered else people.c.user_id.is_(None))
    joined = people.join(organisations, organisations.c.code == people.c.org_code)
    where = and_(*conds) if conds else None
    base = select(people).select_from(joined)
    count = select(func.count()).select_from(joined)
    if where is not None:
        base = base.where(where)
        count = count.where(where)
    total = int((await conn.execute(count)).scalar_one())
    rows = await conn.execute(
        base.order_by(people.c.personnel_number).limit(q.limit).offset(q.offset)
    )
    return [_person(r) for r in rows], total


async def insert_person(conn: AsyncConnection, person: Person) -> None:
    await conn.execute(insert(people).values(**person.as_dict()))


async def update_person(conn: AsyncConnection, person_id: str, **values: Any) -> None:
    await conn.execute(update(people).where(people.c.person_id == person_id).values(**values))


async def person_org_path(conn: AsyncConnection, person_id: str) -> str | None:
    query = (
        select(organisations.c.path)
        .select_from(people.join(organisations, organisations.c.code == people.c.org_code))
        .where(people.c.person_id == person_id)
    )
    return (await conn.execute(query)).scalar_one_or_none()


# ---- role grants ----------------------------------------------------------------------------


def _grants_query() -> Any:
    return (
        select(
            role_grants.c.user_id,
            role_grants.c.role,
            role_grants.c.org_code,
            func.coalesce(organisations.c.path, "").label("path"),
            role_grants.c.granted_by,
            role_grants.c.created_ts,
        )
        .select_from(
            role_grants.outerjoin(organisations, organisations.c.code == role_grants.c.org_code)
        )
        .where(
            # A grant over an organisation that no longer exists covers nothing (never everything).
            or_(role_grants.c.org_code == "", organisations.c.code.is_not(None))
        )
    )


async def grants_of(conn: AsyncConnection, user_id: str) -> list[GrantRow]:
    rows = await conn.execute(_grants_query().where(role_grants.c.user_id == user_id))
    return [GrantRow(**r._mapping) for r in rows]


async def list_grants(conn: AsyncConnection, scopes: Sequence[str]) -> list[GrantRow]:
    """Grants whose subtree lies within any of ``scopes`` ("" = all)."""
    query = _grants_query().order_by(role_grants.c.user_id, role_grants.c.role)
    if "" not in scopes:
        if not scopes:
            return []
        query = query.where(or_(*(subtree(p) for p in scopes)))
    return [GrantRow(**r._mapping) for r in await conn.execute(query)]


async def insert_grant(conn: AsyncConnection, grant: GrantRow) -> None:
    await conn.execute(
        insert(role_grants).values(
            user_id=grant.user_id,
            role=grant.role,
            org_code=grant.org_code,
            granted_by=grant.granted_by,
            created_ts=grant.created_ts,
        )
    )


async def delete_grant(conn: AsyncConnection, user_id: str, role: str, org_code: str) -> int:
    result = await conn.execute(
        delete(role_grants).where(
            role_grants.c.user_id == user_id,
            role_grants.c.role == role,
            role_grants.c.org_code == org_code,
        )
    )
    return int(result.rowcount)


async def is_server_admin(conn: AsyncConnection, user_id: str) -> bool:
    query = select(users.c.is_admin).where(users.c.user_id == user_id)
    return bool((await conn.execute(query)).scalar_one_or_none())


# ---- the user directory ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DirectoryHit:
    user_id: str
    displayname: str | None
    avatar_url: str | None
    position: str | None
    org_code: str | None
    org_name_ru: str | None
    org_name_kk: str | None
    org_name_en: str | None
    status: str | None
    org_path: str | None


def _hits_query() -> Any:
    return select(
        users.c.user_id,
        users.c.displayname,
        users.c.avatar_url,
        people.c.position,
        organisations.c.code.label("org_code"),
        organisations.c.name_ru.label("org_name_ru"),
        organisations.c.name_kk.label("org_name_kk"),
        organisations.c.name_en.label("org_name_en"),
        people.c.status,
        organisations.c.path.label("org_path"),
    ).select_from(
        users.outerjoin(people, people.c.user_id == users.c.user_id).outerjoin(
            organisations, organisations.c.code == people.c.org_code
        )
    )


async def search_directory(
    conn: AsyncConnection, searcher: str, term: str, limit: int, browse_path: str | None
) -> list[DirectoryHit]:
    """Active accounts matching ``term`` (user id, display name, names, position; any case)
    that the searcher may see: people sharing a joined room with them, themselves, and, with
    ``browse_path``, active people of that subtree ("" = everyone in the directory)."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    visible = [users.c.user_id.in_(room_mates_query(searcher)), users.c.user_id == searcher]
    if browse_path is not None:
        visible.append(and_(people.c.status == "active", subtree(browse_path)))
    matches = [
        func.lower(func.coalesce(col, "")).like(pattern, escape="\\")
        for col in (
            users.c.user_id,
            users.c.displayname,
            people.c.name_cyr,
            people.c.name_lat,
            people.c.position,
        )
    ]
    rows = await conn.execute(
        _hits_query()
        .where(users.c.deactivated.is_(False), or_(*visible), or_(*matches))
        .order_by(users.c.user_id)
        .limit(limit)
    )
    return [DirectoryHit(**r._mapping) for r in rows]


async def directory_entry(conn: AsyncConnection, user_id: str) -> DirectoryHit | None:
    row = (await conn.execute(_hits_query().where(users.c.user_id == user_id))).first()
    return DirectoryHit(**row._mapping) if row else None


async def share_a_room(conn: AsyncConnection, a: str, b: str) -> bool:
    query = select(func.count()).where(
        current_state.c.type == "m.room.member",
        current_state.c.membership == "join",
        current_state.c.state_key == b,
        current_state.c.room_id.in_(
            select(current_state.c.room_id).where(
                current_state.c.type == "m.room.member",
                current_state.c.state_key == a,
                current_state.c.membership == "join",
            )
        ),
    )
    return bool((await conn.execute(query)).scalar_one())


# ---- bulk reads and writes for imports ------------------------------------------------------


async def people_by_numbers(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, Person]:
    if not numbers:
        return {}
    rows = await conn.execute(select(people).where(people.c.personnel_number.in_(numbers)))
    return {r.personnel_number: _person(r) for r in rows}


_PERSON_FIELDS = tuple(Person.__dataclass_fields__)


def person_values(person: Person) -> dict[str, Any]:
    """``person.as_dict()`` without ``dataclasses.asdict``'s deep copies (imports call this
    for every row)."""
    return {name: getattr(person, name) for name in _PERSON_FIELDS}


async def insert_people(conn: AsyncConnection, persons: Sequence[Person]) -> None:
    if persons:
        await conn.execute(insert(people), [person_values(p) for p in persons])


_UPDATABLE = (
    "org_code",
    "position",
    "name_cyr",
    "name_lat",
    "email",
    "phone",
    "clearance",
    "kind",
    "status",
    "updated_ts",
)


async def update_people(conn: AsyncConnection, persons: Sequence[Person]) -> None:
    """Write every field but the keys (person id, personnel number, account) of each person,
    in one statement executed for all of them."""
    if not persons:
        return
    statement = (
        update(people)
        .where(people.c.person_id == bindparam("k_person_id"))
        .values({name: bindparam(f"v_{name}") for name in _UPDATABLE})
    )
    params = [
        {"k_person_id": p.person_id, **{f"v_{name}": getattr(p, name) for name in _UPDATABLE}}
        for p in persons
    ]
    await conn.execute(statement, params)


async def stream_active_people(
    conn: AsyncConnection, scopes: Sequence[str], *, kind: str, size: int
) -> AsyncIterator[list[Person]]:
    """Active people of ``kind`` within any of ``scopes`` ("" = all), in personnel-number
    order, ``size`` at a time, from one query streamed through a cursor (one pass over the
    table whatever its size, and a plan that does not depend on fresh statistics)."""
    if not scopes:
        return
    query = (
        select(people)
        .where(people.c.status == "active", people.c.kind == kind)
        .order_by(people.c.personnel_number)
    )
    if "" not in scopes:
        in_scope = select(organisations.c.code).where(or_(*(subtree(p) for p in scopes)))
        query = query.where(people.c.org_code.in_(in_scope))
    result = await conn.stream(query)
    async for rows in result.partitions(size):
        yield [_person(r) for r in rows]


async def mark_departed(conn: AsyncConnection, person_ids: Sequence[str], ts: int) -> set[str]:
    """Mark those of ``person_ids`` that are still active as departed; returns their ids."""
    if not person_ids:
        return set()
    result = await conn.execute(
        update(people)
        .where(people.c.person_id.in_(person_ids), people.c.status == "active")
        .values(status="departed", updated_ts=ts)
        .returning(people.c.person_id)
    )
    return {str(pid) for pid in result.scalars()}
