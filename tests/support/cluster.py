"""Several ``tumar serve`` processes sharing one PostgreSQL schema and one Redis: a cluster
on loopback for the scale-out tests (``tests/cluster/``).

Each :class:`Node` is a real child process on a free port with its own data directory and
log file; the nodes share the database schema (a fresh ``tumar_cluster_<hex>``, dropped
afterwards), the media directory, the master key and the Redis channel prefix, as the nodes
of a deployment behind a reverse proxy do. Only the first node migrates; the others start
after it is ready, with ``TUMAR_AUTO_MIGRATE=false``. :class:`RedisServer` is a private
``redis-server`` a test may kill and restart. Clients are :class:`tests.support.harness.Api`
over HTTP, one per node; a user's token works on every node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import httpx
from sqlalchemy import text

from tests.support.harness import Api, User, free_port, q
from tumar.store.db import Database

POSTGRES_URL = os.environ.get(
    "TUMAR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TUMAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_NAME = "cluster.test"
LONG_POLL_MS = 20_000
"""The long-poll timeout tests use: a delivery that needs it shows up as a ~20 s wait."""

# Throw-away test nodes: open registration, cheap password hashes, no rate limits (a test
# that checks them turns them on), large login bursts since every user registers from
# 127.0.0.1.
BASE_ENV = {
    "TUMAR_SERVER_NAME": SERVER_NAME,
    "TUMAR_REGISTRATION": "open",
    "TUMAR_RATE_LIMIT_ENABLED": "false",
    "TUMAR_LOGIN_RATE_BURST": "1000",
    "TUMAR_ARGON2_TIME_COST": "1",
    "TUMAR_ARGON2_MEMORY_KIB": "8",
    "TUMAR_LOG_LEVEL": "warning",
    "TUMAR_DATABASE_POOL_SIZE": "5",
}


# ---- services ------------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port or default_port)


def redis_command(port: int, *args: str, host: str = "127.0.0.1", timeout: float = 2.0) -> bytes:
    """Send one command to Redis over a raw socket (RESP); returns the raw reply. No client
    library, so the harness works before and without ``tumar.bus.redis``."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        reply = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65_536)
            reply += chunk
            if not chunk or reply.endswith(b"\r\n"):
                break
        return reply


def redis_available(url: str = REDIS_URL) -> bool:
    host, port = _host_port(url, 6379)
    with contextlib.suppress(OSError):
        return redis_command(port, "PING", host=host).startswith(b"+PONG")
    return False


def postgres_available() -> bool:
    host, port = _host_port(POSTGRES_URL, 5432)
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


