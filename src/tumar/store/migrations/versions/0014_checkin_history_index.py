"""Device check-in history by age: an index on ``device_checkins.received_ts``, through which
the retention job finds the check-ins older than ``device_checkin_history_days``.

``IF NOT EXISTS``: building the index takes a lock that holds check-ins back while it runs,
so on a large PostgreSQL deployment an operator may build it beforehand without that lock
(``CREATE INDEX CONCURRENTLY device_checkins_received ON device_checkins (received_ts)``),
and this migration then finds it in place.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "device_checkins_received", "device_checkins", ["received_ts"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("device_checkins_received", "device_checkins")
