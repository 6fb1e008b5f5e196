"""The bus carries doorbells only: "the stream moved to position P; these users are affected".

Readers always re-read the database from their last position, so a lost doorbell costs latency,
never data. Implementations: :mod:`tumar.bus.local` (in-process) and, for several nodes,
:mod:`tumar.bus.redis`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Doorbell:
    position: int
    """Stream position after the write (0 for ephemeral-only changes such as typing)."""
    users: frozenset[str]
    """Users whose sync may have changed."""
    typing_serial: int = 0
    """Serial of the ephemeral typing stream, when the change is a typing update."""
    rooms: frozenset[str] = field(default_factory=frozenset)
    sessions: frozenset[str] = field(default_factory=frozenset)
    """Users whose access tokens changed (logout, deactivation, suspension): every node drops
    what it cached of their sessions."""
    wake_all: bool = False
    """The stream moved to ``position`` but the affected users are unknown (a node that may
    have missed doorbells catches up): every parked long-poll re-reads the database."""
    typing_room: str = ""
    """The room whose typing state ``typing_users`` changes (every node mirrors it)."""
    typing_users: tuple[tuple[str, int], ...] = ()
    """``(user, expiry)`` of each user whose typing state changed in ``typing_room``; expiry in
    wall-clock milliseconds since the epoch, 0 when the user stopped typing."""


Handler = Callable[[Doorbell], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, bell: Doorbell) -> None: ...

    def subscribe(self, handler: Handler) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> str | None:
        """None when the bus works, else a short reason (for readiness checks)."""
        ...

    @property
    def connected(self) -> bool:
        """Whether doorbells reach the other nodes now."""
        ...

    @property
    def lag_seconds(self) -> float:
        """The last observed delay from publishing a doorbell to receiving it."""
        ...
