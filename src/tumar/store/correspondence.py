"""Registered official correspondence: letters and their parts, the numbering counters and
formats, signing keys and trust anchors (see :mod:`tumar.core.correspondence`).

Numbering: :func:`take_number` hands out the next number of an organisation, year and
direction by ``UPDATE ... SET next_seq = next_seq + 1 ... RETURNING`` in the caller's
transaction. On PostgreSQL the update holds the counter row's lock until the transaction ends,
so concurrent registrations on any node queue behind it; on SQLite the writer lock
(``BEGIN IMMEDIATE``) serialises them. A registration that rolls back gives its number back
with it: numbers are gap-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
from sqlalchemy import Row, and_, delete, false, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store import directory as directory_store
from tumar.store.schema import (
    letter_approvals,
    letter_attachments,
    letter_counters,
    letter_events,
    letter_formats,
    letter_recipients,
    letter_signatures,
    letters,
    organisations,
    signing_keys,
    trust_anchors,
)

L = letters.c
OPEN_ASSIGNMENT = ("resolved", "in_execution")  # executors still owe a reply
R = letter_recipients.c


def _list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    value = orjson.loads(text)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _json(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


@dataclass(frozen=True, slots=True)
class Letter:
    letter_id: str
    sender_org: str
    author: str
    subject: str
    body: str
    label: str
    label_orgs: tuple[str, ...]
    reply_to: str | None
    approval_mode: str
    approvers: tuple[str, ...]
    signatory: str
    status: str
    round: int
    outgoing_number: str | None
    outgoing_year: int | None
    outgoing_seq: int | None
    registered_ts: int | None
    registered_by: str | None
    room_id: str | None
    created_ts: int
    updated_ts: int


@dataclass(frozen=True, slots=True)
class Recipient:
    letter_id: str
    org_code: str
    position: int
    status: str
    delivered_ts: int | None = None
    incoming_number: str | None = None
    incoming_year: int | None = None
    incoming_seq: int | None = None
    registered_ts: int | None = None
    registered_by: str | None = None
    resolution: str | None = None
    executors: tuple[str, ...] = ()
    controller: str | None = None
    due_ts: int | None = None
    resolved_by: str | None = None
    resolved_ts: int | None = None
    reply_text: str | None = None
    reply_letter_id: str | None = None
    replied_by: str | None = None
    replied_ts: int | None = None
    closed_by: str | None = None
    closed_ts: int | None = None
    reminded_ts: int | None = None
    escalated_ts: int | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    letter_id: str
    round: int
    user_id: str
    decision: str  # approved | returned
    comment: str | None
    ts: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    letter_id: str
    seq: int
    ts: int
    actor: str
    action: str
    org_code: str | None
    status: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    letter_id: str
    position: int
    mxc: str
    name: str
    content_type: str | None
    size: int
    sha256: str | None


@dataclass(frozen=True, slots=True)
class Signature:
    letter_id: str
    seq: int
    stage: str  # signature | registration
    signer: str
    key_id: str
    kind: str
    algorithm: str
    signature: str
    canonical_sha256: str
    signed_ts: int
    public_key: str
    certificate_pem: str | None
    chain_pem: str | None


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    user_id: str
    kind: str
    algorithm: str
    public_key: str
    sealed_private: bytes
    certificate_pem: str | None
    chain_pem: str | None
    subject: str | None
    issuer: str | None
    serial: str | None
    not_before_ts: int | None
    not_after_ts: int | None
    created_ts: int
    revoked_ts: int | None


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    anchor_id: str
    subject: str
    certificate_pem: str
    not_after_ts: int
    added_by: str
    added_ts: int


def _letter(row: Row[Any]) -> Letter:
    m = dict(row._mapping)
    m["label_orgs"] = _list(m["label_orgs"])
    m["approvers"] = _list(m["approvers"])
    return Letter(**m)


def _recipient(row: Row[Any]) -> Recipient:
    m = dict(row._mapping)
    m["executors"] = _list(m["executors"])
    return Recipient(**m)


def letter_values(letter: Letter) -> dict[str, Any]:
    values = {f.name: getattr(letter, f.name) for f in fields(letter)}
    values["label_orgs"] = _json(letter.label_orgs) if letter.label_orgs else None
    values["approvers"] = _json(letter.approvers)
    return values


def recipient_values(**values: Any) -> dict[str, Any]:
    if "executors" in values:
        values["executors"] = _json(values["executors"]) if values["executors"] else None
    return values


# ---- letters -----------------------------------------------------------------------------------


async def insert_letter(conn: AsyncConnection, letter: Letter) -> None:
    await conn.execute(insert(letters).values(**letter_values(letter)))


async def update_letter(conn: AsyncConnection, letter_id: str, **values: Any) -> None:
    if "approvers" in values:
        values["approvers"] = _json(values["approvers"])
    if "label_orgs" in values:
        values["label_orgs"] = _json(values["label_orgs"]) if values["label_orgs"] else None
    await conn.execute(update(letters).where(L.letter_id == letter_id).values(**values))


async def get_letter(
    conn: AsyncConnection, letter_id: str, *, for_update: bool = False
) -> Letter | None:
    query = select(letters).where(L.letter_id == letter_id)
    if for_update and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _letter(row) if row is not None else None


async def get_letters(conn: AsyncConnection, letter_ids: Sequence[str]) -> dict[str, Letter]:
    if not letter_ids:
        return {}
    rows = await conn.execute(select(letters).where(L.letter_id.in_(list(letter_ids))))
    return {r.letter_id: _letter(r) for r in rows}


@dataclass(frozen=True, slots=True)
class LetterQuery:
    """Candidates for a person's letter lists: letters they take part in on the sender's side,
    and letters sent by or to the organisations given (where they hold a role)."""

    user_id: str
    sender_orgs: tuple[str, ...] = ()  # every letter from these organisations
    recipient_orgs: tuple[str, ...] = ()  # every delivered letter to these organisations
    text: str | None = None
    limit: int = 200


async def candidate_letters(conn: AsyncConnection, q: LetterQuery) -> list[Letter]:
    mine = or_(
        L.author == q.user_id,
        L.signatory == q.user_id,
        L.approvers.like(f'%"{_like(q.user_id)}"%', escape="\\"),
    )
    involved = select(R.letter_id).where(
        or_(
            R.controller == q.user_id,
            R.executors.like(f'%"{_like(q.user_id)}"%', escape="\\"),
            and_(R.org_code.in_(list(q.recipient_orgs)), R.delivered_ts.is_not(None))
            if q.recipient_orgs
            else false(),
        )
    )
    condition = or_(mine, L.letter_id.in_(involved))
    if q.sender_orgs:
        condition = or_(condition, L.sender_org.in_(list(q.sender_orgs)))
    query = select(letters).where(condition)
    if q.text:
        pattern = f"%{_like(q.text.lower())}%"
        query = query.where(
            or_(
                func.lower(L.subject).like(pattern, escape="\\"),
                func.lower(func.coalesce(L.outgoing_number, "")).like(pattern, escape="\\"),
            )
        )
    query = query.order_by(L.updated_ts.desc(), L.letter_id).limit(q.limit)
    return [_letter(r) for r in await conn.execute(query)]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- recipients --------------------------------------------------------------------------------


async def replace_recipients(conn: AsyncConnection, letter_id: str, orgs: Sequence[str]) -> None:
    await conn.execute(delete(letter_recipients).where(R.letter_id == letter_id))
    if orgs:
        await conn.execute(
            insert(letter_recipients),
            [
                {"letter_id": letter_id, "org_code": code, "position": i, "status": "pending"}
                for i, code in enumerate(orgs)
            ],
        )


async def recipients(conn: AsyncConnection, letter_id: str) -> list[Recipient]:
    rows = await conn.execute(
        select(letter_recipients).where(R.letter_id == letter_id).order_by(R.position)
    )
    return [_recipient(r) for r in rows]


async def recipients_of(
    conn: AsyncConnection, letter_ids: Sequence[str]
) -> dict[str, list[Recipient]]:
    out: dict[str, list[Recipient]] = {i: [] for i in letter_ids}
    if not letter_ids:
        return out
    rows = await conn.execute(
        select(letter_recipients)
        .where(R.letter_id.in_(list(letter_ids)))
        .order_by(R.letter_id, R.position)
    )
    for r in rows:
        out[r.letter_id].append(_recipient(r))
    return out


async def update_recipient(
    conn: AsyncConnection, letter_id: str, org_code: str, **values: Any
) -> None:
    await conn.execute(
        update(letter_recipients)
        .where(R.letter_id == letter_id, R.org_code == org_code)
        .values(**recipient_values(**values))
    )


# ---- approvals, history, attachments, signatures --------------------------------------------


async def insert_approval(conn: AsyncConnection, a: Approval) -> None:
    await conn.execute(
        insert(letter_approvals).values(**{f.name: getattr(a, f.name) for f in fields(a)})
    )


async def approvals(conn: AsyncConnection, letter_id: str) -> list[Approval]:
    c = letter_approvals.c
    rows = await conn.execute(
        select(letter_approvals).where(c.letter_id == letter_id).order_by(c.round, c.ts)
    )
    return [Approval(**dict(r._mapping)) for r in rows]


async def add_history(
    conn: AsyncConnection,
    letter_id: str,
    *,
    ts: int,
    actor: str,
    action: str,
    status: str,
    org_code: str | None = None,
    comment: str | None = None,
) -> None:
    c = letter_events.c
    last = (
        await conn.execute(select(func.max(c.seq)).where(c.letter_id == letter_id))
    ).scalar_one()
    await conn.execute(
        insert(letter_events).values(
            letter_id=letter_id,
            seq=int(last or 0) + 1,
            ts=ts,
            actor=actor,
            action=action,
            org_code=org_code,
            status=status,
            comment=comment,
        )
    )


async def history(conn: AsyncConnection, letter_id: str) -> list[HistoryEntry]:
    c = letter_events.c
    rows = await conn.execute(select(letter_events).where(c.letter_id == letter_id).order_by(c.seq))
    return [HistoryEntry(**dict(r._mapping)) for r in rows]


async def replace_attachments(
    conn: AsyncConnection, letter_id: str, items: Sequence[Attachment]
) -> None:
    c = letter_attachments.c
    await conn.execute(delete(letter_attachments).where(c.letter_id == letter_id))
    if items:
        await conn.execute(
            insert(letter_attachments),
            [{f.name: getattr(a, f.name) for f in fields(a)} for a in items],
        )


async def attachments(conn: AsyncConnection, letter_id: str) -> list[Attachment]:
    c = letter_attachments.c
    rows = await conn.execute(
        select(letter_attachments).where(c.letter_id == letter_id).order_by(c.position)
    )
    return [Attachment(**dict(r._mapping)) for r in rows]


async def set_attachment_hash(
    conn: AsyncConnection, letter_id: str, position: int, sha256: str
) -> None:
    c = letter_attachments.c
    await conn.execute(
        update(letter_attachments)
        .where(c.letter_id == letter_id, c.position == position)
        .values(sha256=sha256)
    )


async def insert_signature(conn: AsyncConnection, s: Signature) -> None:
    await conn.execute(
        insert(letter_signatures).values(**{f.name: getattr(s, f.name) for f in fields(s)})
    )


async def signatures(conn: AsyncConnection, letter_id: str) -> list[Signature]:
    c = letter_signatures.c
    rows = await conn.execute(
        select(letter_signatures).where(c.letter_id == letter_id).order_by(c.seq)
    )
    return [Signature(**dict(r._mapping)) for r in rows]


# ---- numbering ---------------------------------------------------------------------------------


async def take_number(conn: AsyncConnection, org_code: str, year: int, direction: str) -> int:
    """The next sequence number of ``org_code`` in ``year`` and ``direction``, counted in the
    caller's transaction (see the module docstring)."""
    c = letter_counters.c
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(letter_counters)
        .values(org_code=org_code, year=year, direction=direction, next_seq=1)
        .on_conflict_do_nothing(index_elements=["org_code", "year", "direction"])
    )
    taken = await conn.execute(
        update(letter_counters)
        .where(c.org_code == org_code, c.year == year, c.direction == direction)
        .values(next_seq=c.next_seq + 1)
        .returning(c.next_seq)
    )
    return int(taken.scalar_one()) - 1


