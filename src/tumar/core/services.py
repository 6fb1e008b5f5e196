"""The composition root: builds every service from settings, with no globals."""

from __future__ import annotations

from dataclasses import dataclass

from tumar.bus.base import Bus
from tumar.bus.local import LocalBus
from tumar.clock import Clock, SystemClock
from tumar.config import Settings
from tumar.core.accounts import AccountService
from tumar.core.audit import AuditReader
from tumar.core.directory import DirectoryService
from tumar.core.membership import MembershipService
from tumar.core.notifier import Notifier
from tumar.core.passwords import Passwords
from tumar.core.profile import ProfileService
from tumar.core.ratelimit import RateLimiter
from tumar.core.reading import RoomReader
from tumar.core.room_creation import RoomCreator
from tumar.core.rooms import RoomService
from tumar.core.sync import SyncService
from tumar.core.typing import TypingService
from tumar.core.userdata import UserDataService
from tumar.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    notifier: Notifier
    accounts: AccountService
    rooms: RoomService
    membership: MembershipService
    creator: RoomCreator
    reader: RoomReader
    sync: SyncService
    typing: TypingService
    profile: ProfileService
    userdata: UserDataService
    directory: DirectoryService
    audit: AuditReader

    async def start(self) -> None:
        if self.settings.auto_migrate:
            await self.db.migrate()
        self.notifier.floor = await self.db.current_position()
        await self.bus.start()

    async def close(self) -> None:
        self.typing.close()
        await self.bus.close()
        await self.db.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    bus: Bus | None = None,
) -> Services:
    clock = clock or SystemClock()
    db = db or Database(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        schema=settings.database_schema,
    )
    bus = bus or LocalBus()
    notifier = Notifier()
    bus.subscribe(notifier.on_doorbell)
    passwords = Passwords(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    login_limiter = RateLimiter(
        clock,
        per_second=settings.login_rate_per_second,
        burst=settings.login_rate_burst,
        enabled=settings.rate_limit_enabled,
    )
    send_limiter = RateLimiter(
        clock,
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        enabled=settings.rate_limit_enabled,
    )
    accounts = AccountService(db, clock, settings, passwords, login_limiter)
    rooms = RoomService(db, bus, clock, settings, send_limiter)
    typing = TypingService(bus, clock, settings.typing_max_timeout_ms)
    membership = MembershipService(db, rooms, settings.server_name)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        bus=bus,
        notifier=notifier,
        accounts=accounts,
        rooms=rooms,
        membership=membership,
        creator=RoomCreator(rooms, membership, db, bus, clock, settings.server_name),
        reader=RoomReader(db, clock),
        sync=SyncService(db, notifier, typing, clock),
        typing=typing,
        profile=ProfileService(db, accounts, rooms),
        userdata=UserDataService(db, bus, clock),
        directory=DirectoryService(db, clock, settings),
        audit=AuditReader(db),
    )
