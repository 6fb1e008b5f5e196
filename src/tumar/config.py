"""Typed settings. Every option has a default, can come from a TOML config file or from an
environment variable prefixed ``TUMAR_``, and is documented in ``docs/config.md``.

Precedence, highest first: command-line flags, environment, config file, defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tumar.policy.media_types import valid_type_pattern
from tumar.sso_settings import OidcProvider

RegistrationMode = Literal["closed", "token", "open"]
E2eeModeName = Literal["allowed", "required", "forbidden"]


def _e2ee_by_label_default() -> dict[str, E2eeModeName]:
    return {"official-use": "forbidden"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUMAR_", extra="forbid", frozen=True)

    server_name: str = "localhost"
    """The domain in user ids and room ids (``@alice:SERVER_NAME``). Cannot change later."""

    public_baseurl: str | None = None
    """Where clients reach the server; advertised in ``/.well-known/matrix/client``."""

    data_dir: Path = Path("data")
    """Directory for the embedded SQLite database and the media (see ``media_dir``)."""

    database_url: str | None = None
    """SQLAlchemy URL. Empty: SQLite at ``DATA_DIR/tumar.db``. PostgreSQL:
    ``postgresql+asyncpg://user@host:5432/db``."""

    database_schema: str | None = None
    """PostgreSQL schema to use (its ``search_path``); empty: the server's default."""

    database_pool_size: int = Field(10, ge=1, le=200)
    """Connections per node to PostgreSQL (SQLite uses its own small pool)."""

    auto_migrate: bool = True
    """Apply pending database migrations when the server starts."""

    registration: RegistrationMode = "closed"
    """``closed``: only personal activation codes create accounts (any other registration
    answers M_FORBIDDEN). ``token``: also one-time registration tokens. ``open``: anyone may
    register (``m.login.dummy``); for development and tests only. Activation codes work in
    every mode."""

    max_request_body_bytes: int = Field(1_048_576, ge=1024)
    """Largest accepted JSON request body; larger ones get 413 ``M_TOO_LARGE``."""

    media_dir: Path | None = None
    """Where uploaded media are stored; empty: ``DATA_DIR/media``."""

    media_max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1)
    """Largest media upload in bytes (50 MiB); larger ones get 413 ``M_TOO_LARGE``."""

    media_allowed_types: list[str] = Field(default_factory=lambda: ["*/*"], min_length=1)
    """Media types that may be uploaded: exact (``application/pdf``), ``image/*`` or ``*/*``.
    Both the declared type and the type detected from the bytes must match one."""

    sync_max_timeout_ms: int = Field(30_000, ge=0, le=300_000)
    """Cap on the long-poll ``timeout`` of ``/sync``."""

    typing_max_timeout_ms: int = Field(30_000, ge=1_000)
    """Cap on how long a typing notification lasts."""

    rate_limit_enabled: bool = True
    """Rate-limit message sends and logins (answers ``M_LIMIT_EXCEEDED``)."""

    rate_limit_per_second: float = Field(10.0, gt=0)
    """Sustained requests per second per user for sending events."""

    rate_limit_burst: int = Field(50, ge=1)
    """Burst size for sending events."""

    login_rate_per_second: float = Field(0.5, gt=0)
    """Sustained login attempts per second per client address."""

    login_rate_burst: int = Field(10, ge=1)
    """Burst size for login attempts per client address."""

    login_lockout_failures: int = Field(10, ge=1)
    """Failed logins to one account within ``login_lockout_window_seconds`` that lock it for
    ``login_lockout_seconds`` (shared by every node, kept in the database)."""

    login_address_lockout_failures: int = Field(100, ge=1)
    """Failed logins from one client address within the window that lock the address. Higher
    than the account limit: a whole office may share one address."""

    login_lockout_window_seconds: int = Field(900, ge=1)
    """The window in which failed logins are counted."""

    login_lockout_seconds: int = Field(900, ge=1)
    """How long a locked account or address is refused (429 ``M_LIMIT_EXCEEDED``)."""

    password_min_length: int = Field(12, ge=1, le=512)
    """Shortest accepted password. Passwords are also checked against the common-password
    list shipped with tumar, the user name and the person's name."""

    activation_code_ttl_days: int = Field(30, ge=1, le=3650)
    """How long a personal activation code stays valid after it is issued."""

    to_device_rate_per_second: float = Field(20.0, gt=0)
    """Sustained ``/sendToDevice`` requests per second per sending user."""

    to_device_rate_burst: int = Field(200, ge=1)
    """Burst of ``/sendToDevice`` requests per sending user."""

    e2ee: Literal["allowed", "required", "forbidden"] = "allowed"
    """End-to-end encryption: ``allowed`` (clients choose), ``required`` (rooms are created
    encrypted and stay so) or ``forbidden`` (encryption state and encrypted events are
    refused). The fallback for labels that ``e2ee_by_label`` does not list."""

    argon2_time_cost: int = Field(3, ge=1)
    """Argon2id iterations for password hashes."""

    argon2_memory_kib: int = Field(65_536, ge=8)
    """Argon2id memory per hash, in KiB (64 MiB by default)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the server."""

    classification_labels: list[str] = Field(
        default_factory=lambda: ["public", "internal", "official-use"], min_length=1
    )
    """Classification labels, lowest first. A person's clearance is one of them."""

    default_clearance: str = "internal"
    """Clearance of people created or imported without one."""

    classification_rules: list[str] = Field(
        default_factory=lambda: ["clearance", "audience", "dlp", "media_origin"]
    )
    """The classification policy chain: rule names in the order they run (see
    ``docs/classification.md``). The first refusal wins."""

    dlp_enabled: bool = True
    """Forwarding control (``docs/dlp.md``): fingerprint messages of rooms labelled above the
    lowest label, and refuse messages and media that carry their content into lower rooms."""

    dlp_threshold: float = Field(0.5, gt=0, le=1)
    """Share of a message's fingerprints found in one higher-labelled room at which the
    message is refused (0.5: half of it repeats that room's content)."""

    dlp_min_chars: int = Field(40, ge=12, le=10_000)
    """Texts with fewer letters and digits than this are neither fingerprinted nor checked."""

    classification_default_room: str = "internal"
    """Label the server gives a new room (and the label of rooms created before labels
    existed). The creator may choose a higher one in ``initial_state``; a lower one needs a
    security officer."""

    classification_default_direct: str = "internal"
    """Label the server gives a new direct chat (``is_direct``)."""

    classification_external_max: str | None = "internal"
    """Highest label whose rooms external partners may join or be invited to, whatever their
    clearance (empty: only their clearance limits them)."""

    e2ee_by_label: dict[str, E2eeModeName] = Field(default_factory=_e2ee_by_label_default)
    """End-to-end encryption per label; labels not listed follow ``e2ee``. By default
    official-use rooms forbid it (the organisation keeps the record and the server protects
    it), and public and internal rooms follow ``e2ee`` (``allowed``)."""

    master_key: str | None = Field(default=None, repr=False)
    """Master keys that wrap the data keys of encryption at rest, as ``<key id>:<base64 of 32
    bytes>`` entries separated by newlines or commas, the current key first (usually set as
    the environment variable ``TUMAR_MASTER_KEY``). Takes precedence over ``master_key_file``."""

    master_key_file: Path | None = None
    """File with the master keys, one ``<key id>:<base64>`` per line, current key first. Empty
    and no ``master_key``: ``DATA_DIR/master.key``, created with a random key on first start
    (fine for a pilot; a deployment keeps it apart from the database backups, or uses an HSM
    or KMS behind the key-provider interface)."""

    encrypt_at_rest_from: str | None = "official-use"
    """Lowest classification label whose rooms have their message content (every non-state
    event) stored encrypted with AES-256-GCM under a per-room data key (see
    ``docs/encryption-at-rest.md``). Empty: no message content is encrypted."""

    encrypt_media_at_rest: bool = True
    """Store every uploaded file and thumbnail encrypted (AES-256-GCM, in 64 KiB segments).
    Files stored before this was on stay readable as they are."""

    retention_days: dict[str, int | None] = Field(
        default_factory=lambda: {"public": 365, "internal": 1825, "official-use": None}
    )
    """Days that messages are kept, per classification label; ``null`` (and any label not
    named) keeps them forever. See ``docs/retention.md``."""

    retention_interval_seconds: int = Field(3600, ge=0)
    """How often each node runs the retention job; 0: never in the server (run ``tumar
    retention run`` from cron instead)."""

    retention_batch_size: int = Field(500, ge=1, le=10_000)
    """Messages purged per transaction by the retention job, and device check-ins deleted per
    transaction."""

    device_checkin_history_days: int = Field(90, ge=1, le=36_500)
    """Days that device check-ins (``device_checkins``: reported state, position, networks)
    are kept; the retention job deletes older ones, except each device's newest check-in and
    the devices of accounts under legal hold. See ``docs/device-policy.md``."""

    import_max_bytes: int = Field(67_108_864, ge=1024)
    """Largest staff or organisation file (CSV or XLSX) accepted by the admin API's import
    endpoints (64 MiB by default); larger ones get 413 ``M_TOO_LARGE``. An XLSX workbook may
    unpack to at most 16 times this. The command line reads files of any size."""

    directory_visibility: Literal["subtree", "government", "shared_rooms"] = "subtree"
    """Whom officials find in the user directory besides people they share a room with:
    ``subtree``: their own top-level organisation (ministry, akimat, company) and everything
    below it; ``government``: every official; ``shared_rooms``: nobody else. External partners
    always see only people they share a room with."""

    sso_client_allowlist: list[str] = Field(default_factory=list)
    """URL prefixes of clients that may receive a login token from the SSO page (e.g.
    ``https://chat.gov.kz/``, ``element://``). Empty: any client, but the person confirms on a
    page naming where the token goes."""

    sso_session_lifetime_s: int = Field(600, ge=60, le=3600)
    """How long one SSO login page (password, code, identity provider round trip) stays valid."""

    login_token_lifetime_s: int = Field(120, ge=10, le=600)
    """How long the one-time ``m.login.token`` minted by the SSO page may be exchanged."""

    totp_issuer: str | None = None
    """Name authenticator apps show next to the code; empty: the server name."""

    totp_window: int = Field(1, ge=0, le=2)
    """Accepted clock drift of authenticator codes, in 30-second steps either side of now."""

    oidc_providers: list[OidcProvider] = Field(default_factory=list)
    """Upstream OpenID Connect identity providers; see ``docs/directory.md``."""

    rollout_reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    """Rollout reminders go out this many days before a deadline (each window once per person
    and deadline), and once more after it has passed."""

    rollout_timezone: str = "UTC"
    """IANA time zone that decides "today" for rollout deadlines and the days of the
    registration time series (e.g. ``Asia/Almaty``)."""

    server_notices_localpart: str = "notices"
    """Localpart of the system account that owns every user's server-notice room. It cannot log
    in, and nobody can register this name."""

    server_notices_display_name: str = "Server notices"
    """Display name of the server-notices account."""

    server_notices_room_name: str = "Server notices"
    """Name of each user's server-notice room."""

    presence_enabled: bool = True
    """Store and deliver presence (online, unavailable, offline, status messages) to people
    who share a room. Off: the presence endpoints still answer, but nothing is stored or
    delivered and everyone reads as offline."""

    audit_checkpoint_rows: int = Field(1000, ge=1, le=10_000_000)
    """Sign a checkpoint of the audit chain after this many new audit rows (see
    ``docs/audit.md``)."""

    audit_checkpoint_interval_s: int = Field(3600, ge=1, le=31 * 86400)
    """Sign a checkpoint of the audit chain at least this often (seconds) while rows arrive."""

    audit_reads_from: str = "official-use"
    """Reads of rooms labelled this or higher are audited, one row per user, room and
    ``audit_reads_window_s``. Empty: reads are not audited."""

    audit_reads_window_s: int = Field(3600, ge=60, le=86400)
    """The window (seconds) over which reads of protected rooms are counted into one row."""

    unread_count_limit: int = Field(500, ge=1, le=100_000)
    """Most unread events per room that are evaluated against push rules for the unread and
    highlight counts of ``/sync``; beyond it the counts stop growing until the user reads."""

    # ---- government notifications (issue 7; docs/notifications.md) ----

    gov_notices_ack_reactions: list[str] = Field(default_factory=lambda: ["✅", "👍"])
    """Reaction keys that acknowledge a notification from any Matrix client (variation
    selectors and skin tones are ignored)."""

    gov_notices_remind_every_hours: int = Field(24, ge=0, le=8760)
    """Hours between reminder rounds for people who have not acknowledged yet, until the
    deadline (0: no reminders)."""

    gov_notices_escalate: bool = True
    """After the deadline, tell each unit's head (or the nearest head up the tree) who has not
    acknowledged, once per notification and unit."""

    gov_notices_tick_seconds: int = Field(60, ge=0, le=86_400)
    """How often each node runs the reminder run in the background (scheduled sends, reminder
    rounds, escalations); 0: never (use ``tumar notify remind`` from cron)."""

    gov_notices_delivery_days: int = Field(90, ge=1, le=3650)
    """Notifications sent longer ago than this are no longer delivered to people who have not
    synced since (nor corrected for them)."""

    gov_notices_refresh_seconds: float = Field(10.0, ge=0.1, le=3600)
    """How often a node re-reads the live notifications even without a doorbell saying they
    changed (a safety net for lost doorbells between nodes)."""

    gov_notices_recheck_seconds: float = Field(300.0, ge=1, le=86_400)
    """How long a node trusts that a user has everything they are due, unless a notification
    changed; after it, their next sync checks again (e.g. after a move to another unit)."""

    gov_notices_batch_size: int = Field(200, ge=1, le=5000)
    """Most recipients whose notices one delivery transaction writes."""

    gov_notices_prepare_rooms: bool = True
    """Create a person's notice room in the background after their first ``/sync`` on a
    node (people in the directory only), so that the first notification they receive finds
    the room ready; false: the room is created with the first notice sent to them."""

    gov_notices_max_body_chars: int = Field(16_000, ge=100, le=60_000)
    """Longest notification body (Markdown source), in characters; longer is 413."""

    # ---- devices: enrolment, check-ins, commands (issue 8; docs/device-policy.md) ----

    devices_token_ttl_seconds: int = Field(72 * 3600, ge=60, le=90 * 86_400)
    """How long a one-time device enrolment token stays valid after it is issued."""

    devices_self_service_tokens: bool = True
    """Whether a signed-in official may issue an enrolment token for their own account
    (``POST /_tumar/devices/v1/enrolment-tokens``); otherwise only security officers can."""

    devices_max_clock_skew_seconds: int = Field(300, ge=1, le=86_400)
    """A check-in whose ``sent_ts`` is further than this from the server's clock is refused
    (``TUMAR_CLOCK_SKEW``); evaluation always uses the server's clock."""

    devices_checkin_interval_seconds: int = Field(900, ge=10, le=86_400)
    """How often a device is asked to check in when no policy applies to it (a policy's own
    ``checkin_interval_seconds`` wins)."""

    devices_history_kept: int = Field(200, ge=1, le=100_000)
    """How many check-ins of a device the admin API's device detail shows."""

    # ---- registered official correspondence (issue 10; docs/correspondence.md) ----

    letters_number_format: str = "{org}-{seq:05}/{yy}"
    """Registration number format of organisations without their own (admin API
    ``PUT /correspondence/formats/{org}``): ``{org}``, ``{seq}`` / ``{seq:05}``, ``{yy}`` /
    ``{yyyy}``, ``{dir}``; must hold ``{seq}`` and the year."""

    letters_timezone: str = "UTC"
    """IANA time zone that decides the registration year of a number and the day a due date
    ends (e.g. ``Asia/Almaty``)."""

    letters_max_attachment_bytes: int = Field(50 * 1024 * 1024, ge=0, le=2**40)
    """Largest total size of one letter's attachments, in bytes; more is 413 ``M_TOO_LARGE``."""

    letters_max_attachments: int = Field(20, ge=0, le=500)
    """Most attachments on one letter."""

    letters_max_recipients: int = Field(100, ge=1, le=5000)
    """Most recipient organisations of one letter."""

    letters_max_body_chars: int = Field(60_000, ge=100, le=1_000_000)
    """Longest letter body (Markdown source), in characters; longer is 413."""

    letters_open_label_max: str | None = "internal"
    """Highest classification label a letter may carry to any organisation; a letter labelled
    above it may go only to organisations inside its label audience (``label_orgs``, else the
    sender's own subtree). Empty: every label is open."""

    letters_remind_days: int = Field(2, ge=0, le=60)
    """Executors are reminded this many days before an assignment's due date (0: no
    reminder); after the due date the controller gets an escalation."""

    letters_tick_seconds: int = Field(300, ge=0, le=86_400)
    """How often each node runs the correspondence reminder run (0: never; use
    ``tumar letters control --remind`` from cron)."""

    # ---- conditional access by device (issue 8; docs/device-policy.md) ----

    device_gate_session_seconds: float = Field(5.0, ge=0.1, le=3600)
    """How long a node trusts what it read of a session's enrolled device and organisation
    (a check-in on this node updates it at once; one on another node within this time)."""

    # ---- scale-out: Redis bus, shared rate limits, typing (issue 9; docs/deploy.md) ----

    redis_url: str | None = None
    """Redis for several nodes, e.g. ``redis://127.0.0.1:6379/0``: doorbells between nodes,
    the typing state and serial, and rate limits shared by every node. Empty: one node, all of
    it in process."""

    redis_channel_prefix: str = Field("tumar", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    """Prefix of the Redis channel and keys (``PREFIX:SERVER_NAME:...``), so several
    deployments can share one Redis."""

    bus_fallback_poll_ms: int = Field(1000, ge=50, le=60_000)
    """While Redis is unreachable, each node reads the stream position this often and wakes
    its long-polls when it moved: the longest extra delivery delay during an outage."""

    session_cache_seconds: float | None = Field(None, ge=0, le=300)
    """How long a node keeps what it read of an access token (owner, device, suspended), so a
    request does not read the database to authenticate (0: read every time). Empty (the
    default): 300 s on one node, 0 with ``redis_url`` (several nodes). A logout, device
    deletion, deactivation or suspension drops the entries at once on the node that answered
    it; other nodes learn of it through the bus, which delivers after the commit and may come
    after the next request there, so with several nodes a cached token could still work for a
    moment after its logout elsewhere. Every node also reads the table of such changes each
    second (``core/session_watch.py``), which covers a doorbell lost on its way through Redis
    and a command-line process: with a positive value on several nodes, a revoked token works
    nowhere a second after its commit when the nodes keep up, and never more than 3 s after
    (a node whose last reading began longer ago, or that has lost Redis, does not use its
    cache)."""

    @property
    def effective_session_cache_seconds(self) -> float:
        if self.session_cache_seconds is not None:
            return self.session_cache_seconds
        return 0.0 if self.redis_url else 300.0

    # ---- operations: health, metrics, logs, graceful drain (issue 9; docs/deploy.md) ----

    log_format: Literal["text", "json"] = "text"
    """``text``: one readable line per record. ``json``: one JSON object per line (``ts``,
    ``level``, ``logger``, ``msg``, ``request_id``, extra fields) for log collectors."""

    metrics_allow: list[str] = Field(
        default_factory=lambda: [
            "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
            "fc00::/7",
        ]
    )  # fmt: skip
    """Client networks (CIDR) that may read ``/metrics``; others get 403 ``M_FORBIDDEN``.
    Default: loopback and private networks."""

    shutdown_grace_seconds: int = Field(10, ge=0, le=600)
    """On SIGTERM/SIGINT, how long in-flight requests may take to finish before they are
    cancelled (parked ``/sync`` long-polls answer at once)."""

    shutdown_delay_seconds: float = Field(0.0, ge=0, le=600)
    """On SIGTERM/SIGINT, how long the node keeps serving with readiness answering 503 before
    it stops accepting connections, so that load balancers polling ``/health/ready`` take it
    out of rotation first. 0: stop accepting at once."""

    gc_full_interval_seconds: float = Field(30.0, ge=0, le=3600)
    """``tumar serve`` runs Python's full garbage collection this often, from the event loop
    at its next quiet moment (within another interval), instead of when CPython's own rule
    says (``tumar/gc_policy.py``); 0: CPython's rule."""

    @field_validator("metrics_allow")
    @classmethod
    def _check_metrics_allow(cls, value: list[str]) -> list[str]:
        import ipaddress

        try:
            return [str(ipaddress.ip_network(v.strip(), strict=False)) for v in value]
        except ValueError as exc:
            raise ValueError(f"metrics_allow: {exc}") from None

    @field_validator("rollout_reminder_days")
    @classmethod
    def _check_reminder_days(cls, value: list[int]) -> list[int]:
        if any(n < 0 or n > 366 for n in value):
            raise ValueError("rollout_reminder_days must be whole days from 0 to 366")
        return sorted(set(value), reverse=True)

    @field_validator("rollout_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"rollout_timezone: unknown time zone {value!r}") from None
        return value

    @field_validator("server_notices_localpart")
    @classmethod
    def _check_notices_localpart(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[a-z0-9._=\-/+]+", value):
            raise ValueError("server_notices_localpart must be a valid lower-case localpart")
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _check_providers(cls, value: list[OidcProvider]) -> list[OidcProvider]:
        ids = [p.id for p in value]
        if len(set(ids)) != len(ids):
            raise ValueError("oidc_providers must have distinct ids")
        return value

    @field_validator("server_name")
    @classmethod
    def _check_server_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/@!#$ "):
            raise ValueError("server_name must be a host name, optionally with a port")
        return value

    @field_validator("retention_days")
    @classmethod
    def _check_retention(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        from tumar.policy.retention import check_policy

        return check_policy(value)

    @field_validator("classification_labels")
    @classmethod
    def _check_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not all(value):
            raise ValueError("classification_labels must be distinct, non-empty names")
        return value

    @model_validator(mode="after")
    def _check_label_settings(self) -> Settings:
        labels = self.classification_labels
        named = {
            "classification_default_room": [self.classification_default_room],
            "classification_default_direct": [self.classification_default_direct],
            "classification_external_max": [self.classification_external_max or labels[0]],
        }
        if self.encrypt_at_rest_from:
            named["encrypt_at_rest_from"] = [self.encrypt_at_rest_from]
        if "e2ee_by_label" in self.model_fields_set:  # the default names a default label
            named["e2ee_by_label"] = list(self.e2ee_by_label)
        for option, values in named.items():
            unknown = [v for v in values if v not in labels]
            if unknown:
                raise ValueError(f"{option}: not one of classification_labels: {unknown}")
        return self

    @field_validator("media_allowed_types")
    @classmethod
    def _check_media_types(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not valid_type_pattern(p)]
        if bad:
            raise ValueError(f"media_allowed_types: not a media type or pattern: {bad}")
        return [p.lower() for p in value]

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tumar.db').resolve()}"

    @property
    def effective_public_baseurl(self) -> str:
        return self.public_baseurl or f"http://{self.server_name}/"

    @property
    def effective_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    The environment wins over the file, and explicit overrides (command-line flags) win over
    both. Unknown keys in the file are an error, so a typo never goes unnoticed.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        with config_file.open("rb") as fh:
            values = tomllib.load(fh)
    # pydantic-settings ranks constructor arguments above the environment, so drop the file's
    # value wherever the environment sets the same option.
    values = {k: v for k, v in values.items() if f"TUMAR_{k.upper()}" not in os.environ}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
