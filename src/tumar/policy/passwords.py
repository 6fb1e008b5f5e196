"""The password policy: pure checks, no I/O. The list of common passwords is loaded by the
caller (``core/password_policy.py``) and passed in.

A password is refused when it is empty or too long, shorter than the minimum length, built
from too few different characters (``aaaaaaaaaaaa``, ``121212121212``), one of the common
passwords (also after undoing look-alike substitutions such as ``p@ssw0rd``, and with trailing
digits and symbols removed, so ``dragon1234567`` counts as ``dragon``), or when it contains the
account's user name or the person's full name, or is a single word of the name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Set
from dataclasses import dataclass

from tumar.policy.decision import Decision

MAX_LENGTH = 512
MIN_DISTINCT_CHARACTERS = 4
# Look-alike substitutions undone before the common-password lookup.
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t"})
_TRAILING = re.compile(r"[\W\d_]+$")
_SEPARATORS = re.compile(r"[\W_]+")
# User names and full names shorter than this are not looked for inside passwords ("Li Na"
# would refuse many passphrases); they are still refused as the whole password. Single words
# of a name (a given name alone) are refused only as the whole password.
_MIN_CONTAINED = 4


@dataclass(frozen=True, slots=True)
class PasswordRules:
    min_length: int = 12
    max_length: int = MAX_LENGTH


def fold(text: str) -> str:
    """Lower case, compatibility-normalised, without separators: how names are compared."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _variants(password: str) -> set[str]:
    """The forms of a password looked up in the common list (all lower case)."""
    lower = unicodedata.normalize("NFKC", password).casefold()
    forms = {lower, lower.translate(_LEET), lower.translate(_LEET).replace("1", "i")}
    forms |= {lower.translate(_LEET).replace("1", "l"), lower.replace(" ", "")}
    stripped = {_TRAILING.sub("", f) for f in forms}
    return forms | {s for s in stripped if len(s) >= 3}


def check_password(
    password: str,
    rules: PasswordRules,
    common: Set[str],
    *,
    user_names: Iterable[str] = (),
    person_names: Iterable[str] = (),
) -> Decision:
    """Whether ``password`` may be set. ``user_names`` are the account's localpart (and user
    id); ``person_names`` the person's names from the directory, in any script."""
    if not password:
        return Decision.deny("The password is empty.")
    if len(password) > rules.max_length:
        return Decision.deny(f"The password is longer than {rules.max_length} characters.")
    if len(password) < rules.min_length:
        return Decision.deny(f"The password must be at least {rules.min_length} characters long.")
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return Decision.deny("The password repeats too few different characters.")
    lower = unicodedata.normalize("NFKC", password).casefold()
    if lower in common or lower.replace(" ", "") in common:
        return Decision.deny("The password is one of the most common passwords; choose another.")
    if _variants(password) & common:
        return Decision.deny(
            "The password is a common password with small changes (look-alike characters, "
            "digits or symbols added); choose another."
        )
    folded = fold(password)
    for name in user_names:
        if _contains(folded, fold(name)):
            return Decision.deny("The password must not contain your user name.")
    full_names, words = _name_forms(person_names)
    bare = _TRAILING.sub("", folded)
    if any(_contains(folded, n) for n in full_names) or folded in words or bare in words:
        return Decision.deny("The password must not contain your name.")
    return Decision.allow()


def _contains(folded_password: str, folded_name: str) -> bool:
    if not folded_name:
        return False
    if folded_password == folded_name or _TRAILING.sub("", folded_password) == folded_name:
        return True
    return len(folded_name) >= _MIN_CONTAINED and folded_name in folded_password


def _name_forms(names: Iterable[str]) -> tuple[set[str], set[str]]:
    """Full names folded (as written and reversed), which a password may not contain, and
    single words of them, which a password may not be."""
    full: set[str] = set()
    single: set[str] = set()
    for name in names:
        words = [w for w in (fold(w) for w in name.split()) if w]
        if words:
            full.update(("".join(words), "".join(reversed(words))))
            single.update(words)
    return full, single
