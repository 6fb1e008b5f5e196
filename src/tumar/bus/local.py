"""The in-process bus: for one node. Delivery is a direct call to each subscriber."""

from __future__ import annotations

from tumar.bus.base import Doorbell, Handler


class LocalBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    async def start(self) -> None:
        return None

    async def publish(self, bell: Doorbell) -> None:
        for handler in self._handlers:
            handler(bell)

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def close(self) -> None:
        self._handlers.clear()

    async def check(self) -> str | None:
        return None

    @property
    def connected(self) -> bool:
        return True  # nothing to connect to: every subscriber is in this process

    @property
    def lag_seconds(self) -> float:
        return 0.0
