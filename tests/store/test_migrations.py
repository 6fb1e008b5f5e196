"""The migrations and the query-side table definitions describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tumar.config import Settings
from tumar.store.db import Database, alembic_config
from tumar.store.schema import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_table_definitions(settings: Settings) -> None:
    db = Database(settings.effective_database_url, schema=settings.database_schema)
    try:
        async with db.read() as conn:
            diff = await conn.run_sync(_diff)
        assert diff == []
    finally:
        await db.close()


async def test_downgrade_and_upgrade_round_trip(settings: Settings) -> None:
    db = Database(settings.effective_database_url, schema=settings.database_schema)

    def round_trip(connection: Connection) -> None:
        cfg = alembic_config(connection)
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(round_trip)
        async with db.read() as conn:
            pos = (await conn.execute(text("SELECT pos FROM stream_counter"))).scalar_one()
            diff = await conn.run_sync(_diff)
        assert pos == 0
        assert diff == []
    finally:
        await db.close()