class RedisServer:
    """A private ``redis-server`` on a free loopback port, which a test may kill and restart
    on the same port (the shared one on 6379 is never touched)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log_path = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if redis_command(self.port, "PING").startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: every client connection drops at once, as in a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def subscribers(self) -> int:
        """Client connections subscribed to a channel or a pattern (one per node's bus)."""
        reply = redis_command(self.port, "CLIENT", "LIST").decode(errors="replace")
        count = 0
        for line in reply.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if int(fields.get("sub", "0") or 0) + int(fields.get("psub", "0") or 0) > 0:
                count += 1
        return count


# ---- nodes ---------------------------------------------------------------------------------


class Node:
    """One ``tumar serve`` child process."""

    def __init__(self, name: str, workdir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self.env = dict(env)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def spawn(self) -> None:
        # The nodes get exactly the settings the cluster chose: nothing from the caller's own
        # TUMAR_* environment (a TUMAR_CONFIG there would silently change them).
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUMAR_")}
        env.update(self.env)
        cmd = [sys.executable, "-m", "tumar.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/_matrix/client/versions`` until it answers 200."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/_matrix/client/versions")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f} s:\n{self.log_tail()}")

    async def start(self) -> None:
        self.spawn()
        await self.wait_ready()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL when the node has not exited within ``timeout``."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        return self._proc.returncode

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, as when the machine under a node dies."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    def rss_kib(self) -> int:
        """Current resident set size (``VmRSS``) of the node process."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("VmRSS not found")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    @asynccontextmanager
    async def api(self, timeout: float = LONG_POLL_MS / 1000 + 15) -> AsyncIterator[Api]:
        """A client of this node (its own connection pool)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout) as client:
            yield Api(client)


class Cluster:
    """N nodes on one fresh PostgreSQL schema and (optionally) one Redis.

    ``env`` applies to every node, ``node_env[i]`` to node ``i`` only (for instance a
    database URL that goes through a :class:`tests.support.tcp_proxy.TcpProxy`).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 2,
        redis_url: str | None = REDIS_URL,
        env: Mapping[str, str] | None = None,
        node_env: list[dict[str, str]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.schema = f"tumar_cluster_{uuid.uuid4().hex[:10]}"
        self.channel_prefix = f"tumar-test-{uuid.uuid4().hex[:10]}"
        media = workdir / "media"
        media.mkdir(parents=True, exist_ok=True)
        master_key = base64.b64encode(secrets.token_bytes(32)).decode()
        shared = {
            **BASE_ENV,
            "TUMAR_DATABASE_URL": POSTGRES_URL,
            "TUMAR_DATABASE_SCHEMA": self.schema,
            "TUMAR_MEDIA_DIR": str(media),
            "TUMAR_MASTER_KEY": f"cluster:{master_key}",
            **(env or {}),
        }
        if redis_url is not None:
            shared["TUMAR_REDIS_URL"] = redis_url
            shared["TUMAR_REDIS_CHANNEL_PREFIX"] = self.channel_prefix
        extra = node_env or []
        self.nodes = [
            Node(f"node{i}", workdir, {**shared, **(extra[i] if i < len(extra) else {})})
            for i in range(nodes)
        ]
        self._schema_created = False

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await self._admin(f"CREATE SCHEMA {self.schema}")
        self._schema_created = True
        first, *others = self.nodes
        first.env["TUMAR_AUTO_MIGRATE"] = "true"
        await first.start()
        for node in others:
            node.env["TUMAR_AUTO_MIGRATE"] = "false"
            node.spawn()
        await asyncio.gather(*(node.wait_ready() for node in others))

    async def close(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(node.stop) for node in self.nodes))
        if self._schema_created:
            await self._admin(f"DROP SCHEMA {self.schema} CASCADE")
            self._schema_created = False

    def logs(self) -> str:
        """Every node's log tail, for an assertion message."""
        return "\n".join(f"--- {n.name} ({n.log_path})\n{n.log_tail()}" for n in self.nodes)

    @staticmethod
    async def _admin(statement: str) -> None:
        db = Database(POSTGRES_URL, pool_size=1)
        try:
            async with db.write() as conn:
                await conn.execute(text(statement))
        finally:
            await db.close()


# ---- a few Matrix calls the cluster tests share ----------------------------------------------


def timeline_filter(limit: int = 200) -> str:
    """An inline ``/sync`` filter with a timeline long enough that a test's syncs are never
    ``limited`` (a gap would hide lost or repeated events)."""
    return json.dumps({"room": {"timeline": {"limit": limit}}})


async def sync(
    api: Api, user: User, since: str | None = None, *, timeout_ms: int = 0, limit: int = 200
) -> dict[str, Any]:
    params: dict[str, Any] = {"timeout": timeout_ms, "filter": timeline_filter(limit)}
    return await api.sync(user, since, **params)


def room_timeline(body: Mapping[str, Any], room_id: str) -> list[dict[str, Any]]:
    room = body.get("rooms", {}).get("join", {}).get(room_id, {})
    events: list[dict[str, Any]] = room.get("timeline", {}).get("events", [])
    return events


def room_limited(body: Mapping[str, Any], room_id: str) -> bool:
    room = body.get("rooms", {}).get("join", {}).get(room_id, {})
    return bool(room.get("timeline", {}).get("limited", False))


def typing_users(body: Mapping[str, Any], room_id: str) -> list[str]:
    room = body.get("rooms", {}).get("join", {}).get(room_id, {})
    for ev in room.get("ephemeral", {}).get("events", []):
        if ev.get("type") == "m.typing":
            return list(ev.get("content", {}).get("user_ids", []))
    return []


def bodies(events: list[dict[str, Any]]) -> list[str]:
    """Bodies of the ``m.room.message`` events, in order."""
    return [e["content"]["body"] for e in events if e.get("type") == "m.room.message"]


async def room_messages(api: Api, user: User, room_id: str) -> list[dict[str, Any]]:
    """Every event of the room, oldest first, through ``/messages`` paging backwards."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"dir": "b", "limit": 100}
    for _ in range(100):
        page = await api.call("GET", f"/rooms/{q(room_id)}/messages", user=user, params=params)
        events.extend(page.get("chunk", []))
        if not page.get("chunk") or "end" not in page:
            break
        params["from"] = page["end"]
    events.reverse()
    return events


async def shared_room(creator_api: Api, creator: User, members: list[tuple[Api, User]]) -> str:
    """A public room made by ``creator``, joined by every member through their own node."""
    room_id = await creator_api.create_room(creator, preset="public_chat")
    for api, user in members:
        await api.join(user, room_id)
    return room_id
