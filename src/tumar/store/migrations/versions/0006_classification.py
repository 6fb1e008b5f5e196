"""Classification labels: each room's current label and audience, for queries by label
(issue 6).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_labels",
        sa.Column("room_id", sa.Text, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("kinds", sa.Text),
        sa.Column("orgs", sa.Text),
        sa.Column("stream_pos", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("room_labels_label", "room_labels", ["label"])


def downgrade() -> None:
    op.drop_index("room_labels_label", "room_labels")
    op.drop_table("room_labels")
