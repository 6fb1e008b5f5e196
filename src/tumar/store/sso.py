"""Second factor and single sign-on: authenticators (``user_totp``), in-flight login pages
(``sso_sessions``), one-time login tokens (``login_tokens``), and the directory lookups they
need (the organisation policy above a user, people by e-mail)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.directory import Person
from tumar.store.schema import login_tokens, organisations, people, sso_sessions, user_totp

# ---- authenticators -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totp:
    user_id: str
    secret: str  # base32
    confirmed_ts: int | None  # None while an enrolment waits for its first code
    last_step: int  # the latest time step whose code was accepted (no replays)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_ts is not None


async def get_totp(conn: AsyncConnection, user_id: str) -> Totp | None:
    row = (await conn.execute(select(user_totp).where(user_totp.c.user_id == user_id))).first()
    return Totp(**row._mapping) if row else None


async def put_pending_totp(conn: AsyncConnection, user_id: str, secret: str) -> None:
    """Start (or restart) an enrolment; never replaces a confirmed authenticator."""
    await conn.execute(
        delete(user_totp).where(user_totp.c.user_id == user_id, user_totp.c.confirmed_ts.is_(None))
    )
    await conn.execute(
        insert(user_totp).values(user_id=user_id, secret=secret, confirmed_ts=None, last_step=0)
    )


async def use_totp_step(
    conn: AsyncConnection, user_id: str, step: int, confirm_ts: int | None = None
) -> bool:
    """Record ``step`` as used, only if it is later than the last one (so two requests racing
    with the same code cannot both pass). ``confirm_ts`` also confirms a pending enrolment."""
    values: dict[str, Any] = {"last_step": step}
    conds = [user_totp.c.user_id == user_id, user_totp.c.last_step < step]
    if confirm_ts is not None:
        values["confirmed_ts"] = confirm_ts
        conds.append(user_totp.c.confirmed_ts.is_(None))
    else:
        conds.append(user_totp.c.confirmed_ts.is_not(None))
    result = await conn.execute(update(user_totp).where(and_(*conds)).values(**values))
    return bool(result.rowcount)


async def delete_totp(conn: AsyncConnection, user_id: str) -> Totp | None:
    found = await get_totp(conn, user_id)
    if found is not None:
        await conn.execute(delete(user_totp).where(user_totp.c.user_id == user_id))
    return found


# ---- organisation policy --------------------------------------------------------------------


async def org_of_user(conn: AsyncConnection, user_id: str) -> tuple[str, str] | None:
    """(org code, org path) of the person holding this account, if any."""
    query = (
        select(organisations.c.code, organisations.c.path)
        .select_from(people.join(organisations, organisations.c.code == people.c.org_code))
        .where(people.c.user_id == user_id)
    )
    row = (await conn.execute(query)).first()
    return (row.code, row.path) if row else None


async def any_requires_mfa(conn: AsyncConnection, paths: Sequence[str]) -> bool:
    if not paths:
        return False
    query = select(func.count()).where(
        organisations.c.path.in_(list(paths)), organisations.c.mfa_required.is_(True)
    )
    return int((await conn.execute(query)).scalar_one()) > 0


async def people_by_email(conn: AsyncConnection, email: str, limit: int = 2) -> list[Person]:
    query = select(people).where(func.lower(people.c.email) == email.lower()).limit(limit)
    return [Person(**r._mapping) for r in await conn.execute(query)]


# ---- login page sessions --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SsoSession:
    session_id: str  # a hash of the browser's cookie
    redirect_url: str
    idp: str
    nonce: str | None
    code_verifier: str | None
    user_id: str | None
    stage: str
    expiry_ts: int
    failures: int


async def insert_session(conn: AsyncConnection, session: SsoSession) -> None:
    await conn.execute(
        insert(sso_sessions).values(
            session_id=session.session_id,
            redirect_url=session.redirect_url,
            idp=session.idp,
            nonce=session.nonce,
            code_verifier=session.code_verifier,
            user_id=session.user_id,
            stage=session.stage,
            expiry_ts=session.expiry_ts,
            failures=session.failures,
        )
    )


async def get_session(conn: AsyncConnection, session_id: str, now_ms: int) -> SsoSession | None:
    query = select(sso_sessions).where(
        sso_sessions.c.session_id == session_id, sso_sessions.c.expiry_ts > now_ms
    )
    row = (await conn.execute(query)).first()
    return SsoSession(**row._mapping) if row else None


async def update_session(
    conn: AsyncConnection, session_id: str, expect_stage: str, **values: Any
) -> bool:
    """Move a session on, only from the stage the caller saw (a concurrent request that moved
    it first wins; this one changes nothing)."""
    result = await conn.execute(
        update(sso_sessions)
        .where(sso_sessions.c.session_id == session_id, sso_sessions.c.stage == expect_stage)
        .values(**values)
    )
    return bool(result.rowcount)


async def add_failure(conn: AsyncConnection, session_id: str) -> int:
    await conn.execute(
        update(sso_sessions)
        .where(sso_sessions.c.session_id == session_id)
        .values(failures=sso_sessions.c.failures + 1)
    )
    query = select(sso_sessions.c.failures).where(sso_sessions.c.session_id == session_id)
    return int((await conn.execute(query)).scalar_one_or_none() or 0)


async def delete_session(conn: AsyncConnection, session_id: str) -> bool:
    result = await conn.execute(delete(sso_sessions).where(sso_sessions.c.session_id == session_id))
    return bool(result.rowcount)


async def delete_expired(conn: AsyncConnection, now_ms: int) -> None:
    await conn.execute(delete(sso_sessions).where(sso_sessions.c.expiry_ts <= now_ms))
    await conn.execute(delete(login_tokens).where(login_tokens.c.expiry_ts <= now_ms))


# ---- login tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginToken:
    user_id: str
    expiry_ts: int
    auth_method: str


async def insert_login_token(
    conn: AsyncConnection, token_hash: str, user_id: str, expiry_ts: int, auth_method: str
) -> None:
    await conn.execute(
        insert(login_tokens).values(
            token_hash=token_hash, user_id=user_id, expiry_ts=expiry_ts, auth_method=auth_method
        )
    )


async def take_login_token(conn: AsyncConnection, token_hash: str) -> LoginToken | None:
    """Remove the token and return it; of two requests racing with one token, one gets it."""
    query = select(login_tokens).where(login_tokens.c.token_hash == token_hash)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    result = await conn.execute(delete(login_tokens).where(login_tokens.c.token_hash == token_hash))
    if not result.rowcount:
        return None
    return LoginToken(row.user_id, row.expiry_ts, row.auth_method)
