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
    LargeBinary,
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

# Users whose sessions ended or changed (logout, device deletion, deactivation, suspension),
# at a stream position each: every node reads the new rows every second and drops what its
# session cache holds of them (core/session_watch.py), whoever wrote them.
session_changes = Table(
    "session_changes",
    metadata,
    Column("pos", BigInteger, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
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

# ---- media (migration 0002): the bytes live in the media storage, not in the database ----

# One row per mxc URI. ``uploaded_ts`` is NULL while an id made by /media/v1/create waits for
# its upload (until ``expires_ts``); ``content_type`` and ``size`` are set with the upload.
media = Table(
    "media",
    metadata,
    Column("media_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("content_type", Text),
    Column("upload_name", Text),
    Column("size", BigInteger),
    Column("sha256", Text),
    Column("created_ts", BigInteger, nullable=False),
    Column("uploaded_ts", BigInteger),
    Column("expires_ts", BigInteger),
    Index("media_user", "user_id", "uploaded_ts"),
)

# Events that refer to local media (content.url, thumbnails, avatars), written with the event:
# who may read the event may download the media.
media_refs = Table(
    "media_refs",
    metadata,
    Column("media_id", Text, primary_key=True),
    Column("stream_pos", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", Text, nullable=False),
    Index("media_refs_pos", "stream_pos"),
)

# ---- end-to-end encryption relay (migration 0003): the server stores keys, never uses them ----

e2e_device_keys = Table(
    "e2e_device_keys",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("key_json", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

e2e_one_time_keys = Table(
    "e2e_one_time_keys",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("algorithm", Text, primary_key=True),
    Column("key_id", Text, primary_key=True),
    Column("key_json", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),  # claims hand out the oldest first
)

# At most one fallback key per device and algorithm; ``used`` once claimed.
e2e_fallback_keys = Table(
    "e2e_fallback_keys",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("algorithm", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
    Column("key_json", Text, nullable=False),
    Column("used", Boolean, nullable=False),
)

# key_type: master | self_signing | user_signing; ``public_key`` is the unpadded base64 key.
e2e_cross_signing_keys = Table(
    "e2e_cross_signing_keys",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("key_type", Text, primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("key_json", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)

# Signatures uploaded with /keys/signatures/upload. The target is a device (key id = device id)
# or a cross-signing key (key id = its public key); the signer key id is "ed25519:<id>".
e2e_cross_signing_signatures = Table(
    "e2e_cross_signing_signatures",
    metadata,
    Column("target_user_id", Text, primary_key=True),
    Column("target_key_id", Text, primary_key=True),
    Column("signer_user_id", Text, primary_key=True),
    Column("signer_key_id", Text, primary_key=True),
    Column("signature", Text, nullable=False),
)

# The latest stream position at which a user's device keys or cross-signing keys changed.
device_list_changes = Table(
    "device_list_changes",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("stream_pos", BigInteger, nullable=False),
    Index("device_list_changes_pos", "stream_pos"),
)

# Pending send-to-device messages, one row per recipient device; deleted once acknowledged.
to_device_messages = Table(
    "to_device_messages",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("stream_pos", BigInteger, primary_key=True, autoincrement=False),
    Column("sender", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("content", Text, nullable=False),
)

to_device_txns = Table(
    "to_device_txns",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("device_id", Text, primary_key=True),
    Column("event_type", Text, primary_key=True),
    Column("txn_id", Text, primary_key=True),
    Column("created_ts", BigInteger, nullable=False),
)

# Server-side key backup: versions per user (never reused), then the opaque session data.
room_key_backups = Table(
    "room_key_backups",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("algorithm", Text, nullable=False),
    Column("auth_data", Text, nullable=False),
    Column("etag", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
)

room_keys = Table(
    "room_keys",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", Text, primary_key=True),
    Column("session_id", Text, primary_key=True),
    Column("first_message_index", BigInteger, nullable=False),
    Column("forwarded_count", BigInteger, nullable=False),
    Column("is_verified", Boolean, nullable=False),
    Column("session_data", Text, nullable=False),
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
    # org_code first for listings by organisation; the rest makes the rollout's GROUP BY
    # org_code an index-only scan on SQLite (store/rollout.py).
    Index("people_org", "org_code", "status", "kind", "user_id", "person_id"),
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
    # The hash chain (migration 0009, see policy/audit_chain.py): the previous row's hash and
    # this row's. prev_hash is unique, so the chain can never fork.
    Column("prev_hash", Text, nullable=False),
    Column("row_hash", Text, nullable=False),
    Index("audit_log_ts", "ts"),
    Index("audit_log_target", "target_type", "target_id"),
    Index("audit_log_prev_hash", "prev_hash", unique=True),
)

# Failed-login counters per account and per client address, shared by every node.
# The localpart reserved for a person when their first activation code is issued (printed on
# the letter); their account gets exactly this name. Never changes once written.
person_localparts = Table(
    "person_localparts",
    metadata,
    Column("person_id", Text, primary_key=True),
    Column("localpart", Text, nullable=False, unique=True),
    Column("created_ts", BigInteger, nullable=False),
)

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
    Column("auth_method", Text, nullable=False),  # "sso" (tumar's page) or "oidc:<idp id>"
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
    Column("failures", Integer, nullable=False, default=0),  # wrong codes in this session
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


# ---- everyday features (migration 0005): relations, search, push, reports, presence ----------

# One row per event that relates to another (``m.relates_to`` with a ``rel_type``), written in
# the event's transaction and deleted when the event is redacted (a redacted event loses its
# relation). ``key`` is the annotation key of ``m.annotation``.
event_relations = Table(
    "event_relations",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("relates_to_id", Text, nullable=False),
    Column("rel_type", Text, nullable=False),
    Column("key", Text),
    Column("room_id", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("event_relations_parent", "relates_to_id", "rel_type", "stream_pos"),
)

# Thread roots by their latest thread event, so /threads pages by one index.
event_threads = Table(
    "event_threads",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("room_id", Text, nullable=False),
    Column("latest_pos", BigInteger, nullable=False),
    Index("event_threads_room", "room_id", "latest_pos"),
)

# The searchable text of events (content.body, content.name, content.topic), written in the
# event's transaction. Full-text indexes live in the migration only (SQLAlchemy cannot express
# them): an FTS5 table ``event_search_fts`` kept in step by triggers on SQLite, and a GIN index
# over ``to_tsvector('simple', value)`` on PostgreSQL.
event_search = Table(
    "event_search",
    metadata,
    Column("stream_pos", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False),
    Column("room_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Index("event_search_room", "room_id", "stream_pos"),
)

# Reports of events (or of whole rooms: ``event_id`` NULL) for the server's moderators.
event_reports = Table(
    "event_reports",
    metadata,
    Column("report_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("room_id", Text, nullable=False),
    Column("event_id", Text),
    Column("reporter", Text, nullable=False),
    Column("reason", Text),
    Column("score", Integer),
    Column("ts", BigInteger, nullable=False),
    Index("event_reports_room", "room_id"),
)

# A user's own push rules, and their changes to the server-default rules (``is_default``:
# only ``enabled`` and ``actions`` are set, NULL meaning "as the default"). ``position``
# orders the user's rules within a kind (smaller first).
push_rules = Table(
    "push_rules",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("rule_id", Text, primary_key=True),
    Column("is_default", Boolean, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("pattern", Text),
    Column("conditions", Text),
    Column("actions", Text),
    Column("enabled", Boolean),
)

pushers = Table(
    "pushers",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("app_id", Text, primary_key=True),
    Column("pushkey", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("app_display_name", Text, nullable=False),
    Column("device_display_name", Text, nullable=False),
    Column("profile_tag", Text),
    Column("lang", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("device_id", Text),
    Column("created_ts", BigInteger, nullable=False),
    Index("pushers_pushkey", "app_id", "pushkey"),
)

# Presence per user; ``stream_pos`` moves when what room-mates see changes.
presence = Table(
    "presence",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("status_msg", Text),
    Column("last_active_ts", BigInteger, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Index("presence_pos", "stream_pos"),
)

# ---- classification (issue 6): labels, migration 0006 ----

# Each room's current label and audience, materialised from its ``kz.tumar.classification``
# state in the same transaction, for queries by label (retention, encryption at rest, the
# admin console). A room without a row has no label event and counts as the default label.
room_labels = Table(
    "room_labels",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("label", Text, nullable=False),
    Column("kinds", Text),  # JSON list of person kinds; NULL: any
    Column("orgs", Text),  # JSON list of organisation codes; NULL: any
    Column("stream_pos", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index("room_labels_label", "label"),
)

# ---- DLP fingerprints (issue 6), migration 0007 ----

# Keyed content fingerprints (``policy/fingerprint.py``) of messages in rooms labelled above the
# lowest label: one row per fingerprint and room, ``stream_pos`` the latest event that had it
# (so a retention purge by room and position keeps what later messages still carry). Lookups go
# by ``fp`` (the primary key; WITHOUT ROWID on SQLite, so the key is the table).
content_fingerprints = Table(
    "content_fingerprints",
    metadata,
    Column("fp", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", Text, primary_key=True),
    Column("stream_pos", BigInteger, nullable=False),
    Index("content_fingerprints_room", "room_id", "stream_pos"),
    sqlite_with_rowid=False,
)

# ---- encryption at rest (issue 6), migration 0008 ----

# Data keys (AES-256) per scope (a room id, or a purpose such as ``dlp``), wrapped by the
# master key ``key_id`` of the key provider. Rotation re-wraps them; the data keys never change.
data_keys = Table(
    "data_keys",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("wrapped_ts", BigInteger, nullable=False),
)

# ---- audit hash chain (issue 6), migration 0009 ----
# Signed checkpoints of the audit chain: "the row at seq had this hash", signed with Ed25519.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("row_hash", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text, nullable=False),  # base64 of the 64-byte Ed25519 signature
)

# ---- retention and legal hold (issue 6), migration 0010 ----

# Legal holds: while a hold is active (``lifted_ts`` NULL), the retention job purges nothing of
# its room (``target_type`` room) or nothing sent by its person (``person``: a directory person
# id; ``user``: an account, with ``person_id`` when the account belongs to a person).
# ``org_code`` is the organisation whose security officers may see and lift the hold.
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("hold_id", Text, primary_key=True),
    Column("target_type", Text, nullable=False),
    Column("target_id", Text, nullable=False),
    Column("person_id", Text),
    Column("org_code", Text),
    Column("reason", Text, nullable=False),
    Column("placed_by", Text, nullable=False),
    Column("placed_ts", BigInteger, nullable=False),
    Column("lifted_by", Text),
    Column("lifted_ts", BigInteger),
    Column("lift_reason", Text),
    Index("legal_holds_target", "target_type", "target_id"),
)

# One row per retention run that purged something, or that a person asked for: what it purged.
# ``status``: running, done, or failed (batches committed before a failure stay purged).
retention_runs = Table(
    "retention_runs",
    metadata,
    Column("run_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("trigger", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("started_ts", BigInteger, nullable=False),
    Column("finished_ts", BigInteger),
    Column("status", Text, nullable=False),
    Column("events_purged", BigInteger, nullable=False),
    Column("media_deleted", BigInteger, nullable=False),
    Column("rooms", BigInteger, nullable=False),
)

# ---- government notifications (issue 7), migration 0011 ----

# A notification is stored once, with its audience (``audience``: the author's spec; ``plan``:
# the checked, set-based form every query reads). ``version`` counts what recipients see
# (1 = as sent; each correction and the withdrawal add one); ``remind_round`` counts reminder
# rounds. ``rev`` is the stream position of the last change recipients must see.
gov_notices = Table(
    "gov_notices",
    metadata,
    Column("notice_id", Text, primary_key=True),
    Column("author", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("priority", Text, nullable=False),  # information | important | urgent
    Column("attachments", Text),  # JSON list of {url, name, mimetype, size}, or NULL
    Column("ack_required", Boolean, nullable=False),
    Column("deadline_ts", BigInteger),
    Column("audience", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("org_code", Text),  # for the audit log: the first organisation of the audience
    Column("status", Text, nullable=False),  # draft | scheduled | sent | withdrawn
    Column("version", Integer, nullable=False),
    Column("remind_round", Integer, nullable=False),
    Column("last_remind_ts", BigInteger),
    Column("escalated_ts", BigInteger),
    Column("send_at_ts", BigInteger),
    Column("sent_ts", BigInteger),
    Column("withdrawn_ts", BigInteger),
    Column("withdraw_reason", Text),
    Column("recipients_at_send", Integer),
    Column("rev", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index("gov_notices_status", "status", "sent_ts"),
)

# Per recipient, only what happened to them: delivered (the event in their notice room, and
# the version and reminder round they have seen), read, acknowledged. No row until delivery.
gov_notice_recipients = Table(
    "gov_notice_recipients",
    metadata,
    Column("notice_id", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("person_id", Text),
    Column("room_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("stream_pos", BigInteger, nullable=False),
    Column("delivered_ts", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("remind_round", Integer, nullable=False),
    Column("read_ts", BigInteger),
    Column("ack_ts", BigInteger),
    Column("ack_via", Text),  # api | reaction | web
    Index("gov_notice_recipients_event", "event_id"),
    Index("gov_notice_recipients_user", "user_id", "delivered_ts"),
)

# Escalations to unit heads after a deadline: one per notification and organisation.
gov_notice_escalations = Table(
    "gov_notice_escalations",
    metadata,
    Column("notice_id", Text, primary_key=True),
    Column("org_code", Text, primary_key=True),
    Column("head_user_id", Text, nullable=False),
    Column("overdue", Integer, nullable=False),
    Column("sent_ts", BigInteger, nullable=False),
)

# ---- device policy and conditional access (issue 8), migration 0012 ----
# Policies are versioned: a change inserts a new version; the current version of a policy is
# its highest version whose ``retired_ts`` is NULL. ``document`` is the policy JSON exactly as
# ``policy.device_policy.policy_document`` writes it.
device_policies = Table(
    "device_policies",
    metadata,
    Column("policy_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("document", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("retired_ts", BigInteger),
)

# One-time enrolment tokens; only a hash of the token is kept.
device_enrolment_tokens = Table(
    "device_enrolment_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("issued_by", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("expires_ts", BigInteger, nullable=False),
    Column("used_ts", BigInteger),
    Column("device_id", Text),
)

# Enrolled (managed) devices. The name ``devices`` is the Matrix sessions' table, hence
# ``managed_devices``. ``session_device_id`` is the Matrix device (session) whose access token
# enrolled it; the last check-in's evaluation is kept on the row for conditional access.
managed_devices = Table(
    "managed_devices",
    metadata,
    Column("device_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("session_device_id", Text),
    Column("public_key", Text, nullable=False),  # base64 Ed25519 public key (32 bytes)
    Column("platform", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("os_version", Text, nullable=False),
    Column("management_mode", Text, nullable=False),
    Column("ownership", Text, nullable=False),
    Column("attestation", Text, nullable=False),  # JSON, as reported
    Column("enrolled_ts", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_checkin_ts", BigInteger),
    Column("report", Text),  # JSON: the last check-in's state and evidence
    Column("verdict", Text, nullable=False),  # compliant | non_compliant | unknown
    Column("valid_until_ts", BigInteger),
    Column("gated_labels", Text, nullable=False),  # JSON list
    Column("findings", Text, nullable=False),  # JSON list of findings
    Column("prior", Text),  # JSON PriorState
    Column("bundle_version", Text),
    Column("retired_ts", BigInteger),
    # Kept with the row so that a check-in reads commands and violations only when it must:
    # commands not yet acknowledged, and the open violation.
    Column("pending_commands", Integer, nullable=False),
    Column("open_violation_id", Text),
    Index("managed_devices_session", "user_id", "session_device_id"),
)

device_checkins = Table(
    "device_checkins",
    metadata,
    Column("device_id", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("received_ts", BigInteger, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("report", Text, nullable=False),  # JSON
    # The retention job finds expired check-ins by age (migration 0014).
    Index("device_checkins_received", "received_ts"),
)

device_commands = Table(
    "device_commands",
    metadata,
    Column("command_id", Text, primary_key=True),
    Column("device_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # sync_now | lock_content | wipe_content | show_message
    Column("payload", Text, nullable=False),  # JSON
    Column("issued_by", Text, nullable=False),
    Column("issued_ts", BigInteger, nullable=False),
    Column("delivered_ts", BigInteger),
    Column("acked_ts", BigInteger),
    Column("result", Text),
    Index("device_commands_device", "device_id", "acked_ts"),
)

device_violations = Table(
    "device_violations",
    metadata,
    Column("violation_id", Text, primary_key=True),
    Column("device_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("opened_ts", BigInteger, nullable=False),
    Column("closed_ts", BigInteger),
    Column("findings", Text, nullable=False),  # JSON list
    Index("device_violations_device", "device_id", "closed_ts"),
)

# Sets of rooms a sync withheld from a session (migration 0015), under their id: the first
# hex digits of the SHA-256 of the sorted room ids (``core/device_gate.hold_id_of``), which
# the sync token carries, so that any node delivers them whole once access returns. ``rooms``
# is a JSON list. A set never changes once written.
sync_holds = Table(
    "sync_holds",
    metadata,
    Column("hold_id", Text, primary_key=True),
    Column("rooms", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
)
# ---- end of device policy ----

# ---- registered official correspondence (issue 10), migration 0013 ----
# A letter (one row) and its parts; the life cycle is in ``policy/letters.py``, the writer is
# ``core/correspondence.py``. Lists are compact JSON text; times are epoch milliseconds.
letters = Table(
    "letters",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("sender_org", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("label_orgs", Text),  # JSON list of org codes: the label's audience
    Column("reply_to", Text),
    Column("approval_mode", Text, nullable=False),  # ordered | parallel
    Column("approvers", Text, nullable=False),  # JSON list of user ids
    Column("signatory", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("round", Integer, nullable=False),  # approval round (a return starts a new one)
    Column("outgoing_number", Text),
    Column("outgoing_year", Integer),
    Column("outgoing_seq", Integer),
    Column("registered_ts", BigInteger),
    Column("registered_by", Text),
    Column("room_id", Text),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Index("letters_sender", "sender_org", "status"),
    Index("letters_author", "author"),
    Index("letters_outgoing", "sender_org", "outgoing_number", unique=True),
)

letter_recipients = Table(
    "letter_recipients",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("org_code", Text, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("delivered_ts", BigInteger),
    Column("incoming_number", Text),
    Column("incoming_year", Integer),
    Column("incoming_seq", Integer),
    Column("registered_ts", BigInteger),
    Column("registered_by", Text),
    Column("resolution", Text),
    Column("executors", Text),  # JSON list of user ids
    Column("controller", Text),
    Column("due_ts", BigInteger),
    Column("resolved_by", Text),
    Column("resolved_ts", BigInteger),
    Column("reply_text", Text),
    Column("reply_letter_id", Text),
    Column("replied_by", Text),
    Column("replied_ts", BigInteger),
    Column("closed_by", Text),
    Column("closed_ts", BigInteger),
    Column("reminded_ts", BigInteger),
    Column("escalated_ts", BigInteger),
    Index("letter_recipients_org", "org_code", "status"),
    Index("letter_recipients_incoming", "org_code", "incoming_number", unique=True),
)

letter_approvals = Table(
    "letter_approvals",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("decision", Text, nullable=False),  # approved | returned
    Column("comment", Text),
    Column("ts", BigInteger, nullable=False),
)

letter_events = Table(
    "letter_events",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("org_code", Text),  # the recipient organisation, for per-recipient steps
    Column("status", Text, nullable=False),  # the status after the step
    Column("comment", Text),
)

letter_attachments = Table(
    "letter_attachments",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("mxc", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("content_type", Text),
    Column("size", BigInteger, nullable=False),
    Column("sha256", Text),  # hex, from the media store at signing
)

letter_signatures = Table(
    "letter_signatures",
    metadata,
    Column("letter_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("stage", Text, nullable=False),  # signature (signatory) | registration (seal)
    Column("signer", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # ed25519 | x509
    Column("algorithm", Text, nullable=False),
    Column("signature", Text, nullable=False),  # unpadded base64
    Column("canonical_sha256", Text, nullable=False),
    Column("signed_ts", BigInteger, nullable=False),
    Column("public_key", Text, nullable=False),  # Ed25519: unpadded base64; x509: ""
    Column("certificate_pem", Text),
    Column("chain_pem", Text),
)

# The next number per organisation, year and direction (in | out): gap-free numbering under
# the row lock of this counter, taken in the registering transaction.
letter_counters = Table(
    "letter_counters",
    metadata,
    Column("org_code", Text, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("direction", Text, primary_key=True),
    Column("next_seq", Integer, nullable=False),
)

letter_formats = Table(
    "letter_formats",
    metadata,
    Column("org_code", Text, primary_key=True),
    Column("format", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # ed25519 | x509
    Column("algorithm", Text, nullable=False),
    Column("public_key", Text, nullable=False),  # Ed25519: unpadded base64; x509: ""
    Column("sealed_private", LargeBinary, nullable=False),  # AES-GCM under a data key
    Column("certificate_pem", Text),
    Column("chain_pem", Text),
    Column("subject", Text),
    Column("issuer", Text),
    Column("serial", Text),
    Column("not_before_ts", BigInteger),
    Column("not_after_ts", BigInteger),
    Column("created_ts", BigInteger, nullable=False),
    Column("revoked_ts", BigInteger),
    Index("signing_keys_user", "user_id"),
)

trust_anchors = Table(
    "trust_anchors",
    metadata,
    Column("anchor_id", Text, primary_key=True),  # SHA-256 of the DER certificate, hex
    Column("subject", Text, nullable=False),
    Column("certificate_pem", Text, nullable=False),
    Column("not_after_ts", BigInteger, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("added_ts", BigInteger, nullable=False),
)
# ---- end of correspondence ----
