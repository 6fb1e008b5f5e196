"""Stream tokens: the ``since``/``next_batch`` of ``/sync`` and pagination tokens.

``s<pos>_<typing>``: a sync token (stream position and typing serial).
``s<pos>_<typing>_<to-device>``: the same, when more to-device messages are waiting than one
sync delivers: the position of the last to-device message delivered.
``..._h<hold>``: either of the above, when that sync withheld rooms from the session
(conditional access, ``core/device_gate.py``): the id of the set of rooms withheld,
:data:`HOLD_ID_CHARS` lowercase hex digits (the set itself is stored under that id).
``t<pos>``: a pagination token: the boundary just after position ``pos`` in a room timeline.
The prefix letter leaves room to evolve the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tumar.errors import invalid_param

MAX_POSITION = 2**63 - 1  # positions are BIGINT columns; larger ones cannot be queried
HOLD_ID_CHARS = 24  # hex digits of a hold id (96 bits of a SHA-256)

# Without a hold, as they always parsed (a missing typing serial is 0); with one, only the form
# this server writes. At most 19 digits: the range check below then never meets a number that
# int() refuses.
_N = "[0-9]{1,19}"
_SYNC = re.compile(rf"s({_N})(?:_({_N})?(?:_({_N})?)?)?")
_SYNC_HELD = re.compile(rf"s({_N})_({_N})(?:_({_N}))?_h([0-9a-f]{{{HOLD_ID_CHARS}}})")
_PAGINATION = re.compile(rf"t({_N})")


@dataclass(frozen=True, slots=True)
class SyncToken:
    pos: int
    typing: int = 0
    to_device: int | None = None
    hold: str | None = None  # the id of the rooms withheld by the sync that issued the token

    def __str__(self) -> str:
        text = f"s{self.pos}_{self.typing}"
        if self.to_device is not None:
            text += f"_{self.to_device}"
        if self.hold is not None:
            text += f"_h{self.hold}"
        return text

    @classmethod
    def parse(cls, value: str) -> SyncToken:
        if (m := _SYNC.fullmatch(value)) is not None:
            pos, typing, to_device = m.groups()
            token = cls(int(pos), int(typing or 0), int(to_device) if to_device else None)
        elif (m := _SYNC_HELD.fullmatch(value)) is not None:
            pos, typing, to_device, hold = m.groups()
            token = cls(int(pos), int(typing), int(to_device) if to_device else None, hold)
        elif (m := _PAGINATION.fullmatch(value)) is not None:
            token = cls(int(m.group(1)))
        else:
            raise invalid_param(f"Invalid stream token {value[:40]!r}.")
        if not (
            token.pos <= MAX_POSITION
            and token.typing <= MAX_POSITION
            and (token.to_device or 0) <= MAX_POSITION
        ):
            raise invalid_param(f"Invalid stream token {value[:40]!r}.")
        return token


def pagination_token(pos: int) -> str:
    return f"t{pos}"


def parse_position(value: str) -> int:
    """A pagination ``from``/``to``: accepts both ``t`` and ``s`` tokens."""
    return SyncToken.parse(value).pos
