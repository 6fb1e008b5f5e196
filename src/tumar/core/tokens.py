"""Stream tokens: the ``since``/``next_batch`` of ``/sync`` and pagination tokens.

``s<pos>_<typing>``: a sync token (stream position and typing serial).
``s<pos>_<typing>_<to-device>``: the same, when more to-device messages are waiting than one
sync delivers: the position of the last to-device message delivered.
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
    to_device: int | None = None

    def __str__(self) -> str:
        if self.to_device is not None:
            return f"s{self.pos}_{self.typing}_{self.to_device}"
        return f"s{self.pos}_{self.typing}"

    @classmethod
    def parse(cls, value: str) -> SyncToken:
        try:
            if value.startswith("s"):
                pos, _, rest = value[1:].partition("_")
                typing, _, to_device = rest.partition("_")
                token = cls(int(pos), int(typing or 0), int(to_device) if to_device else None)
            elif value.startswith("t"):
                token = cls(int(value[1:]))
            else:
                raise ValueError(value)
        except ValueError:
            raise invalid_param(f"Invalid stream token {value[:40]!r}.") from None
        if not (
            0 <= token.pos <= MAX_POSITION
            and 0 <= token.typing <= MAX_POSITION
            and 0 <= (token.to_device or 0) <= MAX_POSITION
        ):
            raise invalid_param(f"Invalid stream token {value[:40]!r}.")
        return token


def pagination_token(pos: int) -> str:
    return f"t{pos}"


def parse_position(value: str) -> int:
    """A pagination ``from``/``to``: accepts both ``t`` and ``s`` tokens."""
    return SyncToken.parse(value).pos
