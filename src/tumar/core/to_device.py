"""Send-to-device messages: stored per recipient device, delivered by ``/sync`` at least once,
deleted when the device acknowledges them with a later ``since``.

A send takes one stream position for all its recipients, so a sync that reads up to P
delivers exactly the messages at or below P. Retries of a transaction id change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.ratelimit import RateLimiter
from tumar.core.requester import Requester
from tumar.errors import MatrixError, invalid_param
from tumar.ids import UserId
from tumar.store import e2e_keys as key_store
from tumar.store import to_device as to_device_store
from tumar.store.db import Database
from tumar.store.to_device import ToDeviceMessage

MAX_MESSAGE_BYTES = 65_536
MAX_RECIPIENT_DEVICES = 10_000
WILDCARD = "*"
USERS_PER_QUERY = 500


class ToDeviceService:
    def __init__(
        self, db: Database, bus: Bus, clock: Clock, settings: Settings, limiter: RateLimiter
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._server_name = settings.server_name
        self._limiter = limiter

    async def do_send(
        self,
        requester: Requester,
        event_type: str,
        txn_id: str,
        messages: Mapping[str, Mapping[str, Mapping[str, Any]]],
    ) -> None:
        """Queue ``messages`` (user -> device or ``*`` -> content) for their devices.

        Idempotent per sending device and transaction id; rate limited per sender. Messages to
        users of other servers are dropped (no federation), as are those to unknown devices.
        """
        if not event_type or len(event_type) > 255:
            raise invalid_param("The event type must be 1 to 255 characters.")
        targets: list[tuple[str, dict[str, Mapping[str, Any]]]] = []
        for user_id, by_device in messages.items():
            parsed = UserId.parse(user_id)
            for content in by_device.values():
                if len(orjson.dumps(content)) > MAX_MESSAGE_BYTES:
                    raise MatrixError(
                        413,
                        "M_TOO_LARGE",
                        f"A to-device message is limited to {MAX_MESSAGE_BYTES} bytes.",
                    )
            if parsed.server_name == self._server_name:
                targets.append((user_id, dict(by_device)))
        sender, sender_device = requester.user_id, requester.device_id
        async with self._db.write() as conn:
            if await to_device_store.txn_seen(conn, sender, sender_device, event_type, txn_id):
                return
            await self._limiter.check(sender)
            await to_device_store.insert_txn(
                conn, sender, sender_device, event_type, txn_id, self._clock.now_ms()
            )
            devices: dict[str, set[str]] = {}
            targeted = [user_id for user_id, _ in targets]
            for start in range(0, len(targeted), USERS_PER_QUERY):
                chunk = targeted[start : start + USERS_PER_QUERY]
                for user_id, device_id in await key_store.device_names(conn, chunk):
                    devices.setdefault(user_id, set()).add(device_id)
            deliveries: list[tuple[str, str, Mapping[str, Any]]] = []
            for user_id, by_device in targets:
                known = devices.get(user_id, set())
                wildcard = by_device.pop(WILDCARD, None)
                for device_id, content in by_device.items():
                    if device_id in known:
                        deliveries.append((user_id, device_id, content))
                if wildcard is not None:
                    # An explicit message to a device wins over the wildcard for it.
                    deliveries += [(user_id, d, wildcard) for d in sorted(known - set(by_device))]
            if len(deliveries) > MAX_RECIPIENT_DEVICES:
                raise invalid_param(
                    f"One request may reach at most {MAX_RECIPIENT_DEVICES} devices."
                )
            if not deliveries:
                return
            pos = await self._db.allocate_positions(conn)
            await to_device_store.insert_messages(
                conn,
                [
                    ToDeviceMessage(user, device, pos, sender, event_type, content)
                    for user, device, content in deliveries
                ],
            )
        users = frozenset(user for user, _, _ in deliveries)
        await self._bus.publish(Doorbell(position=pos, users=users))

    async def do_delete_acknowledged(self, user_id: str, device_id: str, upto: int) -> None:
        """The device has received every message at or below ``upto``: delete them."""
        async with self._db.write() as conn:
            await to_device_store.delete_upto(conn, user_id, device_id, upto)
