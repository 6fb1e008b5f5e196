"""Watching the SQL a test's requests send: every statement reaches the engine's
``before_cursor_execute`` listeners, those of ``store/hot.py`` included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tumar.core.services import Services


@contextmanager
def on_statement(services: Services, seen: Callable[[str, Any], None]) -> Iterator[None]:
    """Call ``seen(sql, parameters)`` for every statement sent while the block runs."""

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen(statement, parameters)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listener)