async def counters(conn: AsyncConnection, org_code: str) -> dict[tuple[int, str], int]:
    c = letter_counters.c
    rows = await conn.execute(select(letter_counters).where(c.org_code == org_code))
    return {(r.year, r.direction): int(r.next_seq) for r in rows}


async def get_format(conn: AsyncConnection, org_code: str) -> str | None:
    c = letter_formats.c
    row = (await conn.execute(select(c.format).where(c.org_code == org_code))).first()
    return str(row.format) if row is not None else None


async def put_format(
    conn: AsyncConnection, org_code: str, fmt: str | None, by: str, ts: int
) -> None:
    c = letter_formats.c
    await conn.execute(delete(letter_formats).where(c.org_code == org_code))
    if fmt is not None:
        await conn.execute(
            insert(letter_formats).values(
                org_code=org_code, format=fmt, updated_by=by, updated_ts=ts
            )
        )


async def list_formats(conn: AsyncConnection) -> dict[str, str]:
    c = letter_formats.c
    return {r.org_code: r.format for r in await conn.execute(select(c.org_code, c.format))}


# ---- signing keys and trust anchors -----------------------------------------------------------


async def insert_key(conn: AsyncConnection, key: SigningKey) -> None:
    await conn.execute(
        insert(signing_keys).values(**{f.name: getattr(key, f.name) for f in fields(key)})
    )


