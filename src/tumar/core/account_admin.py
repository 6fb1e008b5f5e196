"""Managing a person's account: suspend, restore, deactivate, list and revoke sessions; and a
user changing their own password. Each administrative command checks the actor's scope over
the person's organisation and writes its audit row in the command's transaction.

Suspension is Matrix "account locking": the account's requests answer 401 ``M_USER_LOCKED``
with ``soft_logout``, it cannot log in, and its sessions are kept, so restoring it lets every
device carry on without logging in again. Deactivation is final: every session and device is
revoked at once, the account leaves its rooms, and the person's live activation code is
revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core import audit
from tumar.core.accounts import AccountService
from tumar.core.audit import Who
from tumar.core.directory import check, out_of_scope, who
from tumar.core.membership import MembershipService
from tumar.core.passwords import Passwords
from tumar.core.requester import Requester
from tumar.errors import MatrixError, not_found
from tumar.ids import UserId
from tumar.policy.roles import Actor, Permission
from tumar.store import accounts as account_store
from tumar.store import activation as activation_store
from tumar.store import directory as directory_store
from tumar.store.accounts import Device, User
from tumar.store.activation import Holder
from tumar.store.db import Database

READ_SESSIONS = (Permission.ACCOUNTS_MANAGE, Permission.AUDIT_READ)


@dataclass(frozen=True, slots=True)
class AccountState:
    user_id: str
    person_id: str | None
    suspended: bool
    deactivated: bool
    changed: bool  # False when the account already was in the requested state


@dataclass(frozen=True, slots=True)
class Deactivated:
    person_id: str
    user_id: str | None
    rooms_left: int
    codes_revoked: bool


def no_account(person_id: str) -> MatrixError:
    return MatrixError(409, "TUMAR_NO_ACCOUNT", f"{person_id} has no account yet.")


class AccountAdmin:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        membership: MembershipService,
        passwords: Passwords,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._membership = membership
        self._passwords = passwords

    # ---- suspension -------------------------------------------------------------------------

    async def do_set_suspended(
        self, actor: Actor, person_id: str, suspended: bool, reason: str | None = None
    ) -> AccountState:
        async with self._db.write() as conn:
            holder = await _person(conn, actor, person_id, (Permission.ACCOUNTS_MANAGE,))
            user = await _account_of(conn, holder)
            state = await self._suspend(conn, who(actor), user, holder, suspended, reason)
        if state.changed:  # cached sessions answer M_USER_LOCKED (or work again) at once
            await self._accounts.sessions_changed(state.user_id)
        return state

    async def do_set_user_suspended(
        self, actor: Actor, user_id: str, suspended: bool, reason: str | None = None
    ) -> AccountState:
        """The same by user id, for accounts with or without a person (the command line)."""
        async with self._db.write() as conn:
            user = await account_store.get_user(conn, user_id)
            if user is None:
                raise not_found(f"No account {user_id}.")
            person = await directory_store.person_by_user(conn, user_id)
            holder = None
            if person is not None:
                holder = await _person(conn, actor, person.person_id, (Permission.ACCOUNTS_MANAGE,))
            elif not actor.is_global(Permission.ACCOUNTS_MANAGE):
                raise out_of_scope("Only an operator may manage accounts outside the directory.")
            state = await self._suspend(conn, who(actor), user, holder, suspended, reason)
        if state.changed:
            await self._accounts.sessions_changed(state.user_id)
        return state

    async def _suspend(
        self,
        conn: AsyncConnection,
        author: Who,
        user: User,
        holder: Holder | None,
        suspended: bool,
        reason: str | None,
    ) -> AccountState:
        person_id = holder.person_id if holder else None
        if user.deactivated:
            raise MatrixError(
                409, "TUMAR_DEACTIVATED", f"{user.user_id} is deactivated; it cannot change."
            )
        if user.suspended == suspended:
            return AccountState(user.user_id, person_id, suspended, False, False)
        now = self._clock.now_ms()
        await account_store.update_user(conn, user.user_id, suspended=suspended)
        await self._accounts.note_sessions_changed(conn, user.user_id)
        await audit.record(
            conn, author, now, "account.suspend" if suspended else "account.restore", "user",
            user.user_id, org_code=holder.org_code if holder else None,
            before={"suspended": user.suspended},
            after={"suspended": suspended, **({"reason": reason} if reason else {})},
        )  # fmt: skip
        return AccountState(user.user_id, person_id, suspended, False, True)

    # ---- deactivation -----------------------------------------------------------------------

    async def do_deactivate(
        self, actor: Actor, person_id: str, reason: str | None = None
    ) -> Deactivated:
        """Deactivate the person's account (every session and device revoked in the same
        transaction, then its rooms left) and revoke their live activation code."""
        now = self._clock.now_ms()
        async with self._db.read() as conn:
            holder = await _person(conn, actor, person_id, (Permission.ACCOUNTS_MANAGE,))
            user = await account_store.get_user(conn, holder.user_id) if holder.user_id else None
            live = await activation_store.live_code_holders(conn, [person_id], now)
        if user is not None and user.deactivated:
            raise MatrixError(409, "TUMAR_DEACTIVATED", f"{user.user_id} is already deactivated.")
        if user is None and not live:
            raise MatrixError(
                409, "TUMAR_NO_ACCOUNT", f"{person_id} has neither an account nor a live code."
            )

        async def within(conn: AsyncConnection) -> None:
            current = await _person(conn, actor, person_id, (Permission.ACCOUNTS_MANAGE,))
            await activation_store.revoke_live_codes(conn, [person_id], now)
            await audit.record(
                conn, who(actor), now, "account.deactivate", "person", person_id,
                org_code=current.org_code,
                after={
                    "user_id": user.user_id if user else None,
                    "codes_revoked": bool(live),
                    **({"reason": reason} if reason else {}),
                },
            )  # fmt: skip

        rooms: list[str] = []
        if user is not None:
            rooms = await self._accounts.do_deactivate(user.user_id, within=within)
            await self.leave_rooms(user.user_id, rooms)
        else:
            async with self._db.write() as conn:
                await within(conn)
        return Deactivated(person_id, user.user_id if user else None, len(rooms), bool(live))

    async def do_deactivate_user(
        self, actor: Actor, user_id: str, reason: str | None = None
    ) -> Deactivated | int:
        """The same by user id (the command line): a person's account through
        ``do_deactivate``; an account outside the directory (operators only) directly.
        Returns the person's result, or the number of rooms left."""
        async with self._db.read() as conn:
            user = await account_store.get_user(conn, user_id)
            person = await directory_store.person_by_user(conn, user_id)
        if user is None:
            raise not_found(f"No account {user_id}.")
        if person is not None:
            return await self.do_deactivate(actor, person.person_id, reason)
        if not actor.is_global(Permission.ACCOUNTS_MANAGE):
            raise out_of_scope("Only an operator may manage accounts outside the directory.")
        if user.deactivated:
            raise MatrixError(409, "TUMAR_DEACTIVATED", f"{user_id} is already deactivated.")
        now = self._clock.now_ms()

        async def within(conn: AsyncConnection) -> None:
            await audit.record(
                conn, who(actor), now, "account.deactivate", "user", user_id,
                after={"user_id": user_id, **({"reason": reason} if reason else {})},
            )  # fmt: skip

        rooms = await self._accounts.do_deactivate(user_id, within=within)
        await self.leave_rooms(user_id, rooms)
        return len(rooms)

    async def leave_rooms(self, user_id: str, rooms: Iterable[str]) -> None:
        """Leave each room as the (now deactivated) user; a room that refuses is skipped."""
        for room_id in rooms:
            try:
                await self._membership.do_membership(Requester(user_id, ""), room_id, "leave")
            except MatrixError:
                continue

    # ---- sessions ---------------------------------------------------------------------------

    async def list_sessions(self, actor: Actor, person_id: str) -> tuple[str, list[Device]]:
        async with self._db.read() as conn:
            holder = await _person(conn, actor, person_id, READ_SESSIONS)
            user = await _account_of(conn, holder)
            return user.user_id, await account_store.list_devices(conn, user.user_id)

    async def do_revoke_session(self, actor: Actor, person_id: str, device_id: str) -> None:
        async with self._db.read() as conn:
            holder = await _person(conn, actor, person_id, (Permission.ACCOUNTS_MANAGE,))
            user = await _account_of(conn, holder)
            devices = await account_store.list_devices(conn, user.user_id)
        if device_id not in {d.device_id for d in devices}:
            raise not_found(f"{user.user_id} has no session on device {device_id}.")
        now = self._clock.now_ms()

        async def within(conn: AsyncConnection) -> None:
            current = await _person(conn, actor, person_id, (Permission.ACCOUNTS_MANAGE,))
            await audit.record(
                conn, who(actor), now, "session.revoke", "user", user.user_id,
                org_code=current.org_code, after={"device_id": device_id},
            )  # fmt: skip

        await self._accounts.do_delete_devices(user.user_id, [device_id], within=within)

    # ---- the user's own password ------------------------------------------------------------

    async def do_change_password(
        self, requester: Requester, new_password: str, *, logout_devices: bool
    ) -> None:
        """Set a new password (the policy applies, with the person's name if they are in the
        directory); with ``logout_devices``, every other session is revoked."""
        user_id = requester.user_id
        async with self._db.read() as conn:
            person = await directory_store.person_by_user(conn, user_id)
            devices = await account_store.list_devices(conn, user_id)
        names = (person.name_lat, person.name_cyr) if person else ()
        localpart = UserId.parse(user_id).localpart
        self._accounts.check_password(new_password, localpart, names)
        password_hash = await self._passwords.hash(new_password)
        now = self._clock.now_ms()
        others = [d.device_id for d in devices if d.device_id != requester.device_id]

        async def within(conn: AsyncConnection) -> None:
            await account_store.update_user(conn, user_id, password_hash=password_hash)
            await audit.record(
                conn, Who(user_id, requester.ip), now, "account.password_change", "user",
                user_id, org_code=person.org_code if person else None,
                after={"other_sessions_revoked": len(others) if logout_devices else 0},
            )  # fmt: skip

        if logout_devices:
            await self._accounts.do_delete_devices(user_id, others, within=within)
        else:
            async with self._db.write() as conn:
                await within(conn)


async def _person(
    conn: AsyncConnection, actor: Actor, person_id: str, permissions: Iterable[Permission]
) -> Holder:
    """The person with their organisation; 403 unless one of ``permissions`` covers it."""
    holder = await activation_store.holder(conn, person_id)
    if holder is None:
        raise not_found(f"No person {person_id}.")
    decisions = [actor.may(p, holder.org_path) for p in permissions]
    if not any(decisions):
        check(decisions[0])
    return holder


async def _account_of(conn: AsyncConnection, holder: Holder) -> User:
    user = await account_store.get_user(conn, holder.user_id) if holder.user_id else None
    if user is None:
        raise no_account(holder.person_id)
    return user
