from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy.canonical_json import MAX_SAFE_INTEGER, check_canonical_values


@pytest.mark.parametrize(
    ("value", "allowed", "where"),
    [
        ({"a": 1, "b": [True, None, "x"]}, True, ""),
        ({"n": MAX_SAFE_INTEGER}, True, ""),
        ({"n": -MAX_SAFE_INTEGER}, True, ""),
        ({"n": MAX_SAFE_INTEGER + 1}, False, "content.n"),
        ({"deep": {"list": [1, {"x": -(2**60)}]}}, False, "content.deep.list[1].x"),
        ({"f": 1.5}, False, "content.f"),
        ({"f": [0.0]}, False, "content.f[0]"),
    ],
)
def test_canonical_values(value: object, allowed: bool, where: str) -> None:
    decision = check_canonical_values(value)
    assert decision.allowed is allowed
    assert decision.reason.startswith(where)


@given(
    st.recursive(
        st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text() | st.booleans(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_json_without_floats_or_big_ints_is_allowed(value: object) -> None:
    assert check_canonical_values(value).allowed
