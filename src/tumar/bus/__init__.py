"""The doorbell bus between writers and long-polls: in-process, or over Redis for several nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tumar.bus.base import Bus, Doorbell, Handler
from tumar.bus.local import LocalBus

if TYPE_CHECKING:
    from tumar.config import Settings
    from tumar.store.db import Database

__all__ = ["Bus", "Doorbell", "Handler", "LocalBus", "build_bus"]


def build_bus(settings: Settings, db: Database) -> Bus:
    """``RedisBus`` when ``redis_url`` is set (several nodes), else the in-process bus."""
    if not settings.redis_url:
        return LocalBus()
    from tumar.bus.redis import RedisBus, redis_client

    return RedisBus(
        redis_client(settings.redis_url),
        db,
        prefix=f"{settings.redis_channel_prefix}:{settings.server_name}",
        fallback_poll_ms=settings.bus_fallback_poll_ms,
    )
