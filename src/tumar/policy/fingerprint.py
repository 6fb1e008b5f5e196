"""Content fingerprints for forwarding control (DLP). Pure: no I/O.

A text is normalised so that layout does not matter (Unicode NFKC, case folded, look-alike
Cyrillic and Greek letters mapped to Latin, everything but letters and digits dropped), cut
into overlapping character grams of ``GRAM`` characters, and each gram is hashed with a keyed
hash (BLAKE2b in its keyed mode, a MAC, under the server's secret DLP key, 8 bytes, read as a
signed 64-bit integer; about five times faster than HMAC-SHA256 truncated to 8 bytes, with the
same guarantee). Winnowing then keeps the smallest hash of every window of ``WINDOW`` consecutive
grams: a text keeps about ``2 / (WINDOW + 1)`` of its grams, and any passage of at least
``GRAM + WINDOW - 1`` letters and digits that two texts share yields at least one common
fingerprint (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003).

So whitespace, case, punctuation and markup change nothing, and a small edit only loses the
fingerprints of the grams it touches (``GRAM`` grams per edited character). Without the key,
a fingerprint says nothing about the text: the gram space is too large to guess through a
keyed hash, and the key never leaves the server (see ``docs/dlp.md``).
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

GRAM = 12  # letters and digits per gram
WINDOW = 8  # grams per winnowing window
FINGERPRINT_BYTES = 8

# Look-alike letters (after case folding) that a person could swap in to dodge a match.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "ԁ": "d", "ԛ": "q", "ԝ": "w", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k",
        "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip

_TAG = re.compile(r"<[^>]*>")
_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus the underscore


def normalise(text: str) -> str:
    """The letters and digits of ``text``, NFKC-normalised, case folded, look-alikes mapped."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_CONFUSABLES)
    return _NOT_ALNUM.sub("", folded)


def html_text(formatted: str) -> str:
    """The text of an HTML ``formatted_body``: tags dropped, character references decoded."""
    return html.unescape(_TAG.sub(" ", formatted))


def gram_hashes(normalised: str, key: bytes, gram: int = GRAM) -> list[int]:
    """The keyed hash of every ``gram``-character gram of a normalised text, in order."""
    fresh = hashlib.blake2b(key=key, digest_size=FINGERPRINT_BYTES).copy
    data = normalised.encode("utf-32-le")  # 4 bytes a character: grams are plain slices
    size = 4 * gram
    out = []
    for start in range(0, len(data) - size + 1, 4):
        h = fresh()
        h.update(data[start : start + size])
        out.append(int.from_bytes(h.digest(), "big", signed=True))
    return out


def winnow(hashes: list[int], window: int = WINDOW) -> set[int]:
    """The smallest hash of every window of ``window`` consecutive hashes."""
    if not hashes:
        return set()
    if len(hashes) <= window:
        return {min(hashes)}
    return {min(hashes[i : i + window]) for i in range(len(hashes) - window + 1)}


def fingerprints(
    text: str, key: bytes, *, min_chars: int, gram: int = GRAM, window: int = WINDOW
) -> frozenset[int]:
    """The fingerprints of ``text``; none if it has fewer than ``min_chars`` letters and
    digits (a short text is too common to be anyone's protected content)."""
    norm = normalise(text)
    if len(norm) < max(min_chars, gram):
        return frozenset()
    return frozenset(winnow(gram_hashes(norm, key, gram), window))


def fingerprint_texts(texts: Iterable[str], key: bytes, *, min_chars: int) -> frozenset[int]:
    """The union of the fingerprints of several texts of one message."""
    out: set[int] = set()
    for text in texts:
        out |= fingerprints(text, key, min_chars=min_chars)
    return frozenset(out)


def similarity(new: Collection[int], found: Collection[int]) -> float:
    """The share of ``new``'s fingerprints that are among ``found`` (0 when ``new`` is empty)."""
    if not new:
        return 0.0
    found_set = found if isinstance(found, (set, frozenset)) else set(found)
    return sum(1 for fp in new if fp in found_set) / len(new)


def message_texts(content: Mapping[str, Any]) -> list[str]:
    """The texts of a message that a person reads: ``body`` and ``formatted_body`` (as text),
    and the same inside ``m.new_content`` of an edit."""
    texts: list[str] = []
    for part in (content, content.get("m.new_content")):
        if not isinstance(part, Mapping):
            continue
        body = part.get("body")
        if isinstance(body, str) and body:
            texts.append(body)
        formatted = part.get("formatted_body")
        if isinstance(formatted, str) and formatted:
            texts.append(html_text(formatted))
    return texts
