"""Localparts derived from people's names."""

from __future__ import annotations

from itertools import islice

import pytest

from tumar.ids import valid_new_localpart
from tumar.policy.localparts import candidates, localpart_base

CASES = [
    ("Aigerim Sadykova", "", "aigerim.sadykova"),
    ("  SADYKOVA   Aigerim  Nurlanovna ", "", "sadykova.aigerim"),  # first two words
    ("Ásel Qudaibergenova", "", "asel.qudaibergenova"),  # Kazakh Latin diacritics
    ("Zhanar Ospanqyzy-Tolegen", "", "zhanar.ospanqyzy"),
    ("O'Brien Şahin", "", "o.brien"),
    ("", "Әсел Құдайбергенова", "asel.qudaybergenova"),
    ("-", "Щукин Ёжик", "shchukin.yozhik"),
    ("—", "", "user"),
    ("李 娜", "", "user"),
    ("a" * 100, "", "a" * 64),
]


@pytest.mark.parametrize(("lat", "cyr", "expected"), CASES)
def test_base(lat: str, cyr: str, expected: str) -> None:
    base = localpart_base(lat, cyr)
    assert base == expected
    assert valid_new_localpart(base)


def test_candidates() -> None:
    assert list(islice(candidates("aigerim.sadykova"), 3)) == [
        "aigerim.sadykova",
        "aigerim.sadykova2",
        "aigerim.sadykova3",
    ]
    assert list(islice(candidates("ivanov.1001"), 2)) == ["ivanov.1001", "ivanov.1001-2"]
