"""Users whose sessions ended or changed, at a stream position each, so that every node's
session cache learns of it within a second, whichever process wrote it
(``core/session_watch.py``).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_changes",
        sa.Column("pos", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_changes")
