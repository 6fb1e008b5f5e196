"""The `tumar` command line: accounts, migrations, and `serve --demo` as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.harness import free_port
from tumar.cli import main
from tumar.demo import DEMO_PASSWORD


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


def test_user_create_list_deactivate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "migrate") == 0
    assert run(tmp_path, "user", "create", "aigerim", "--password", "pw-123456789", "--admin") == 0
    assert "Created @aigerim:localhost" in capsys.readouterr().out
    assert run(tmp_path, "user", "create", "aigerim", "--password", "other") == 1
    assert "taken" in capsys.readouterr().err
    assert run(tmp_path, "user", "list") == 0
    assert "@aigerim:localhost\taigerim\tadmin" in capsys.readouterr().out
    assert run(tmp_path, "user", "deactivate", "aigerim") == 0
    assert run(tmp_path, "user", "list") == 0
    assert "deactivated" in capsys.readouterr().out.splitlines()[-1]
    assert run(tmp_path, "user", "deactivate", "nobody") == 1


def test_invalid_config_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tumar.toml"
    config.write_text('server_nmae = "typo.example"\n')
    assert main(["migrate", "--config", str(config)]) == 2
    assert "server_nmae" in capsys.readouterr().err


def test_serve_demo_lets_a_newcomer_log_in_and_chat(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TUMAR_ARGON2_TIME_COST": "1", "TUMAR_ARGON2_MEMORY_KIB": "8"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tumar.cli",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/_matrix/client/v3"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_matrix/client/versions", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        login = httpx.post(
            f"{base}/login",
            json={"type": "m.login.password", "user": "bob", "password": DEMO_PASSWORD},
        ).json()
        auth = {"Authorization": f"Bearer {login['access_token']}"}
        rooms = httpx.get(f"{base}/joined_rooms", headers=auth).json()["joined_rooms"]
        assert len(rooms) == 1
        sent = httpx.put(
            f"{base}/rooms/{rooms[0]}/send/m.room.message/1",
            headers=auth,
            json={"msgtype": "m.text", "body": "Hello from the demo"},
        )
        assert sent.status_code == 200
        sync = httpx.get(f"{base}/sync", headers=auth).json()
        bodies = [
            e["content"].get("body") for e in sync["rooms"]["join"][rooms[0]]["timeline"]["events"]
        ]
        assert bodies[-2:] == ["Welcome to tumar!", "Hello from the demo"]
        # The demo directory: alice administers the ministry, bob finds dana by her name.
        found = httpx.post(
            f"{base}/user_directory/search", headers=auth, json={"search_term": "омарова"}
        ).json()["results"]
        assert [r["user_id"] for r in found] == ["@dana:localhost"]
        assert found[0]["kz.tumar.position"] == "Analyst"
        alice = httpx.post(
            f"{base}/login",
            json={"type": "m.login.password", "user": "alice", "password": DEMO_PASSWORD},
        ).json()
        people = httpx.get(
            f"http://127.0.0.1:{port}/_tumar/admin/v1/people",
            headers={"Authorization": f"Bearer {alice['access_token']}"},
        ).json()
        assert people["total"] == 3
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Demo users: @alice:localhost" in out


def test_role_grant_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "user", "create", "erlan", "--password", "a-long-pass-phrase") == 0
    assert run(tmp_path, "role", "grant", "erlan", "security_officer") == 0
    assert run(tmp_path, "role", "grant", "erlan", "org_admin", "--org", "nowhere") == 1
    assert "nowhere" in capsys.readouterr().err
    assert run(tmp_path, "role", "list") == 0
    assert capsys.readouterr().out.splitlines() == ["@erlan:localhost\tsecurity_officer\t*"]
    assert run(tmp_path, "role", "revoke", "@erlan:localhost", "security_officer") == 0
    assert run(tmp_path, "role", "revoke", "erlan", "security_officer") == 1
    capsys.readouterr()
    assert run(tmp_path, "role", "list") == 0
    assert capsys.readouterr().out == ""
