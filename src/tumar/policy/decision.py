"""The result type of every policy function: allowed or not, and why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """A pure policy verdict. ``reason`` is readable and safe to show to the requester."""

    allowed: bool
    reason: str = ""

    @classmethod
    def allow(cls) -> Decision:
        return cls(True)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(False, reason)

    def __bool__(self) -> bool:
        return self.allowed
