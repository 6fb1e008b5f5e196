"""Verifying the audit chain: every row's hash, every link, every checkpoint's signature.

The walk goes through the log in seq order, a batch per read transaction, and stops at the
first row that does not hold (see :func:`tumar.policy.audit_chain.classify` for how edited,
deleted, inserted and reordered rows are told apart). Checkpoints whose signature holds are
then compared with the rows they vouch for, which catches a chain rewritten from some row on
(every hash recomputed) and rows cut off its end, up to the last checkpoint. Rows after the
last checkpoint are protected by the chain alone: a rewrite of the tail after it, or its
removal, shows up only once a later checkpoint is missing; the report says how many rows that
is (``unsigned_rows``).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tumar.policy.audit_chain import Break, ChainRow, checkpoint_message, classify
from tumar.store import audit as audit_store
from tumar.store.audit import Checkpoint
from tumar.store.db import Database

LOOKAHEAD = 50


@dataclass(frozen=True, slots=True)
class CheckpointProblem:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    rows: int  # rows checked (up to the first break)
    head_seq: int | None
    head_hash: str | None
    first_break: Break | None
    checkpoints: int
    checkpoints_valid: int
    bad_checkpoint: CheckpointProblem | None  # the first whose signature does not hold
    last_checkpoint_seq: int | None  # the last checkpoint with a valid signature
    unsigned_rows: int  # rows after that checkpoint

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = []
        if self.first_break is not None:
            b = self.first_break
            lines.append(f"FIRST BAD ROW: seq {b.seq} was {b.kind} ({b.detail}).")
        if self.bad_checkpoint is not None:
            c = self.bad_checkpoint
            lines.append(f"BAD CHECKPOINT: seq {c.seq}: {c.reason}.")
        if self.ok:
            lines.append(
                f"The audit chain holds: {self.rows} rows, head seq {self.head_seq}, "
                f"{self.checkpoints_valid} signed checkpoint(s), the last at seq "
                f"{self.last_checkpoint_seq}; {self.unsigned_rows} row(s) after it."
            )
        return "\n".join(lines)


def check_signature(cp: Checkpoint, keys: Mapping[str, bytes]) -> str | None:
    """``None`` if ``cp`` is signed by one of ``keys`` (key id to raw public key)."""
    raw = keys.get(cp.key_id)
    if raw is None:
        return f"signed by an unknown key {cp.key_id}"
    try:
        signature = base64.b64decode(cp.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(
            signature, checkpoint_message(cp.seq, cp.row_hash, cp.ts, cp.key_id)
        )
    except (InvalidSignature, ValueError):
        return "the signature does not match the checkpoint"
    return None


async def verify_chain(
    db: Database, keys: Mapping[str, bytes], *, batch: int = 2000
) -> VerifyReport:
    async with db.read() as conn:
        checkpoints = await audit_store.list_checkpoints(conn)
    bad_checkpoint: CheckpointProblem | None = None
    valid: list[Checkpoint] = []
    for cp in checkpoints:
        problem = check_signature(cp, keys)
        if problem is None:
            valid.append(cp)
        elif bad_checkpoint is None:
            bad_checkpoint = CheckpointProblem(cp.seq, problem)

    earlier: deque[ChainRow] = deque(maxlen=2)
    buffer: deque[ChainRow] = deque()
    exhausted = False
    fetched_to = 0
    rows = 0
    first_break: Break | None = None
    pending = deque(valid)
    last_good_cp: Checkpoint | None = None
    while True:
        if not exhausted and len(buffer) <= LOOKAHEAD:
            async with db.read() as conn:
                more = await audit_store.chain_rows(conn, fetched_to, batch)
            buffer.extend(more)
            if more:
                fetched_to = more[-1].seq
            exhausted = len(more) < batch
        if not buffer:
            break
        row = buffer.popleft()
        first_break = classify(list(earlier), row, list(islice(buffer, LOOKAHEAD)))
        if first_break is None:
            first_break = _against_checkpoints(pending, row, last_good_cp)
        if first_break is not None:
            break
        while pending and pending[0].seq == row.seq:
            last_good_cp = pending.popleft()
        earlier.append(row)
        rows += 1
    head = earlier[-1] if earlier else None
    if first_break is None and pending:
        cp = pending[0]
        start = head.seq + 1 if head is not None else 1
        first_break = Break(
            start,
            "deleted",
            f"the log ends at seq {start - 1}, but a signed checkpoint vouches for seq {cp.seq}",
        )
    return VerifyReport(
        ok=first_break is None and bad_checkpoint is None,
        rows=rows,
        head_seq=head.seq if head is not None else None,
        head_hash=head.row_hash if head is not None else None,
        first_break=first_break,
        checkpoints=len(checkpoints),
        checkpoints_valid=len(valid),
        bad_checkpoint=bad_checkpoint,
        last_checkpoint_seq=valid[-1].seq if valid else None,
        unsigned_rows=max(0, head.seq - valid[-1].seq) if head and valid else rows,
    )


def _against_checkpoints(
    pending: deque[Checkpoint], row: ChainRow, last_good: Checkpoint | None
) -> Break | None:
    """Compare ``row`` (whose link holds) with the signed checkpoints at or before its seq."""
    since = last_good.seq + 1 if last_good is not None else 1
    if pending and pending[0].seq < row.seq:
        cp = pending[0]
        return Break(
            cp.seq, "deleted", f"a signed checkpoint vouches for seq {cp.seq}, which is gone"
        )
    if pending and pending[0].seq == row.seq and pending[0].row_hash != row.row_hash:
        return Break(
            since,
            "edited",
            f"the rows from seq {since} to {row.seq} were rewritten: the signed checkpoint at "
            f"seq {row.seq} holds another hash",
        )
    return None
