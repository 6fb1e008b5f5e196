"""Typing notifications: ephemeral, in memory, with their own serial in the sync token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock


class TypingService:
    def __init__(self, bus: Bus, clock: Clock, max_timeout_ms: int) -> None:
        self._bus = bus
        self._clock = clock
        self._max_timeout_ms = max_timeout_ms
        self._typing: dict[str, dict[str, float]] = {}  # room -> user -> expiry (monotonic)
        self._room_serial: dict[str, int] = {}
        self.serial = 0
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def typing_users(self, room_id: str) -> list[str]:
        now = self._clock.monotonic()
        return sorted(u for u, exp in self._typing.get(room_id, {}).items() if exp > now)

    def changed_since(self, room_id: str, serial: int) -> bool:
        return self._room_serial.get(room_id, 0) > serial

    async def set_typing(
        self, room_id: str, user_id: str, typing: bool, timeout_ms: int, members: list[str]
    ) -> None:
        room = self._typing.setdefault(room_id, {})
        was = user_id in room and room[user_id] > self._clock.monotonic()
        timer = self._timers.pop((room_id, user_id), None)
        if timer is not None:
            timer.cancel()
        if typing:
            seconds = min(timeout_ms, self._max_timeout_ms) / 1000
            room[user_id] = self._clock.monotonic() + seconds
            loop = asyncio.get_running_loop()
            self._timers[(room_id, user_id)] = loop.call_later(
                seconds, self._expire(room_id, user_id, members)
            )
        else:
            room.pop(user_id, None)
        if typing != was:
            await self._changed(room_id, members)

    def _expire(self, room_id: str, user_id: str, members: list[str]) -> Callable[[], None]:
        def run() -> None:
            self._timers.pop((room_id, user_id), None)
            self._typing.get(room_id, {}).pop(user_id, None)
            task = asyncio.ensure_future(self._changed(room_id, members))
            task.add_done_callback(lambda _t: None)

        return run

    async def _changed(self, room_id: str, members: list[str]) -> None:
        self.serial += 1
        self._room_serial[room_id] = self.serial
        await self._bus.publish(
            Doorbell(position=0, users=frozenset(members), typing_serial=self.serial)
        )

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
