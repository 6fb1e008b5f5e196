"""Work that a write transaction does last, just before it commits.

:meth:`Database.write` opens a :class:`Pending` for its connection and runs its hooks right
before the commit; a rolled-back transaction drops them. The audit chain uses this to append
its rows at the very end of a transaction, so the lock that orders the chain is the last lock
a transaction takes and is held only for the moment of the commit (no lock-order deadlocks with
the room or stream-counter locks, and no waiting behind a slow command).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncConnection

Hook = Callable[[AsyncConnection], Awaitable[None]]


@dataclass
class Pending:
    hooks: dict[str, Hook] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


_OPEN: WeakKeyDictionary[AsyncConnection, Pending] = WeakKeyDictionary()


def begin(conn: AsyncConnection) -> None:
    _OPEN[conn] = Pending()


def end(conn: AsyncConnection) -> None:
    _OPEN.pop(conn, None)


def pending(conn: AsyncConnection) -> Pending | None:
    """The pending work of ``conn``'s write transaction; ``None`` outside ``Database.write``."""
    return _OPEN.get(conn)


async def before_commit(conn: AsyncConnection) -> None:
    state = _OPEN.get(conn)
    if state is None:
        return
    while state.hooks:
        name = next(iter(state.hooks))
        hook = state.hooks.pop(name)
        await hook(conn)
