"""Registration numbers of letters: the format of each organisation (its own, set through the
admin API, else ``letters_number_format``) and the next number, taken from the counter row of
the organisation, year and direction inside the registering transaction
(:func:`tumar.store.correspondence.take_number`): gap-free and unique on every node, and a
registration that fails gives its number back by rolling back."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.directory import check, who
from tumar.errors import MatrixError, not_found
from tumar.policy.letter_numbers import Direction, render, validate_format
from tumar.policy.roles import Actor, Permission
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store.db import Database


@dataclass(frozen=True, slots=True)
class Number:
    text: str
    year: int
    seq: int


@dataclass(frozen=True, slots=True)
class OrgFormat:
    org_code: str
    format: str
    own: bool  # set for this organisation (else the deployment's default)


class LetterNumbering:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.zone = ZoneInfo(settings.letters_timezone)
        decision = validate_format(settings.letters_number_format)
        if not decision:
            raise ValueError(f"letters_number_format: {decision.reason}")

    def year_of(self, ts_ms: int) -> int:
        return datetime.datetime.fromtimestamp(ts_ms / 1000, self.zone).year

    async def format_for(self, conn: AsyncConnection, org_code: str) -> str:
        own = await store.get_format(conn, org_code)
        return own or self._settings.letters_number_format

    async def take(
        self, conn: AsyncConnection, org_code: str, direction: Direction, now_ms: int
    ) -> Number:
        """The next number, counted in ``conn``'s transaction."""
        fmt = await self.format_for(conn, org_code)
        year = self.year_of(now_ms)
        seq = await store.take_number(conn, org_code, year, direction)
        return Number(render(fmt, org_code, seq, year, direction), year, seq)

    # ---- administration ------------------------------------------------------------------------

    async def get_format(self, actor: Actor, org_code: str) -> OrgFormat:
        async with self._db.read() as conn:
            org = await directory_store.get_org(conn, org_code)
            if org is None:
                raise not_found(f"There is no organisation {org_code}.")
            check(actor.may(Permission.LETTERS_REGISTER, org.path))
            own = await store.get_format(conn, org_code)
        return OrgFormat(org_code, own or self._settings.letters_number_format, own is not None)

    async def do_set_format(self, actor: Actor, org_code: str, fmt: str | None) -> OrgFormat:
        """Set (or with ``None`` clear) the organisation's own number format. Numbers already
        given keep their text; the counters go on."""
        if fmt is not None:
            decision = validate_format(fmt)
            if not decision:
                raise MatrixError(400, "M_INVALID_PARAM", decision.reason)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            org = await directory_store.get_org(conn, org_code)
            if org is None:
                raise not_found(f"There is no organisation {org_code}.")
            check(actor.may(Permission.LETTERS_REGISTER, org.path))
            before = await store.get_format(conn, org_code)
            await store.put_format(conn, org_code, fmt, actor.user_id, now)
            await audit.record(
                conn, who(actor), now, "letters.format", "organisation", org_code,
                org_code=org_code, before={"format": before}, after={"format": fmt},
            )  # fmt: skip
        return OrgFormat(org_code, fmt or self._settings.letters_number_format, fmt is not None)
