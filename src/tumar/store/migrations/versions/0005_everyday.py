"""Everyday features: the relations index, threads, full-text search, event reports, push rules,
pushers and presence.

The full-text indexes are created here only (SQLAlchemy's table definitions cannot express
them): on SQLite an FTS5 table ``event_search_fts`` over ``event_search`` (external content,
kept in step by triggers); on PostgreSQL a GIN index over ``to_tsvector('simple', value)``.
Events written before this migration are indexed by it (relations and searchable text).

Revision ID: 0005
Revises: 0004
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger

# What the server indexes for search: (event type, content key).
SEARCHABLE = {"m.room.message": "body", "m.room.name": "name", "m.room.topic": "topic"}
BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "event_relations",
        sa.Column("event_id", T, primary_key=True),
        sa.Column("relates_to_id", T, nullable=False),
        sa.Column("rel_type", T, nullable=False),
        sa.Column("key", T),
        sa.Column("room_id", T, nullable=False),
        sa.Column("sender", T, nullable=False),
        sa.Column("type", T, nullable=False),
        sa.Column("stream_pos", B, nullable=False),
    )
    op.create_index(
        "event_relations_parent", "event_relations", ["relates_to_id", "rel_type", "stream_pos"]
    )
    op.create_table(
        "event_threads",
        sa.Column("thread_id", T, primary_key=True),
        sa.Column("room_id", T, nullable=False),
        sa.Column("latest_pos", B, nullable=False),
    )
    op.create_index("event_threads_room", "event_threads", ["room_id", "latest_pos"])
    op.create_table(
        "event_search",
        sa.Column("stream_pos", B, primary_key=True, autoincrement=False),
        sa.Column("event_id", T, nullable=False),
        sa.Column("room_id", T, nullable=False),
        sa.Column("key", T, nullable=False),
        sa.Column("value", T, nullable=False),
    )
    op.create_index("event_search_room", "event_search", ["room_id", "stream_pos"])
    _create_full_text_index()
    op.create_table(
        "event_reports",
        sa.Column("report_id", B().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("room_id", T, nullable=False),
        sa.Column("event_id", T),
        sa.Column("reporter", T, nullable=False),
        sa.Column("reason", T),
        sa.Column("score", sa.Integer),
        sa.Column("ts", B, nullable=False),
    )
    op.create_index("event_reports_room", "event_reports", ["room_id"])
    op.create_table(
        "push_rules",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("kind", T, primary_key=True),
        sa.Column("rule_id", T, primary_key=True),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("position", B, nullable=False),
        sa.Column("pattern", T),
        sa.Column("conditions", T),
        sa.Column("actions", T),
        sa.Column("enabled", sa.Boolean),
    )
    op.create_table(
        "pushers",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("app_id", T, primary_key=True),
        sa.Column("pushkey", T, primary_key=True),
        sa.Column("kind", T, nullable=False),
        sa.Column("app_display_name", T, nullable=False),
        sa.Column("device_display_name", T, nullable=False),
        sa.Column("profile_tag", T),
        sa.Column("lang", T, nullable=False),
        sa.Column("data", T, nullable=False),
        sa.Column("device_id", T),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_index("pushers_pushkey", "pushers", ["app_id", "pushkey"])
    op.create_table(
        "presence",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("state", T, nullable=False),
        sa.Column("status_msg", T),
        sa.Column("last_active_ts", B, nullable=False),
        sa.Column("stream_pos", B, nullable=False),
    )
    op.create_index("presence_pos", "presence", ["stream_pos"])
    _index_existing_events()


def _create_full_text_index() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE event_search_fts USING fts5(value, content='event_search', "
            "content_rowid='stream_pos', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER event_search_ai AFTER INSERT ON event_search BEGIN "
            "INSERT INTO event_search_fts (rowid, value) VALUES (new.stream_pos, new.value); END"
        )
        op.execute(
            "CREATE TRIGGER event_search_ad AFTER DELETE ON event_search BEGIN "
            "INSERT INTO event_search_fts (event_search_fts, rowid, value) "
            "VALUES ('delete', old.stream_pos, old.value); END"
        )
    else:
        op.execute(
            "CREATE INDEX event_search_fts ON event_search USING gin (to_tsvector('simple', value))"
        )


def _index_existing_events() -> None:
    """Relations and searchable text of the events already stored (none on a new server)."""
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("stream_pos", B),
        sa.column("event_id", T),
        sa.column("room_id", T),
        sa.column("type", T),
        sa.column("state_key", T),
        sa.column("sender", T),
        sa.column("content", T),
        sa.column("redacted_by", T),
    )
    relations = sa.table(
        "event_relations",
        *(sa.column(c) for c in ("event_id", "relates_to_id", "rel_type", "key", "room_id")),
        sa.column("sender"),
        sa.column("type"),
        sa.column("stream_pos"),
    )
    search = sa.table(
        "event_search",
        *(sa.column(c) for c in ("stream_pos", "event_id", "room_id", "key", "value")),
    )
    threads: dict[str, tuple[str, int]] = {}
    after = 0
    while True:
        rows = bind.execute(
            sa.select(events)
            .where(events.c.stream_pos > after, events.c.redacted_by.is_(None))
            .order_by(events.c.stream_pos)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].stream_pos
        for row in rows:
            content = _content(row.content)
            relation = content.get("m.relates_to")
            if isinstance(relation, dict) and row.state_key is None:
                rel_type, parent = relation.get("rel_type"), relation.get("event_id")
                if (
                    isinstance(rel_type, str)
                    and isinstance(parent, str)
                    and _valid_parent(bind, events, row, rel_type, parent)
                ):
                    key = relation.get("key") if rel_type == "m.annotation" else None
                    bind.execute(
                        relations.insert().values(
                            event_id=row.event_id,
                            relates_to_id=parent,
                            rel_type=rel_type,
                            key=key if isinstance(key, str) else None,
                            room_id=row.room_id,
                            sender=row.sender,
                            type=row.type,
                            stream_pos=row.stream_pos,
                        )
                    )
                    if rel_type == "m.thread":
                        threads[parent] = (row.room_id, row.stream_pos)
            field = SEARCHABLE.get(row.type)
            value = content.get(field) if field else None
            if isinstance(value, str) and value.strip():
                bind.execute(
                    search.insert().values(
                        stream_pos=row.stream_pos,
                        event_id=row.event_id,
                        room_id=row.room_id,
                        key=f"content.{field}",
                        value=value,
                    )
                )
    thread_table = sa.table(
        "event_threads", sa.column("thread_id"), sa.column("room_id"), sa.column("latest_pos")
    )
    for thread_id, (room_id, pos) in threads.items():
        bind.execute(
            thread_table.insert().values(thread_id=thread_id, room_id=room_id, latest_pos=pos)
        )


def _valid_parent(bind: Any, events: Any, row: Any, rel_type: str, parent_id: str) -> bool:
    """The parent exists in the same room; an edit keeps the sender and the type of a
    non-state original (the rules new events are held to)."""
    parent = bind.execute(
        sa.select(events.c.room_id, events.c.sender, events.c.type, events.c.state_key).where(
            events.c.event_id == parent_id
        )
    ).first()
    if parent is None or parent.room_id != row.room_id:
        return False
    if rel_type == "m.replace":
        return parent.sender == row.sender and parent.type == row.type and parent.state_key is None
    return True


def _content(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS event_search_ad")
        op.execute("DROP TRIGGER IF EXISTS event_search_ai")
        op.execute("DROP TABLE IF EXISTS event_search_fts")
    for table in (
        "presence",
        "pushers",
        "push_rules",
        "event_reports",
        "event_search",
        "event_threads",
        "event_relations",
    ):
        op.drop_table(table)
