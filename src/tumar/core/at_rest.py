"""Encryption at rest of message content (see ``docs/encryption-at-rest.md``).

What is sealed: the content of every non-state event in a room whose label is at or above
``encrypt_at_rest_from`` (``official-use`` by default), when it is written. State events stay
readable: the server itself reads membership, power levels, join rules, the create event and
the label, and shows names, topics and avatars to invitees and in the room directory.

How: AES-256-GCM with the room's data key (:class:`tumar.core.data_keys.DataKeyring`, scope
the room id), a random 96-bit nonce per event, and associated data naming the room and the
event id, so a ciphertext copied onto another row (or into another room) does not decrypt.
The stored text is ``sealed:v1:<base64 of nonce, ciphertext and tag>``.

Reading: every reader of ``events.content`` goes through ``store.events`` (``_events``), which
hands sealed rows to :meth:`AtRest.prepare` and :meth:`AtRest.open` (this object is the
``ContentOpener`` that ``Database`` puts on each connection). A row whose tag does not verify,
or whose key is unavailable, is returned as an event saying so (and logged without its
content); the rest of the sync or page is served as usual.

Search: the searchable text of a sealed event is stored as a blind index: keyed hashes (BLAKE2b
with a key derived from the room's data key) of every prefix of every normalised word. A
search hashes its words with the key of each sealed room the searcher may read.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.core.data_keys import DataKeyring
from tumar.core.key_provider import KeyProviderError
from tumar.policy.labels import LABEL_EVENT, at_least
from tumar.store import data_keys as key_store
from tumar.store import search as search_store
from tumar.store.events import SEALED_PREFIX, OpenFn, StoredEvent
from tumar.store.json import dumps, loads

log = logging.getLogger(__name__)

LABEL_KEY = (LABEL_EVENT, "")
MEDIA_SCOPE = "media"
"""The data key of media files (their room is not known when they are uploaded)."""
NONCE_BYTES = 12
BLIND_PREFIX_MAX = 24
"""Prefixes of at most this many characters are indexed; longer search words are cut."""
BLIND_TOKEN_BYTES = 10
CIPHER_CACHE = 4096
"""Rooms whose ready ciphers are kept (the data keys themselves stay in the keyring)."""

UNREADABLE = "kz.tumar.unreadable"


def unreadable_content(event_type: str, reason: str) -> dict[str, Any]:
    """What a reader gets instead of content that cannot be decrypted."""
    text = f"This message cannot be shown: {reason}"
    content: dict[str, Any] = {UNREADABLE: reason}
    if event_type == "m.room.message":
        content.update(msgtype="m.notice", body=text)
    return content


def event_aad(room_id: str, event_id: str) -> bytes:
    return b"tumar event v1\x00" + room_id.encode() + b"\x00" + event_id.encode()


@dataclass(frozen=True, slots=True)
class Sealed:
    """An event's content as stored (ciphertext), and the room's blind-index key."""

    content: str
    search_key: bytes

    def blind(self, value: str) -> str:
        return blind_text(self.search_key, value)


def search_key(data_key: bytes) -> bytes:
    """The blind-index key of a room, derived from (never equal to) its data key."""
    return HKDF(SHA256(), 32, salt=None, info=b"tumar search v1").derive(data_key)


_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _token(key: bytes, prefix: str) -> str:
    """A keyed hash (BLAKE2b with the room's search key, a PRF) of ``prefix``, as 20 letters
    a-p: one plain word to the full-text tokenizers of both databases."""
    digest = hashlib.blake2b(prefix.encode(), key=key, digest_size=BLIND_TOKEN_BYTES)
    return digest.hexdigest().translate(_LETTERS)


def blind_text(key: bytes, value: str) -> str:
    """The blind index of ``value``: distinct tokens, sorted (so the order of words does not
    show), one per prefix of each word (so a search word matches as a prefix, as in plaintext
    rooms)."""
    prefixes: set[str] = set()
    for word in search_store.all_words(value):
        prefixes.update(word[:i] for i in range(1, min(len(word), BLIND_PREFIX_MAX) + 1))
    return " ".join(sorted(_token(key, p) for p in prefixes))


def blind_words(key: bytes, words: Sequence[str]) -> list[str]:
    """Search words as blind tokens (each matches exactly: prefixes were indexed)."""
    return [_token(key, w[:BLIND_PREFIX_MAX]) for w in words]


class AtRest:
    """The content codec: decides what is sealed, seals on write, opens on read."""

    def __init__(
        self,
        keyring: DataKeyring,
        *,
        labels: Sequence[str],
        floor: str | None,
        unlabelled: str | None = None,
    ) -> None:
        self._keyring = keyring
        self._labels = tuple(labels)
        self._floor = floor
        self._unlabelled = unlabelled  # the label of a room without a label event
        self._ciphers: OrderedDict[str, AESGCM] = OrderedDict()
        self._search_keys: dict[str, bytes] = {}

    @property
    def keyring(self) -> DataKeyring:
        return self._keyring

    def protects(self, label: str | None) -> bool:
        """Whether content of a room with ``label`` is sealed."""
        return (
            self._floor is not None
            and label is not None
            and at_least(label, self._floor, self._labels)
        )

    # ---- writing ------------------------------------------------------------------------------

    async def seal(
        self, conn: AsyncConnection, ev: StoredEvent, label_event: StoredEvent | None
    ) -> Sealed | None:
        """The sealed form of ``ev`` (written in ``conn``'s transaction), or None when it is
        stored as plaintext: a state event, or a room below the floor."""
        if ev.state_key is not None:
            return None
        label = label_event.content.get("label") if label_event else self._unlabelled
        if not self.protects(label if isinstance(label, str) else None):
            return None
        key = await self._keyring.key_for(conn, ev.room_id)
        return Sealed(self.seal_content(key, ev.room_id, ev.event_id, ev.content), search_key(key))

    @staticmethod
    def seal_content(key: bytes, room_id: str, event_id: str, content: Mapping[str, Any]) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, dumps(content).encode(), event_aad(room_id, event_id))
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    # ---- reading (the ContentOpener of store.events) ------------------------------------------

    async def prepare(self, conn: AsyncConnection, room_ids: set[str]) -> OpenFn:
        ciphers: dict[str, AESGCM] = {}
        missing: set[str] = set()
        for room_id in room_ids:
            cipher = self._ciphers.get(room_id)
            if cipher is not None:
                self._ciphers.move_to_end(room_id)
                ciphers[room_id] = cipher
                continue
            try:
                key = await self._keyring.key_for(conn, room_id, create=False)
            except (LookupError, KeyProviderError) as exc:
                missing.add(room_id)
                log.error(
                    "a room's data key is not available",
                    extra={"room_id": room_id, "reason": str(exc)},
                )
                continue
            ciphers[room_id] = cipher = AESGCM(key)
            if self._keyring.cached(room_id) == key:  # committed: safe to keep
                self._remember(room_id, cipher)

        def open_(room_id: str, event_id: str, event_type: str, sealed: str) -> dict[str, Any]:
            cipher = ciphers.get(room_id)
            if cipher is None:
                return unreadable_content(event_type, "its encryption key is not available.")
            return _open(cipher, room_id, event_id, event_type, sealed)

        return open_

    def _remember(self, room_id: str, cipher: AESGCM) -> None:
        self._ciphers[room_id] = cipher
        if len(self._ciphers) > CIPHER_CACHE:
            self._ciphers.popitem(last=False)

    # ---- search -------------------------------------------------------------------------------

    async def blind_groups(
        self, conn: AsyncConnection, room_ids: Iterable[str], words: Sequence[str]
    ) -> list[list[str]]:
        """For each room among ``room_ids`` that has sealed content (it has a data key),
        ``words`` as that room's blind tokens."""
        rooms = list(room_ids)
        if not rooms or not words:
            return []
        groups = []
        for room_id in sorted(await key_store.existing_scopes(conn, rooms)):
            key = self._search_keys.get(room_id)
            if key is None:
                try:
                    data_key = await self._keyring.key_for(conn, room_id, create=False)
                except (LookupError, KeyProviderError):
                    continue
                key = search_key(data_key)
                if self._keyring.cached(room_id) == data_key:  # committed
                    self._search_keys[room_id] = key
            groups.append(blind_words(key, words))
        return groups

    # ---- media ----------------------------------------------------------------------------------

    async def media_key(self) -> bytes:
        return await self._keyring.key_now(MEDIA_SCOPE)


def _open(
    cipher: AESGCM, room_id: str, event_id: str, event_type: str, sealed: str
) -> dict[str, Any]:
    try:
        raw = base64.b64decode(sealed[len(SEALED_PREFIX) :], validate=True)
        plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], event_aad(room_id, event_id))
        return loads(plain.decode())
    except (InvalidTag, ValueError, orjson.JSONDecodeError, AssertionError):
        log.error(
            "stored event content failed its integrity check",
            extra={"room_id": room_id, "event_id": event_id},
        )
        return unreadable_content(event_type, "its stored form was altered.")
