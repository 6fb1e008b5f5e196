"""Master keys that wrap tumar's data keys, behind an interface an HSM or a KMS can implement.

A master key never encrypts content itself: it wraps the per-room (and per-purpose) data keys
kept in the database (:mod:`tumar.core.data_keys`). Rotating the master key re-wraps those data
keys; content stays as it is.

:class:`LocalKeyProvider` reads 32-byte keys from a key file or from the ``TUMAR_MASTER_KEY``
environment variable. The key file holds one key per line as ``<key id>:<base64 of 32
bytes>``; the first line is the current key, later lines are older keys still needed to unwrap.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_WRAP_AAD = b"tumar data key v1"


class KeyProviderError(Exception):
    """A key is missing or a wrapped key does not unwrap (wrong key, or tampered)."""


class KeyProvider(Protocol):
    @property
    def current_key_id(self) -> str:
        """The id of the master key that :meth:`wrap` uses."""
        ...

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """Wrap ``data_key`` with the current master key: (key id, wrapped bytes)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """Unwrap with the master key ``key_id``; :class:`KeyProviderError` if that fails."""
        ...


def parse_key_lines(text: str) -> list[tuple[str, bytes]]:
    """``<id>:<base64>`` lines, blank lines and ``#`` comments ignored."""
    keys: list[tuple[str, bytes]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key_id, sep, encoded = line.partition(":")
        if not sep or not key_id:
            raise KeyProviderError(f"line {number}: expected <key id>:<base64 key>")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise KeyProviderError(f"line {number}: the key is not base64") from exc
        if len(key) != KEY_BYTES:
            raise KeyProviderError(f"line {number}: a master key has {KEY_BYTES} bytes")
        keys.append((key_id, key))
    if not keys:
        raise KeyProviderError("no master key")
    if len({k for k, _ in keys}) != len(keys):
        raise KeyProviderError("master key ids must be distinct")
    return keys


def new_key_line(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class LocalKeyProvider:
    """Master keys held in this process (from a file or an environment variable)."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyProviderError("no master key")
        self._current = keys[0][0]
        self._keys = dict(keys)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> LocalKeyProvider:
        """Load ``path``; with ``create``, first write a new random key if it does not exist
        (readable by the owner only)."""
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(new_key_line("k1") + "\n")
        return cls(parse_key_lines(path.read_text()))

    @property
    def current_key_id(self) -> str:
        return self._current

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, _WRAP_AAD)
        return self._current, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise KeyProviderError(f"master key {key_id!r} is not available")
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD)
        except Exception as exc:  # InvalidTag: wrong key or altered bytes
            raise KeyProviderError(f"a data key does not unwrap with {key_id!r}") from exc
