"""The check-in path's reads and writes (issue 8): a batch of check-ins reads its devices in
one query and writes their new states and history rows in two (``core/device_checkins.py``
batches them; ``docs/performance.md``, "Device check-ins").

The statements are built once. On SQLite they run straight on the driver connection inside
the caller's transaction: each statement through SQLAlchemy's aiosqlite adapter costs four
hand-offs to the driver's thread (cursor, execute, fetch, close), which on a busy machine
cost more than the statements; here each is one. PostgreSQL (asyncpg, no threads) keeps the
SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.devices import CheckinUpdate, ManagedDevice, device_from
from tumar.store.json import dumps
from tumar.store.schema import device_checkins, managed_devices, organisations, people

Found = dict[str, tuple[ManagedDevice, tuple[str, str] | None]]
"""Per device id: the device and its owner's (org_code, org_path), if the owner has one."""

_WITH_ORG = (
    select(managed_devices, people.c.org_code.label("_org"), organisations.c.path.label("_path"))
    .select_from(
        managed_devices.outerjoin(people, people.c.user_id == managed_devices.c.user_id).outerjoin(
            organisations, organisations.c.code == people.c.org_code
        )
    )
    .order_by(managed_devices.c.device_id)
)
# PostgreSQL: the rows stay locked until commit, taken in device id order, so that two
# nodes' batches cannot deadlock. (SQLite writers are serialised anyway.)
_READ = _WITH_ORG.where(
    managed_devices.c.device_id.in_(bindparam("device_ids", expanding=True))
).with_for_update(of=managed_devices)
# SQLite: the ids as one JSON array parameter, so the statement text never changes.
_IDS = func.json_each(bindparam("ids")).table_valued("value")
_READ_SQLITE = _WITH_ORG.where(managed_devices.c.device_id.in_(select(_IDS.c.value)))

_CHECKIN_VALUES = (
    "last_checkin_ts", "os_version", "report", "verdict", "valid_until_ts", "gated_labels",
    "findings", "prior", "bundle_version", "open_violation_id",
)  # fmt: skip
_WRITE = (
    update(managed_devices)
    .where(
        managed_devices.c.device_id == bindparam("_device_id"),
        managed_devices.c.last_seq == bindparam("_expected_seq"),
        managed_devices.c.retired_ts.is_(None),
    )
    .values(last_seq=bindparam("_seq"), **{c: bindparam(c) for c in _CHECKIN_VALUES})
)
_HISTORY_COLUMNS = ("device_id", "seq", "received_ts", "verdict", "report")
_HISTORY = insert(device_checkins).values({c: bindparam(c) for c in _HISTORY_COLUMNS})


class _Positional:
    """A statement compiled once for SQLite: its text, and the order of its parameters."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=sqlite.dialect())
        self.sql: str = compiled.string
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.columns: tuple[str, ...] = tuple(
            c.key for c in getattr(statement, "selected_columns", ())
        )

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[k] for k in self.order)


_SQLITE_READ = _Positional(_READ_SQLITE)
_SQLITE_WRITE = _Positional(_WRITE)
_SQLITE_HISTORY = _Positional(_HISTORY)


class CheckinConflict(Exception):
    """A device row changed between the locked read and the write (cannot happen while the
    rows are locked; raised rather than writing a history row for a lost update)."""


async def _driver(conn: AsyncConnection) -> Any:
    """The aiosqlite connection under ``conn`` (same transaction)."""
    return (await conn.get_raw_connection()).driver_connection


async def devices_and_orgs(conn: AsyncConnection, device_ids: Sequence[str]) -> Found:
    """The devices with these ids (unknown ids are missing from the answer) and their
    owners' organisations, in one query; on PostgreSQL the rows stay locked until commit."""
    found: Found = {}
    if conn.dialect.name == "sqlite":
        ids = orjson.dumps(list(device_ids)).decode()
        rows = await (await _driver(conn)).execute_fetchall(_SQLITE_READ.sql, (ids,))
        for values in rows:
            m = dict(zip(_SQLITE_READ.columns, values, strict=True))
            found[m["device_id"]] = (device_from(m), _org(m))
        return found
    for row in await conn.execute(_READ, {"device_ids": list(device_ids)}):
        found[row.device_id] = (device_from(row._mapping), _org(row._mapping))
    return found


def _org(m: Any) -> tuple[str, str] | None:
    return (m["_org"], m["_path"]) if m["_path"] is not None else None


async def record_checkins(
    conn: AsyncConnection, checkins: Sequence[tuple[str, int, CheckinUpdate]]
) -> None:
    """Store the outcome of several check-ins, each ``(device_id, expected_seq, update)``, and
    their history rows: two statements however many there are (``executemany``). Each device
    row is written only if its last sequence number is still ``expected_seq``; the caller holds
    the rows locked (:func:`devices_and_orgs`), so a mismatch raises :class:`CheckinConflict`
    and the transaction is rolled back."""
    if not checkins:
        return
    rows, history = [], []
    for device_id, expected_seq, u in checkins:
        report = dumps(u.report)
        rows.append(
            {
                "_device_id": device_id,
                "_expected_seq": expected_seq,
                "_seq": u.seq,
                "last_checkin_ts": u.ts,
                "os_version": u.os_version,
                "report": report,
                "verdict": u.verdict,
                "valid_until_ts": u.valid_until_ts,
                "gated_labels": orjson.dumps(list(u.gated_labels)).decode(),
                "findings": orjson.dumps(list(u.findings)).decode(),
                "prior": dumps(u.prior) if u.prior is not None else None,
                "bundle_version": u.bundle_version,
                "open_violation_id": u.open_violation_id,
            }
        )
        history.append(
            {"device_id": device_id, "seq": u.seq, "received_ts": u.ts, "verdict": u.verdict,
             "report": report}
        )  # fmt: skip
    if conn.dialect.name == "sqlite":
        driver = await _driver(conn)
        done = await driver.executemany(_SQLITE_WRITE.sql, [_SQLITE_WRITE.params(r) for r in rows])
        changed: int | None = done.rowcount
        await driver.executemany(_SQLITE_HISTORY.sql, [_SQLITE_HISTORY.params(h) for h in history])
    else:
        result = await conn.execute(_WRITE, rows)
        changed = result.rowcount if conn.dialect.supports_sane_multi_rowcount else None
        await conn.execute(_HISTORY, history)
    if changed is not None and changed != len(rows):
        raise CheckinConflict(f"{len(rows) - changed} device rows changed meanwhile")
