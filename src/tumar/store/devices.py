"""Device policy: versioned policies, one-time enrolment tokens, enrolled devices, their
check-in history, commands and violations (issue 8; the service is ``core/devices.py``).

The enrolled devices live in ``managed_devices`` (``devices`` is the table of Matrix
sessions). Conditional access reads a session's device with :func:`device_for_session` and the
policies in force with :func:`current_policies`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Row,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.policy.roles import PERMISSIONS, Permission, contains
from tumar.store.json import dumps, loads
from tumar.store.schema import (
    device_checkins,
    device_commands,
    device_enrolment_tokens,
    device_policies,
    device_violations,
    managed_devices,
    organisations,
    people,
    role_grants,
)

# ---- policies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    policy_id: str
    version: int
    name: str
    document: dict[str, Any]  # as policy.device_policy.policy_document writes it
    created_by: str
    created_ts: int
    retired_ts: int | None


def _policy(row: Row[Any]) -> StoredPolicy:
    m = row._mapping
    return StoredPolicy(
        policy_id=m["policy_id"],
        version=m["version"],
        name=m["name"],
        document=loads(m["document"]),
        created_by=m["created_by"],
        created_ts=m["created_ts"],
        retired_ts=m["retired_ts"],
    )


async def current_policies(conn: AsyncConnection) -> list[StoredPolicy]:
    """The policies in force: of each policy not retired, its highest version (by id)."""
    latest = (
        select(device_policies.c.policy_id, func.max(device_policies.c.version).label("v"))
        .group_by(device_policies.c.policy_id)
        .subquery()
    )
    query = (
        select(device_policies)
        .join(
            latest,
            and_(
                latest.c.policy_id == device_policies.c.policy_id,
                latest.c.v == device_policies.c.version,
            ),
        )
        .where(device_policies.c.retired_ts.is_(None))
        .order_by(device_policies.c.policy_id)
    )
    return [_policy(r) for r in await conn.execute(query)]


async def policy_versions(conn: AsyncConnection, policy_id: str) -> list[StoredPolicy]:
    """Every version of a policy, newest first."""
    query = (
        select(device_policies)
        .where(device_policies.c.policy_id == policy_id)
        .order_by(device_policies.c.version.desc())
    )
    return [_policy(r) for r in await conn.execute(query)]


async def latest_policy(conn: AsyncConnection, policy_id: str) -> StoredPolicy | None:
    """The highest version of a policy, retired or not."""
    versions = await policy_versions(conn, policy_id)
    return versions[0] if versions else None


async def insert_policy(conn: AsyncConnection, p: StoredPolicy) -> None:
    await conn.execute(
        insert(device_policies).values(
            policy_id=p.policy_id,
            version=p.version,
            name=p.name,
            document=dumps(p.document),
            created_by=p.created_by,
            created_ts=p.created_ts,
            retired_ts=p.retired_ts,
        )
    )


async def retire_policy(conn: AsyncConnection, policy_id: str, ts: int) -> int:
    """Retire every version of a policy; returns how many rows changed."""
    result = await conn.execute(
        update(device_policies)
        .where(device_policies.c.policy_id == policy_id, device_policies.c.retired_ts.is_(None))
        .values(retired_ts=ts)
    )
    return int(result.rowcount)


# ---- enrolment tokens -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    token_hash: str
    user_id: str
    issued_by: str
    created_ts: int
    expires_ts: int
    used_ts: int | None
    device_id: str | None


async def insert_token(conn: AsyncConnection, t: EnrolmentToken) -> None:
    await conn.execute(
        insert(device_enrolment_tokens).values(
            token_hash=t.token_hash,
            user_id=t.user_id,
            issued_by=t.issued_by,
            created_ts=t.created_ts,
            expires_ts=t.expires_ts,
            used_ts=t.used_ts,
            device_id=t.device_id,
        )
    )


async def get_token(conn: AsyncConnection, token_hash: str) -> EnrolmentToken | None:
    query = select(device_enrolment_tokens).where(
        device_enrolment_tokens.c.token_hash == token_hash
    )
    row = (await conn.execute(query)).first()
    return EnrolmentToken(**row._mapping) if row else None


async def use_token(conn: AsyncConnection, token_hash: str, ts: int, device_id: str) -> bool:
    """Mark a token used; False when it was used meanwhile (a concurrent enrolment won)."""
    result = await conn.execute(
        update(device_enrolment_tokens)
        .where(
            device_enrolment_tokens.c.token_hash == token_hash,
            device_enrolment_tokens.c.used_ts.is_(None),
        )
        .values(used_ts=ts, device_id=device_id)
    )
    return int(result.rowcount) == 1


# ---- devices --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManagedDevice:
    device_id: str
    user_id: str
    session_device_id: str | None
    public_key: str
    platform: str
    model: str
    os_version: str
    management_mode: str
    ownership: str
    attestation: dict[str, Any]
    enrolled_ts: int
    last_seq: int
    last_checkin_ts: int | None
    report: dict[str, Any] | None
    verdict: str
    valid_until_ts: int | None
    gated_labels: tuple[str, ...]
    findings: tuple[dict[str, Any], ...]
    prior: dict[str, Any] | None
    bundle_version: str | None
    retired_ts: int | None
    pending_commands: int = 0  # issued and not yet acknowledged
    open_violation_id: str | None = None


def _list(text: str) -> list[Any]:
    value = orjson.loads(text)
    assert isinstance(value, list)
    return value


def _device(row: Row[Any]) -> ManagedDevice:
    return device_from(row._mapping)


def device_from(m: Mapping[Any, Any]) -> ManagedDevice:
    """A device from its row's columns by name."""
    return ManagedDevice(
        device_id=m["device_id"],
        user_id=m["user_id"],
        session_device_id=m["session_device_id"],
        public_key=m["public_key"],
        platform=m["platform"],
        model=m["model"],
        os_version=m["os_version"],
        management_mode=m["management_mode"],
        ownership=m["ownership"],
        attestation=loads(m["attestation"]),
        enrolled_ts=m["enrolled_ts"],
        last_seq=m["last_seq"],
        last_checkin_ts=m["last_checkin_ts"],
        report=loads(m["report"]) if m["report"] else None,
        verdict=m["verdict"],
        valid_until_ts=m["valid_until_ts"],
        gated_labels=tuple(_list(m["gated_labels"])),
        findings=tuple(_list(m["findings"])),
        prior=loads(m["prior"]) if m["prior"] else None,
        bundle_version=m["bundle_version"],
        retired_ts=m["retired_ts"],
        pending_commands=m["pending_commands"],
        open_violation_id=m["open_violation_id"],
    )


