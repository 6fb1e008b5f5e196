"""Personal activation codes (stored as hashes only) and the localparts reserved for people."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.directory import subtree
from tumar.store.schema import activation_codes, organisations, people, person_localparts, users

C = activation_codes.c
L = person_localparts.c
T = TypeVar("T")
CHUNK = 500  # values per IN list: well under every database's parameter limit


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class CodeRow:
    code_hash: str
    person_id: str
    created_ts: int
    expiry_ts: int
    used_ts: int | None
    revoked_ts: int | None
    created_by: str


@dataclass(frozen=True, slots=True)
class Holder:
    """A person to whom a code may be issued, with what the letter prints about them."""

    person_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    status: str
    user_id: str | None
    org_code: str
    org_path: str
    org_name_kk: str
    org_name_ru: str


def _live(now: int) -> Any:
    return and_(C.used_ts.is_(None), C.revoked_ts.is_(None), C.expiry_ts > now)


# ---- codes ----------------------------------------------------------------------------------


async def get_code(conn: AsyncConnection, code_hash: str) -> CodeRow | None:
    row = (await conn.execute(select(activation_codes).where(C.code_hash == code_hash))).first()
    return CodeRow(**row._mapping) if row else None


async def live_code_holders(conn: AsyncConnection, person_ids: Sequence[str], now: int) -> set[str]:
    found: set[str] = set()
    for part in chunks(person_ids):
        rows = await conn.execute(
            select(C.person_id).where(C.person_id.in_(part), _live(now)).distinct()
        )
        found.update(r.person_id for r in rows)
    return found


async def revoke_live_codes(conn: AsyncConnection, person_ids: Sequence[str], now: int) -> None:
    for part in chunks(person_ids):
        await conn.execute(
            update(activation_codes)
            .where(C.person_id.in_(part), C.used_ts.is_(None), C.revoked_ts.is_(None))
            .values(revoked_ts=now)
        )


async def insert_codes(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        await conn.execute(insert(activation_codes), list(part))


async def use_code(conn: AsyncConnection, code_hash: str, now: int) -> bool:
    """Mark a live code used; False when it is not live (used, revoked, expired, unknown).
    One conditional update, so of two concurrent uses exactly one succeeds."""
    result = await conn.execute(
        update(activation_codes).where(C.code_hash == code_hash, _live(now)).values(used_ts=now)
    )
    return int(result.rowcount) == 1


# ---- people a code is for --------------------------------------------------------------------


def _holders_query() -> Any:
    return select(
        people.c.person_id,
        people.c.personnel_number,
        people.c.name_cyr,
        people.c.name_lat,
        people.c.status,
        people.c.user_id,
        organisations.c.code.label("org_code"),
        organisations.c.path.label("org_path"),
        organisations.c.name_kk.label("org_name_kk"),
        organisations.c.name_ru.label("org_name_ru"),
    ).select_from(people.join(organisations, organisations.c.code == people.c.org_code))


async def holders_by_ids(conn: AsyncConnection, person_ids: Sequence[str]) -> list[Holder]:
    found: list[Holder] = []
    for part in chunks(person_ids):
        rows = await conn.execute(_holders_query().where(people.c.person_id.in_(part)))
        found.extend(Holder(**r._mapping) for r in rows)
    return found


async def holders_in_subtree(
    conn: AsyncConnection, path: str, now: int, *, with_live_code: bool
) -> list[Holder]:
    """Active people of the subtree without an account; those who hold a live code only
    when ``with_live_code``. In personnel-number order."""
    query = _holders_query().where(
        subtree(path), people.c.status == "active", people.c.user_id.is_(None)
    )
    if not with_live_code:
        query = query.where(~exists().where(C.person_id == people.c.person_id, _live(now)))
    rows = await conn.execute(query.order_by(people.c.personnel_number))
    return [Holder(**r._mapping) for r in rows]


async def holder(conn: AsyncConnection, person_id: str) -> Holder | None:
    row = (await conn.execute(_holders_query().where(people.c.person_id == person_id))).first()
    return Holder(**row._mapping) if row else None


# ---- reserved localparts --------------------------------------------------------------------


async def localparts_of(conn: AsyncConnection, person_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in chunks(person_ids):
        rows = await conn.execute(select(L.person_id, L.localpart).where(L.person_id.in_(part)))
        found.update({r.person_id: r.localpart for r in rows})
    return found


# Above this many names, reading every taken localpart once beats a prefix search per name.
READ_ALL_ABOVE = 200


async def taken_localparts(conn: AsyncConnection, bases: Sequence[str]) -> set[str]:
    """Localparts of accounts or reservations that are a base or start with one (for many
    bases: simply every localpart there is)."""
    taken: set[str] = set()
    unique = sorted(set(bases))
    columns = ((users.c.localpart, users), (L.localpart, person_localparts))
    if len(unique) > READ_ALL_ABOVE:
        for column, table in columns:
            taken.update((await conn.execute(select(column).select_from(table))).scalars())
        return taken
    for part in chunks(unique, 50):
        for column, table in columns:
            cond = or_(*(column.startswith(b, autoescape=True) for b in part))
            rows = await conn.execute(select(column).select_from(table).where(cond))
            taken.update(r[0] for r in rows)
    return taken


async def reserve_localparts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        await conn.execute(insert(person_localparts), list(part))


async def reserved_for(conn: AsyncConnection, localpart: str) -> str | None:
    """The person a localpart is reserved for, if any."""
    query = select(L.person_id).where(L.localpart == localpart)
    return (await conn.execute(query)).scalar_one_or_none()
