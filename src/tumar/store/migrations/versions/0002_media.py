"""Media: uploaded files (the bytes live in the media storage) and the events referring to them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("media_id", T, primary_key=True),
        sa.Column("user_id", T, nullable=False),
        sa.Column("content_type", T),
        sa.Column("upload_name", T),
        sa.Column("size", B),
        sa.Column("sha256", T),
        sa.Column("created_ts", B, nullable=False),
        sa.Column("uploaded_ts", B),
        sa.Column("expires_ts", B),
    )
    op.create_index("media_user", "media", ["user_id", "uploaded_ts"])
    op.create_table(
        "media_refs",
        sa.Column("media_id", T, primary_key=True),
        sa.Column("stream_pos", B, primary_key=True, autoincrement=False),
        sa.Column("room_id", T, nullable=False),
    )
    op.create_index("media_refs_pos", "media_refs", ["stream_pos"])


def downgrade() -> None:
    op.drop_table("media_refs")
    op.drop_table("media")
