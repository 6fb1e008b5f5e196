"""Synapse, the reference Matrix server, as a benchmark peer of ``tumar serve`` (bench/compare.py).

Synapse lives in its own virtualenv (default ``bench/.synapse-venv``, created with
``pip install 'matrix-synapse[postgres]'`` when missing) so that its dependencies never touch
tumar's. Per run: a temporary directory with a ``homeserver.yaml`` (written as JSON, which is
YAML), a signing key made by Synapse's own ``--generate-keys``, a WARNING-level log file and
the media store; the database is a SQLite file there, or a fresh PostgreSQL database
``synapse_bench_<random>`` (UTF8, C collation, as Synapse requires) dropped afterwards.
Synapse runs as one process on a free loopback port with every rate limit effectively off and
cheap password hashing (``bcrypt_rounds: 4``), like the benchmark tumar (cheap Argon2, rate
limits off). :class:`SynapseProcess` is a :class:`harness.ServerProcess`, so ``CpuMeter`` and
the peak-RSS reading work on it unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import BENCH_DIR, Api, ServerProcess, keep_server_log, pg_admin

DEFAULT_VENV = BENCH_DIR / ".synapse-venv"
SERVER_NAME = "bench.local"
STARTUP_TIMEOUT_S = 240.0  # the first start on PostgreSQL creates the whole schema

# Every rate limiter Synapse 1.16x reads from its config (synapse/config/ratelimiting.py), set
# so high that no benchmark can reach it: a million actions per second, a million in a burst.
_UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}
RATE_LIMITS_OFF: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_federation": {"window_size": 1000, "sleep_limit": 1_000_000, "reject_limit": 1_000_000},
}


# ---- the virtualenv -------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """The Synapse virtualenv's interpreter; the venv is created and Synapse installed (with
    the PostgreSQL driver) when it has no Synapse yet. Takes a few minutes the first time."""
    python = venv_python(venv)
    if python.exists() and synapse_version(python) is not None:
        return python
    print(f"installing Synapse into {venv} (first run only)", flush=True)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "matrix-synapse[postgres]"], check=True)
    if synapse_version(python) is None:
        raise RuntimeError(f"Synapse did not install into {venv}")
    return python


def synapse_version(python: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [str(python), "-c", "import synapse; print(synapse.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=_clean_env(),
        )
        return done.stdout.strip() or None
    return None


def _clean_env() -> dict[str, str]:
    """The environment without tumar's virtualenv, so Synapse's interpreter sees only its own
    packages (and no ``TUMAR_*`` settings, which mean nothing to it)."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TUMAR_")}


# ---- configuration ----------------------------------------------------------------------------


def homeserver_config(workdir: Path, port: int, database: dict[str, Any]) -> dict[str, Any]:
    """A single-process Synapse on ``127.0.0.1:port``: open registration without verification,
    no federation key servers, no stats reporting, rate limits off, cheap bcrypt."""
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(workdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                # No gzip: tumar does not compress either, so both send the same bytes.
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": database,
        "log_config": str(workdir / "log.config.yaml"),
        "media_store_path": str(workdir / "media"),
        "signing_key_path": str(workdir / f"{SERVER_NAME}.signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "report_stats": False,
        "enable_registration": True,
        "enable_registration_without_verification": True,
        "bcrypt_rounds": 4,  # low-cost hashing, like TUMAR_ARGON2_* in the benchmark
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "enable_metrics": False,
        **RATE_LIMITS_OFF,
    }


def log_config(log_file: Path) -> dict[str, Any]:
    """Python logging at WARNING into one file (no per-request lines)."""
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s - %(name)s - %(levelname)s - %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(log_file),
                "formatter": "plain",
                "level": "WARNING",
            }
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def database_config(backend: str, workdir: Path, pg_url: str, dbname: str | None) -> dict[str, Any]:
    if backend == "sqlite":
        return {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}}
    parts = urlsplit(pg_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    args: dict[str, Any] = {
        "user": parts.username or "postgres",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database": dbname,
        "cp_min": 5,
        "cp_max": 10,
    }
    if parts.password:
        args["password"] = parts.password
    return {"name": "psycopg2", "args": args}


# ---- the process ------------------------------------------------------------------------------


class SynapseProcess(ServerProcess):
    """``python -m synapse.app.homeserver`` from the Synapse venv, in ``workdir``."""

    def __init__(self, python: Path, workdir: Path, database: dict[str, Any]) -> None:
        super().__init__({}, workdir)
        self.postgres = database["name"] == "psycopg2"
        self.python = python
        self.config_path = workdir / "homeserver.yaml"
        self.log_path = workdir / "homeserver.log"  # Synapse's own log (WARNING and up)
        self.stdout_path = workdir / "stdout.log"  # anything printed before logging is set up
        (workdir / "media").mkdir(exist_ok=True)
        self.config = homeserver_config(workdir, self.port, database)
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        (workdir / "log.config.yaml").write_text(json.dumps(log_config(self.log_path)) + "\n")
        self._generate_keys()

    def _generate_keys(self) -> None:
        subprocess.run(
            [*self._command(), "--generate-keys"],
            env=_clean_env(),
            cwd=self._workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _command(self) -> list[str]:
        return [str(self.python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)]

    def _spawn(self) -> None:
        self._log = self.stdout_path.open("wb")
        self._proc = subprocess.Popen(
            self._command(),
            env=_clean_env(),
            cwd=self._workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def start(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        await super().start(timeout)

    def log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.stdout_path, self.log_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts) or "(no log)"


@contextlib.asynccontextmanager
async def synapse_database(backend: str, pg_url: str) -> AsyncIterator[str | None]:
    """For PostgreSQL a fresh database ``synapse_bench_<random>`` on the server of ``pg_url``
    (created through that URL's database), dropped afterwards; ``None`` for SQLite."""
    if backend == "sqlite":
        yield None
        return
    name = f"synapse_bench_{uuid.uuid4().hex[:8]}"
    await pg_admin(
        pg_url,
        f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
        "TEMPLATE template0",
    )
    try:
        yield name
    finally:
        await pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def synapse_served(
    backend: str, args: argparse.Namespace, python: Path, result: dict[str, Any]
) -> AsyncIterator[tuple[SynapseProcess, Api]]:
    """A started Synapse for ``backend`` and a client for it (the counterpart of
    ``harness.served``); records version, database and log details in ``result``, stops
    Synapse (SIGTERM, then SIGKILL) and removes its directory and database at the end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"synapse-bench-{backend}-"))
    try:
        async with synapse_database(backend, args.pg_url) as dbname:
            database = database_config(backend, workdir, args.pg_url, dbname)
            server = SynapseProcess(python, workdir, database)
            result["synapse_version"] = synapse_version(python)
            result["database"] = dbname or "sqlite file"
            try:
                await server.start()
                api = Api(server.base_url)
                try:
                    print(f"[{backend}] synapse pid {server.pid} on {server.base_url}", flush=True)
                    yield server, api
                finally:
                    await api.close()
            finally:
                result["server_exit_code"] = server.stop()
                result.update(keep_server_log(server.log_path, args.log_dir, f"synapse-{backend}"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def config_summary() -> dict[str, Any]:
    """What the report records about how Synapse was configured."""
    return {
        "bcrypt_rounds": 4,
        "rate_limits": "every rc_* at 1e6/s, burst 1e6",
        "listener": "127.0.0.1, client resource, compress false",
        "presence": "default (enabled)",
        "caches": "defaults",
    }


if __name__ == "__main__":  # manual check: python bench/synapse_server.py [VENV]
    print(ensure_venv(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_VENV))
