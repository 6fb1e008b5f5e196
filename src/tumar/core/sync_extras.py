"""What ``/sync`` carries besides rooms and account data proper: unread notification counts
per joined room, the push rules in an initial sync, and presence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.core.notifications import NotificationCounter
from tumar.core.presence import PresenceService
from tumar.core.push import PUSH_RULES, PushRuleService
from tumar.store.events import StoredEvent
from tumar.store.userdata import AccountData


class SyncExtras:
    def __init__(
        self, counter: NotificationCounter, push_rules: PushRuleService, presence: PresenceService
    ) -> None:
        self._counter = counter
        self._push_rules = push_rules
        self._presence = presence

    async def add_unread_counts(
        self,
        conn: AsyncConnection,
        user_id: str,
        join: dict[str, dict[str, Any]],
        upto: int,
        *,
        split_threads: bool,
        member_pos: dict[str, int],
        rules_may_have_changed: bool,
        window: tuple[int, Mapping[str, list[StoredEvent]]] | None = None,
        read_versions: Mapping[str, int] | None = None,
    ) -> None:
        """``unread_notifications`` on every joined room in the answer; with
        ``split_threads`` (the filter's ``unread_thread_notifications``) the main timeline's
        and each thread's counts apart, as MSC3773 says. ``member_pos``: the position of the
        user's membership event per joined room (the sync has them already);
        ``rules_may_have_changed``: an initial sync, or ``m.push_rules`` in the window;
        ``window``: ``(after, events)``, every event after ``after`` up to ``upto`` of the
        rooms the sync read whole, which the counts then need not read again;
        ``read_versions``: per room, the version of the user's read receipts, when the sync
        knows it (``store/sync_probe.py``)."""
        if rules_may_have_changed:
            self._push_rules.forget(user_id)
        unread = await self._counter.unread(
            conn, user_id, list(join), upto, member_pos, window, read_versions
        )
        for room_id, section in join.items():
            counts = unread[room_id]
            if split_threads:
                section["unread_notifications"] = counts.main.as_json()
                section["unread_thread_notifications"] = {
                    thread: c.as_json()
                    for thread, c in counts.threads.items()
                    if c.notification_count
                }
            else:
                section["unread_notifications"] = counts.total().as_json()

    async def global_account_data(
        self, conn: AsyncConnection, user_id: str, initial: bool, items: list[AccountData]
    ) -> list[AccountData]:
        """An initial sync always carries ``m.push_rules`` (the defaults until the user
        changes a rule, when it is stored and synced like other account data)."""
        if not initial or any(i.type == PUSH_RULES for i in items):
            return items
        rules = await self._push_rules.rules_for(conn, user_id)
        return [*items, AccountData("", PUSH_RULES, self._push_rules.account_data(rules), 0)]

    async def presence(
        self, conn: AsyncConnection, user_id: str, after: int | None, upto: int
    ) -> list[dict[str, Any]]:
        return await self._presence.sync_events(conn, user_id, after, upto)
