"""Initial schema: accounts, devices, the stream, rooms, events, state, user data.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("localpart", T, nullable=False, unique=True),
        sa.Column("password_hash", T),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("deactivated", sa.Boolean, nullable=False),
        sa.Column("displayname", T),
        sa.Column("avatar_url", T),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("display_name", T),
        sa.Column("created_ts", B, nullable=False),
        sa.Column("last_seen_ts", B),
        sa.Column("last_seen_ip", T),
    )
    op.create_table(
        "access_tokens",
        sa.Column("token_hash", T, primary_key=True),
        sa.Column("user_id", T, nullable=False),
        sa.Column("device_id", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_index("access_tokens_user", "access_tokens", ["user_id", "device_id"])
    op.create_table(
        "registration_tokens",
        sa.Column("token", T, primary_key=True),
        sa.Column("uses_allowed", sa.Integer),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("expiry_ts", B),
        sa.Column("created_ts", B, nullable=False),
    )
    counter = op.create_table(
        "stream_counter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pos", B, nullable=False),
    )
    op.bulk_insert(counter, [{"id": 1, "pos": 0}])
    op.create_table(
        "rooms",
        sa.Column("room_id", T, primary_key=True),
        sa.Column("room_version", T, nullable=False),
        sa.Column("creator", T, nullable=False),
        sa.Column("visibility", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("stream_pos", B, primary_key=True, autoincrement=False),
        sa.Column("event_id", T, nullable=False, unique=True),
        sa.Column("room_id", T, nullable=False),
        sa.Column("type", T, nullable=False),
        sa.Column("state_key", T),
        sa.Column("sender", T, nullable=False),
        sa.Column("content", T, nullable=False),
        sa.Column("prev_content", T),
        sa.Column("replaces_state", T),
        sa.Column("membership", T),
        sa.Column("origin_server_ts", B, nullable=False),
        sa.Column("txn_id", T),
        sa.Column("txn_device_id", T),
        sa.Column("redacted_by", T),
    )
    op.create_index("events_room_pos", "events", ["room_id", "stream_pos"])
    op.create_index("events_room_state", "events", ["room_id", "type", "state_key", "stream_pos"])
    op.create_table(
        "event_txns",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("txn_id", T, primary_key=True),
        sa.Column("event_id", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "current_state",
        sa.Column("room_id", T, primary_key=True),
        sa.Column("type", T, primary_key=True),
        sa.Column("state_key", T, primary_key=True),
        sa.Column("event_id", T, nullable=False),
        sa.Column("stream_pos", B, nullable=False),
        sa.Column("membership", T),
    )
    op.create_index("current_state_member", "current_state", ["state_key", "type", "membership"])
    op.create_table(
        "room_aliases",
        sa.Column("alias", T, primary_key=True),
        sa.Column("room_id", T, nullable=False),
        sa.Column("creator", T, nullable=False),
    )
    op.create_table(
        "forgotten_rooms",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("room_id", T, primary_key=True),
    )
    op.create_table(
        "account_data",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("room_id", T, primary_key=True),
        sa.Column("type", T, primary_key=True),
        sa.Column("content", T, nullable=False),
        sa.Column("stream_pos", B, nullable=False),
    )
    op.create_index("account_data_user_pos", "account_data", ["user_id", "stream_pos"])
    op.create_table(
        "receipts",
        sa.Column("room_id", T, primary_key=True),
        sa.Column("receipt_type", T, primary_key=True),
        sa.Column("user_id", T, primary_key=True),
        sa.Column("thread_id", T, primary_key=True),
        sa.Column("event_id", T, nullable=False),
        sa.Column("ts", B, nullable=False),
        sa.Column("stream_pos", B, nullable=False),
    )
    op.create_index("receipts_room_pos", "receipts", ["room_id", "stream_pos"])
    op.create_table(
        "filters",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("filter_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("filter_json", T, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "filters",
        "receipts",
        "account_data",
        "forgotten_rooms",
        "room_aliases",
        "current_state",
        "event_txns",
        "events",
        "rooms",
        "stream_counter",
        "registration_tokens",
        "access_tokens",
        "devices",
        "users",
    ):
        op.drop_table(table)
