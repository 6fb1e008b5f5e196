"""Compact JSON text for JSON columns (byte-identical on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def dumps(value: Mapping[str, Any]) -> str:
    return orjson.dumps(value).decode()


def loads(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    assert isinstance(value, dict)
    return value
