"""Reads for conditional access and the device dashboard (issue 8).

The tables belong to ``store/devices.py`` (enrolment, check-ins); this module only reads them:
the device list per organisation with its verdict as it stands now, the counts per
organisation, open violations, and the organisation paths that policy audiences name.

"As it stands now": a device whose last verdict was compliant but whose validity has passed
(the next schedule boundary, or its check-in grew stale) no longer has access until it checks
in again, so it counts as ``unknown`` (see :func:`verdict_now`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Row, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.directory import subtree
from tumar.store.schema import device_violations, managed_devices, organisations, people

VERDICTS = ("compliant", "non_compliant", "unknown")


def verdict_now(now_ms: int) -> Any:
    """SQL: the device's verdict at ``now_ms`` (a lapsed compliant verdict is ``unknown``)."""
    d = managed_devices.c
    return case(
        (
            and_(
                d.verdict == "compliant",
                or_(d.valid_until_ts.is_(None), d.valid_until_ts <= now_ms),
            ),
            literal("unknown"),
        ),
        else_=d.verdict,
    )


def _scoped(query: Any, scopes: Sequence[str]) -> Any:
    """Only devices of people in the subtrees ``scopes`` ("" = every device, also those of
    accounts without a directory entry)."""
    if "" in scopes:
        return query
    if not scopes:
        return query.where(literal(False))
    return query.where(or_(*(subtree(p) for p in scopes)))


def _from() -> Any:
    owner = people.c.user_id == managed_devices.c.user_id
    return managed_devices.outerjoin(people, owner).outerjoin(
        organisations, organisations.c.code == people.c.org_code
    )


@dataclass(frozen=True, slots=True)
class DeviceListRow:
    device_id: str
    user_id: str
    name_cyr: str | None
    name_lat: str | None
    org_code: str | None
    org_path: str | None
    platform: str
    model: str
    os_version: str
    management_mode: str
    ownership: str
    enrolled_ts: int
    last_checkin_ts: int | None
    verdict: str  # as it stands now
    valid_until_ts: int | None
    findings: tuple[dict[str, Any], ...]


async def list_devices(
    conn: AsyncConnection,
    scopes: Sequence[str],
    *,
    now_ms: int,
    org_path: str | None = None,
    verdict: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[DeviceListRow], int]:
    """Enrolled (not retired) devices in scope, optionally of one organisation's subtree and
    with one verdict, ordered by organisation path then user; and how many match."""
    now = verdict_now(now_ms).label("verdict_now")
    base = select(
        managed_devices, people.c.name_cyr, people.c.name_lat, people.c.org_code, now,
        organisations.c.path.label("org_path"),
    ).select_from(_from()).where(managed_devices.c.retired_ts.is_(None))  # fmt: skip
    base = _scoped(base, scopes)
    if org_path is not None:
        base = base.where(subtree(org_path))
    if verdict is not None:
        base = base.where(verdict_now(now_ms) == verdict)
    total = (await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    query = base.order_by(
        organisations.c.path, managed_devices.c.user_id, managed_devices.c.device_id
    )
    rows = await conn.execute(query.limit(limit).offset(offset))
    return [_list_row(r) for r in rows], int(total)


def _list_row(row: Row[Any]) -> DeviceListRow:
    m = row._mapping
    findings = orjson.loads(m["findings"]) if m["findings"] else []
    return DeviceListRow(
        device_id=m["device_id"],
        user_id=m["user_id"],
        name_cyr=m["name_cyr"],
        name_lat=m["name_lat"],
        org_code=m["org_code"],
        org_path=m["org_path"],
        platform=m["platform"],
        model=m["model"],
        os_version=m["os_version"],
        management_mode=m["management_mode"],
        ownership=m["ownership"],
        enrolled_ts=m["enrolled_ts"],
        last_checkin_ts=m["last_checkin_ts"],
        verdict=m["verdict_now"],
        valid_until_ts=m["valid_until_ts"],
        findings=tuple(f for f in findings if isinstance(f, dict)),
    )


async def verdict_counts(
    conn: AsyncConnection, scopes: Sequence[str], *, now_ms: int
) -> dict[str | None, dict[str, int]]:
    """Enrolled devices per organisation code (None: accounts without a directory entry) and
    verdict as it stands now."""
    now = verdict_now(now_ms).label("v")
    query = (
        select(people.c.org_code, now, func.count().label("n"))
        .select_from(_from())
        .where(managed_devices.c.retired_ts.is_(None))
        .group_by(people.c.org_code, now)
    )
    out: dict[str | None, dict[str, int]] = {}
    for r in await conn.execute(_scoped(query, scopes)):
        counts = out.setdefault(r.org_code, dict.fromkeys(VERDICTS, 0))
        counts[r.v] = counts.get(r.v, 0) + int(r.n)
    return out


@dataclass(frozen=True, slots=True)
class OpenViolation:
    violation_id: str
    device_id: str
    user_id: str
    name_cyr: str | None
    name_lat: str | None
    org_code: str | None
    opened_ts: int
    closed_ts: int | None
    findings: tuple[dict[str, Any], ...]
    platform: str | None
    model: str | None


async def list_violations(
    conn: AsyncConnection,
    scopes: Sequence[str],
    *,
    open_only: bool = True,
    org_path: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[OpenViolation], int]:
    """Violations of devices in scope (open ones only by default), newest first."""
    v = device_violations.c
    joined = (
        device_violations.outerjoin(managed_devices, managed_devices.c.device_id == v.device_id)
        .outerjoin(people, people.c.user_id == v.user_id)
        .outerjoin(organisations, organisations.c.code == people.c.org_code)
    )
    base = select(
        device_violations, people.c.name_cyr, people.c.name_lat, people.c.org_code,
        managed_devices.c.platform, managed_devices.c.model,
    ).select_from(joined)  # fmt: skip
    base = _scoped(base, scopes)
    if open_only:
        base = base.where(v.closed_ts.is_(None))
    if org_path is not None:
        base = base.where(subtree(org_path))
    total = (await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await conn.execute(
        base.order_by(v.opened_ts.desc(), v.violation_id).limit(limit).offset(offset)
    )
    out = []
    for r in rows:
        m = r._mapping
        findings = orjson.loads(m["findings"]) if m["findings"] else []
        out.append(
            OpenViolation(
                violation_id=m["violation_id"],
                device_id=m["device_id"],
                user_id=m["user_id"],
                name_cyr=m["name_cyr"],
                name_lat=m["name_lat"],
                org_code=m["org_code"],
                opened_ts=m["opened_ts"],
                closed_ts=m["closed_ts"],
                findings=tuple(f for f in findings if isinstance(f, dict)),
                platform=m["platform"],
                model=m["model"],
            )
        )
    return out, int(total)


async def org_paths(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, str]:
    """The materialised path of each of these organisation codes that exists."""
    if not codes:
        return {}
    query = select(organisations.c.code, organisations.c.path).where(
        organisations.c.code.in_(sorted(set(codes)))
    )
    return {r.code: r.path for r in await conn.execute(query)}


async def person_org(conn: AsyncConnection, user_id: str) -> tuple[str, str] | None:
    """(org_code, org_path) of the person with this account, if any."""
    query = (
        select(people.c.org_code, organisations.c.path)
        .select_from(people.join(organisations, organisations.c.code == people.c.org_code))
        .where(people.c.user_id == user_id)
    )
    row = (await conn.execute(query)).first()
    return (row[0], row[1]) if row else None
