"""Fixtures of the bus tests: a migrated SQLite database and the shared test Redis."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from tests.conftest import need
from tumar.store.db import Database

REDIS_URL = os.environ.get("TUMAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_error() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {REDIS_URL} is not reachable: {exc}"
    finally:
        client.close()
    return None


@pytest.fixture
def redis_url() -> str:
    """The shared test Redis (skips, or fails in CI, when it is not there)."""
    error = _redis_error()
    need(error is None, error or "")
    return REDIS_URL


@pytest.fixture
def prefix() -> str:
    """A channel and key prefix of this test alone, so parallel runs never meet."""
    return f"tumar-test-{uuid.uuid4().hex[:12]}:tumar.test"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "tumar.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    yield db
    await db.close()
