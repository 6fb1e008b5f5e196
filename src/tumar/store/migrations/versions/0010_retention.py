"""Retention runs and legal holds (issue 6).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("hold_id", T, primary_key=True),
        sa.Column("target_type", T, nullable=False),
        sa.Column("target_id", T, nullable=False),
        sa.Column("person_id", T),
        sa.Column("org_code", T),
        sa.Column("reason", T, nullable=False),
        sa.Column("placed_by", T, nullable=False),
        sa.Column("placed_ts", B, nullable=False),
        sa.Column("lifted_by", T),
        sa.Column("lifted_ts", B),
        sa.Column("lift_reason", T),
    )
    op.create_index("legal_holds_target", "legal_holds", ["target_type", "target_id"])
    op.create_table(
        "retention_runs",
        sa.Column("run_id", B().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("trigger", T, nullable=False),
        sa.Column("actor", T, nullable=False),
        sa.Column("started_ts", B, nullable=False),
        sa.Column("finished_ts", B),
        sa.Column("status", T, nullable=False),
        sa.Column("events_purged", B, nullable=False),
        sa.Column("media_deleted", B, nullable=False),
        sa.Column("rooms", B, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
    op.drop_index("legal_holds_target", table_name="legal_holds")
    op.drop_table("legal_holds")
