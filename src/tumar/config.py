"""Typed settings. Every option has a default, can come from a TOML config file or from an
environment variable prefixed ``TUMAR_``, and is documented in ``docs/config.md``.

Precedence, highest first: command-line flags, environment, config file, defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tumar.policy.media_types import valid_type_pattern
from tumar.sso_settings import OidcProvider

RegistrationMode = Literal["closed", "token", "open"]


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
    refused). A global default now; classification labels will set it per room."""

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

    master_key: str | None = Field(default=None, repr=False)
    """Master keys that wrap the data keys of encryption at rest, as ``<key id>:<base64 of 32
    bytes>`` entries separated by newlines or commas, the current key first (usually set as
    the environment variable ``TUMAR_MASTER_KEY``). Takes precedence over ``master_key_file``."""

    master_key_file: Path | None = None
    """File with the master keys, one ``<key id>:<base64>`` per line, current key first. Empty
    and no ``master_key``: ``DATA_DIR/master.key``, created with a random key on first start
    (fine for a pilot; a deployment keeps it apart from the database backups, or uses an HSM
    or KMS behind the key-provider interface)."""

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

    unread_count_limit: int = Field(500, ge=1, le=100_000)
    """Most unread events per room that are evaluated against push rules for the unread and
    highlight counts of ``/sync``; beyond it the counts stop growing until the user reads."""

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

    @field_validator("classification_labels")
    @classmethod
    def _check_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not all(value):
            raise ValueError("classification_labels must be distinct, non-empty names")
        return value

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
