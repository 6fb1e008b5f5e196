"""Sets of rooms a sync withheld from a session (conditional access), under the id the sync
token carries, so that any node (or the same node after a restart) delivers those rooms whole
once access returns.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_holds",
        sa.Column("hold_id", sa.Text, primary_key=True),
        sa.Column("rooms", sa.Text, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_holds")
