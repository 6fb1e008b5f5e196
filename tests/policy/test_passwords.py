"""The password policy as a table: what is refused, and why."""

from __future__ import annotations

import pytest

from tumar.core.password_policy import common_passwords
from tumar.policy.passwords import PasswordRules, check_password

RULES = PasswordRules(min_length=12)
COMMON = common_passwords()

REFUSED = [
    ("", (), (), "empty"),
    ("x" * 513, (), (), "longer than 512"),
    ("short pass", (), (), "at least 12"),
    ("aaaaaaaaaaaaaaaa", (), (), "too few different"),
    ("121212121212", (), (), "too few different"),
    ("qwertyuiop123", (), (), "common"),
    ("QWERTYUIOP123", (), (), "common"),  # case does not matter
    ("1q2w3e4r5t6y", (), (), "common"),
    ("P@ssw0rd2024!!", (), (), "common"),  # look-alikes and a year undone
    ("dragon1234567", (), (), "common"),
    ("Kazakhstan2025!", (), (), "common"),
    ("ghbdtn123456", (), (), "common"),  # "привет" typed on a Latin keyboard
    ("пароль123456", (), (), "common"),
    ("aigerim.sadykova", ("aigerim.sadykova",), (), "user name"),
    ("my aigerim.sadykova key", ("aigerim.sadykova",), (), "user name"),
    ("AigerimSadykova99", ("aigerim.sadykova",), (), "user name"),
    ("Sadykova Aigerim", (), ("Aigerim Sadykova",), "name"),
    ("Садыкова Айгерим!", (), ("Айгерим Садыкова",), "name"),
    ("Nurlanbekovich1", (), ("Bekov Nurlanbekovich",), "name"),  # one word of the name
]


@pytest.mark.parametrize(("password", "users", "names", "reason"), REFUSED)
def test_refused(
    password: str, users: tuple[str, ...], names: tuple[str, ...], reason: str
) -> None:
    decision = check_password(password, RULES, COMMON, user_names=users, person_names=names)
    assert not decision
    assert reason in decision.reason


ALLOWED = [
    ("correct horse battery", ("alice",), ("Alice Smith",)),
    ("demo-password-2026", (), ()),
    ("Ана ата мен бала", ("aigerim.sadykova",), ("Айгерим Садыкова",)),
    ("Li met Na at the lake", ("li",), ("Li Na",)),  # short names are not looked for inside
    ("Aigerim likes tea", ("x.y",), ("Aigerim Sadykova",)),  # a given name inside is fine
]


@pytest.mark.parametrize(("password", "users", "names"), ALLOWED)
def test_allowed(password: str, users: tuple[str, ...], names: tuple[str, ...]) -> None:
    assert check_password(password, RULES, COMMON, user_names=users, person_names=names)


def test_the_minimum_length_is_a_setting() -> None:
    assert check_password("sunny river", PasswordRules(min_length=8), COMMON)
    assert not check_password("sunny river", PasswordRules(min_length=12), COMMON)


def test_the_shipped_list() -> None:
    assert len(COMMON) > 5_000
    assert {"123456", "password", "qwerty", "йцукен", "astana2024"} <= COMMON
    assert all(p == p.casefold() and p.strip() == p for p in COMMON)
