"""``tumar serve`` as a real process: SIGTERM drains parked long-polls and exits cleanly; full
garbage collections run on a timer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.harness import free_port

SERVER_ENV = {  # as bench/harness.py: open registration, cheap password hashes
    "TUMAR_REGISTRATION": "open",
    "TUMAR_RATE_LIMIT_ENABLED": "false",
    "TUMAR_ARGON2_TIME_COST": "1",
    "TUMAR_ARGON2_MEMORY_KIB": "8",
    "TUMAR_SERVER_NAME": "drain.test",
}


class Node:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        command = [sys.executable, "-m", "tumar.cli", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(tmp_path / "data")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, env={**os.environ, **SERVER_ENV, **env}, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"server exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"server did not start:\n{self.output()}"
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def node_env() -> dict[str, str]:
    return {"TUMAR_SHUTDOWN_GRACE_SECONDS": "5", "TUMAR_LOG_FORMAT": "json"}


@pytest.fixture
def node(tmp_path: Path, node_env: dict[str, str]) -> Iterator[Node]:
    n = Node(tmp_path, **node_env)
    yield n
    n.stop()


def _register_and_sync(url: str) -> tuple[dict[str, str], str]:
    client = f"{url}/_matrix/client/v3"
    reg = httpx.post(
        f"{client}/register",
        json={"username": "parked", "password": "a long pass phrase",
              "auth": {"type": "m.login.dummy"}},
        timeout=10,
    ).json()  # fmt: skip
    auth = {"Authorization": f"Bearer {reg['access_token']}"}
    first = httpx.get(f"{client}/sync", headers=auth, timeout=10).json()
    return auth, str(first["next_batch"])


def _park(url: str, auth: dict[str, str], since: str, out: dict[str, Any]) -> threading.Thread:
    """A 30 s long-poll in a thread; ``out`` gets the response and when it arrived."""

    def run() -> None:
        try:
            out["response"] = httpx.get(
                f"{url}/_matrix/client/v3/sync",
                params={"since": since, "timeout": 30000},
                headers=auth,
                timeout=40,
            )
        except httpx.HTTPError as exc:
            out["error"] = exc
        out["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_parked(url: str, count: int = 1) -> None:
    """Until the node reports ``count`` parked long-polls on /metrics."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics", timeout=5).text
        if f"tumar_sync_waiters {count}" in text.splitlines():
            return
        time.sleep(0.05)
    raise AssertionError("the long-poll never parked")


def test_sigterm_answers_parked_long_polls_and_exits_cleanly(node: Node) -> None:
    auth, since = _register_and_sync(node.url)
    out: dict[str, Any] = {}
    thread = _park(node.url, auth, since, out)
    _wait_parked(node.url)

    sent = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=10)
    assert "error" not in out, f"{out.get('error')!r}\n{node.output()}"
    response: httpx.Response = out["response"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["next_batch"], str) and body["next_batch"]
    assert out["at"] - sent < 3.0, "the parked long-poll was not answered at once"

    code = node.proc.wait(timeout=8)  # grace 5 s
    assert code == 0, node.output()
    assert time.monotonic() - sent < 5.0 + 3.0
    assert "Traceback" not in node.output()


@pytest.mark.parametrize(
    "node_env",
    [{"TUMAR_SHUTDOWN_DELAY_SECONDS": "1.5", "TUMAR_SHUTDOWN_GRACE_SECONDS": "5"}],
)
def test_readiness_turns_503_while_draining(node: Node) -> None:
    assert httpx.get(f"{node.url}/health/ready", timeout=5).status_code == 200
    auth, since = _register_and_sync(node.url)
    out: dict[str, Any] = {}
    thread = _park(node.url, auth, since, out)
    _wait_parked(node.url)

    sent = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    ready = None
    while time.monotonic() - sent < 1.2:  # within the shutdown delay the node still answers
        ready = httpx.get(f"{node.url}/health/ready", timeout=2)
        if ready.status_code == 503:
            break
        time.sleep(0.05)
    assert ready is not None and ready.status_code == 503, ready and ready.text
    assert ready.json()["status"] == "draining"
    # The long-poll waits out the delay (the node still serves), then answers at the drain.
    thread.join(timeout=10)
    assert out["response"].status_code == 200 and out["response"].json()["next_batch"]
    assert 1.0 <= out["at"] - sent < 4.5
    assert node.proc.wait(timeout=8) == 0, node.output()


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@pytest.mark.parametrize("node_env", [{"TUMAR_GC_FULL_INTERVAL_SECONDS": "0.2"}])
def test_full_garbage_collections_run_on_the_timer(node: Node) -> None:
    full = 'tumar_gc_collections{generation="2"}'
    first = httpx.get(f"{node.url}/metrics", timeout=5).text
    counted = _metric(first, full)
    assert counted is not None, first
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = httpx.get(f"{node.url}/metrics", timeout=5).text
        now = _metric(text, full)
        if now is not None and now >= counted + 2:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no timed full collections:\n{text}")
    pause = _metric(text, "tumar_gc_last_full_pause_seconds")
    assert pause is not None and 0 <= pause < 5


@pytest.mark.parametrize("node_env", [{"TUMAR_GC_FULL_INTERVAL_SECONDS": "0"}])
def test_no_timed_collections_when_turned_off(node: Node) -> None:
    text = httpx.get(f"{node.url}/metrics", timeout=5).text
    assert _metric(text, 'tumar_gc_collections{generation="0"}') is not None
    assert _metric(text, "tumar_gc_last_full_pause_seconds") is None
