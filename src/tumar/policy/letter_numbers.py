"""Registration number formats of official letters: validate and render. Pure.

A format is text with placeholders in braces:

- ``{org}``: the organisation code in capitals (``mof`` -> ``MOF``);
- ``{seq}``: the sequence number within the organisation, year and direction; ``{seq:05}``
  pads it with zeros to five digits (widths 1-12);
- ``{yy}`` / ``{yyyy}``: the registration year, two or four digits;
- ``{dir}``: ``IN`` for incoming, ``OUT`` for outgoing registration.

``{{`` and ``}}`` stand for literal braces. A format must contain ``{seq}`` exactly once and a
year (counters restart every year, so without the year numbers would repeat).
"""

from __future__ import annotations

import re
import string
from typing import Literal

from tumar.policy.decision import Decision

Direction = Literal["in", "out"]

DEFAULT_FORMAT = "{org}-{seq:05}/{yy}"
MAX_FORMAT = 64  # characters of a format
MAX_SEQ_WIDTH = 12
PLACEHOLDERS = ("org", "seq", "yy", "yyyy", "dir")
DIRECTION_TEXT: dict[str, str] = {"in": "IN", "out": "OUT"}

_WIDTH = re.compile(r"^0([1-9][0-9]?)$")
_LITERAL_BAD = re.compile(r"[\x00-\x1f\x7f]")


def _fields(fmt: str) -> list[tuple[str, str | None, str | None]]:
    """(literal, field, spec) triples; raises ``ValueError`` on unbalanced braces."""
    result: list[tuple[str, str | None, str | None]] = []
    for literal, name, spec, conversion in string.Formatter().parse(fmt):
        if conversion is not None:
            raise ValueError(f"conversion !{conversion} is not allowed")
        result.append((literal, name, spec))
    return result


def validate_format(fmt: str) -> Decision:
    """Whether ``fmt`` is a usable number format, with a readable reason when it is not."""
    if not isinstance(fmt, str) or not fmt.strip():
        return Decision.deny("The number format is empty.")
    if len(fmt) > MAX_FORMAT:
        return Decision.deny(f"The number format may have at most {MAX_FORMAT} characters.")
    if _LITERAL_BAD.search(fmt):
        return Decision.deny("The number format contains control characters.")
    try:
        parts = _fields(fmt)
    except ValueError as exc:
        return Decision.deny(
            f"The number format is malformed ({exc}); use {{{{ and }}}} for braces."
        )
    seqs = 0
    year = False
    for _literal, name, spec in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            return Decision.deny(f"Unknown placeholder {{{name}}} (known: {known}).")
        if spec:
            if name != "seq":
                return Decision.deny(f"The placeholder {{{name}}} takes no format.")
            width = _WIDTH.match(spec)
            if not width or int(width.group(1)) > MAX_SEQ_WIDTH:
                allowed = f"{{seq}} or {{seq:0N}} with N from 1 to {MAX_SEQ_WIDTH}"
                return Decision.deny(f"Use {allowed}, not {{seq:{spec}}}.")
        seqs += name == "seq"
        year = year or name in ("yy", "yyyy")
    if seqs != 1:
        return Decision.deny("The number format must contain {seq} exactly once.")
    if not year:
        return Decision.deny("The number format must contain the year ({yy} or {yyyy}).")
    return Decision.allow()


def render(fmt: str, org: str, seq: int, year: int, direction: Direction) -> str:
    """The registration number for sequence ``seq``; raises ``ValueError`` on a bad format,
    a sequence below 1 or an unknown direction."""
    decision = validate_format(fmt)
    if not decision:
        raise ValueError(decision.reason)
    if seq < 1:
        raise ValueError("sequence numbers start at 1")
    if direction not in DIRECTION_TEXT:
        raise ValueError(f"unknown direction {direction!r}")
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    values = {
        "org": org.upper(),
        "yy": f"{year % 100:02d}",
        "yyyy": f"{year:04d}",
        "dir": DIRECTION_TEXT[direction],
    }
    out: list[str] = []
    for literal, name, spec in _fields(fmt):
        out.append(literal)
        if name == "seq":
            out.append(format(seq, spec or "d"))
        elif name is not None:
            out.append(values[name])
    return "".join(out)
