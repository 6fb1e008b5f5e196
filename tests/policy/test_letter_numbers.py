"""Registration number formats: validation and rendering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.letter_numbers import DEFAULT_FORMAT, render, validate_format


@pytest.mark.parametrize(
    ("fmt", "org", "seq", "year", "direction", "expected"),
    [
        ("{org}-{seq}/{yy}", "mof", 12, 2026, "out", "MOF-12/26"),
        ("{org}-{seq:05}/{yyyy}", "mof", 12, 2026, "out", "MOF-00012/2026"),
        ("{dir}-{org}-{seq}/{yy}", "moj", 7, 2026, "in", "IN-MOJ-7/26"),
        ("{dir}{seq:03}/{yy}", "moj", 7, 2005, "out", "OUT007/05"),
        ("{{{org}}}-{seq}-{yyyy}", "edu", 1, 2026, "in", "{EDU}-1-2026"),
        ("№ {seq}/{yy}", "mof", 123456, 2026, "out", "№ 123456/26"),
        (DEFAULT_FORMAT, "mof", 3, 2026, "out", "MOF-00003/26"),
    ],
)
def test_render(fmt: str, org: str, seq: int, year: int, direction: str, expected: str) -> None:
    assert validate_format(fmt)
    assert render(fmt, org, seq, year, direction) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{org}/{yy}", "{seq} exactly once"),
        ("{seq}-{seq}/{yy}", "{seq} exactly once"),
        ("{org}-{seq}", "year"),
        ("{org}-{seq}/{yy}-{x}", "Unknown placeholder {x}"),
        ("{ORG}-{seq}/{yy}", "Unknown placeholder {ORG}"),
        ("{}-{seq}/{yy}", "Unknown placeholder"),
        ("{org.upper}-{seq}/{yy}", "Unknown placeholder"),
        ("{seq:5}/{yy}", "{seq:0N}"),
        ("{seq:013}/{yy}", "{seq:0N}"),
        ("{seq:x}/{yy}", "{seq:0N}"),
        ("{seq}/{yy:02}", "takes no format"),
        ("{seq!r}/{yy}", "malformed"),
        ("{seq/{yy}", "malformed"),
        ("{seq}}/{yy}", "malformed"),
        ("{seq}\n{yy}", "control characters"),
        ("{seq}/{yy}" + "x" * 60, "at most 64"),
    ],
)
def test_bad_formats_are_refused(fmt: str, reason: str) -> None:
    decision = validate_format(fmt)
    assert not decision
    assert reason in decision.reason
    with pytest.raises(ValueError):
        render(fmt, "mof", 1, 2026, "out")


@pytest.mark.parametrize(
    ("seq", "year", "direction"),
    [(0, 2026, "out"), (-1, 2026, "in"), (1, 2026, "up"), (1, 0, "in")],
)
def test_bad_values_are_refused(seq: int, year: int, direction: str) -> None:
    with pytest.raises(ValueError):
        render(DEFAULT_FORMAT, "mof", seq, year, direction)  # type: ignore[arg-type]


@given(
    a=st.integers(1, 10**9),
    b=st.integers(1, 10**9),
    year=st.integers(2000, 2099),
    fmt=st.sampled_from(["{org}-{seq}/{yy}", "{org}-{seq:05}/{yyyy}", "{dir}{seq:03}/{yy}"]),
)
def test_distinct_sequences_give_distinct_numbers(a: int, b: int, year: int, fmt: str) -> None:
    first = render(fmt, "mof", a, year, "out")
    assert (first == render(fmt, "mof", b, year, "out")) is (a == b)
    # Within a century the two-digit year still tells the years apart.
    other_year = 2000 + (year - 2000 + 1) % 100
    assert render(fmt, "mof", a, other_year, "out") != first