def _json_list(items: Iterable[Any]) -> str:
    return orjson.dumps(list(items)).decode()


async def insert_device(conn: AsyncConnection, d: ManagedDevice) -> None:
    await conn.execute(
        insert(managed_devices).values(
            device_id=d.device_id,
            user_id=d.user_id,
            session_device_id=d.session_device_id,
            public_key=d.public_key,
            platform=d.platform,
            model=d.model,
            os_version=d.os_version,
            management_mode=d.management_mode,
            ownership=d.ownership,
            attestation=dumps(d.attestation),
            enrolled_ts=d.enrolled_ts,
            last_seq=d.last_seq,
            last_checkin_ts=d.last_checkin_ts,
            report=dumps(d.report) if d.report is not None else None,
            verdict=d.verdict,
            valid_until_ts=d.valid_until_ts,
            gated_labels=_json_list(d.gated_labels),
            findings=_json_list(d.findings),
            prior=dumps(d.prior) if d.prior is not None else None,
            bundle_version=d.bundle_version,
            retired_ts=d.retired_ts,
            pending_commands=d.pending_commands,
            open_violation_id=d.open_violation_id,
        )
    )


async def get_device(conn: AsyncConnection, device_id: str) -> ManagedDevice | None:
    query = select(managed_devices).where(managed_devices.c.device_id == device_id)
    row = (await conn.execute(query)).first()
    return _device(row) if row else None


