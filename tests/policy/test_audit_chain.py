"""The chain's pure rules: hashing, and naming the first bad row for each kind of tampering."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from tumar.policy.audit_chain import GENESIS, Break, ChainRow, canonical, classify, hash_row


def chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = ChainRow(seq, 1000 + seq, "cli:x", "org.create", "organisation", f"o{seq}",
                       None, None, None, '{"name":"Ұйым"}', prev, None)  # fmt: skip
        row = replace(row, row_hash=hash_row(prev, row))
        rows.append(row)
        prev = row.row_hash or ""
    return rows


def first_break(rows: list[ChainRow]) -> Break | None:
    good: list[ChainRow] = []
    for i, row in enumerate(rows):
        found = classify(good, row, rows[i + 1 :])
        if found is not None:
            return found
        good.append(row)
    return None


def edited(rows: list[ChainRow]) -> list[ChainRow]:
    return [replace(r, actor="@evil:x") if r.seq == 3 else r for r in rows]


def deleted(rows: list[ChainRow]) -> list[ChainRow]:
    return [r for r in rows if r.seq != 3]


def inserted(rows: list[ChainRow]) -> list[ChainRow]:
    ghost = replace(rows[0], seq=3, target_id="ghost", prev_hash="f" * 64, row_hash="e" * 64)
    return [*rows[:2], ghost, *(replace(r, seq=r.seq + 1) for r in rows[2:])]


def reordered(rows: list[ChainRow]) -> list[ChainRow]:
    a, b = rows[2], rows[3]
    return [*rows[:2], replace(b, seq=3), replace(a, seq=4), *rows[4:]]


def rehashed(rows: list[ChainRow]) -> list[ChainRow]:
    changed = replace(rows[2], ip="10.0.0.1")
    changed = replace(changed, row_hash=hash_row(changed.prev_hash or "", changed))
    return [*rows[:2], changed, *rows[3:]]


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (edited, 3, "edited"),
        (deleted, 3, "deleted"),
        (inserted, 3, "inserted"),
        (reordered, 3, "reordered"),
        (rehashed, 3, "edited"),
    ],
)
def test_the_first_bad_row_is_named(
    tamper: Callable[[list[ChainRow]], list[ChainRow]], seq: int, kind: str
) -> None:
    rows = chain(6)
    assert first_break(rows) is None
    found = first_break(tamper(rows))
    assert found is not None
    assert (found.seq, found.kind) == (seq, kind)


def test_canonical_form_is_compact_utf8_json() -> None:
    row = chain(1)[0]
    text = canonical(row).decode()
    assert text == json.dumps(
        [1, 1001, "cli:x", "org.create", "organisation", "o1", None, None, None,
         '{"name":"Ұйым"}'], ensure_ascii=False, separators=(",", ":"),
    )  # fmt: skip
    assert "Ұйым" in text and " " not in text
    assert hash_row(GENESIS, row) != hash_row(GENESIS, row, seq=2)
