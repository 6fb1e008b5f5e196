"""Accounts, devices, access tokens, login and registration. The only writer of these."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.device_lists import forget_devices
from tumar.core.last_seen import LastSeen
from tumar.core.login_guard import LoginGuard, record_login
from tumar.core.password_policy import PasswordPolicy
from tumar.core.passwords import Passwords
from tumar.core.ratelimit import RateLimiter
from tumar.core.requester import Requester
from tumar.core.session_cache import SessionCache
from tumar.core.session_watch import SessionWatch
from tumar.errors import MatrixError, forbidden, not_found, user_locked
from tumar.ids import UserId, new_device_id, valid_new_localpart
from tumar.store import accounts as account_store
from tumar.store import activation as activation_store
from tumar.store import events as event_store
from tumar.store import session_changes
from tumar.store.accounts import Device, User
from tumar.store.db import Database

TOKEN_PREFIX = "tmr_"
# More writes for a command to make inside its transaction (an audit row, a scope check).
Within = Callable[[AsyncConnection], Awaitable[None]]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    device_id: str
    access_token: str


class AccountService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        passwords: Passwords,
        login_limiter: RateLimiter,
        bus: Bus | None = None,
        *,
        guard: LoginGuard | None = None,
        policy: PasswordPolicy | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._passwords = passwords
        self._login_limiter = login_limiter
        self._bus = bus
        self.guard = guard or LoginGuard(db, clock, settings)
        self.policy = policy or PasswordPolicy(settings)
        self._last_seen = LastSeen(db, clock)
        self.sessions = SessionCache(clock, settings.effective_session_cache_seconds)
        self.session_watch = SessionWatch(db, self.sessions, clock)
        if bus is not None:
            bus.subscribe(self.sessions.on_doorbell)

    async def _remove_devices(
        self, conn: AsyncConnection, user_id: str, device_ids: list[str]
    ) -> Doorbell | None:
        """Delete devices with their sessions, and their end-to-end keys and to-device
        messages; returns the device-list doorbell to ring after commit."""
        existing = {d.device_id for d in await account_store.list_devices(conn, user_id)}
        await account_store.delete_devices(conn, user_id, device_ids)
        gone = sorted(existing.intersection(device_ids))
        bell = await forget_devices(self._db, conn, user_id, gone)
        # Last: the stream counter's lock after the key rows', in the order a key upload
        # takes them (the other order could deadlock with a concurrent upload).
        await self.note_sessions_changed(conn, user_id)
        return bell

    async def _ring(self, bell: Doorbell | None) -> None:
        if bell is not None and self._bus is not None:
            await self._bus.publish(bell)

    async def note_sessions_changed(self, conn: AsyncConnection, user_id: str) -> None:
        """In a transaction that ends or changes the user's sessions: the row every node's
        session watch reads (``core/session_watch.py``), whichever process commits it."""
        pos = await self._db.allocate_positions(conn)
        await session_changes.add(conn, user_id, pos, self._clock.now_ms())

    async def sessions_changed(self, user_id: str) -> None:
        """After a commit that ended or changed the user's sessions (logout, device deletion,
        deactivation, suspension; its transaction called :meth:`note_sessions_changed`):
        every node drops what it cached of them, at once where the doorbell reaches."""
        self.sessions.drop_users((user_id,))
        await self._ring(Doorbell(position=0, users=frozenset(), sessions=frozenset({user_id})))

    def user_id_for(self, localpart: str) -> str:
        return f"@{localpart}:{self._settings.server_name}"

    # ---- authentication -------------------------------------------------------------------

    async def get_requester(
        self,
        token: str,
        ip: str | None = None,
        *,
        allow_suspended: bool = False,
        user_agent: str | None = None,
    ) -> Requester:
        """The token's owner. A suspended account's tokens stay valid but answer 401
        ``M_USER_LOCKED`` (soft logout) except where ``allow_suspended`` (logging out)."""
        token_hash = hash_token(token)
        # A node that lost the bus, or cannot read the session changes, may miss a logout
        # elsewhere: read while it is so.
        trusted = self.session_watch.fresh and (self._bus is None or self._bus.connected)
        owner = self.sessions.get(token_hash) if trusted else None
        if owner is None:
            epoch = self.sessions.epoch
            async with self._db.read(quick=True, snapshot=False) as conn:  # one indexed read
                owner = await account_store.token_owner(conn, token_hash)
            if owner is not None:
                self.sessions.put(token_hash, owner, epoch)
        if owner is None or owner.deactivated:
            raise MatrixError(
                401, "M_UNKNOWN_TOKEN", "Unknown or expired access token.", soft_logout=False
            )
        if owner.suspended and not allow_suspended:
            raise user_locked()
        await self._last_seen.touch(owner.user_id, owner.device_id, ip)
        agent = user_agent[:500] if user_agent else None
        return Requester(owner.user_id, owner.device_id, owner.is_admin, token_hash, ip, agent)

    # ---- accounts -------------------------------------------------------------------------

    async def check_username(self, localpart: str) -> str:
        if not valid_new_localpart(localpart):
            raise MatrixError(
                400,
                "M_INVALID_USERNAME",
                "User names may contain only a-z, 0-9, '.', '_', '=', '-', '/' and '+'.",
            )
        user_id = self.user_id_for(localpart)
        if len(user_id) > 255:
            raise MatrixError(400, "M_INVALID_USERNAME", "The user name is too long.")
        if localpart == self._settings.server_notices_localpart:
            raise MatrixError(400, "M_USER_IN_USE", "That user name is reserved for the server.")
        async with self._db.read() as conn:
            if await account_store.get_user(conn, user_id) is not None:
                raise MatrixError(400, "M_USER_IN_USE", "That user name is taken.")
            await _refuse_reserved(conn, localpart)
        return user_id

    def check_password(
        self, password: str, localpart: str | None = None, names: Iterable[str] = ()
    ) -> None:
        """The password policy (length, common passwords, user name, person's name):
        400 ``M_WEAK_PASSWORD`` with the reason."""
        self.policy.check(password, localpart=localpart, names=names)

    async def do_create_user(
        self,
        localpart: str,
        password: str | None,
        *,
        admin: bool = False,
        displayname: str | None = None,
        registration_token: str | None = None,
    ) -> str:
        user_id = await self.check_username(localpart)
        if password is not None:
            self.check_password(password, localpart)
        password_hash = await self._passwords.hash(password) if password is not None else None
        try:
            async with self._db.write() as conn:
                await self._insert_user(
                    conn, user_id, localpart, password_hash, admin, displayname, registration_token
                )
        except IntegrityError:  # a concurrent registration took the name first
            raise MatrixError(400, "M_USER_IN_USE", "That user name is taken.") from None
        return user_id

    async def _insert_user(
        self,
        conn: AsyncConnection,
        user_id: str,
        localpart: str,
        password_hash: str | None,
        admin: bool,
        displayname: str | None,
        registration_token: str | None,
    ) -> None:
        if registration_token is not None and not await account_store.use_registration_token(
            conn, registration_token, self._clock.now_ms()
        ):
            raise MatrixError(401, "M_FORBIDDEN", "The registration token is not valid.")
        if await account_store.get_user(conn, user_id) is not None:
            raise MatrixError(400, "M_USER_IN_USE", "That user name is taken.")
        await _refuse_reserved(conn, localpart)
        await account_store.insert_user(
            conn,
            user_id=user_id,
            localpart=localpart,
            password_hash=password_hash,
            is_admin=admin,
            displayname=displayname if displayname is not None else localpart,
            created_ts=self._clock.now_ms(),
        )

    async def registration_token_valid(self, token: str) -> bool:
        async with self._db.read() as conn:
            found = await account_store.get_registration_token(conn, token)
        return found is not None and found.usable(self._clock.now_ms())

    async def do_create_registration_token(
        self, *, uses_allowed: int | None = 1, expiry_ts: int | None = None
    ) -> str:
        token = secrets.token_urlsafe(12)
        async with self._db.write() as conn:
            await account_store.insert_registration_token(
                conn, token, uses_allowed, expiry_ts, self._clock.now_ms()
            )
        return token

    async def list_users(self) -> list[User]:
        async with self._db.read() as conn:
            return await account_store.list_users(conn)

    async def get_user(self, user_id: str) -> User | None:
        async with self._db.read() as conn:
            return await account_store.get_user(conn, user_id)

    async def do_deactivate(self, user_id: str, *, within: Within | None = None) -> list[str]:
        """Mark deactivated and revoke every session and device at once (``within`` adds
        writes to the same transaction).

        Returns the rooms the user is still in, for the caller to leave.
        """
        async with self._db.write() as conn:
            user = await account_store.get_user(conn, user_id)
            if user is None:
                raise not_found(f"The user {user_id} does not exist.")
            await account_store.update_user(conn, user_id, deactivated=True, password_hash=None)
            devices = await account_store.list_devices(conn, user_id)
            bell = await self._remove_devices(conn, user_id, [d.device_id for d in devices])
            rooms = await event_store.memberships_of(conn, user_id, ("join", "invite"))
            if within is not None:
                await within(conn)
        await self.sessions_changed(user_id)
        await self._ring(bell)
        return [m.room_id for m in rooms]

    # ---- sessions ---------------------------------------------------------------------------

    async def do_open_session(
        self,
        user_id: str,
        device_id: str | None,
        display_name: str | None,
        *,
        ip: str | None = None,
        login_method: str | None = None,
    ) -> Session:
        """A new access token (and device, unless ``device_id`` names one of the user's).
        With ``login_method`` this is a login: its ``login.success`` audit row is written in
        the same transaction."""
        device_id = device_id or new_device_id()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        for attempt in (1, 2):
            try:
                async with self._db.write() as conn:
                    await _refuse_unusable_account(conn, user_id)
                    await account_store.upsert_device(conn, user_id, device_id, display_name, now)
                    await self._last_seen.record(conn, user_id, device_id, ip, now)
                    if login_method is not None:
                        await record_login(conn, now, user_id, ip, login_method)
                    await account_store.insert_token(
                        conn, hash_token(token), user_id, device_id, now
                    )
                break
            except IntegrityError:  # a concurrent login created the same device first
                if attempt == 2:
                    raise
        return Session(user_id, device_id, token)

    async def check_password_login(self, user: str, password: str, ip: str | None) -> str:
        """Verify a user's password; returns the full user id. Throttled per address and user
        in memory (first line) and locked out per account and address across nodes
        (``LoginGuard``). Failures are audited here; the success row is written when the
        login opens its session (``do_open_session(login_method=...)``), so a login refused
        later (a second factor needed) is not recorded as a success."""
        await self._login_limiter.check(f"ip:{ip}")
        user_id = user if user.startswith("@") else self.user_id_for(user.lower())
        try:
            parsed = UserId.parse(user_id)
        except MatrixError:
            await self.guard.record_failure(user_id[:255], ip, "invalid_user_id")
            raise forbidden("Invalid username or password.") from None
        await self._login_limiter.check(f"user:{user_id}")
        await self.guard.check(user_id, ip)
        account = None
        if parsed.server_name == self._settings.server_name:
            async with self._db.read() as conn:
                account = await account_store.get_user(conn, user_id)
        ok = await self._passwords.verify(account.password_hash if account else None, password)
        if account is None or not ok or account.deactivated:
            reason = "unknown_user" if account is None else "wrong_password"
            if account is not None and account.deactivated:
                reason = "deactivated"
            await self.guard.record_failure(user_id, ip, reason)
            raise forbidden("Invalid username or password.")
        if account.suspended:
            await self.guard.record_failure(user_id, ip, "suspended", count=False)
            raise user_locked()
        await self.guard.clear_failures(user_id)
        return user_id

    async def do_logout(self, requester: Requester) -> None:
        async with self._db.write() as conn:
            bell = await self._remove_devices(conn, requester.user_id, [requester.device_id])
            await event_store.delete_txns_for_device(conn, requester.user_id, requester.device_id)
        await self.sessions_changed(requester.user_id)
        await self._ring(bell)

    async def do_logout_all(self, requester: Requester) -> None:
        async with self._db.write() as conn:
            devices = await account_store.list_devices(conn, requester.user_id)
            bell = await self._remove_devices(
                conn, requester.user_id, [d.device_id for d in devices]
            )
        await self.sessions_changed(requester.user_id)
        await self._ring(bell)

    # ---- devices ----------------------------------------------------------------------------

    async def list_devices(self, user_id: str) -> list[Device]:
        async with self._db.read() as conn:
            return await account_store.list_devices(conn, user_id)

    async def get_device(self, user_id: str, device_id: str) -> Device:
        for device in await self.list_devices(user_id):
            if device.device_id == device_id:
                return device
        raise not_found("No such device.")

    async def do_rename_device(self, user_id: str, device_id: str, name: str | None) -> None:
        await self.get_device(user_id, device_id)
        async with self._db.write() as conn:
            await account_store.rename_device(conn, user_id, device_id, name)

    async def do_delete_devices(
        self, user_id: str, device_ids: list[str], *, within: Within | None = None
    ) -> None:
        async with self._db.write() as conn:
            bell = await self._remove_devices(conn, user_id, device_ids)
            for device_id in device_ids:
                await event_store.delete_txns_for_device(conn, user_id, device_id)
            if within is not None:
                await within(conn)
        await self.sessions_changed(user_id)
        await self._ring(bell)

    # ---- profile ----------------------------------------------------------------------------

    async def do_set_profile_field(self, user_id: str, field: str, value: str | None) -> None:
        assert field in ("displayname", "avatar_url")
        async with self._db.write() as conn:
            await account_store.update_user(conn, user_id, **{field: value})


async def _refuse_unusable_account(conn: AsyncConnection, user_id: str) -> None:
    """No new session for a deactivated or suspended account, whatever the login method."""
    user = await account_store.get_user(conn, user_id)
    if user is None or user.deactivated:
        raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated.")
    if user.suspended:
        raise user_locked()


async def _refuse_reserved(conn: AsyncConnection, localpart: str) -> None:
    """A localpart reserved for a person in the directory (printed in their activation
    letter) is theirs alone."""
    if await activation_store.reserved_for(conn, localpart) is not None:
        raise MatrixError(
            400, "M_USER_IN_USE", "That user name is reserved for a person in the directory."
        )
