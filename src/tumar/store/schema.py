"""Table definitions for queries (SQLAlchemy Core). Migrations define the same tables on their
own (they never import this module); ``tests/store/test_migrations.py`` proves the two agree.

JSON columns hold compact JSON text so that SQLite and PostgreSQL store byte-identical values.
Times are milliseconds since the epoch (UTC) in BIGINT columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("localpart", Text, nullable=False, unique=True),
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("deactivated", Boolean, nullable=False, default=False),
    Column("displayname", Text),
    Column("avatar_url", Text),
    Column("created_ts", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("display_name", Text),
    Column("created_ts", BigInteger, nullable=False),
    Column("last_seen_ts", BigInteger),
    Column("last_seen_ip", Text),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Index("access_tokens_user", "user_id", "device_id"),
)

registration_tokens = Table(
    "registration_tokens",
    metadata,
    Column("token", Text, primary_key=True),
    Column("uses_allowed", Integer),
    Column("completed", Integer, nullable=False, default=0),
    Column("expiry_ts", BigInteger),
    Column("created_ts", BigInteger, nullable=False),
)

# One row (id = 1): the global stream position. Its row lock orders every writer.
stream_counter = Table(
    "stream_counter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pos", BigInteger, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("room_version", Text, nullable=False),
    Column("creator", Text, nullable=False),
    Column("visibility", Text, nullable=False, default="private"),
    Column("created_ts", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("stream_pos", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("room_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("state_key", Text),
    Column("sender", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("prev_content", Text),
    Column("replaces_state", Text),
    Column("membership", Text),
    Column("origin_server_ts", BigInteger, nullable=False),
    Column("txn_id", Text),
    Column("txn_device_id", Text),
    Column("redacted_by", Text),
    Index("events_room_pos", "room_id", "stream_pos"),
    Index("events_room_state", "room_id", "type", "state_key", "stream_pos"),
)

event_txns = Table(
    "event_txns",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("txn_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

current_state = Table(
    "current_state",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("type", Text, primary_key=True),
    Column("state_key", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Column("membership", Text),
    Index("current_state_member", "state_key", "type", "membership"),
)

room_aliases = Table(
    "room_aliases",
    metadata,
    Column("alias", Text, primary_key=True),
    Column("room_id", Text, nullable=False),
    Column("creator", Text, nullable=False),
)

forgotten_rooms = Table(
    "forgotten_rooms",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("room_id", Text, primary_key=True),
)

account_data = Table(
    "account_data",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("room_id", Text, primary_key=True),  # "" for global account data
    Column("type", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("account_data_user_pos", "user_id", "stream_pos"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("receipt_type", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("thread_id", Text, primary_key=True),  # "" for unthreaded receipts
    Column("event_id", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("receipts_room_pos", "room_id", "stream_pos"),
)

filters = Table(
    "filters",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("filter_id", Integer, primary_key=True, autoincrement=False),
    Column("filter_json", Text, nullable=False),
)
