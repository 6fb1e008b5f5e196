"""Encryption at rest: data keys per room and per purpose, wrapped by a master key (issue 6).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("wrapped_ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("data_keys")
