"""Wakes long-polling ``/sync`` requests of exactly the users a write affected."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from tumar.bus.base import Doorbell
from tumar.core.tokens import SyncToken


class Notifier:
    def __init__(self) -> None:
        # Doorbells tell this node about positions above `floor` only (set at start-up); for
        # older tokens the notifier cannot know, and callers must look in the database.
        self.floor = 2**63
        self._waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._user_pos: dict[str, int] = {}
        self._user_typing: dict[str, int] = {}
        # A wake-all doorbell's position: news for everyone whose token is older.
        self._all_pos = 0
        self.draining = False

    def on_doorbell(self, bell: Doorbell) -> None:
        if bell.wake_all:
            self._all_pos = max(self._all_pos, bell.position)
            self._wake(list(self._waiters))
        for user in bell.users:
            if bell.position and bell.position > self._user_pos.get(user, 0):
                self._user_pos[user] = bell.position
            if bell.typing_serial and bell.typing_serial > self._user_typing.get(user, 0):
                self._user_typing[user] = bell.typing_serial
        self._wake(bell.users)

    def _wake(self, users: Iterable[str]) -> None:
        for user in users:
            for fut in self._waiters.pop(user, ()):
                if not fut.done():
                    fut.set_result(None)

    def drain(self) -> None:
        """Shutting down: answer every parked long-poll now, and park no new one."""
        self.draining = True
        self._wake(list(self._waiters))

    def knows(self, since: SyncToken) -> bool:
        """Whether ``has_news`` is authoritative for a token."""
        return since.pos >= self.floor

    def has_news(self, user_id: str, since: SyncToken) -> bool:
        return (
            self._all_pos > since.pos
            or self._user_pos.get(user_id, 0) > since.pos
            or self._user_typing.get(user_id, 0) > since.typing
        )

    def waiting_users(self) -> list[str]:
        """The users with a long-poll parked on this node now."""
        return list(self._waiters)

    @property
    def waiting(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    async def wait(self, user_id: str, since: SyncToken, timeout: float) -> bool:
        """Wait until something newer than ``since`` affects the user, or the timeout ends.

        Returns whether the user was woken (True) or the wait timed out (False).
        """
        if self.has_news(user_id, since):
            return True
        if timeout <= 0 or self.draining:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[user_id].add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    del self._waiters[user_id]
