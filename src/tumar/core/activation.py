"""Personal activation codes: issued by administrators for people in the directory, printed in
letters, and used once as a Matrix registration token that creates that person's account.

Only a hash of each code is stored, so a code is shown once, when it is issued. A code is
16 characters of Crockford's base 32 (80 random bits) written in four groups,
``7K3M-Q9TX-2HCW-R5PA``; typing it in lower case, without dashes, or with O for 0 and I or L for
1 works too. Re-issuing a code revokes the person's earlier one.

The account's localpart is derived from the person's name when their first code is issued
(``policy/localparts.py``) and reserved for them, so the letter can print it and it never
changes afterwards; the user name a client sends with the code is ignored.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.directory import check, out_of_scope, who
from tumar.core.password_policy import PasswordPolicy
from tumar.core.passwords import Passwords
from tumar.errors import MatrixError, invalid_param, not_found
from tumar.ids import valid_new_localpart
from tumar.policy.localparts import candidates, localpart_base
from tumar.policy.roles import Actor, Permission
from tumar.store import accounts as account_store
from tumar.store import activation as store
from tumar.store import directory as directory_store
from tumar.store.activation import CodeRow, Holder
from tumar.store.db import Database

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_LENGTH = 16
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
DAY_MS = 86_400_000
MAX_PEOPLE_PER_REQUEST = 10_000


def new_code() -> str:
    """80 random bits as 16 base-32 characters in four groups."""
    bits = int.from_bytes(secrets.token_bytes(CODE_LENGTH * 5 // 8))
    raw = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise(code: str) -> str | None:
    """The canonical form of a typed code, or None when it cannot be an activation code."""
    if len(code) > 64:
        return None
    plain = code.upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)
    if len(plain) != CODE_LENGTH or any(c not in ALPHABET for c in plain):
        return None
    return plain


def code_hash(normalised: str) -> str:
    return hashlib.sha256(f"tumar-activation-code:{normalised}".encode()).hexdigest()


def iso_utc(ts_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ts_ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class ActivationRefused(MatrixError):
    """A code that cannot create an account, with the reason for the person holding it."""

    def __init__(self, error: str) -> None:
        super().__init__(403, "M_FORBIDDEN", error)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    person_id: str
    personnel_number: str
    name_cyr: str
    name_lat: str
    org_code: str
    org_name_kk: str
    org_name_ru: str
    localpart: str
    user_id: str
    code: str  # the plaintext: shown now and never again
    expiry_ts: int


@dataclass(frozen=True, slots=True)
class Activated:
    user_id: str
    person_id: str


class ActivationService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        passwords: Passwords,
        policy: PasswordPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._passwords = passwords
        self._policy = policy

    def user_id_for(self, localpart: str) -> str:
        return f"@{localpart}:{self._settings.server_name}"

    # ---- issuing ----------------------------------------------------------------------------

    async def do_issue(
        self,
        actor: Actor,
        *,
        person_ids: Sequence[str] | None = None,
        org_code: str | None = None,
        reissue: bool = False,
    ) -> list[IssuedCode]:
        """Issue codes for the named people, or for every active person of an organisation
        subtree who has no account (and, unless ``reissue``, no live code). Each person's
        earlier code is revoked. All or nothing: one refused person refuses the request."""
        if (person_ids is None) == (org_code is None):
            raise invalid_param("Give either person_ids or org_code.")
        if person_ids is not None and not person_ids:
            raise invalid_param("person_ids is empty.")
        for attempt in (1, 2):
            try:
                async with self._db.write() as conn:
                    return await self._issue(conn, actor, person_ids, org_code, reissue)
            except IntegrityError:  # a concurrent request reserved the same localpart first
                if attempt == 2:
                    raise MatrixError(
                        409, "TUMAR_CONFLICT", "Another request issued codes at the same time; "
                        "try again.",
                    ) from None  # fmt: skip
        raise AssertionError("unreachable")

    async def _issue(
        self,
        conn: AsyncConnection,
        actor: Actor,
        person_ids: Sequence[str] | None,
        org_code: str | None,
        reissue: bool,
    ) -> list[IssuedCode]:
        now = self._clock.now_ms()
        if org_code is not None:
            org = await directory_store.get_org(conn, org_code)
            if org is None:
                raise not_found(f"No organisation with code {org_code}.")
            check(actor.may(Permission.ACCOUNTS_MANAGE, org.path))
            holders = await store.holders_in_subtree(conn, org.path, now, with_live_code=reissue)
            with_code = await store.live_code_holders(conn, [h.person_id for h in holders], now)
        else:
            assert person_ids is not None
            holders, with_code = await self._named(conn, actor, person_ids, now, reissue)
        if not holders:
            return []
        ids = [h.person_id for h in holders]
        localparts = await self._localparts(conn, holders, now)
        await store.revoke_live_codes(conn, ids, now)
        expiry = now + self._settings.activation_code_ttl_days * DAY_MS
        issued: list[IssuedCode] = []
        rows = []
        for h in holders:
            code = new_code()
            rows.append(
                {
                    "code_hash": code_hash(normalise(code) or ""),
                    "person_id": h.person_id,
                    "created_ts": now,
                    "expiry_ts": expiry,
                    "used_ts": None,
                    "revoked_ts": None,
                    "created_by": actor.user_id,
                }
            )
            localpart = localparts[h.person_id]
            issued.append(
                IssuedCode(
                    h.person_id, h.personnel_number, h.name_cyr, h.name_lat, h.org_code,
                    h.org_name_kk, h.org_name_ru, localpart, self.user_id_for(localpart), code,
                    expiry,
                )
            )  # fmt: skip
        await store.insert_codes(conn, rows)
        entries = [
            audit.Entry(
                "activation_code.issue",
                "person",
                h.person_id,
                org_code=h.org_code,
                after={
                    "localpart": localparts[h.person_id],
                    "expiry_ts": expiry,
                    "replaces_live_code": h.person_id in with_code,
                },
            )
            for h in holders
        ]
        await audit.record_many(conn, who(actor), now, entries)
        return issued

    async def _named(
        self,
        conn: AsyncConnection,
        actor: Actor,
        person_ids: Sequence[str],
        now: int,
        reissue: bool,
    ) -> tuple[list[Holder], set[str]]:
        wanted = list(dict.fromkeys(person_ids))
        if len(wanted) > MAX_PEOPLE_PER_REQUEST:
            raise invalid_param(f"At most {MAX_PEOPLE_PER_REQUEST} people per request.")
        found = {h.person_id: h for h in await store.holders_by_ids(conn, wanted)}
        missing = [p for p in wanted if p not in found]
        if missing:
            raise not_found(f"No person {missing[0]}.")
        holders = [found[p] for p in wanted]
        for h in holders:
            decision = actor.may(Permission.ACCOUNTS_MANAGE, h.org_path)
            if not decision:
                raise out_of_scope(f"{h.person_id}: {decision.reason}")
        with_code = await store.live_code_holders(conn, wanted, now)
        for h in holders:
            if h.user_id is not None:
                raise MatrixError(
                    409, "TUMAR_ALREADY_ACTIVATED",
                    f"{h.person_id} already has the account {h.user_id}.",
                )  # fmt: skip
            if h.status != "active":
                raise MatrixError(
                    409, "TUMAR_PERSON_DEPARTED", f"{h.person_id} is marked {h.status}."
                )
            if h.person_id in with_code and not reissue:
                raise MatrixError(
                    409, "TUMAR_CODE_EXISTS",
                    f"{h.person_id} already holds a live activation code; set reissue to "
                    "replace it.",
                )  # fmt: skip
        return holders, with_code

    async def _localparts(
        self, conn: AsyncConnection, holders: Sequence[Holder], now: int
    ) -> dict[str, str]:
        """Each person's reserved localpart, reserving one for those who have none yet."""
        ids = [h.person_id for h in holders]
        reserved = await store.localparts_of(conn, ids)
        fresh = [h for h in holders if h.person_id not in reserved]
        if not fresh:
            return reserved
        bases = {h.person_id: localpart_base(h.name_lat, h.name_cyr) for h in fresh}
        taken = await store.taken_localparts(conn, list(bases.values()))
        rows = []
        for h in fresh:
            for candidate in candidates(bases[h.person_id]):
                if candidate not in taken and self._usable(candidate):
                    break
            taken.add(candidate)
            reserved[h.person_id] = candidate
            rows.append({"person_id": h.person_id, "localpart": candidate, "created_ts": now})
        await store.reserve_localparts(conn, rows)
        return reserved

    def _usable(self, localpart: str) -> bool:
        return valid_new_localpart(localpart) and len(self.user_id_for(localpart)) <= 255

    # ---- using ------------------------------------------------------------------------------

    async def is_code(self, token: str) -> bool:
        """Whether ``token`` names an activation code, live or not (so that a used or expired
        code gets its own clear answer rather than "unknown registration token")."""
        plain = normalise(token)
        if plain is None:
            return False
        async with self._db.read() as conn:
            return await store.get_code(conn, code_hash(plain)) is not None

    async def code_valid(self, token: str) -> bool:
        try:
            await self.check_code(token)
        except ActivationRefused:
            return False
        return True

    async def check_code(self, token: str) -> Holder:
        """The person a live code is for; ``ActivationRefused`` saying why otherwise."""
        async with self._db.read() as conn:
            return await self._check(conn, token, self._clock.now_ms())

    async def _check(self, conn: AsyncConnection, token: str, now: int) -> Holder:
        plain = normalise(token)
        row = await store.get_code(conn, code_hash(plain)) if plain is not None else None
        holder = await store.holder(conn, row.person_id) if row is not None else None
        if row is None or holder is None:
            raise ActivationRefused(
                "The activation code is not valid; check it against your letter."
            )
        _refuse_unusable(row, holder, now)
        return holder

    async def do_activate(
        self, token: str, password: str | None, ip: str | None = None
    ) -> Activated:
        """Create the account of the code's person with ``password``, link it to the person
        and use up the code, in one transaction. Nothing is created on any refusal."""
        holder = await self.check_code(token)
        if password is None:
            raise MatrixError(400, "M_MISSING_PARAM", "A password is required.")
        async with self._db.read() as conn:
            localpart = (await store.localparts_of(conn, [holder.person_id])).get(holder.person_id)
        if localpart is None:  # codes are always issued with a reservation; be safe anyway
            raise ActivationRefused("No user name is reserved for you; ask your administrator.")
        self._policy.check(password, localpart=localpart, names=(holder.name_lat, holder.name_cyr))
        password_hash = await self._passwords.hash(password)
        user_id = self.user_id_for(localpart)
        now = self._clock.now_ms()
        try:
            async with self._db.write() as conn:
                holder = await self._check(conn, token, now)
                plain = normalise(token) or ""
                if not await store.use_code(conn, code_hash(plain), now):
                    raise ActivationRefused("This activation code has just been used.")
                if await account_store.get_user(conn, user_id) is not None:
                    raise ActivationRefused(
                        f"The user name {localpart} is taken; ask your administrator."
                    )
                await account_store.insert_user(
                    conn, user_id=user_id, localpart=localpart, password_hash=password_hash,
                    is_admin=False, displayname=holder.name_cyr, created_ts=now,
                )  # fmt: skip
                await directory_store.update_person(
                    conn, holder.person_id, user_id=user_id, updated_ts=now
                )
                await audit.record(
                    conn, audit.Who(user_id, ip), now, "account.activate", "person",
                    holder.person_id, org_code=holder.org_code,
                    after={"user_id": user_id},
                )  # fmt: skip
        except IntegrityError:  # the person was linked or the name taken concurrently
            raise ActivationRefused("This activation code has just been used.") from None
        return Activated(user_id, holder.person_id)


def _refuse_unusable(row: CodeRow, holder: Holder, now: int) -> None:
    if holder.user_id is not None:
        raise ActivationRefused(
            f"You already have an account ({holder.user_id}); log in with it instead."
        )
    if row.used_ts is not None:
        raise ActivationRefused(
            "This activation code has already been used; ask your administrator for a new one."
        )
    if row.revoked_ts is not None:
        raise ActivationRefused(
            "This activation code was replaced by a newer one; use the code from your latest "
            "letter."
        )
    if row.expiry_ts <= now:
        raise ActivationRefused(
            f"This activation code expired on {iso_utc(row.expiry_ts)}; ask your administrator "
            "for a new one."
        )
    if holder.status != "active":
        raise ActivationRefused(
            "Your entry in the directory is no longer active; ask your administrator."
        )
