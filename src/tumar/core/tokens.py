"""Stream tokens: the ``since``/``next_batch`` of ``/sync`` and pagination tokens.

``s<pos>_<typing>``: a sync token (stream position and typing serial).
``t<pos>``: a pagination token: the boundary just after position ``pos`` in a room timeline.
The prefix letter leaves room to evolve the format.
"""

from __future__ import annotations

from dataclasses import dataclass

from tumar.errors import invalid_param

MAX_POSITION = 2**63 - 1  # positions are BIGINT columns; larger ones cannot be queried


@dataclass(frozen=True, slots=True)
class SyncToken:
    pos: int
    typing: int = 0

    def __str__(self) -> str:
        return f"s{self.pos}_{self.typing}"

    @classmethod
    def parse(cls, value: str) -> SyncToken:
        try:
            if value.startswith("s"):
                pos, _, typing = value[1:].partition("_")
                token = cls(int(pos), int(typing or 0))
            elif value.startswith("t"):
                token = cls(int(value[1:]))
            else:
                raise ValueError(value)
        except ValueError:
            raise invalid_param(f"Invalid stream token {value[:40]!r}.") from None
        if not (0 <= token.pos <= MAX_POSITION and 0 <= token.typing <= MAX_POSITION):
            raise invalid_param(f"Invalid stream token {value[:40]!r}.")
        return token


def pagination_token(pos: int) -> str:
    return f"t{pos}"


def parse_position(value: str) -> int:
    """A pagination ``from``/``to``: accepts both ``t`` and ``s`` tokens."""
    return SyncToken.parse(value).pos
