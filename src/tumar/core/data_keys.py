"""Data keys: one random AES-256 key per scope (a room id, or a purpose such as ``dlp``),
stored wrapped by the key provider's master key and cached unwrapped in memory.

A data key is created on first use inside the caller's transaction, so it commits with the
content it protects. Rotating the master key (:meth:`DataKeyring.rewrap_all`) re-wraps every
data key in small batches while the server keeps serving; the data keys themselves stay the
same, so nothing already encrypted has to change.
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.key_provider import KEY_BYTES, KeyProvider
from tumar.store import data_keys as key_store
from tumar.store import tx
from tumar.store.db import Database

_CREATED = "data_keys.created"


class DataKeyring:
    def __init__(self, db: Database, provider: KeyProvider, clock: Clock) -> None:
        self._db = db
        self._provider = provider
        self._clock = clock
        self._cache: dict[str, bytes] = {}

    @property
    def provider(self) -> KeyProvider:
        return self._provider

    def cached(self, scope: str) -> bytes | None:
        return self._cache.get(scope)

    async def key_for(self, conn: AsyncConnection, scope: str, *, create: bool = True) -> bytes:
        """The data key of ``scope``, created (in ``conn``'s transaction) if missing."""
        key = self._cache.get(scope)
        if key is not None:
            return key
        stored = await key_store.get(conn, scope)
        inserted = False
        if stored is None:
            if not create:
                raise LookupError(f"no data key for {scope}")
            key_id, wrapped = self._provider.wrap(secrets.token_bytes(KEY_BYTES))
            now = self._clock.now_ms()
            inserted = await key_store.insert_if_missing(conn, scope, key_id, wrapped, now)
            stored = await key_store.get(conn, scope)
            assert stored is not None
        key = self._provider.unwrap(stored.key_id, stored.wrapped)
        # A key this transaction created is cached only once it is read back committed: were
        # the transaction rolled back, a cached key would encrypt content with a key that no
        # longer exists anywhere.
        pending = tx.pending(conn)
        created: set[str] = pending.data.setdefault(_CREATED, set()) if pending else set()
        if inserted:
            created.add(scope)
        elif scope not in created:
            self._cache[scope] = key
        return key

    async def key_now(self, scope: str) -> bytes:
        """The data key of ``scope`` outside any caller's transaction (created and committed
        in a transaction of its own if missing)."""
        key = self._cache.get(scope)
        if key is not None:
            return key
        async with self._db.write() as conn:
            key = await self.key_for(conn, scope)
        self._cache[scope] = key  # committed now
        return key

    async def rewrap_all(self, batch: int = 500) -> int:
        """Re-wrap every data key still wrapped by an older master key; returns how many."""
        current = self._provider.current_key_id
        done = 0
        while True:
            async with self._db.write() as conn:
                rows = await key_store.wrapped_with_other_than(conn, current, batch)
                for row in rows:
                    key = self._provider.unwrap(row.key_id, row.wrapped)
                    key_id, wrapped = self._provider.wrap(key)
                    if await key_store.rewrap(
                        conn, row.scope, row.key_id, key_id, wrapped, self._clock.now_ms()
                    ):
                        done += 1
            if len(rows) < batch:
                return done
