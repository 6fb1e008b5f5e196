"""A private ``redis-server`` on a free loopback port, for tests that kill and restart Redis.

The shared Redis on 6379 is never touched: other people's tests use it.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from tests.support.harness import free_port


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(100):
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError(f"redis-server on port {self.port} did not start")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: Redis vanishes without closing anything politely."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None