def _key(row: Row[Any]) -> SigningKey:
    m = dict(row._mapping)
    m["sealed_private"] = bytes(m["sealed_private"])
    return SigningKey(**m)


async def get_key(conn: AsyncConnection, key_id: str) -> SigningKey | None:
    row = (await conn.execute(select(signing_keys).where(signing_keys.c.key_id == key_id))).first()
    return _key(row) if row is not None else None


async def keys_of(conn: AsyncConnection, user_id: str) -> list[SigningKey]:
    c = signing_keys.c
    rows = await conn.execute(
        select(signing_keys).where(c.user_id == user_id).order_by(c.created_ts.desc(), c.key_id)
    )
    return [_key(r) for r in rows]


async def revoke_key(conn: AsyncConnection, key_id: str, ts: int) -> bool:
    c = signing_keys.c
    result = await conn.execute(
        update(signing_keys).where(c.key_id == key_id, c.revoked_ts.is_(None)).values(revoked_ts=ts)
    )
    return bool(result.rowcount)


async def insert_anchor(conn: AsyncConnection, anchor: TrustAnchor) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(trust_anchors)
        .values(**{f.name: getattr(anchor, f.name) for f in fields(anchor)})
        .on_conflict_do_nothing(index_elements=["anchor_id"])
    )
    return bool(result.rowcount)