async def device_for_session(
    conn: AsyncConnection, user_id: str, session_device_id: str
) -> ManagedDevice | None:
    """The enrolled device bound to a Matrix session (the newest, if it enrolled twice)."""
    query = (
        select(managed_devices)
        .where(
            managed_devices.c.user_id == user_id,
            managed_devices.c.session_device_id == session_device_id,
            managed_devices.c.retired_ts.is_(None),
        )
        .order_by(managed_devices.c.enrolled_ts.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return _device(row) if row else None


async def devices_of_user(conn: AsyncConnection, user_id: str) -> list[ManagedDevice]:
    query = (
        select(managed_devices)
        .where(managed_devices.c.user_id == user_id)
        .order_by(managed_devices.c.enrolled_ts)
    )
    return [_device(r) for r in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class CheckinUpdate:
    """What a check-in changes on the device row."""

    seq: int
    ts: int
    os_version: str
    report: dict[str, Any]
    verdict: str
    valid_until_ts: int | None
    gated_labels: Sequence[str]
    findings: Sequence[dict[str, Any]]
    prior: dict[str, Any] | None
    bundle_version: str
    open_violation_id: str | None


async def add_pending(conn: AsyncConnection, device_id: str, count: int) -> int:
    """Change the device's count of commands pending; returns the new count."""
    result = await conn.execute(
        update(managed_devices)
        .where(managed_devices.c.device_id == device_id)
        .values(pending_commands=managed_devices.c.pending_commands + count)
        .returning(managed_devices.c.pending_commands)
    )
    return int(result.scalar_one())


async def retire_device(conn: AsyncConnection, device_id: str, ts: int) -> bool:
    result = await conn.execute(
        update(managed_devices)
        .where(managed_devices.c.device_id == device_id, managed_devices.c.retired_ts.is_(None))
        .values(retired_ts=ts, valid_until_ts=None, open_violation_id=None)
    )
    return int(result.rowcount) == 1


@dataclass(frozen=True, slots=True)
class Checkin:
    device_id: str
    seq: int
    received_ts: int
    verdict: str
    report: dict[str, Any]


async def checkin_history(conn: AsyncConnection, device_id: str, limit: int) -> list[Checkin]:
    """The device's latest check-ins, newest first."""
    query = (
        select(device_checkins)
        .where(device_checkins.c.device_id == device_id)
        .order_by(device_checkins.c.seq.desc())
        .limit(limit)
    )
    return [
        Checkin(r.device_id, r.seq, r.received_ts, r.verdict, loads(r.report))
        for r in await conn.execute(query)
    ]


CheckinKey = tuple[int, str, int]
"""``(received_ts, device_id, seq)``: the order in which the purge walks the check-ins."""

_OLD = device_checkins.alias("old")  # the check-ins the purge looks at (and locks)


def _expired_checkins(
    before_ts: int, keep_users: Collection[str], after: CheckinKey | None = None
) -> Select[tuple[int, str, int]]:
    """The keys of check-ins received before ``before_ts`` that are not their device's newest
    (a newer row of the same device exists), oldest first, except those of the devices of
    ``keep_users``, and only those after ``after``. A row is deleted only while a newer one
    exists, so however batches interleave the newest row of every device stays."""
    old, newer = _OLD, device_checkins.alias("newer")
    has_newer = (
        select(newer.c.seq)
        .where(newer.c.device_id == old.c.device_id, newer.c.seq > old.c.seq)
        .exists()
    )
    order = (old.c.received_ts, old.c.device_id, old.c.seq)
    query = select(*order).where(old.c.received_ts < before_ts, has_newer).order_by(*order)
    if after is not None:
        bounds = (literal(value, column.type) for value, column in zip(after, order, strict=True))
        query = query.where(tuple_(*order) > tuple_(*bounds))
    if keep_users:
        kept = select(managed_devices.c.device_id).where(
            managed_devices.c.user_id.in_(sorted(keep_users))
        )
        query = query.where(old.c.device_id.not_in(kept))
    return query


async def purge_checkins(
    conn: AsyncConnection,
    before_ts: int,
    limit: int,
    *,
    keep_users: Collection[str] = (),
    after: CheckinKey | None = None,
) -> tuple[int, CheckinKey | None]:
    """Delete at most ``limit`` check-ins received before ``before_ts``, oldest first, never a
    device's newest nor any of the devices of ``keep_users`` (accounts under legal hold).

    ``after`` is the key returned by the previous batch of the same run: each batch starts
    where the last one ended instead of reading again, from the oldest, the rows that earlier
    batches had to keep (a held account's whole history, a silent device's last row).
    Returns how many went and the key to pass next (None: nothing more to look at). On
    PostgreSQL rows another node's run has locked are skipped, not waited for."""
    query = _expired_checkins(before_ts, keep_users, after).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=_OLD, skip_locked=True)
    keys = (await conn.execute(query)).all()
    if not keys:
        return 0, None
    result = await conn.execute(
        delete(device_checkins).where(
            tuple_(device_checkins.c.device_id, device_checkins.c.seq).in_(
                [(k.device_id, k.seq) for k in keys]
            )
        )
    )
    last = keys[-1]
    return int(result.rowcount), (last.received_ts, last.device_id, last.seq)


async def count_expired_checkins(
    conn: AsyncConnection, before_ts: int, *, keep_users: Collection[str] = (), at_most: int
) -> int:
    """How many check-ins :func:`purge_checkins` would delete, counting no further than
    ``at_most`` (what one run may delete: a first count over years of history would
    otherwise read all of it)."""
    expired = _expired_checkins(before_ts, keep_users).limit(at_most).subquery()
    query = select(func.count()).select_from(expired)
    return int((await conn.execute(query)).scalar_one())


# ---- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    device_id: str
    kind: str
    payload: dict[str, Any]
    issued_by: str
    issued_ts: int
    delivered_ts: int | None
    acked_ts: int | None
    result: str | None


def _command(row: Row[Any]) -> Command:
    m = row._mapping
    return Command(**{**m, "payload": loads(m["payload"])})


async def insert_command(conn: AsyncConnection, c: Command) -> None:
    """A new command, counted as pending on its device."""
    await add_pending(conn, c.device_id, 1)
    await conn.execute(
        insert(device_commands).values(
            command_id=c.command_id,
            device_id=c.device_id,
            kind=c.kind,
            payload=dumps(c.payload),
            issued_by=c.issued_by,
            issued_ts=c.issued_ts,
            delivered_ts=c.delivered_ts,
            acked_ts=c.acked_ts,
            result=c.result,
        )
    )


async def pending_commands(conn: AsyncConnection, device_id: str) -> list[Command]:
    """Commands not yet acknowledged, oldest first."""
    query = (
        select(device_commands)
        .where(device_commands.c.device_id == device_id, device_commands.c.acked_ts.is_(None))
        .order_by(device_commands.c.issued_ts, device_commands.c.command_id)
    )
    return [_command(r) for r in await conn.execute(query)]


async def mark_delivered(conn: AsyncConnection, command_ids: Sequence[str], ts: int) -> None:
    if command_ids:
        await conn.execute(
            update(device_commands)
            .where(
                device_commands.c.command_id.in_(command_ids),
                device_commands.c.delivered_ts.is_(None),
            )
            .values(delivered_ts=ts)
        )


async def ack_command(
    conn: AsyncConnection, device_id: str, command_id: str, result: str, ts: int
) -> bool:
    """Acknowledge one of the device's own delivered commands (once)."""
    done = await conn.execute(
        update(device_commands)
        .where(
            device_commands.c.command_id == command_id,
            device_commands.c.device_id == device_id,
            device_commands.c.acked_ts.is_(None),
        )
        .values(acked_ts=ts, result=result)
    )
    return int(done.rowcount) == 1


async def commands_of(conn: AsyncConnection, device_id: str, limit: int) -> list[Command]:
    query = (
        select(device_commands)
        .where(device_commands.c.device_id == device_id)
        .order_by(device_commands.c.issued_ts.desc(), device_commands.c.command_id)
        .limit(limit)
    )
    return [_command(r) for r in await conn.execute(query)]


# ---- violations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    violation_id: str
    device_id: str
    user_id: str
    opened_ts: int
    closed_ts: int | None
    findings: tuple[dict[str, Any], ...]


def _violation(row: Row[Any]) -> Violation:
    m = row._mapping
    return Violation(**{**m, "findings": tuple(_list(m["findings"]))})


async def open_violation(conn: AsyncConnection, device_id: str) -> Violation | None:
    query = select(device_violations).where(
        device_violations.c.device_id == device_id, device_violations.c.closed_ts.is_(None)
    )
    row = (await conn.execute(query)).first()
    return _violation(row) if row else None


async def insert_violation(conn: AsyncConnection, v: Violation) -> None:
    await conn.execute(
        insert(device_violations).values(
            violation_id=v.violation_id,
            device_id=v.device_id,
            user_id=v.user_id,
            opened_ts=v.opened_ts,
            closed_ts=v.closed_ts,
            findings=_json_list(v.findings),
        )
    )


async def close_violation(conn: AsyncConnection, violation_id: str, ts: int) -> None:
    await conn.execute(
        update(device_violations)
        .where(
            device_violations.c.violation_id == violation_id,
            device_violations.c.closed_ts.is_(None),
        )
        .values(closed_ts=ts)
    )


async def violations_of(conn: AsyncConnection, device_id: str, limit: int) -> list[Violation]:
    query = (
        select(device_violations)
        .where(device_violations.c.device_id == device_id)
        .order_by(device_violations.c.opened_ts.desc())
        .limit(limit)
    )
    return [_violation(r) for r in await conn.execute(query)]


# ---- who to tell ----------------------------------------------------------------------------

DEVICE_ROLES = tuple(
    sorted(r.value for r, p in PERMISSIONS.items() if Permission.DEVICES_MANAGE in p)
)


async def security_officers(conn: AsyncConnection, org_path: str) -> list[str]:
    """Users granted a role carrying ``devices.manage`` over a subtree holding ``org_path``
    (grants everywhere included), sorted."""
    query = (
        select(role_grants.c.user_id, func.coalesce(organisations.c.path, "").label("path"))
        .select_from(
            role_grants.outerjoin(organisations, organisations.c.code == role_grants.c.org_code)
        )
        .where(role_grants.c.role.in_(DEVICE_ROLES))
        .where(or_(role_grants.c.org_code == "", organisations.c.code.is_not(None)))
    )
    rows = await conn.execute(query)
    return sorted({r.user_id for r in rows if contains(r.path, org_path)})


async def person_org(conn: AsyncConnection, user_id: str) -> tuple[str, str] | None:
    """The (org_code, org_path) of the person with this account, if any."""
    query = (
        select(people.c.org_code, organisations.c.path)
        .select_from(people.join(organisations, organisations.c.code == people.c.org_code))
        .where(people.c.user_id == user_id)
    )
    row = (await conn.execute(query)).first()
    return (row[0], row[1]) if row else None
