"""Users, devices, access tokens and registration tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.store.hot import HotQuery
from tumar.store.schema import access_tokens, devices, registration_tokens, users


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    localpart: str
    password_hash: str | None
    is_admin: bool
    deactivated: bool
    suspended: bool
    displayname: str | None
    avatar_url: str | None
    created_ts: int


@dataclass(frozen=True, slots=True)
class Device:
    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    user_id: str
    device_id: str
    is_admin: bool
    deactivated: bool
    suspended: bool


@dataclass(frozen=True, slots=True)
class RegistrationToken:
    token: str
    uses_allowed: int | None
    completed: int
    expiry_ts: int | None

    def usable(self, now_ms: int) -> bool:
        if self.expiry_ts is not None and now_ms >= self.expiry_ts:
            return False
        return self.uses_allowed is None or self.completed < self.uses_allowed


def _user(row: Row[Any]) -> User:
    return User(**row._mapping)


async def insert_user(
    conn: AsyncConnection,
    *,
    user_id: str,
    localpart: str,
    password_hash: str | None,
    is_admin: bool,
    displayname: str | None,
    created_ts: int,
) -> None:
    await conn.execute(
        insert(users).values(
            user_id=user_id,
            localpart=localpart,
            password_hash=password_hash,
            is_admin=is_admin,
            deactivated=False,
            suspended=False,
            displayname=displayname,
            avatar_url=None,
            created_ts=created_ts,
        )
    )


async def get_user(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.user_id == user_id))).first()
    return _user(row) if row else None


async def get_users(conn: AsyncConnection, user_ids: list[str]) -> dict[str, User]:
    if not user_ids:
        return {}
    rows = await conn.execute(select(users).where(users.c.user_id.in_(user_ids)))
    return {r.user_id: _user(r) for r in rows}


async def list_users(conn: AsyncConnection) -> list[User]:
    rows = await conn.execute(select(users).order_by(users.c.user_id))
    return [_user(r) for r in rows]


async def update_user(conn: AsyncConnection, user_id: str, **values: Any) -> None:
    await conn.execute(update(users).where(users.c.user_id == user_id).values(**values))


async def upsert_device(
    conn: AsyncConnection, user_id: str, device_id: str, display_name: str | None, ts: int
) -> None:
    existing = await conn.execute(
        select(devices.c.device_id).where(
            devices.c.user_id == user_id, devices.c.device_id == device_id
        )
    )
    if existing.first() is None:
        await conn.execute(
            insert(devices).values(
                user_id=user_id,
                device_id=device_id,
                display_name=display_name,
                created_ts=ts,
                last_seen_ts=ts,
            )
        )
    elif display_name is not None:
        await rename_device(conn, user_id, device_id, display_name)


async def rename_device(
    conn: AsyncConnection, user_id: str, device_id: str, display_name: str | None
) -> None:
    await conn.execute(
        update(devices)
        .where(devices.c.user_id == user_id, devices.c.device_id == device_id)
        .values(display_name=display_name)
    )


async def list_devices(conn: AsyncConnection, user_id: str) -> list[Device]:
    rows = await conn.execute(
        select(
            devices.c.user_id,
            devices.c.device_id,
            devices.c.display_name,
            devices.c.last_seen_ts,
            devices.c.last_seen_ip,
        )
        .where(devices.c.user_id == user_id)
        .order_by(devices.c.device_id)
    )
    return [Device(**r._mapping) for r in rows]


async def delete_devices(conn: AsyncConnection, user_id: str, device_ids: list[str]) -> None:
    await conn.execute(
        delete(access_tokens).where(
            access_tokens.c.user_id == user_id, access_tokens.c.device_id.in_(device_ids)
        )
    )
    await conn.execute(
        delete(devices).where(devices.c.user_id == user_id, devices.c.device_id.in_(device_ids))
    )


async def insert_token(
    conn: AsyncConnection, token_hash: str, user_id: str, device_id: str, ts: int
) -> None:
    await conn.execute(
        insert(access_tokens).values(
            token_hash=token_hash, user_id=user_id, device_id=device_id, created_ts=ts
        )
    )


_TOKEN_OWNER = HotQuery(
    select(
        access_tokens.c.user_id,
        access_tokens.c.device_id,
        users.c.is_admin,
        users.c.deactivated,
        users.c.suspended,
    )
    .join(users, users.c.user_id == access_tokens.c.user_id)
    .where(access_tokens.c.token_hash == bindparam("token_hash"))
)


async def token_owner(conn: AsyncConnection, token_hash: str) -> TokenOwner | None:
    """Who the token belongs to (every request whose token is not cached: a hot read)."""
    rows = await _TOKEN_OWNER.rows(conn, {"token_hash": token_hash})
    return TokenOwner(**rows[0]._mapping) if rows else None


async def delete_token(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(access_tokens).where(access_tokens.c.token_hash == token_hash))


async def insert_registration_token(
    conn: AsyncConnection, token: str, uses_allowed: int | None, expiry_ts: int | None, ts: int
) -> None:
    await conn.execute(
        insert(registration_tokens).values(
            token=token, uses_allowed=uses_allowed, completed=0, expiry_ts=expiry_ts, created_ts=ts
        )
    )


async def get_registration_token(conn: AsyncConnection, token: str) -> RegistrationToken | None:
    row = (
        await conn.execute(
            select(
                registration_tokens.c.token,
                registration_tokens.c.uses_allowed,
                registration_tokens.c.completed,
                registration_tokens.c.expiry_ts,
            ).where(registration_tokens.c.token == token)
        )
    ).first()
    return RegistrationToken(**row._mapping) if row else None


async def use_registration_token(conn: AsyncConnection, token: str, now_ms: int) -> bool:
    """Count one use of the token if it is still usable; atomic, so concurrent registrations
    cannot together use a token more often than it allows."""
    t = registration_tokens.c
    result = await conn.execute(
        update(registration_tokens)
        .where(
            t.token == token,
            (t.uses_allowed.is_(None)) | (t.completed < t.uses_allowed),
            (t.expiry_ts.is_(None)) | (t.expiry_ts > now_ms),
        )
        .values(completed=t.completed + 1)
    )
    return result.rowcount == 1
