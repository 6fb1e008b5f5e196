"""Typing notifications: ephemeral, in memory, with their own serial in the sync token.

Every change travels as a doorbell naming the room and the user's new expiry, and every node
applies it to its own copy of the typing state (the node that made the change too, through its
own subscription). With one node the serial is a counter in this process. With several nodes
(Redis) the serial is global: Redis numbers each typing doorbell and publishes it in one step,
so every node sees typing changes in serial order, and a sync token's typing serial means the
same on every node. While Redis is unreachable a node numbers its changes itself, above every
serial it has seen, and Redis's counter is raised past them once it is back.

A node expires the typing users it set itself (a timer); the others show an entry only until its
expiry passes, even when the node that set it has gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock

log = logging.getLogger(__name__)

_KEEP_STOPPED_MS = 60_000  # how long a "stopped" entry guards against an older doorbell


class GlobalTypingSerial(Protocol):
    """Numbers typing doorbells across nodes (:class:`tumar.bus.redis.RedisBus`)."""

    async def publish_typing(self, bell: Doorbell, floor: int) -> int | None: ...

    async def typing_serial(self) -> int | None: ...


@dataclass(slots=True)
class _Entry:
    expiry_ms: int
    """Wall-clock expiry, 0 once the user stopped."""
    serial: int
    """The serial of the change that set this entry: an older doorbell does not undo it."""
    changed_ms: int


class TypingService:
    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        max_timeout_ms: int,
        global_serial: GlobalTypingSerial | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._max_timeout_ms = max_timeout_ms
        self._global = global_serial
        self._typing: dict[str, dict[str, _Entry]] = {}  # room -> user -> entry
        self._room_serial: dict[str, int] = {}
        self.serial = 0
        # The expiry timers of the typing users this node set: (room, user) -> (timer, serial).
        self._timers: dict[tuple[str, str], tuple[asyncio.TimerHandle, int]] = {}
        self._tasks: set[asyncio.Task[int]] = set()
        self._serial_waiters: list[tuple[int, asyncio.Future[None]]] = []
        bus.subscribe(self._on_doorbell)

    async def start(self) -> None:
        """With a global serial: start from its current value, so sync tokens handed out by
        other nodes (or before a restart) are not mistaken for tokens from the future."""
        if self._global is not None:
            self.serial = max(self.serial, await self._global.typing_serial() or 0)

    def typing_users(self, room_id: str) -> list[str]:
        now = self._clock.now_ms()
        return sorted(u for u, e in self._typing.get(room_id, {}).items() if e.expiry_ms > now)

    def changed_since(self, room_id: str, serial: int) -> bool:
        return self._room_serial.get(room_id, 0) > serial

    async def set_typing(
        self, room_id: str, user_id: str, typing: bool, timeout_ms: int, members: list[str]
    ) -> None:
        now = self._clock.now_ms()
        entry = self._typing.get(room_id, {}).get(user_id)
        was = entry is not None and entry.expiry_ms > now
        self._cancel_timer(room_id, user_id)
        expiry = now + min(timeout_ms, self._max_timeout_ms) if typing else 0
        if typing == was and (self._global is None or not typing):
            # Nothing others see changed. One node: a renewal only moves the expiry. (With
            # several nodes a renewal travels, so every node moves the expiry.)
            if entry is not None:
                entry.expiry_ms = expiry
                if typing:
                    self._start_timer(room_id, user_id, members, expiry, entry.serial)
            return
        serial = await self._publish(room_id, user_id, expiry, members if typing != was else [])
        if typing and self._entry_serial(room_id, user_id) <= serial:
            # (With Redis this node may apply its own change a moment later, from Redis.)
            self._start_timer(room_id, user_id, members, expiry, serial)

    def _start_timer(
        self, room_id: str, user_id: str, members: list[str], expiry: int, serial: int
    ) -> None:
        self._cancel_timer(room_id, user_id)
        seconds = max(0.0, (expiry - self._clock.now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(seconds, self._expire(room_id, user_id, members, serial))
        self._timers[(room_id, user_id)] = (timer, serial)

    def _cancel_timer(self, room_id: str, user_id: str, *, older_than: int | None = None) -> None:
        held = self._timers.get((room_id, user_id))
        if held is not None and (older_than is None or held[1] < older_than):
            held[0].cancel()
            del self._timers[(room_id, user_id)]

    def _expire(
        self, room_id: str, user_id: str, members: list[str], serial: int
    ) -> Callable[[], None]:
        def run() -> None:
            self._timers.pop((room_id, user_id), None)
            if self._entry_serial(room_id, user_id) > serial:
                return  # changed since, here or on another node
            task = asyncio.ensure_future(self._publish(room_id, user_id, 0, members))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return run

    async def _publish(self, room_id: str, user_id: str, expiry: int, members: list[str]) -> int:
        """Publish one user's new typing state; ``members`` are woken (empty when nothing they
        see changed). Returns the change's serial."""
        bell = Doorbell(
            position=0,
            users=frozenset(members),
            typing_room=room_id,
            typing_users=((user_id, expiry),),
        )
        if self._global is not None:
            serial = await self._global.publish_typing(bell, self.serial)
            if serial is not None:
                # Redis delivers it to this node too, in serial order: wait for that, so this
                # node shows the change once the request that made it has been answered.
                await self._reached(serial)
                return serial
        serial = self.serial + 1
        await self._bus.publish(
            Doorbell(
                position=0,
                users=bell.users,
                typing_serial=serial,
                typing_room=room_id,
                typing_users=bell.typing_users,
            )
        )
        return serial

    async def _reached(self, serial: int) -> None:
        """Wait (briefly: Redis may be going away) until this node has applied ``serial``."""
        if self.serial >= serial:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (serial, future)
        self._serial_waiters.append(waiter)
        try:
            await asyncio.wait_for(future, 1.0)
        except TimeoutError:
            log.warning("Typing: serial %d did not come back from Redis within 1 s", serial)
        finally:
            if waiter in self._serial_waiters:
                self._serial_waiters.remove(waiter)

    def _on_doorbell(self, bell: Doorbell) -> None:
        """Apply a typing change (from any node, this one included)."""
        if not bell.typing_room or not bell.typing_serial:
            return
        room_id, serial = bell.typing_room, bell.typing_serial
        self.serial = max(self.serial, serial)
        for wanted, future in self._serial_waiters:
            if wanted <= self.serial and not future.done():
                future.set_result(None)
        if bell.users:  # what the members see changed: their next sync includes the room
            self._room_serial[room_id] = max(self._room_serial.get(room_id, 0), serial)
        now = self._clock.now_ms()
        room = self._typing.setdefault(room_id, {})
        for user_id, expiry in bell.typing_users:
            entry = room.get(user_id)
            if entry is not None and entry.serial >= serial:
                continue  # an older doorbell arriving late (or this one again)
            # A newer change made elsewhere owns the expiry from now on.
            self._cancel_timer(room_id, user_id, older_than=serial)
            room[user_id] = _Entry(expiry, serial, now)
        for user_id in [
            u
            for u, e in room.items()
            if max(e.expiry_ms, e.changed_ms) + _KEEP_STOPPED_MS < now
            and (room_id, u) not in self._timers
        ]:
            del room[user_id]

    def _entry_serial(self, room_id: str, user_id: str) -> int:
        entry = self._typing.get(room_id, {}).get(user_id)
        return entry.serial if entry is not None else 0

    def close(self) -> None:
        for timer, _serial in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
