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

RegistrationMode = Literal["closed", "token", "open"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUMAR_", extra="forbid", frozen=True)

    server_name: str = "localhost"
    """The domain in user ids and room ids (``@alice:SERVER_NAME``). Cannot change later."""

    public_baseurl: str | None = None
    """Where clients reach the server; advertised in ``/.well-known/matrix/client``."""

    data_dir: Path = Path("data")
    """Directory for the embedded SQLite database and, later, media."""

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
    """``closed``: /register answers M_FORBIDDEN. ``token``: registration needs a registration
    token (personal activation code). ``open``: anyone may register (``m.login.dummy``); for
    development and tests only."""

    max_request_body_bytes: int = Field(1_048_576, ge=1024)
    """Largest accepted JSON request body; larger ones get 413 ``M_TOO_LARGE``."""

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

    directory_visibility: Literal["subtree", "government", "shared_rooms"] = "subtree"
    """Whom officials find in the user directory besides people they share a room with:
    ``subtree``: their own top-level organisation (ministry, akimat, company) and everything
    below it; ``government``: every official; ``shared_rooms``: nobody else. External partners
    always see only people they share a room with."""

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

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tumar.db').resolve()}"

    @property
    def effective_public_baseurl(self) -> str:
        return self.public_baseurl or f"http://{self.server_name}/"


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
