"""End-to-end encryption relay: device keys, one-time and fallback keys, cross-signing keys and
signatures, device-list changes, to-device messages, server-side key backup.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "e2e_device_keys",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("key_json", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "e2e_one_time_keys",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("algorithm", T, primary_key=True),
        sa.Column("key_id", T, primary_key=True),
        sa.Column("key_json", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "e2e_fallback_keys",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("algorithm", T, primary_key=True),
        sa.Column("key_id", T, nullable=False),
        sa.Column("key_json", T, nullable=False),
        sa.Column("used", sa.Boolean, nullable=False),
    )
    op.create_table(
        "e2e_cross_signing_keys",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("key_type", T, primary_key=True),
        sa.Column("public_key", T, nullable=False),
        sa.Column("key_json", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "e2e_cross_signing_signatures",
        sa.Column("target_user_id", T, primary_key=True),
        sa.Column("target_key_id", T, primary_key=True),
        sa.Column("signer_user_id", T, primary_key=True),
        sa.Column("signer_key_id", T, primary_key=True),
        sa.Column("signature", T, nullable=False),
    )
    op.create_table(
        "device_list_changes",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("stream_pos", B, nullable=False),
    )
    op.create_index("device_list_changes_pos", "device_list_changes", ["stream_pos"])
    op.create_table(
        "to_device_messages",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("stream_pos", B, primary_key=True, autoincrement=False),
        sa.Column("sender", T, nullable=False),
        sa.Column("type", T, nullable=False),
        sa.Column("content", T, nullable=False),
    )
    op.create_table(
        "to_device_txns",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("device_id", T, primary_key=True),
        sa.Column("event_type", T, primary_key=True),
        sa.Column("txn_id", T, primary_key=True),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "room_key_backups",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("version", B, primary_key=True, autoincrement=False),
        sa.Column("algorithm", T, nullable=False),
        sa.Column("auth_data", T, nullable=False),
        sa.Column("etag", B, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "room_keys",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("version", B, primary_key=True, autoincrement=False),
        sa.Column("room_id", T, primary_key=True),
        sa.Column("session_id", T, primary_key=True),
        sa.Column("first_message_index", B, nullable=False),
        sa.Column("forwarded_count", B, nullable=False),
        sa.Column("is_verified", sa.Boolean, nullable=False),
        sa.Column("session_data", T, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("device_list_changes_pos", table_name="device_list_changes")
    for table in (
        "room_keys",
        "room_key_backups",
        "to_device_txns",
        "to_device_messages",
        "device_list_changes",
        "e2e_cross_signing_signatures",
        "e2e_cross_signing_keys",
        "e2e_fallback_keys",
        "e2e_one_time_keys",
        "e2e_device_keys",
    ):
        op.drop_table(table)
