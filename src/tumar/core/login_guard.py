"""Login lockout and the login audit trail, shared by every node through the database.

Every password check goes through here: ``check`` refuses an account or client address that
is locked, ``record_failure`` counts a failure against both and ``clear_failures`` clears the
account's count after the right password. A failure's audit row (``login.failure`` with the
reason) is written in its own transaction, so a refused login still leaves a trace; the
``login.success`` row (``record_login``) is written with the session the login opens.

A lock is temporary and lifts by itself, so it is answered like any other rate limit: 429
``M_LIMIT_EXCEEDED`` with ``retry_after_ms``. (``M_USER_LOCKED`` means an administrator's lock
on the account, which tumar uses for suspension; it would also tell clients to keep their
session in soft-logout, which makes no sense for someone guessing passwords.)
"""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.errors import MatrixError
from tumar.policy.lockout import ThrottleRule, after_failure, locked_for_ms
from tumar.store import directory as directory_store
from tumar.store import login_throttle as throttle_store
from tumar.store.db import Database

ANONYMOUS = "anonymous"  # the actor of a failed login: nobody proved who they are


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def address_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def locked_out(retry_after_ms: int, what: str) -> MatrixError:
    minutes = max(1, math.ceil(retry_after_ms / 60_000))
    return MatrixError(
        429,
        "M_LIMIT_EXCEEDED",
        f"Too many failed logins {what}; try again in {minutes} minute"
        + ("s." if minutes != 1 else "."),
        retry_after_ms=retry_after_ms,
    )


class LoginGuard:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        window = settings.login_lockout_window_seconds * 1000
        lock = settings.login_lockout_seconds * 1000
        self._user_rule = ThrottleRule(settings.login_lockout_failures, window, lock)
        self._address_rule = ThrottleRule(settings.login_address_lockout_failures, window, lock)

    async def check(self, user_id: str, ip: str | None) -> None:
        """Refuse (and audit) a login attempt while the account or the address is locked."""
        now = self._clock.now_ms()
        keys = [user_key(user_id), address_key(ip)]
        async with self._db.read() as conn:
            states = await throttle_store.get_states(conn, keys)
        account_ms = locked_for_ms(states.get(keys[0]), now)
        address_ms = locked_for_ms(states.get(keys[1]), now)
        if not account_ms and not address_ms:
            return
        reason = "account_locked" if account_ms >= address_ms else "address_locked"
        await self._refused(user_id, ip, reason)
        if reason == "account_locked":
            raise locked_out(account_ms, "for this account")
        raise locked_out(address_ms, "from your address")

    async def record_failure(
        self, user_id: str, ip: str | None, reason: str, *, count: bool = True
    ) -> None:
        """Audit a failed login; with ``count``, count it against the account and the address
        (a correct password for a suspended account is audited but not counted)."""
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            if count:
                for key, rule in (
                    (user_key(user_id), self._user_rule),
                    (address_key(ip), self._address_rule),
                ):
                    state = await throttle_store.lock_state(conn, key, now)
                    await throttle_store.put_state(conn, key, after_failure(state, now, rule))
            await _audit(conn, now, Who(ANONYMOUS, ip), "login.failure", user_id, reason=reason)

    async def clear_failures(self, user_id: str) -> None:
        """The right password: the account's failure count starts again (the address's does
        not, or one valid account would let its holder guess others' passwords forever)."""
        async with self._db.write() as conn:
            await throttle_store.clear(conn, user_key(user_id))

    async def _refused(self, user_id: str, ip: str | None, reason: str) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            await _audit(conn, now, Who(ANONYMOUS, ip), "login.failure", user_id, reason=reason)


async def record_login(
    conn: AsyncConnection, now: int, user_id: str, ip: str | None, method: str
) -> None:
    """The ``login.success`` row, written with the new session in its transaction."""
    await _audit(conn, now, Who(user_id, ip), "login.success", user_id, method=method)


async def _audit(
    conn: AsyncConnection, now: int, who: Who, action: str, user_id: str, **after: str
) -> None:
    person = await directory_store.person_by_user(conn, user_id)
    await audit.record(
        conn, who, now, action, "user", user_id,
        org_code=person.org_code if person else None, after=after,
    )  # fmt: skip
