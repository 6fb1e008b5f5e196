"""Authenticators (TOTP): enrolment and code checks inside the login page's transactions, and
the administrator's view and reset. The arithmetic lives in ``policy/totp.py``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.directory import check, who
from tumar.errors import MatrixError, not_found
from tumar.policy import sso as sso_rules
from tumar.policy import totp as otp
from tumar.policy.roles import Actor, Permission
from tumar.store import directory as directory_store
from tumar.store import sso as store
from tumar.store.db import Database


def new_secret() -> str:
    return otp.encode_secret(secrets.token_bytes(otp.SECRET_BYTES))


@dataclass(frozen=True, slots=True)
class MfaState:
    """What the login needs to know about a user's second factor."""

    org_code: str | None
    org_requires: bool  # their organisation or one above it requires MFA
    totp: store.Totp | None

    @property
    def has_confirmed_totp(self) -> bool:
        return self.totp is not None and self.totp.confirmed


async def mfa_state(conn: AsyncConnection, user_id: str) -> MfaState:
    org = await store.org_of_user(conn, user_id)
    requires = False
    if org is not None:
        requires = await store.any_requires_mfa(conn, sso_rules.ancestor_paths(org[1]))
    return MfaState(org[0] if org else None, requires, await store.get_totp(conn, user_id))


@dataclass(frozen=True, slots=True)
class TotpStatus:
    person_id: str
    user_id: str | None
    enrolled: bool  # a confirmed authenticator
    pending: bool  # an enrolment waiting for its first code
    confirmed_ts: int | None
    mfa_required: bool  # by the person's organisation or one above it


class TotpService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    @property
    def issuer(self) -> str:
        return self._settings.totp_issuer or self._settings.server_name

    def otpauth_uri(self, secret: str, user_id: str) -> str:
        return otp.otpauth_uri(secret, user_id, self.issuer)

    async def start_enrolment(self, conn: AsyncConnection, user_id: str) -> str:
        secret = new_secret()
        await store.put_pending_totp(conn, user_id, secret)
        return secret

    async def check_code(
        self, conn: AsyncConnection, user_id: str, code: str, *, enrolling: bool
    ) -> otp.Check:
        """Check ``code`` against the user's authenticator and, if it is good, use up its time
        step (and confirm a pending enrolment), all in the caller's transaction."""
        found = await store.get_totp(conn, user_id)
        if found is None or found.confirmed == enrolling:
            return otp.Check(False, "missing")
        now = self._clock.now_ms()
        result = otp.verify(found.secret, code, now, found.last_step, self._settings.totp_window)
        if not result.ok or result.step is None:
            return result
        confirm_ts = now if enrolling else None
        if not await store.use_totp_step(conn, user_id, result.step, confirm_ts):
            return otp.Check(False, "replayed")  # a concurrent request used it first
        return result

    # ---- administrators ---------------------------------------------------------------------

    async def status(self, actor: Actor, person_id: str) -> TotpStatus:
        async with self._db.read() as conn:
            path = await self._person_path(conn, actor, person_id, Permission.DIRECTORY_READ)
            return await self._status(conn, person_id, path)

    async def do_reset(self, actor: Actor, person_id: str) -> TotpStatus:
        """Remove the person's authenticator (confirmed or pending); their next login through
        the SSO page enrols a new one if their organisation requires it. Returns the state
        before the reset."""
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            path = await self._person_path(conn, actor, person_id, Permission.ACCOUNTS_MANAGE)
            before = await self._status(conn, person_id, path)
            if before.user_id is None:
                raise MatrixError(
                    409, "TUMAR_NO_ACCOUNT", "This person has not activated an account yet."
                )
            await store.delete_totp(conn, before.user_id)
            person = await directory_store.get_person(conn, person_id)
            await audit.record(
                conn, who(actor), now, "totp.reset", "person", person_id,
                org_code=person.org_code if person else None,
                before={"user_id": before.user_id, "enrolled": before.enrolled,
                        "pending": before.pending},
                after={"enrolled": False, "pending": False},
            )  # fmt: skip
        return before

    async def _person_path(
        self, conn: AsyncConnection, actor: Actor, person_id: str, permission: Permission
    ) -> str:
        path = await directory_store.person_org_path(conn, person_id)
        if path is None:
            raise not_found(f"No person {person_id}.")
        check(actor.may(permission, path))
        return path

    async def _status(self, conn: AsyncConnection, person_id: str, path: str) -> TotpStatus:
        person = await directory_store.get_person(conn, person_id)
        assert person is not None
        totp = await store.get_totp(conn, person.user_id) if person.user_id else None
        requires = await store.any_requires_mfa(conn, sso_rules.ancestor_paths(path))
        return TotpStatus(
            person_id=person_id,
            user_id=person.user_id,
            enrolled=totp is not None and totp.confirmed,
            pending=totp is not None and not totp.confirmed,
            confirmed_ts=totp.confirmed_ts if totp else None,
            mfa_required=requires,
        )


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as an inline SVG image (a data: URI safe to put in ``src``).

    segno is a small pure-Python QR encoder with no dependencies of its own; writing a QR
    encoder here (Reed-Solomon, masking, version tables) would be far more code to trust.
    """
    import segno  # imported here: only the enrolment page needs it

    uri: str = segno.make(data, error="m").svg_data_uri(scale=5, dark="#000", light="#fff")
    return uri
