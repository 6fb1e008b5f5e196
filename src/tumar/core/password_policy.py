"""Applying the password policy: loads the common-password list shipped in the package once,
and turns a refusal into ``M_WEAK_PASSWORD``."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources

from tumar.config import Settings
from tumar.errors import MatrixError
from tumar.policy.passwords import PasswordRules, check_password


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list (``policy/data/common-passwords.txt``), lower case."""
    text = resources.files("tumar.policy").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def weak_password(reason: str) -> MatrixError:
    return MatrixError(400, "M_WEAK_PASSWORD", reason)


class PasswordPolicy:
    def __init__(self, settings: Settings, common: frozenset[str] | None = None) -> None:
        self._rules = PasswordRules(min_length=settings.password_min_length)
        self._common = common if common is not None else common_passwords()

    def check(
        self, password: str, *, localpart: str | None = None, names: Iterable[str] = ()
    ) -> None:
        """Raise 400 ``M_WEAK_PASSWORD`` with the reason when the policy refuses it."""
        decision = check_password(
            password,
            self._rules,
            self._common,
            user_names=[localpart] if localpart else [],
            person_names=names,
        )
        if not decision:
            raise weak_password(decision.reason)
