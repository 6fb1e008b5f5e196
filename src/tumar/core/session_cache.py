"""A per-node cache of access token -> owner, so that a request does not read the database to
know who sent it.

Every writer that ends or changes sessions (logout, device deletion, deactivation, suspension,
password change that logs out devices) publishes ``Doorbell.sessions`` naming the user after
its commit; every node drops the user's entries at once. The same writers add a row to
``session_changes`` in their transaction, which every node reads each second
(``core/session_watch.py``): that covers a lost doorbell and writers that cannot reach this
node's bus (a command-line process). The time limit (``session_cache_seconds``) is the last
bound.

A lookup that read the database before such a drop must not put its stale answer back: every
drop moves an epoch, and ``put`` keeps an answer only when the epoch is still the one seen
before the read.
"""

from __future__ import annotations

from collections.abc import Iterable

from tumar.bus.base import Doorbell
from tumar.clock import Clock
from tumar.store.accounts import TokenOwner

MAX_ENTRIES = 100_000


class SessionCache:
    def __init__(self, clock: Clock, ttl_seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max = max_entries
        self._by_token: dict[str, tuple[float, TokenOwner]] = {}
        self._tokens_of: dict[str, set[str]] = {}
        self.epoch = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, token_hash: str) -> TokenOwner | None:
        entry = self._by_token.get(token_hash)
        if entry is None:
            return None
        expires, owner = entry
        if self._clock.monotonic() >= expires:
            self._forget(token_hash, owner.user_id)
            return None
        return owner

    def put(self, token_hash: str, owner: TokenOwner, epoch: int) -> None:
        """Remember an owner read from the database when ``epoch`` was current."""
        if not self.enabled or epoch != self.epoch:
            return
        if len(self._by_token) >= self._max:
            self._by_token.clear()
            self._tokens_of.clear()
        self._by_token[token_hash] = (self._clock.monotonic() + self._ttl, owner)
        self._tokens_of.setdefault(owner.user_id, set()).add(token_hash)

    def drop_users(self, users: Iterable[str]) -> None:
        self.epoch += 1
        for user in users:
            for token_hash in self._tokens_of.pop(user, ()):
                self._by_token.pop(token_hash, None)

    def clear(self) -> None:
        """Forget every session (the node may have missed some changes)."""
        self.epoch += 1
        self._by_token.clear()
        self._tokens_of.clear()

    def on_doorbell(self, bell: Doorbell) -> None:
        if bell.wake_all:
            # The node may have missed doorbells (Redis was away): forget every session.
            self.clear()
        elif bell.sessions:
            self.drop_users(bell.sessions)

    def _forget(self, token_hash: str, user_id: str) -> None:
        self._by_token.pop(token_hash, None)
        tokens = self._tokens_of.get(user_id)
        if tokens is not None:
            tokens.discard(token_hash)
            if not tokens:
                del self._tokens_of[user_id]
