"""Content fingerprints for forwarding control (DLP) (issue 6).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content_fingerprints",
        sa.Column("fp", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("room_id", sa.Text, primary_key=True),
        sa.Column("stream_pos", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("content_fingerprints_room", "content_fingerprints", ["room_id", "stream_pos"])


def downgrade() -> None:
    op.drop_index("content_fingerprints_room", table_name="content_fingerprints")
    op.drop_table("content_fingerprints")