async def delete_anchor(conn: AsyncConnection, anchor_id: str) -> bool:
    result = await conn.execute(delete(trust_anchors).where(trust_anchors.c.anchor_id == anchor_id))
    return bool(result.rowcount)


async def anchors(conn: AsyncConnection) -> list[TrustAnchor]:
    rows = await conn.execute(select(trust_anchors).order_by(trust_anchors.c.added_ts))
    return [TrustAnchor(**dict(r._mapping)) for r in rows]


# ---- journal and control -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JournalQuery:
    org_code: str
    direction: str  # in | out
    text: str | None = None
    number: str | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    limit: int = 1000


async def journal(conn: AsyncConnection, q: JournalQuery) -> list[tuple[Letter, Recipient | None]]:
    """The registry journal of one organisation: outgoing letters it registered, or incoming
    letters it registered, oldest number first."""
    if q.direction == "out":
        query = select(letters).where(L.sender_org == q.org_code, L.outgoing_number.is_not(None))
        ts, number = L.registered_ts, L.outgoing_number
        order = (L.outgoing_year, L.outgoing_seq)
    else:
        query = (
            select(letters, *[col.label(f"r_{col.name}") for col in letter_recipients.c])
            .select_from(letters.join(letter_recipients, R.letter_id == L.letter_id))
            .where(R.org_code == q.org_code, R.incoming_number.is_not(None))
        )
        ts, number = R.registered_ts, R.incoming_number
        order = (R.incoming_year, R.incoming_seq)
    if q.from_ts is not None:
        query = query.where(ts >= q.from_ts)
    if q.to_ts is not None:
        query = query.where(ts < q.to_ts)
    if q.number:
        query = query.where(func.lower(number).like(f"%{_like(q.number.lower())}%", escape="\\"))
    if q.text:
        pattern = f"%{_like(q.text.lower())}%"
        query = query.where(
            or_(func.lower(L.subject).like(pattern, escape="\\"),
                func.lower(L.body).like(pattern, escape="\\"))
        )  # fmt: skip
    query = query.order_by(*order).limit(q.limit)
    out: list[tuple[Letter, Recipient | None]] = []
    for row in await conn.execute(query):
        m = dict(row._mapping)
        letter = _letter_from({c.name: m[c.name] for c in letters.c})
        rec = None
        if q.direction == "in":
            rec = _recipient_from({c.name: m[f"r_{c.name}"] for c in letter_recipients.c})
        out.append((letter, rec))
    return out


