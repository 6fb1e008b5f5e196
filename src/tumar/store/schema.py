"""Table definitions for queries (SQLAlchemy Core). Migrations define the same tables on their
own (they never import this module); ``tests/store/test_migrations.py`` proves the two agree.

JSON columns hold compact JSON text so that SQLite and PostgreSQL store byte-identical values.
Times are milliseconds since the epoch (UTC) in BIGINT columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("localpart", Text, nullable=False, unique=True),
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("deactivated", Boolean, nullable=False, default=False),
    Column("suspended", Boolean, nullable=False, default=False),
    Column("displayname", Text),
    Column("avatar_url", Text),
    Column("created_ts", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("display_name", Text),
    Column("created_ts", BigInteger, nullable=False),
    Column("last_seen_ts", BigInteger),
    Column("last_seen_ip", Text),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Index("access_tokens_user", "user_id", "device_id"),
)

registration_tokens = Table(
    "registration_tokens",
    metadata,
    Column("token", Text, primary_key=True),
    Column("uses_allowed", Integer),
    Column("completed", Integer, nullable=False, default=0),
    Column("expiry_ts", BigInteger),
    Column("created_ts", BigInteger, nullable=False),
)

# One row (id = 1): the global stream position. Its row lock orders every writer.
stream_counter = Table(
    "stream_counter",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pos", BigInteger, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("room_version", Text, nullable=False),
    Column("creator", Text, nullable=False),
    Column("visibility", Text, nullable=False, default="private"),
    Column("created_ts", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("stream_pos", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("room_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("state_key", Text),
    Column("sender", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("prev_content", Text),
    Column("replaces_state", Text),
    Column("membership", Text),
    Column("origin_server_ts", BigInteger, nullable=False),
    Column("txn_id", Text),
    Column("txn_device_id", Text),
    Column("redacted_by", Text),
    Index("events_room_pos", "room_id", "stream_pos"),
    Index("events_room_state", "room_id", "type", "state_key", "stream_pos"),
)

event_txns = Table(
    "event_txns",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("txn_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

current_state = Table(
    "current_state",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("type", Text, primary_key=True),
    Column("state_key", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Column("membership", Text),
    Index("current_state_member", "state_key", "type", "membership"),
)

room_aliases = Table(
    "room_aliases",
    metadata,
    Column("alias", Text, primary_key=True),
    Column("room_id", Text, nullable=False),
    Column("creator", Text, nullable=False),
)

forgotten_rooms = Table(
    "forgotten_rooms",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("room_id", Text, primary_key=True),
)

account_data = Table(
    "account_data",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("room_id", Text, primary_key=True),  # "" for global account data
    Column("type", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("account_data_user_pos", "user_id", "stream_pos"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("receipt_type", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("thread_id", Text, primary_key=True),  # "" for unthreaded receipts
    Column("event_id", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("receipts_room_pos", "room_id", "stream_pos"),
)

filters = Table(
    "filters",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("filter_id", Integer, primary_key=True, autoincrement=False),
    Column("filter_json", Text, nullable=False),
)


# ---- organisation directory, identity and rollout (migration 0004) -------------------------

# The organisation tree. ``path`` is the materialised path of codes ("/gov/mof/mof-it/"), so a
# subtree is one indexed prefix match. Deadlines are ISO dates; a missing one is inherited.
organisations = Table(
    "organisations",
    metadata,
    Column("code", Text, primary_key=True),
    Column("parent_code", Text),
    Column("path", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("name_kk", Text, nullable=False),
    Column("name_ru", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("region", Text),
    Column("head_person_id", Text),
    Column("register_by", Text),
    Column("transition_by", Text),
    Column("mfa_required", Boolean, nullable=False, default=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index("organisations_parent", "parent_code"),
)

people = Table(
    "people",
    metadata,
    Column("person_id", Text, primary_key=True),
    Column("personnel_number", Text, nullable=False, unique=True),
    Column("org_code", Text, nullable=False),
    Column("position", Text),
    Column("name_cyr", Text, nullable=False),
    Column("name_lat", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("clearance", Text, nullable=False),
    Column("kind", Text, nullable=False),  # official | external
    Column("status", Text, nullable=False),  # active | departed
    Column("user_id", Text, unique=True),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index("people_org", "org_code"),
)

# Roles: ``org_code`` is the root of the subtree the grant covers ("" = everywhere).
role_grants = Table(
    "role_grants",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("role", Text, primary_key=True),
    Column("org_code", Text, primary_key=True),
    Column("granted_by", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

# Personal one-time activation codes; only a hash is kept.
activation_codes = Table(
    "activation_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    Column("person_id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("expiry_ts", BigInteger, nullable=False),
    Column("used_ts", BigInteger),
    Column("revoked_ts", BigInteger),
    Column("created_by", Text, nullable=False),
    Index("activation_codes_person", "person_id"),
)

# Every administrative change and every login: who, what, when, from where, before and after.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target_type", Text, nullable=False),
    Column("target_id", Text, nullable=False),
    Column("org_code", Text),
    Column("ip", Text),
    Column("before", Text),
    Column("after", Text),
    Index("audit_log_ts", "ts"),
    Index("audit_log_target", "target_type", "target_id"),
)

# Failed-login counters per account and per client address, shared by every node.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start_ts", BigInteger, nullable=False),
    Column("locked_until_ts", BigInteger),
)

user_totp = Table(
    "user_totp",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("secret", Text, nullable=False),
    Column("confirmed_ts", BigInteger),
    Column("last_step", BigInteger, nullable=False, default=0),
)

# One-time ``m.login.token`` tokens minted by the SSO page; only a hash is kept.
login_tokens = Table(
    "login_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("expiry_ts", BigInteger, nullable=False),
)

# In-flight SSO / OpenID Connect logins (state, nonce, PKCE verifier, where to return).
sso_sessions = Table(
    "sso_sessions",
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("redirect_url", Text, nullable=False),
    Column("idp", Text, nullable=False),
    Column("nonce", Text),
    Column("code_verifier", Text),
    Column("user_id", Text),
    Column("stage", Text, nullable=False),
    Column("expiry_ts", BigInteger, nullable=False),
)

# The read-only room per user where the server posts notices (reminders, later notifications).
server_notice_rooms = Table(
    "server_notice_rooms",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("room_id", Text, nullable=False),
)

# Rollout reminders already sent, so a reminder run is idempotent.
rollout_reminders = Table(
    "rollout_reminders",
    metadata,
    Column("person_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("deadline", Text, primary_key=True),
    Column("sent_ts", BigInteger, nullable=False),
)
