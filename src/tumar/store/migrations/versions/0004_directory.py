"""Organisation directory, people, roles, activation codes, audit, login throttling, second
factor, SSO sessions, server-notice rooms and rollout reminders; users can be suspended.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

T = sa.Text
B = sa.BigInteger


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "organisations",
        sa.Column("code", T, primary_key=True),
        sa.Column("parent_code", T),
        sa.Column("path", T, nullable=False, unique=True),
        sa.Column("kind", T, nullable=False),
        sa.Column("name_kk", T, nullable=False),
        sa.Column("name_ru", T, nullable=False),
        sa.Column("name_en", T, nullable=False),
        sa.Column("region", T),
        sa.Column("head_person_id", T),
        sa.Column("register_by", T),
        sa.Column("transition_by", T),
        sa.Column("mfa_required", sa.Boolean, nullable=False),
        sa.Column("created_ts", B, nullable=False),
        sa.Column("updated_ts", B, nullable=False),
    )
    op.create_index("organisations_parent", "organisations", ["parent_code"])
    op.create_table(
        "people",
        sa.Column("person_id", T, primary_key=True),
        sa.Column("personnel_number", T, nullable=False, unique=True),
        sa.Column("org_code", T, nullable=False),
        sa.Column("position", T),
        sa.Column("name_cyr", T, nullable=False),
        sa.Column("name_lat", T, nullable=False),
        sa.Column("email", T),
        sa.Column("phone", T),
        sa.Column("clearance", T, nullable=False),
        sa.Column("kind", T, nullable=False),
        sa.Column("status", T, nullable=False),
        sa.Column("user_id", T, unique=True),
        sa.Column("created_ts", B, nullable=False),
        sa.Column("updated_ts", B, nullable=False),
    )
    op.create_index("people_org", "people", ["org_code", "status", "kind", "user_id", "person_id"])
    op.create_table(
        "role_grants",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("role", T, primary_key=True),
        sa.Column("org_code", T, primary_key=True),
        sa.Column("granted_by", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "activation_codes",
        sa.Column("code_hash", T, primary_key=True),
        sa.Column("person_id", T, nullable=False),
        sa.Column("created_ts", B, nullable=False),
        sa.Column("expiry_ts", B, nullable=False),
        sa.Column("used_ts", B),
        sa.Column("revoked_ts", B),
        sa.Column("created_by", T, nullable=False),
    )
    op.create_index("activation_codes_person", "activation_codes", ["person_id"])
    op.create_table(
        "person_localparts",
        sa.Column("person_id", T, primary_key=True),
        sa.Column("localpart", T, nullable=False, unique=True),
        sa.Column("created_ts", B, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("ts", B, nullable=False),
        sa.Column("actor", T, nullable=False),
        sa.Column("action", T, nullable=False),
        sa.Column("target_type", T, nullable=False),
        sa.Column("target_id", T, nullable=False),
        sa.Column("org_code", T),
        sa.Column("ip", T),
        sa.Column("before", T),
        sa.Column("after", T),
    )
    op.create_index("audit_log_ts", "audit_log", ["ts"])
    op.create_index("audit_log_target", "audit_log", ["target_type", "target_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key", T, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start_ts", B, nullable=False),
        sa.Column("locked_until_ts", B),
    )
    op.create_table(
        "user_totp",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("secret", T, nullable=False),
        sa.Column("confirmed_ts", B),
        sa.Column("last_step", B, nullable=False),
    )
    op.create_table(
        "login_tokens",
        sa.Column("token_hash", T, primary_key=True),
        sa.Column("user_id", T, nullable=False),
        sa.Column("expiry_ts", B, nullable=False),
        sa.Column("auth_method", T, nullable=False),
    )
    op.create_table(
        "sso_sessions",
        sa.Column("session_id", T, primary_key=True),
        sa.Column("redirect_url", T, nullable=False),
        sa.Column("idp", T, nullable=False),
        sa.Column("nonce", T),
        sa.Column("code_verifier", T),
        sa.Column("user_id", T),
        sa.Column("stage", T, nullable=False),
        sa.Column("expiry_ts", B, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
    )
    op.create_table(
        "server_notice_rooms",
        sa.Column("user_id", T, primary_key=True),
        sa.Column("room_id", T, nullable=False),
    )
    op.create_table(
        "rollout_reminders",
        sa.Column("person_id", T, primary_key=True),
        sa.Column("kind", T, primary_key=True),
        sa.Column("deadline", T, primary_key=True),
        sa.Column("sent_ts", B, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "rollout_reminders",
        "server_notice_rooms",
        "sso_sessions",
        "login_tokens",
        "user_totp",
        "login_throttle",
        "audit_log",
        "person_localparts",
        "activation_codes",
        "role_grants",
        "people",
        "organisations",
    ):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("suspended")
