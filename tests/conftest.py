"""Fixtures shared by the whole suite.

Every API test runs on SQLite and on PostgreSQL (the ``backend`` fixture). A backend or tool
that is not available skips with a reason; with ``TUMAR_REQUIRE_SERVICES=1`` (set by
``.ci/run``) such a skip is a failure instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from tests.support.harness import Api, LiveServer
from tumar.app import build_app
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store.db import Database
from tumar.store.schema import metadata

T = TypeVar("T")
REQUIRE_SERVICES = os.environ.get("TUMAR_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "TUMAR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def need(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (CI) when a required service or tool is missing."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required for CI but missing: {reason}")
    pytest.skip(reason)


class _Postgres:
    """One schema per test session, migrated once; tables truncated before each test."""

    def __init__(self) -> None:
        self.schema = f"tumar_test_{uuid.uuid4().hex[:8]}"
        self.error: str | None = None
        self.ready = False

    async def setup(self) -> None:
        admin = Database(POSTGRES_URL)
        try:
            async with admin.write() as conn:
                await conn.execute(text(f"CREATE SCHEMA {self.schema}"))
        except Exception as exc:
            self.error = f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"
            return
        finally:
            await admin.close()
        db = self.database()
        await db.migrate()
        await db.close()
        self.ready = True

    def database(self) -> Database:
        return Database(POSTGRES_URL, schema=self.schema, pool_size=5)

    async def reset(self) -> None:
        db = self.database()
        names = ", ".join(t.name for t in metadata.sorted_tables)
        async with db.write() as conn:
            await conn.execute(text(f"TRUNCATE {names}"))
            await conn.execute(text("INSERT INTO stream_counter (id, pos) VALUES (1, 0)"))
        await db.close()

    async def drop(self) -> None:
        if not self.ready:
            return
        admin = Database(POSTGRES_URL)
        async with admin.write() as conn:
            await conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        await admin.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[_Postgres]:
    pg = _Postgres()
    run_sync(pg.setup())
    yield pg
    run_sync(pg.drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tumar.db"
    db = Database(f"sqlite+aiosqlite:///{path}")

    async def migrate() -> None:
        await db.migrate()
        await db.close()

    run_sync(migrate())
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "server_name": "tumar.test",
        "registration": "open",
        "rate_limit_enabled": False,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "auto_migrate": False,
        "sync_max_timeout_ms": 10_000,
        # Notice rooms only with a notice, as the tests of delivery expect (the background
        # rooms of a first sync: tests/api/test_notice_rooms_ready.py).
        "gov_notices_prepare_rooms": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Settings:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        db_path = tmp_path / "tumar.db"
        shutil.copy(template, db_path)
        return make_settings(database_url=f"sqlite+aiosqlite:///{db_path}", data_dir=tmp_path)
    pg: _Postgres = request.getfixturevalue("postgres")
    need(pg.ready, pg.error or "PostgreSQL is not available")
    run_sync(pg.reset())
    return make_settings(database_url=POSTGRES_URL, database_schema=pg.schema, data_dir=tmp_path)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = build_services(settings)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = build_app(services.settings, services)
    async with Api.in_process(app, services) as client:
        yield client


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


def node_available() -> bool:
    return shutil.which("node") is not None
