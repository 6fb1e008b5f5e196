"""Logging set-up for ``tumar serve``: plain text for people, JSON lines for log collectors.

Every record carries the id of the request it was written for (``request_id``; the HTTP
middleware sets :data:`REQUEST_ID` for the duration of each request, and asyncio tasks started
by the request inherit it). Fields given with ``extra=`` become top-level JSON keys.

Callers must never log message bodies, keys or classified content (docs/STYLE rule 7); the
access line names the route template, not the raw path, for the same reason.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from tumar.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("tumar_request_id", default=None)
"""The id of the request being served (also in the ``x-request-id`` response header)."""

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
    "taskName",
}


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def _utc_timestamp(created: float) -> str:
    """``2026-01-31T12:00:00.123Z``. Formatting a date costs more than the rest of a log line,
    and a busy node writes many lines per second, so the second's text is reused."""
    whole = int(created)
    if _second[0] != whole:
        _second[0] = whole
        _second[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, unless ``extra=`` already did."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``msg``,
    ``request_id`` when set, ``exc`` (the traceback) when present, then ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            out["request_id"] = request_id
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message`` (time in UTC, as in JSON); the request id
    only when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_timestamp(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            head, sep, rest = line.partition(f" {record.name} ")
            line = f"{head}{sep}[{request_id}] {rest}" if sep else line
        return line


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record (tumar's and uvicorn's) to one handler on ``stream`` (stderr).

    Replaces the root logger's handlers, so calling it twice does not duplicate lines.
    Returns the handler (tests read what it wrote).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's loggers write through ours (``log_config=None`` in ``cli._serve``); its access
    # log is off because the middleware writes one line per request with the route template.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    return handler
