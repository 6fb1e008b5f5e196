"""Signed checkpoints of the audit chain.

A checkpoint says "the row at seq S had hash H", signed with the deployment's Ed25519 audit
key. The key's 32-byte seed is the data key of scope ``audit-signing`` (``DataKeyring``), so
it is wrapped by the master key like every other data key and never leaves the server; its
public key is exported (``tumar audit public-key``, ``GET /_tumar/admin/v1/audit/public-key``)
so that anyone can verify checkpoints offline. Editing rows and recomputing every hash after
them cannot reproduce a checkpoint's signature without the key.

Checkpoints are written every ``audit_checkpoint_rows`` rows or ``audit_checkpoint_interval_s``
seconds (whichever comes first, by a background task on every node; a checkpoint at a seq that
exists already is skipped), and on demand by ``tumar audit checkpoint``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.data_keys import DataKeyring
from tumar.policy.audit_chain import checkpoint_message, key_id_of
from tumar.store import audit as audit_store
from tumar.store.audit import Checkpoint
from tumar.store.db import Database

SIGNING_SCOPE = "audit-signing"
log = logging.getLogger(__name__)


class AuditChain:
    def __init__(
        self, db: Database, clock: Clock, keyring: DataKeyring, settings: Settings
    ) -> None:
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    async def _private_key(self, conn: AsyncConnection) -> Ed25519PrivateKey:
        seed = await self._keyring.key_for(conn, SIGNING_SCOPE)
        return Ed25519PrivateKey.from_private_bytes(seed)

    async def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key (created with the signing key if missing)."""
        async with self._db.write() as conn:
            key = await self._private_key(conn)
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    async def public_key_info(self) -> dict[str, str]:
        """The public key for offline verification: raw (base64), PEM, and its key id."""
        raw = await self.public_key()
        public = Ed25519PublicKey.from_public_bytes(raw)
        return {
            "algorithm": "ed25519",
            "key_id": key_id_of(raw),
            "public_key": base64.b64encode(raw).decode(),
            "pem": public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
        }

    async def do_checkpoint(self, *, force: bool = True) -> Checkpoint | None:
        """Sign the chain's head. Without ``force``, only when ``audit_checkpoint_rows`` rows
        or ``audit_checkpoint_interval_s`` seconds have passed since the last checkpoint.
        Returns the new checkpoint, or ``None`` when none was due (or the head is signed)."""
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            head = await audit_store.head(conn)
            if head is None:
                return None
            last = await audit_store.last_checkpoint(conn)
            if last is not None and last.seq >= head[0]:
                return None
            if not force and last is not None:
                rows_due = head[0] - last.seq >= self._settings.audit_checkpoint_rows
                time_due = now - last.ts >= self._settings.audit_checkpoint_interval_s * 1000
                if not (rows_due or time_due):
                    return None
            key = await self._private_key(conn)
            raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            key_id = key_id_of(raw)
            seq, row_hash = head
            signature = key.sign(checkpoint_message(seq, row_hash, now, key_id))
            cp = Checkpoint(seq, row_hash, now, key_id, base64.b64encode(signature).decode())
            if not await audit_store.insert_checkpoint(conn, cp):
                return None
        return cp

    # ---- the background task -----------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        period = max(1.0, min(60.0, float(self._settings.audit_checkpoint_interval_s)))
        while True:
            await asyncio.sleep(period)
            try:
                await self.do_checkpoint(force=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: try again next period
                log.exception("audit checkpoint failed")
