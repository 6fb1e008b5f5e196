"""Deriving an account's localpart from a person's name: pure, no I/O.

The base is the first two words of the person's Latin name (directories write "Surname Given
name Patronymic" or "Given name Surname"; the order is kept as written), lower case, without
diacritics, joined by ``.``: ``Aigerim Sadykova`` -> ``aigerim.sadykova``. When the Latin name
gives nothing usable the Cyrillic name is transliterated (Kazakh and Russian letters). Taken
names get a numeric suffix: ``aigerim.sadykova2``, ``aigerim.sadykova3``, ...
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

MAX_BASE_LENGTH = 64
FALLBACK = "user"

_CYRILLIC = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e",
    "ё": "yo", "ж": "zh", "з": "z", "и": "i", "й": "y", "к": "k", "қ": "q", "л": "l",
    "м": "m", "н": "n", "ң": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ұ": "u", "ү": "u", "ф": "f", "х": "kh", "һ": "h", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "і": "i", "ь": "", "э": "e",
    "ю": "yu", "я": "ya",
}  # fmt: skip
# Latin letters that Unicode does not decompose into a base letter and a mark.
_LATIN_EXTRA = {"ı": "i", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ł": "l"}
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _ascii_words(text: str) -> list[str]:
    lowered = text.casefold()
    lowered = "".join(_CYRILLIC.get(c, _LATIN_EXTRA.get(c, c)) for c in lowered)
    decomposed = unicodedata.normalize("NFKD", lowered)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [w for w in _NOT_WORD.split(plain) if w]


def localpart_base(name_lat: str, name_cyr: str = "") -> str:
    """The localpart a person would get if nobody had taken it."""
    words = _ascii_words(name_lat) or _ascii_words(name_cyr)
    if not words:
        return FALLBACK
    base = ".".join(words[:2])[:MAX_BASE_LENGTH].strip(".")
    return base or FALLBACK


def candidates(base: str) -> Iterator[str]:
    """``base``, then ``base2``, ``base3``, ... (``base-2`` when the base ends in a digit)."""
    yield base
    joiner = "-" if base[-1:].isdigit() else ""
    n = 2
    while True:
        yield f"{base}{joiner}{n}"
        n += 1
