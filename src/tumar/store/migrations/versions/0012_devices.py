"""Device policy, devices, check-ins, commands and violations (issue 8).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_policies",
        sa.Column("policy_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("retired_ts", sa.BigInteger),
    )
    op.create_table(
        "device_enrolment_tokens",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("issued_by", sa.Text, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("expires_ts", sa.BigInteger, nullable=False),
        sa.Column("used_ts", sa.BigInteger),
        sa.Column("device_id", sa.Text),
    )
    op.create_table(
        "managed_devices",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("session_device_id", sa.Text),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("os_version", sa.Text, nullable=False),
        sa.Column("management_mode", sa.Text, nullable=False),
        sa.Column("ownership", sa.Text, nullable=False),
        sa.Column("attestation", sa.Text, nullable=False),
        sa.Column("enrolled_ts", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_checkin_ts", sa.BigInteger),
        sa.Column("report", sa.Text),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("valid_until_ts", sa.BigInteger),
        sa.Column("gated_labels", sa.Text, nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("prior", sa.Text),
        sa.Column("bundle_version", sa.Text),
        sa.Column("retired_ts", sa.BigInteger),
        sa.Column("pending_commands", sa.Integer, nullable=False),
        sa.Column("open_violation_id", sa.Text),
    )
    op.create_index("managed_devices_session", "managed_devices", ["user_id", "session_device_id"])
    op.create_table(
        "device_checkins",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("received_ts", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.create_table(
        "device_commands",
        sa.Column("command_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("issued_by", sa.Text, nullable=False),
        sa.Column("issued_ts", sa.BigInteger, nullable=False),
        sa.Column("delivered_ts", sa.BigInteger),
        sa.Column("acked_ts", sa.BigInteger),
        sa.Column("result", sa.Text),
    )
    op.create_index("device_commands_device", "device_commands", ["device_id", "acked_ts"])
    op.create_table(
        "device_violations",
        sa.Column("violation_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("opened_ts", sa.BigInteger, nullable=False),
        sa.Column("closed_ts", sa.BigInteger),
        sa.Column("findings", sa.Text, nullable=False),
    )
    op.create_index("device_violations_device", "device_violations", ["device_id", "closed_ts"])


def downgrade() -> None:
    op.drop_index("device_violations_device", "device_violations")
    op.drop_table("device_violations")
    op.drop_index("device_commands_device", "device_commands")
    op.drop_table("device_commands")
    op.drop_table("device_checkins")
    op.drop_index("managed_devices_session", "managed_devices")
    op.drop_table("managed_devices")
    op.drop_table("device_enrolment_tokens")
    op.drop_table("device_policies")
