"""Government notifications with acknowledgement (issue 7).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_notices",
        sa.Column("notice_id", sa.Text, primary_key=True),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("attachments", sa.Text),
        sa.Column("ack_required", sa.Boolean, nullable=False),
        sa.Column("deadline_ts", sa.BigInteger),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("org_code", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("remind_round", sa.Integer, nullable=False),
        sa.Column("last_remind_ts", sa.BigInteger),
        sa.Column("escalated_ts", sa.BigInteger),
        sa.Column("send_at_ts", sa.BigInteger),
        sa.Column("sent_ts", sa.BigInteger),
        sa.Column("withdrawn_ts", sa.BigInteger),
        sa.Column("withdraw_reason", sa.Text),
        sa.Column("recipients_at_send", sa.Integer),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("gov_notices_status", "gov_notices", ["status", "sent_ts"])
    op.create_table(
        "gov_notice_recipients",
        sa.Column("notice_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("person_id", sa.Text),
        sa.Column("room_id", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("stream_pos", sa.BigInteger, nullable=False),
        sa.Column("delivered_ts", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("remind_round", sa.Integer, nullable=False),
        sa.Column("read_ts", sa.BigInteger),
        sa.Column("ack_ts", sa.BigInteger),
        sa.Column("ack_via", sa.Text),
    )
    op.create_index("gov_notice_recipients_event", "gov_notice_recipients", ["event_id"])
    op.create_index(
        "gov_notice_recipients_user", "gov_notice_recipients", ["user_id", "delivered_ts"]
    )
    op.create_table(
        "gov_notice_escalations",
        sa.Column("notice_id", sa.Text, primary_key=True),
        sa.Column("org_code", sa.Text, primary_key=True),
        sa.Column("head_user_id", sa.Text, nullable=False),
        sa.Column("overdue", sa.Integer, nullable=False),
        sa.Column("sent_ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gov_notice_escalations")
    op.drop_index("gov_notice_recipients_user", "gov_notice_recipients")
    op.drop_index("gov_notice_recipients_event", "gov_notice_recipients")
    op.drop_table("gov_notice_recipients")
    op.drop_index("gov_notices_status", "gov_notices")
    op.drop_table("gov_notices")