def _letter_from(m: dict[str, Any]) -> Letter:
    m["label_orgs"] = _list(m["label_orgs"])
    m["approvers"] = _list(m["approvers"])
    return Letter(**m)


def _recipient_from(m: dict[str, Any]) -> Recipient:
    m["executors"] = _list(m["executors"])
    return Recipient(**m)


async def under_control(
    conn: AsyncConnection, org_codes: Sequence[str]
) -> list[tuple[Letter, Recipient]]:
    """Registered letters to ``org_codes`` with a due date and not closed."""
    if not org_codes:
        return []
    query = (
        select(letters, *[col.label(f"r_{col.name}") for col in letter_recipients.c])
        .select_from(letters.join(letter_recipients, R.letter_id == L.letter_id))
        .where(
            R.org_code.in_(list(org_codes)),
            R.due_ts.is_not(None),
            R.closed_ts.is_(None),
        )
        .order_by(R.due_ts, R.letter_id)
    )
    out = []
    for row in await conn.execute(query):
        m = dict(row._mapping)
        letter = _letter_from({c.name: m[c.name] for c in letters.c})
        out.append(
            (letter, _recipient_from({c.name: m[f"r_{c.name}"] for c in letter_recipients.c}))
        )
    return out


async def due_for_reminder(
    conn: AsyncConnection, remind_before_ts: int, now_ts: int
) -> list[tuple[str, str]]:
    """Open assignments due before ``remind_before_ts`` whose executors were not reminded."""
    rows = await conn.execute(
        select(R.letter_id, R.org_code).where(
            R.status.in_(OPEN_ASSIGNMENT),
            R.reminded_ts.is_(None),
            R.due_ts.is_not(None),
            R.due_ts > now_ts,
            R.due_ts <= remind_before_ts,
        )
    )
    return [(r.letter_id, r.org_code) for r in rows]


async def overdue_unescalated(conn: AsyncConnection, now_ts: int) -> list[tuple[str, str]]:
    rows = await conn.execute(
        select(R.letter_id, R.org_code).where(
            R.status.in_(OPEN_ASSIGNMENT),
            R.escalated_ts.is_(None),
            R.due_ts.is_not(None),
            R.due_ts <= now_ts,
        )
    )
    return [(r.letter_id, r.org_code) for r in rows]


async def mark_recipient(
    conn: AsyncConnection, letter_id: str, org_code: str, column: str, ts: int
) -> bool:
    """Set ``reminded_ts`` or ``escalated_ts`` once (only the first of concurrent runs wins)."""
    col = R[column]
    result = await conn.execute(
        update(letter_recipients)
        .where(and_(R.letter_id == letter_id, R.org_code == org_code, col.is_(None)))
        .values({column: ts})
    )
    return bool(result.rowcount)


async def clerks_for(conn: AsyncConnection, org_path: str) -> list[str]:
    """Users holding the registry clerk role over ``org_path``."""
    rows = await directory_store.list_grants(conn, [""])
    return sorted(
        {g.user_id for g in rows if g.role == "registry_clerk" and org_path.startswith(g.path)}
    )


async def orgs_headed_by(conn: AsyncConnection, person_id: str) -> list[str]:
    rows = await conn.execute(
        select(organisations.c.code).where(organisations.c.head_person_id == person_id)
    )
    return [str(r.code) for r in rows]


async def list_letters(
    conn: AsyncConnection, *, org_code: str | None = None, status: str | None = None, limit: int
) -> list[Letter]:
    """Letters newest first, optionally from or to one organisation, in one status."""
    query = select(letters)
    if org_code is not None:
        to_org = select(R.letter_id).where(R.org_code == org_code)
        query = query.where(or_(L.sender_org == org_code, L.letter_id.in_(to_org)))
    if status is not None:
        query = query.where(L.status == status)
    query = query.order_by(L.created_ts.desc(), L.letter_id).limit(limit)
    return [_letter(r) for r in await conn.execute(query)]
