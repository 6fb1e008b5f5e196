"""The audit hash chain and its signed checkpoints (issue 6).

Adds ``prev_hash`` and ``row_hash`` to ``audit_log`` and hashes the rows already there, in
seq order, so the chain starts with the first row ever written; adds ``audit_checkpoints``.
The serialisation repeats ``tumar.policy.audit_chain`` (migrations never import app code; a
test keeps them equal).

Revision ID: 0009
Revises: 0008
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 1000


def _hash(prev_hash: str, row: sa.Row) -> str:  # type: ignore[type-arg]
    values = [
        row.seq,
        row.ts,
        row.actor,
        row.action,
        row.target_type,
        row.target_id,
        row.org_code,
        row.ip,
        row.before,
        row.after,
    ]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    data = prev_hash.encode("ascii") + b"\n" + text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.Text))
    op.add_column("audit_log", sa.Column("row_hash", sa.Text))
    log = sa.table(
        "audit_log",
        *(
            sa.column(name)
            for name in (
                "seq", "ts", "actor", "action", "target_type", "target_id",
                "org_code", "ip", "before", "after", "prev_hash", "row_hash",
            )
        ),
    )  # fmt: skip
    bind = op.get_bind()
    prev, last_seq = GENESIS, None
    while True:
        query = sa.select(log).order_by(log.c.seq).limit(BATCH)
        if last_seq is not None:
            query = query.where(log.c.seq > last_seq)
        rows = bind.execute(query).all()
        for row in rows:
            digest = _hash(prev, row)
            bind.execute(
                sa.update(log).where(log.c.seq == row.seq).values(prev_hash=prev, row_hash=digest)
            )
            prev, last_seq = digest, row.seq
        if len(rows) < BATCH:
            break
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.Text, nullable=False)
        batch.alter_column("row_hash", existing_type=sa.Text, nullable=False)
    op.create_index("audit_log_prev_hash", "audit_log", ["prev_hash"], unique=True)
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("row_hash", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_index("audit_log_prev_hash", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
