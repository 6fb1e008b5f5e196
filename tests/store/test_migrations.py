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

# Full-text search indexes that SQLAlchemy's table definitions cannot express, so
# ``store/schema.py`` leaves them out and migration 0005 creates them on its own: the SQLite
# FTS5 table ``event_search_fts`` (with the shadow tables FTS5 makes for it) and the PostgreSQL
# GIN index of the same name over ``to_tsvector('simple', value)``.
FULL_TEXT_ONLY_IN_MIGRATIONS = "event_search_fts"


def _include_name(name: str | None, type_: str, _parents: Any) -> bool:
    full_text = bool(name and name.startswith(FULL_TEXT_ONLY_IN_MIGRATIONS))
    return not (type_ in ("table", "index") and full_text)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _include_name}
    )
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
