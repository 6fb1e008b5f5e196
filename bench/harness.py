"""Shared harness of the benchmarks in ``bench/``.

A ``tumar serve`` child process on a free loopback port (:class:`ServerProcess`) for a backend
(SQLite in a temporary directory, or a fresh PostgreSQL schema dropped afterwards:
:func:`backend_env`, :func:`served`), its CPU and peak RSS (:class:`CpuMeter`), percentiles
(:func:`summary_ms`), a minimal Matrix client (:class:`Api`, :func:`register_users`), the
common command-line options (:func:`add_backend_args`, :func:`add_run_args`) and the JSON
report (:func:`run_main`). In-process benchmarks use :func:`fresh_schema` and
:func:`bench_settings`. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from rawhttp import TRANSPORT_ERRORS, RawClient

if TYPE_CHECKING:
    from tumar.config import Settings

T = TypeVar("T")

# What a benchmark client's failed request raises, from httpx or from ``rawhttp``.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, *TRANSPORT_ERRORS)


BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-not-secret"
CLIENT_API = "/_matrix/client/v3"

# Low-cost Argon2 so that registering a few hundred users takes seconds, not minutes. Only for
# this throw-away benchmark server; production keeps the slow defaults.
SERVER_ENV = {
    "TUMAR_REGISTRATION": "open",
    "TUMAR_RATE_LIMIT_ENABLED": "false",
    "TUMAR_ARGON2_TIME_COST": "1",
    "TUMAR_ARGON2_MEMORY_KIB": "8",
    "TUMAR_LOG_LEVEL": "warning",
    "TUMAR_SERVER_NAME": "bench.local",
}


# ---- small helpers ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Linear-interpolated percentile (``p`` in 0..100); ``None`` for an empty list."""
    if not values:
        return None
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def summary_ms(values_s: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max/mean in milliseconds of a list of durations in seconds."""

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)

    return {
        "count": len(values_s),
        "p50_ms": ms(percentile(values_s, 50)),
        "p95_ms": ms(percentile(values_s, 95)),
        "p99_ms": ms(percentile(values_s, 99)),
        "max_ms": ms(max(values_s) if values_s else None),
        "mean_ms": ms(sum(values_s) / len(values_s) if values_s else None),
    }


async def gather_limited(limit: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run coroutine factories with at most ``limit`` in flight; results in input order."""
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def source_info() -> dict[str, Any]:
    """The server's source: git commit and locally modified files under src/ (read-only git)."""
    root = BENCH_DIR.parent

    def git(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["git", "--no-optional-locks", *args],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            return done.stdout.strip()
        return None

    changed = git("diff", "--name-only", "HEAD", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "src_files_modified": changed.splitlines() if changed else [],
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total"] = line.split(":", 1)[1].strip()
                break
    import sqlite3

    info["sqlite"] = sqlite3.sqlite_version
    return info


def machine_busy_seconds() -> float | None:
    """CPU seconds spent by the whole machine outside idle/iowait, from ``/proc/stat``."""
    with contextlib.suppress(OSError, ValueError):
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # minus idle, iowait
        return busy / os.sysconf("SC_CLK_TCK")
    return None


def postgres_cpu_ticks() -> dict[int, int]:
    """CPU ticks (user + system) of every local ``postgres`` process, by pid."""
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            if "(postgres)" not in text:
                continue
            fields = text.rsplit(")", 1)[1].split()
            ticks[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
    return ticks


def postgres_cpu_between(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds of postgres processes in a window; processes that exited are missed."""
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return max(0, used) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during one measured window: server, this client, and everything else."""

    def __init__(self, server: ServerProcess, postgres: bool) -> None:
        self._server = server
        self._postgres = postgres
        self._start: tuple[float | None, float, float | None, dict[int, int], float] | None = None
        self.result: dict[str, Any] = {}

    def _now(self) -> tuple[float | None, float, float | None, dict[int, int], float]:
        return (
            self._server.cpu_seconds(),
            time.process_time(),
            machine_busy_seconds(),
            postgres_cpu_ticks() if self._postgres else {},
            time.perf_counter(),
        )

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        s0, c0, m0, p0, t0 = self._start
        s1, c1, m1, p1, t1 = self._now()
        server = None if s0 is None or s1 is None else s1 - s0
        machine = None if m0 is None or m1 is None else m1 - m0
        client = c1 - c0
        db = postgres_cpu_between(p0, p1)
        other = (
            None if server is None or machine is None else max(0.0, machine - server - client - db)
        )
        wall = t1 - t0

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        self.result = {
            "wall_s": r(wall),
            "server_cpu_s": r(server),
            "client_cpu_s": r(client),
            "postgres_cpu_s": r(db) if self._postgres else None,
            "machine_busy_cpu_s": r(machine),
            "other_cpu_s": r(other),
            "server_cpu_util": r(server / wall) if server is not None and wall > 0 else None,
            "loadavg_end": Path("/proc/loadavg").read_text().split()[:3]
            if Path("/proc/loadavg").exists()
            else None,
        }

    @property
    def server_cpu(self) -> float | None:
        value: float | None = self.result.get("server_cpu_s")
        return value


# ---- the server process -------------------------------------------------------------------


class ServerProcess:
    """``tumar serve`` in a child process, with its peak RSS and CPU time from ``/proc``."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.postgres = "TUMAR_DATABASE_URL" in env
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._workdir = workdir
        self.log_path = workdir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.startup_s: float | None = None
        try:
            import psutil  # type: ignore[import-not-found,import-untyped,unused-ignore]

            self._psutil: Any = psutil
        except ImportError:
            self._psutil = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def _command(self) -> list[str]:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--data-dir", str(self._workdir / "data")]
        script = Path(sys.executable).with_name("tumar")
        if script.exists():
            return [str(script), *args]
        return [sys.executable, "-c", "from tumar.cli import run; run()", *args]

    def _spawn(self) -> None:
        env = {**os.environ, **SERVER_ENV, **self._env}
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            self._command(), env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the server and wait until it answers; ``startup_s`` is how long that took."""
        t0 = time.perf_counter()
        self._spawn()
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"server exited early; see {self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    r = await client.get("/_matrix/client/versions")
                    if r.status_code == 200:
                        self.startup_s = time.perf_counter() - t0
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"server did not start within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def peak_rss_bytes(self) -> int | None:
        """Peak resident set size so far: ``VmHWM`` from ``/proc`` on Linux; elsewhere psutil
        when installed (a true peak only on Windows, else the current RSS)."""
        if self._proc is None:
            return None
        hwm = self._vm_hwm()
        if hwm is not None or self._psutil is None:
            return hwm
        with contextlib.suppress(Exception):
            mem = self._psutil.Process(self.pid).memory_info()
            return int(getattr(mem, "peak_wset", 0) or mem.rss)
        return None

    def _vm_hwm(self) -> int | None:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far."""
        if self._proc is None:
            return None
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # utime, stime
            return ticks / os.sysconf("SC_CLK_TCK")
        return None

    def stop(self) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._log is not None:
            self._log.close()
        return self._proc.returncode


class PySpy:
    """Optional: sample the server with ``py-spy record`` during one phase (``--profile``).

    Only while a thread holds the GIL, unless ``BENCH_PYSPY_FLAGS`` says otherwise:
    ``BENCH_PYSPY_FLAGS=--threads`` samples every thread, so that SQLite's own work (it runs
    without the GIL) shows too, at several times the overhead."""

    def __init__(self, directory: Path | None, pid: int, name: str) -> None:
        self._directory = directory
        self._pid = pid
        self._name = name
        self._proc: subprocess.Popen[bytes] | None = None
        self.outputs: list[str] = []

    def __enter__(self) -> PySpy:
        if self._directory is None:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            print("py-spy not found; install it with `pip install py-spy`", file=sys.stderr)
            return self
        self._directory.mkdir(parents=True, exist_ok=True)
        out = self._directory / f"{self._name}.txt"
        self.outputs.append(str(out))
        cmd = [exe, "record", "--pid", str(self._pid), "--rate", "250"]
        cmd += os.environ.get("BENCH_PYSPY_FLAGS", "--gil").split()
        cmd += ["--format", "raw", "--output", str(out)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # let it attach
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)


# ---- a minimal Matrix client ----------------------------------------------------------------


class MatrixError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body


@dataclass
class User:
    user_id: str
    token: str
    http: RawClient | httpx.AsyncClient
    txn: int = 0

    def next_txn(self) -> str:
        self.txn += 1
        return f"b{self.txn}-{uuid.uuid4().hex[:8]}"


class Api:
    """The handful of Client-Server API calls the benchmark needs.

    Every user gets its own keep-alive client (``rawhttp.RawClient``, at most 2 connections),
    like separate devices. The lean client keeps the benchmark's own CPU small: with httpx it
    took about as much CPU per request as the server, from the same two cores.
    """

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url + CLIENT_API
        self._clients: list[RawClient] = []
        self.anonymous = self.new_client()

    @property
    def retries(self) -> int:
        """Requests sent again because the server had closed their keep-alive connection."""
        return sum(c.resent for c in self._clients)

    def new_client(self) -> RawClient:
        client = RawClient(self._base_url, timeout=60.0, max_connections=2)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients), return_exceptions=True)

    async def call(
        self,
        method: str,
        path: str,
        user: User | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        headers = {"content-type": "application/json"}
        http = self.anonymous
        if user is not None:
            headers["authorization"] = f"Bearer {user.token}"
            http = user.http
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        content = orjson.dumps(body) if body is not None else None
        r = await http.request(
            method, path, headers=headers, content=content, params=params, **extra
        )
        data = orjson.loads(r.content) if r.content else {}
        if r.status_code != 200:
            raise MatrixError(r.status_code, data)
        return data

    async def register(self, username: str) -> User:
        body: dict[str, Any] = {
            "username": username,
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy"},
            "initial_device_display_name": "bench",
        }
        try:
            data = await self.call("POST", "/register", body=body)
        except MatrixError as exc:  # a server that insists on a UIA session first
            if exc.status != 401 or not isinstance(exc.body, dict) or "session" not in exc.body:
                raise
            body["auth"]["session"] = exc.body["session"]
            data = await self.call("POST", "/register", body=body)
        return User(data["user_id"], data["access_token"], self.new_client())

    async def create_room(self, user: User, name: str) -> str:
        body = {"preset": "public_chat", "name": name}
        room_id: str = (await self.call("POST", "/createRoom", user, body))["room_id"]
        return room_id

    async def join(self, user: User, room_id: str) -> None:
        await self.call("POST", f"/join/{quote(room_id, safe='')}", user, {})

    async def send_text(self, user: User, room_id: str, content: dict[str, Any]) -> str:
        path = f"/rooms/{quote(room_id, safe='')}/send/m.room.message/{user.next_txn()}"
        event_id: str = (await self.call("PUT", path, user, content))["event_id"]
        return event_id

    async def create_filter(self, user: User, flt: dict[str, Any]) -> str:
        path = f"/user/{quote(user.user_id, safe='')}/filter"
        filter_id: str = (await self.call("POST", path, user, flt))["filter_id"]
        return filter_id

    async def sync(
        self, user: User, since: str | None, filter_id: str | None, timeout_ms: int
    ) -> Any:
        params: dict[str, Any] = {"timeout": timeout_ms}
        if since is not None:
            params["since"] = since
        if filter_id is not None:
            params["filter"] = filter_id
        return await self.call("GET", "/sync", user, params=params, timeout=timeout_ms / 1000 + 30)


async def register_users(api: Api, prefix: str, count: int, concurrency: int) -> list[User]:
    return await gather_limited(
        concurrency, [lambda i=i: api.register(f"{prefix}{i}") for i in range(count)]
    )


async def room_with_members(api: Api, users: list[User], name: str, concurrency: int) -> str:
    room_id = await api.create_room(users[0], name)
    await gather_limited(concurrency, [lambda u=u: api.join(u, room_id) for u in users[1:]])
    return room_id


# ---- delivery book-keeping (matrix_bench (b), to_device_bench) --------------------------


class Delivery:
    """Book-keeping of which member saw which message, and when."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.sent_at: dict[int, float] = {}
        self.send_latency: list[float] = []
        self.latencies: list[float] = []
        self.seen: dict[int, int] = {}
        self.all_seen: dict[int, asyncio.Event] = {}
        self.fanout_done: dict[int, float] = {}
        self.last_delivery = 0.0
        self.limited_responses = 0
        self.sync_responses = 0
        self.sync_errors: list[str] = []
        self.duplicates = 0
        self._got: set[tuple[str, int]] = set()

    def expect(self, seq: int) -> asyncio.Event:
        ev = self.all_seen.setdefault(seq, asyncio.Event())
        return ev

    def record(self, member: str, seq: int, received: float) -> None:
        sent = self.sent_at.get(seq)
        if sent is None:  # the sync answered before the sender noted the start: impossible
            return
        if (member, seq) in self._got:  # the same event in two responses: a server bug
            self.duplicates += 1
            return
        self._got.add((member, seq))
        if seq >= 0:
            self.latencies.append(received - sent)
            self.last_delivery = max(self.last_delivery, received)
        n = self.seen.get(seq, 0) + 1
        self.seen[seq] = n
        if n == self.members:
            self.fanout_done[seq] = received - sent
            self.expect(seq).set()


async def sync_forever(
    api: Api, user: User, since: str, filter_id: str | None, book: Delivery, timeout_ms: int
) -> AsyncIterator[tuple[Any, float]]:
    """Long-poll ``/sync`` for ever: each response and the time it was received. Errors are
    noted in ``book.sync_errors`` and retried after half a second."""
    while True:
        try:
            body = await api.sync(user, since, filter_id, timeout_ms)
        except (MatrixError, *CLIENT_ERRORS) as exc:
            book.sync_errors.append(repr(exc)[:200])
            await asyncio.sleep(0.5)
            continue
        received = time.perf_counter()
        book.sync_responses += 1
        since = body["next_batch"]
        yield body, received


# ---- backends ---------------------------------------------------------------------------------


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def pg_admin(url: str, sql: str) -> Any:
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def backend_env(backend: str, pg_url: str) -> Any:
    """Server environment for one backend; a fresh PostgreSQL schema, dropped afterwards."""
    if backend == "sqlite":
        yield {}, {}
        return
    schema = f"tumar_bench_{uuid.uuid4().hex[:8]}"
    version = await pg_admin(pg_url, "SHOW server_version")
    await pg_admin(pg_url, f'CREATE SCHEMA "{schema}"')
    try:
        env = {"TUMAR_DATABASE_URL": pg_url, "TUMAR_DATABASE_SCHEMA": schema}
        yield env, {"postgres_version": version, "schema": schema}
    finally:
        await pg_admin(pg_url, f'DROP SCHEMA "{schema}" CASCADE')


def keep_server_log(log: Path, directory: Path, backend: str) -> dict[str, Any]:
    """Copy the server's log next to the results; count its errors and tracebacks."""
    if not log.exists():
        return {}
    text = log.read_text(errors="replace")
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / f"server-{time.strftime('%Y%m%d-%H%M%S')}-{backend}.log"
    kept.write_text(text)
    return {
        "server_log": str(kept),
        "server_log_errors": sum(1 for line in text.splitlines() if " ERROR " in line),
        "server_log_tracebacks": text.count("Traceback (most recent call last)"),
    }


def messages_for(members: int, messages: int, max_deliveries: int) -> int:
    """Messages for one latency run: ``messages``, fewer for big rooms (deliveries budget)."""
    if max_deliveries <= 0:
        return messages
    return max(1, min(messages, max_deliveries // members))


@contextlib.asynccontextmanager
async def fresh_schema(backend: str, pg_url: str, prefix: str) -> AsyncIterator[str | None]:
    """For PostgreSQL a new schema ``<prefix><random>`` in ``pg_url``, dropped afterwards;
    ``None`` for SQLite. For the benchmarks that run tumar in-process."""
    if backend != "postgres":
        yield None
        return
    schema = f"{prefix}{uuid.uuid4().hex[:8]}"
    await pg_admin(pg_url, f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await pg_admin(pg_url, f'DROP SCHEMA "{schema}" CASCADE')


async def in_scratch(
    backend: str,
    pg_url: str,
    name: str,
    body: Callable[[Path, str | None], Awaitable[T]],
) -> T:
    """Run ``body(workdir, schema)`` in a fresh temporary directory and, for PostgreSQL, a
    fresh schema (see :func:`fresh_schema`); both are removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"tumar-{name}-{backend}-") as tmp:
        async with fresh_schema(backend, pg_url, f"{name}_") as schema:
            return await body(Path(tmp), schema)


def bench_settings(
    backend: str, workdir: Path, pg_url: str, schema: str | None, **overrides: Any
) -> Settings:
    """In-process ``Settings`` at benchmark cost (cheap Argon2): SQLite in ``workdir``, or
    PostgreSQL ``pg_url`` in ``schema``."""
    from tumar.config import Settings

    options: dict[str, Any] = {
        "server_name": "bench.local",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "data_dir": workdir,
        **overrides,
    }
    if backend == "postgres":
        options |= {"database_url": pg_url, "database_schema": schema}
    return Settings(**options)


@contextlib.asynccontextmanager
async def served(
    backend: str,
    args: argparse.Namespace,
    result: dict[str, Any],
    *,
    tag: str = "",
    env: dict[str, str] | None = None,
    log_tail: int = 0,
) -> AsyncIterator[tuple[ServerProcess, Api]]:
    """A started server for ``backend`` and a client for it, in a temporary directory
    (``tumar-<tag>bench-<backend>-*``). Records the backend's details, then the server's exit
    code, log tail (``log_tail`` lines, if any) and kept log (``<tag><backend>``) in
    ``result``; stops the server and removes the directory at the end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"tumar-{tag}bench-{backend}-"))
    try:
        async with backend_env(backend, args.pg_url) as (backend_vars, info):
            result.update(info)
            server = ServerProcess({**backend_vars, **(env or {})}, workdir)
            await server.start()
            api = Api(server.base_url)
            try:
                print(f"[{backend}] server pid {server.pid} on {server.base_url}", flush=True)
                yield server, api
            finally:
                await api.close()
                result["server_exit_code"] = server.stop()
                if log_tail:
                    result["server_log_tail"] = server.log_tail(log_tail)
                result.update(keep_server_log(server.log_path, args.log_dir, f"{tag}{backend}"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---- command line and report ------------------------------------------------------------------


def backend_list(choice: str) -> list[str]:
    """``--backend`` as the backends to run, in order."""
    return ["sqlite", "postgres"] if choice == "both" else [choice]


def add_backend_args(p: argparse.ArgumentParser, default: str = "sqlite") -> None:
    """``--backend sqlite|postgres|both`` and ``--pg-url``."""
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default=default)
    p.add_argument(
        "--pg-url",
        default=os.environ.get("TUMAR_BENCH_POSTGRES_URL", DEFAULT_PG_URL),
        help="PostgreSQL URL (a fresh schema is created in it and dropped afterwards)",
    )


def add_run_args(p: argparse.ArgumentParser) -> None:
    """``--max-seconds``, ``--log-dir`` and ``--output`` of the server benchmarks."""
    p.add_argument("--max-seconds", type=float, default=600.0, help="hard limit for the whole run")
    p.add_argument(
        "--log-dir",
        type=Path,
        default=RESULTS_DIR / "logs",
        help="where the server logs are kept (default bench/results/logs)",
    )
    p.add_argument("--output", type=Path, help="JSON result file (default bench/results/...)")


async def run_backends(
    args: argparse.Namespace,
    run_backend: Callable[[str, argparse.Namespace], Awaitable[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """``run_backend`` for each backend of ``--backend`` in turn, within ``--max-seconds``."""
    results = []
    async with asyncio.timeout(args.max_seconds):
        for backend in backend_list(args.backend):
            results.append(await run_backend(backend, args))
    return results


def run_main(
    args: argparse.Namespace,
    argv: list[str] | None,
    run_backend: Callable[[str, argparse.Namespace], Awaitable[dict[str, Any]]],
    render: Callable[[list[dict[str, Any]]], str],
    *,
    server_env: dict[str, str],
    name: str,
) -> tuple[Path, dict[str, Any]] | None:
    """Run every backend, print the rendered results and write the JSON report (to
    ``--output``, default ``bench/results/<name>-<time>-<backend>.json``). Returns the report
    and where it went; ``None`` if the run went over ``--max-seconds``."""
    started = time.time()
    try:
        results = asyncio.run(run_backends(args, run_backend))
    except TimeoutError:
        print(f"benchmark stopped: over --max-seconds={args.max_seconds:g}", file=sys.stderr)
        return None
    print()
    print(render(results))
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "server_env": server_env,
        "machine": machine_info(),
        "source": source_info(),
        "results": results,
    }
    out: Path | None = args.output
    if out is None:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
        out = RESULTS_DIR / f"{name}-{stamp}-{args.backend}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out, report
