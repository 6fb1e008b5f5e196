"""``tumar keys``: status, new-key, rotate, remove-key on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tumar.cli import main
from tumar.core.key_provider import new_key_line, parse_key_lines


def run(tmp_path: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(tmp_path)])


def key_ids(tmp_path: Path) -> list[str]:
    return [k for k, _ in parse_key_lines((tmp_path / "master.key").read_text())]


def test_new_key_rotate_remove(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUMAR_MASTER_KEY", raising=False)
    assert run(tmp_path, "migrate") == 0
    assert key_ids(tmp_path) == ["k1"]
    assert run(tmp_path, "keys", "status") == 0
    assert "current master key: k1" in capsys.readouterr().out

    assert run(tmp_path, "keys", "new-key") == 0
    assert "Back up the key file" in capsys.readouterr().out
    assert key_ids(tmp_path) == ["k2", "k1"]
    assert run(tmp_path, "keys", "new-key", "--id", "k1") == 1
    assert "already has" in capsys.readouterr().out
    assert key_ids(tmp_path) == ["k2", "k1"]

    assert run(tmp_path, "keys", "rotate", "--batch", "0") == 1
    assert run(tmp_path, "keys", "rotate") == 0
    out = capsys.readouterr().out
    assert "with master key k2" in out and "k1" in out
    assert run(tmp_path, "keys", "remove-key", "k2") == 1
    assert run(tmp_path, "keys", "remove-key", "k1") == 0
    assert key_ids(tmp_path) == ["k2"]
    assert run(tmp_path, "keys", "status") == 0
    assert "k2\t" in capsys.readouterr().out


def test_keys_from_the_environment_are_not_edited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUMAR_MASTER_KEY", new_key_line("env1"))
    assert run(tmp_path, "migrate") == 0
    assert run(tmp_path, "keys", "new-key") == 1
    assert "TUMAR_MASTER_KEY" in capsys.readouterr().out
    assert not (tmp_path / "master.key").exists()
    assert run(tmp_path, "keys", "rotate") == 0
