"""Accounts, devices, access tokens, login and registration. The only writer of these."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.passwords import Passwords
from tumar.core.ratelimit import RateLimiter
from tumar.core.requester import Requester
from tumar.errors import MatrixError, forbidden, not_found
from tumar.ids import UserId, new_device_id, valid_new_localpart
from tumar.store import accounts as account_store
from tumar.store import events as event_store
from tumar.store.accounts import Device, User
from tumar.store.db import Database

TOKEN_PREFIX = "tmr_"
MAX_PASSWORD_LENGTH = 512


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
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._passwords = passwords
        self._login_limiter = login_limiter

    def user_id_for(self, localpart: str) -> str:
        return f"@{localpart}:{self._settings.server_name}"

    # ---- authentication -------------------------------------------------------------------

    async def get_requester(self, token: str, ip: str | None = None) -> Requester:
        token_hash = hash_token(token)
        async with self._db.read() as conn:
            owner = await account_store.token_owner(conn, token_hash)
        if owner is None or owner.deactivated:
            raise MatrixError(
                401, "M_UNKNOWN_TOKEN", "Unknown or expired access token.", soft_logout=False
            )
        return Requester(owner.user_id, owner.device_id, owner.is_admin, token_hash, ip)

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
        async with self._db.read() as conn:
            if await account_store.get_user(conn, user_id) is not None:
                raise MatrixError(400, "M_USER_IN_USE", "That user name is taken.")
        return user_id

    def check_password(self, password: str) -> None:
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise MatrixError(400, "M_WEAK_PASSWORD", "The password is empty or too long.")

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
            self.check_password(password)
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

    async def do_deactivate(self, user_id: str) -> list[str]:
        """Mark deactivated and revoke every session and device at once.

        Returns the rooms the user is still in, for the caller to leave.
        """
        async with self._db.write() as conn:
            user = await account_store.get_user(conn, user_id)
            if user is None:
                raise not_found(f"The user {user_id} does not exist.")
            await account_store.update_user(conn, user_id, deactivated=True, password_hash=None)
            devices = await account_store.list_devices(conn, user_id)
            await account_store.delete_devices(conn, user_id, [d.device_id for d in devices])
            rooms = await event_store.memberships_of(conn, user_id, ("join", "invite"))
        return [m.room_id for m in rooms]

    # ---- sessions ---------------------------------------------------------------------------

    async def do_open_session(
        self, user_id: str, device_id: str | None, display_name: str | None
    ) -> Session:
        device_id = device_id or new_device_id()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now_ms()
        for attempt in (1, 2):
            try:
                async with self._db.write() as conn:
                    await account_store.upsert_device(conn, user_id, device_id, display_name, now)
                    await account_store.insert_token(
                        conn, hash_token(token), user_id, device_id, now
                    )
                break
            except IntegrityError:  # a concurrent login created the same device first
                if attempt == 2:
                    raise
        return Session(user_id, device_id, token)

    async def check_password_login(self, user: str, password: str, ip: str | None) -> str:
        """Verify a user's password; returns the full user id. Throttled per address and user."""
        self._login_limiter.check(f"ip:{ip}")
        user_id = user if user.startswith("@") else self.user_id_for(user.lower())
        try:
            parsed = UserId.parse(user_id)
        except MatrixError:
            raise forbidden("Invalid username or password.") from None
        self._login_limiter.check(f"user:{user_id}")
        account = None
        if parsed.server_name == self._settings.server_name:
            async with self._db.read() as conn:
                account = await account_store.get_user(conn, user_id)
        ok = await self._passwords.verify(account.password_hash if account else None, password)
        if account is None or not ok or account.deactivated:
            raise forbidden("Invalid username or password.")
        return user_id

    async def do_logout(self, requester: Requester) -> None:
        async with self._db.write() as conn:
            await account_store.delete_devices(conn, requester.user_id, [requester.device_id])
            await event_store.delete_txns_for_device(conn, requester.user_id, requester.device_id)

    async def do_logout_all(self, requester: Requester) -> None:
        async with self._db.write() as conn:
            devices = await account_store.list_devices(conn, requester.user_id)
            await account_store.delete_devices(
                conn, requester.user_id, [d.device_id for d in devices]
            )

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

    async def do_delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        async with self._db.write() as conn:
            await account_store.delete_devices(conn, user_id, device_ids)
            for device_id in device_ids:
                await event_store.delete_txns_for_device(conn, user_id, device_id)

    # ---- profile ----------------------------------------------------------------------------

    async def do_set_profile_field(self, user_id: str, field: str, value: str | None) -> None:
        assert field in ("displayname", "avatar_url")
        async with self._db.write() as conn:
            await account_store.update_user(conn, user_id, **{field: value})
