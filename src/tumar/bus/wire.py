"""How a doorbell travels between nodes: one JSON object per pub/sub message.

Besides every :class:`~tumar.bus.base.Doorbell` field the message names the publishing node
(so a node skips the echo of its own doorbells, which it delivered locally already) and the
publish time (so the receiver can report the bus lag). Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tumar.bus.base import Doorbell


@dataclass(frozen=True, slots=True)
class Envelope:
    bell: Doorbell
    node: str
    """Id of the publishing node."""
    sent: float
    """Publish time, seconds since the epoch (wall clock of the publishing node)."""
    to_self: bool = False
    """Delivered to the publishing node too (it did not deliver the doorbell locally)."""


def encode(bell: Doorbell, node: str, sent: float, *, to_self: bool = False) -> bytes:
    """The message for ``bell``. ``typing_serial`` comes last, so a Redis script that numbers
    typing doorbells can replace it (see :mod:`tumar.bus.redis`)."""
    return orjson.dumps(
        {
            "node": node,
            "sent": sent,
            "to_self": to_self,
            "position": bell.position,
            "users": sorted(bell.users),
            "rooms": sorted(bell.rooms),
            "sessions": sorted(bell.sessions),
            "wake_all": bell.wake_all,
            "typing_room": bell.typing_room,
            "typing_users": [list(pair) for pair in bell.typing_users],
            "typing_serial": bell.typing_serial,
        }
    )


def decode(data: bytes | str) -> Envelope:
    """Parse a message; raises ``ValueError`` for anything that is not one."""
    try:
        raw: Any = orjson.loads(data)
        bell = Doorbell(
            position=_int(raw["position"]),
            users=_names(raw["users"]),
            typing_serial=_int(raw.get("typing_serial", 0)),
            rooms=_names(raw.get("rooms", [])),
            sessions=_names(raw.get("sessions", [])),
            wake_all=bool(raw.get("wake_all", False)),
            typing_room=str(raw.get("typing_room", "")),
            typing_users=tuple((str(u), _int(exp)) for u, exp in raw.get("typing_users", [])),
        )
        return Envelope(bell, str(raw["node"]), float(raw["sent"]), bool(raw.get("to_self")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a doorbell message: {exc}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return frozenset(str(v) for v in value)
