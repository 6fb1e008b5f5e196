"""The audit hash chain: how a row is hashed, what a checkpoint signs, and what a break in
the chain means. Pure: no I/O, no clock.

Each audit row carries ``prev_hash`` (the ``row_hash`` of the row before it; 64 zeros for the
first row) and ``row_hash``::

    row_hash = hex(SHA-256(prev_hash + "\\n" + canonical(row)))
    canonical(row) = JSON array [seq, ts, actor, action, target_type, target_id,
                                 org_code, ip, before, after]

written compactly (separators ``,`` and ``:``, no spaces), non-ASCII characters as UTF-8,
exactly as ``JSON.stringify`` does in a browser, so anyone can recompute the chain from an
export. ``before`` and ``after`` are the JSON texts as stored (strings, not objects).

A checkpoint signs (Ed25519) the text
``tumar-audit-checkpoint:v1\\n<seq>\\n<row_hash>\\n<ts>\\n<key_id>``.

The same serialisation is repeated in migration 0009 (migrations never import app code); a
test keeps the two equal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GENESIS = "0" * 64
CHECKPOINT_CONTEXT = "tumar-audit-checkpoint:v1"

# The columns that the hash covers, in order.
FIELDS = (
    "seq",
    "ts",
    "actor",
    "action",
    "target_type",
    "target_id",
    "org_code",
    "ip",
    "before",
    "after",
)


@dataclass(frozen=True, slots=True)
class ChainRow:
    seq: int
    ts: int
    actor: str
    action: str
    target_type: str
    target_id: str
    org_code: str | None
    ip: str | None
    before: str | None
    after: str | None
    prev_hash: str | None
    row_hash: str | None


def canonical(row: ChainRow, *, seq: int | None = None) -> bytes:
    """The bytes that the hash covers (``seq`` overrides the row's own, to test a reorder)."""
    values = [
        row.seq if seq is None else seq,
        row.ts,
        row.actor,
        row.action,
        row.target_type,
        row.target_id,
        row.org_code,
        row.ip,
        row.before,
        row.after,
    ]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def hash_row(prev_hash: str, row: ChainRow, *, seq: int | None = None) -> str:
    data = prev_hash.encode("ascii", "replace") + b"\n" + canonical(row, seq=seq)
    return hashlib.sha256(data).hexdigest()


def content_ok(row: ChainRow) -> bool:
    """Whether the row's own hash matches its content and its ``prev_hash``."""
    if row.prev_hash is None or row.row_hash is None:
        return False
    return hash_row(row.prev_hash, row) == row.row_hash


def checkpoint_message(seq: int, row_hash: str, ts: int, key_id: str) -> bytes:
    return f"{CHECKPOINT_CONTEXT}\n{seq}\n{row_hash}\n{ts}\n{key_id}".encode()


def key_id_of(public_key: bytes) -> str:
    """A short, stable name of an Ed25519 public key (raw 32 bytes)."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


Kind = Literal["edited", "deleted", "inserted", "reordered"]


@dataclass(frozen=True, slots=True)
class Break:
    """The first place where the chain does not hold: which row, and what happened to it."""

    seq: int
    kind: Kind
    detail: str


def classify(
    earlier: Sequence[ChainRow],
    row: ChainRow,
    later: Sequence[ChainRow],
) -> Break | None:
    """Judge ``row`` given the rows before it that were found good (``earlier``, oldest
    first; only the last two are consulted) and the rows after it (``later``, nearest first).

    Returns ``None`` when the row is a correct link of the chain. Otherwise names the first
    bad row and how it went bad:

    - *reordered*: the row's hash holds under another row's seq, so it was moved;
    - *inserted*: the next row links straight past it, or neither its hash nor its link
      holds (it was never part of the chain);
    - *edited*: its link holds but its content no longer matches its hash; or (when its own
      hash holds but the link does not, and no seq is missing) the previous row was changed
      and its hash recomputed;
    - *deleted*: its own hash holds but its link does not, and seqs are missing before it.
    """
    prev = earlier[-1] if earlier else None
    expected_prev = prev.row_hash if prev is not None else GENESIS
    ok_content = content_ok(row)
    linked = row.prev_hash == expected_prev
    if ok_content and linked:
        return None
    if not ok_content and row.prev_hash is not None and row.row_hash is not None:
        for other in (*earlier[-2:], *later[:50]):
            if other.seq != row.seq and hash_row(row.prev_hash, row, seq=other.seq) == row.row_hash:
                return Break(
                    row.seq, "reordered", f"this row was written as seq {other.seq} and moved"
                )
    nxt = later[0] if later else None
    if nxt is not None and nxt.prev_hash == expected_prev and content_ok(nxt):
        return Break(row.seq, "inserted", "the next row links to the row before this one")
    if not ok_content:
        if linked:
            return Break(row.seq, "edited", "the row's content no longer matches its hash")
        return Break(row.seq, "inserted", "neither the row's hash nor its link to the chain holds")
    # The row itself is intact, but it does not follow the row before it.
    before_prev = earlier[-2] if len(earlier) >= 2 else None
    if prev is not None and row.prev_hash == (
        before_prev.row_hash if before_prev is not None else GENESIS
    ):
        return Break(prev.seq, "inserted", "the row after it links straight past it")
    first_missing = (prev.seq + 1) if prev is not None else 1
    if row.seq > first_missing:
        last_missing = row.seq - 1
        span = f"seq {first_missing}" + (
            f" to {last_missing}" if last_missing > first_missing else ""
        )
        return Break(first_missing, "deleted", f"missing before seq {row.seq}: {span}")
    if prev is not None:
        return Break(prev.seq, "edited", "the row was changed and its hash recomputed")
    return Break(row.seq, "edited", "the first row does not start the chain")
