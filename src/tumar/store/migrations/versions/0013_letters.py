"""Registered official correspondence (issue 10): letters, their recipients, approvals,
status history, attachments and signatures; numbering counters and formats; signing keys and
trust anchors.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("sender_org", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("label_orgs", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("approval_mode", sa.Text, nullable=False),
        sa.Column("approvers", sa.Text, nullable=False),
        sa.Column("signatory", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("outgoing_number", sa.Text),
        sa.Column("outgoing_year", sa.Integer),
        sa.Column("outgoing_seq", sa.Integer),
        sa.Column("registered_ts", sa.BigInteger),
        sa.Column("registered_by", sa.Text),
        sa.Column("room_id", sa.Text),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "letter_recipients",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("org_code", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("delivered_ts", sa.BigInteger),
        sa.Column("incoming_number", sa.Text),
        sa.Column("incoming_year", sa.Integer),
        sa.Column("incoming_seq", sa.Integer),
        sa.Column("registered_ts", sa.BigInteger),
        sa.Column("registered_by", sa.Text),
        sa.Column("resolution", sa.Text),
        sa.Column("executors", sa.Text),
        sa.Column("controller", sa.Text),
        sa.Column("due_ts", sa.BigInteger),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_ts", sa.BigInteger),
        sa.Column("reply_text", sa.Text),
        sa.Column("reply_letter_id", sa.Text),
        sa.Column("replied_by", sa.Text),
        sa.Column("replied_ts", sa.BigInteger),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_ts", sa.BigInteger),
        sa.Column("reminded_ts", sa.BigInteger),
        sa.Column("escalated_ts", sa.BigInteger),
    )
    op.create_table(
        "letter_approvals",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("round", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "letter_events",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("org_code", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("comment", sa.Text),
    )
    op.create_table(
        "letter_attachments",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("mxc", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text),
    )
    op.create_table(
        "letter_signatures",
        sa.Column("letter_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("algorithm", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("canonical_sha256", sa.Text, nullable=False),
        sa.Column("signed_ts", sa.BigInteger, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("certificate_pem", sa.Text),
        sa.Column("chain_pem", sa.Text),
    )
    op.create_table(
        "letter_counters",
        sa.Column("org_code", sa.Text, primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("direction", sa.Text, primary_key=True),
        sa.Column("next_seq", sa.Integer, nullable=False),
    )
    op.create_table(
        "letter_formats",
        sa.Column("org_code", sa.Text, primary_key=True),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("algorithm", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("sealed_private", sa.LargeBinary, nullable=False),
        sa.Column("certificate_pem", sa.Text),
        sa.Column("chain_pem", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("issuer", sa.Text),
        sa.Column("serial", sa.Text),
        sa.Column("not_before_ts", sa.BigInteger),
        sa.Column("not_after_ts", sa.BigInteger),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("revoked_ts", sa.BigInteger),
    )
    op.create_table(
        "trust_anchors",
        sa.Column("anchor_id", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("certificate_pem", sa.Text, nullable=False),
        sa.Column("not_after_ts", sa.BigInteger, nullable=False),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("added_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("letters_sender", "letters", ["sender_org", "status"])
    op.create_index("letters_author", "letters", ["author"])
    op.create_index("letters_outgoing", "letters", ["sender_org", "outgoing_number"], unique=True)
    op.create_index("letter_recipients_org", "letter_recipients", ["org_code", "status"])
    op.create_index(
        "letter_recipients_incoming",
        "letter_recipients",
        ["org_code", "incoming_number"],
        unique=True,
    )
    op.create_index("signing_keys_user", "signing_keys", ["user_id"])


def downgrade() -> None:
    op.drop_index("signing_keys_user", "signing_keys")
    op.drop_index("letter_recipients_incoming", "letter_recipients")
    op.drop_index("letter_recipients_org", "letter_recipients")
    op.drop_index("letters_outgoing", "letters")
    op.drop_index("letters_author", "letters")
    op.drop_index("letters_sender", "letters")
    op.drop_table("trust_anchors")
    op.drop_table("signing_keys")
    op.drop_table("letter_formats")
    op.drop_table("letter_counters")
    op.drop_table("letter_signatures")
    op.drop_table("letter_attachments")
    op.drop_table("letter_events")
    op.drop_table("letter_approvals")
    op.drop_table("letter_recipients")
    op.drop_table("letters")
