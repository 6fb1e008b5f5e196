"""When and from where each device was last used (``devices.last_seen_ts`` / ``_ip``), as
administrators see it in a person's sessions and the rollout counts active people.

Written at most once per interval per device and node (and at once when the address
changes), so an active client costs one small write every few minutes, not one per request.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.store.db import Database
from tumar.store.schema import devices

INTERVAL_MS = 5 * 60_000
MAX_REMEMBERED = 100_000


class LastSeen:
    def __init__(self, db: Database, clock: Clock, interval_ms: int = INTERVAL_MS) -> None:
        self._db = db
        self._clock = clock
        self._interval = interval_ms
        self._written: dict[tuple[str, str], tuple[int, str | None]] = {}

    async def touch(self, user_id: str, device_id: str, ip: str | None) -> None:
        """Note a request from the device; written when due."""
        now = self._clock.now_ms()
        last = self._written.get((user_id, device_id))
        if last is not None and now - last[0] < self._interval and last[1] == ip:
            return
        async with self._db.write() as conn:
            await self.record(conn, user_id, device_id, ip, now)

    async def record(
        self, conn: AsyncConnection, user_id: str, device_id: str, ip: str | None, now: int
    ) -> None:
        """Write the device's last use in the caller's transaction (a login, say)."""
        if len(self._written) >= MAX_REMEMBERED:
            self._written.clear()
        self._written[(user_id, device_id)] = (now, ip)
        await conn.execute(
            update(devices)
            .where(devices.c.user_id == user_id, devices.c.device_id == device_id)
            .values(last_seen_ts=now, last_seen_ip=ip)
        )
