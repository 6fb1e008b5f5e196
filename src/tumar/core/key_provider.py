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
import logging
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_WRAP_AAD = b"tumar data key v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
log = logging.getLogger(__name__)


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
    """Master keys held in this process (from a file or an environment variable).

    Loaded from a file, the provider notices when the file changes (its size or modification
    time, checked when a data key is wrapped, or when a key id it does not know is asked for)
    and reloads it. So ``tumar keys new-key`` takes effect on a running server without a
    restart: new data keys are wrapped with the new key at once, and a data key that another
    node or ``tumar keys rotate`` re-wrapped is unwrapped with it. A file that no longer parses
    is ignored (the keys already loaded stay in use) until it is fixed.
    """

    def __init__(self, keys: Sequence[tuple[str, bytes]], *, path: Path | None = None) -> None:
        if not keys:
            raise KeyProviderError("no master key")
        self._current = keys[0][0]
        self._keys = dict(keys)
        self._path = path
        self._stamp = _stamp(path) if path is not None else None

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> LocalKeyProvider:
        """Load ``path``; with ``create``, first write a new random key if it does not exist
        (readable by the owner only)."""
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(new_key_line("k1") + "\n")
        return cls(parse_key_lines(path.read_text()), path=path)

    @property
    def key_ids(self) -> list[str]:
        """Every master key id this provider holds, the current one first."""
        self._refresh()
        return [self._current, *(k for k in self._keys if k != self._current)]

    @property
    def current_key_id(self) -> str:
        self._refresh()
        return self._current

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        self._refresh()
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, _WRAP_AAD)
        return self._current, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        if key_id not in self._keys:
            self._refresh()
        key = self._keys.get(key_id)
        if key is None:
            raise KeyProviderError(f"master key {key_id!r} is not available")
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD)
        except Exception as exc:  # InvalidTag: wrong key or altered bytes
            raise KeyProviderError(f"a data key does not unwrap with {key_id!r}") from exc

    def _refresh(self) -> None:
        if self._path is None:
            return
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            keys = parse_key_lines(self._path.read_text())
        except (OSError, KeyProviderError):
            log.error("the master key file does not load; the keys already loaded stay in use")
            return
        self._current = keys[0][0]
        self._keys = dict(keys)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def add_key_to_file(path: Path, key_id: str | None = None) -> str:
    """Put a new random master key first in the key file (the older keys stay below it, so
    data keys wrapped with them still unwrap until ``tumar keys rotate`` re-wrapped them).
    Returns the new key id. The file is replaced atomically and stays readable by its owner
    only."""
    keys = parse_key_lines(path.read_text())
    ids = {k for k, _ in keys}
    if key_id is None:
        number = len(keys) + 1
        while f"k{number}" in ids:
            number += 1
        key_id = f"k{number}"
    if not _KEY_ID.match(key_id):
        raise KeyProviderError("a key id is letters, digits, '-', '_' or '.' (at most 64)")
    if key_id in ids:
        raise KeyProviderError(f"the key file already has a key {key_id!r}")
    lines = [new_key_line(key_id)]
    lines += [f"{k}:{base64.b64encode(v).decode()}" for k, v in keys]
    _replace_file(path, "\n".join(lines) + "\n")
    return key_id


def remove_key_from_file(path: Path, key_id: str) -> None:
    """Drop an old master key from the key file (never the current one, the first)."""
    keys = parse_key_lines(path.read_text())
    if keys[0][0] == key_id:
        raise KeyProviderError(f"{key_id!r} is the current master key; add a new key first")
    if key_id not in {k for k, _ in keys}:
        raise KeyProviderError(f"the key file has no key {key_id!r}")
    lines = [f"{k}:{base64.b64encode(v).decode()}" for k, v in keys if k != key_id]
    _replace_file(path, "\n".join(lines) + "\n")


def _replace_file(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
