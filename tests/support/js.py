"""Running the matrix-js-sdk scenarios of ``tests/js`` (Node) from the real-client tests.

Each scenario is one ``tests/js/<name>.mjs`` file, configured through ``TUMAR_*`` environment
variables, that prints one JSON line on stdout (see ``tests/js/common.mjs``).
Set-up: ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need

JS_DIR = Path(__file__).resolve().parents[1] / "js"
# The scenario's own hard timeout is this much shorter than ours, so that it reports first.
MARGIN_S = 10
STDERR_TAIL = 20_000


@functools.cache
def require_node() -> str:
    """The path of a Node.js 20+ with the npm packages installed; skips (fails in CI) if not."""
    node = shutil.which("node")
    need(node is not None, "node is not installed (Node.js 20+ is needed for matrix-js-sdk tests)")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = version.stdout.strip().lstrip("v").split(".")[0]
    need(major.isdigit() and int(major) >= 20, f"Node.js 20+ is needed, found {version.stdout!r}")
    need(
        (JS_DIR / "node_modules" / "matrix-js-sdk" / "package.json").is_file(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js`",
    )
    return node


async def run_scenario(name: str, env: Mapping[str, str], *, timeout_s: int) -> dict[str, Any]:
    """Run ``tests/js/<name>.mjs`` with ``env`` and return its JSON result.

    Fails the test when the scenario does not finish within ``timeout_s``, prints no JSON line,
    exits non-zero or reports ``"ok": false``. ``TUMAR_JS_TIMEOUT_MS`` defaults to a little
    less than ``timeout_s``.
    """
    node = require_node()
    script = JS_DIR / f"{name}.mjs"
    assert script.is_file(), script
    proc = await asyncio.create_subprocess_exec(
        node,
        str(script),
        cwd=JS_DIR,
        env={
            **os.environ,
            "TUMAR_JS_TIMEOUT_MS": str((timeout_s - MARGIN_S) * 1000),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node scenario {name} did not finish within {timeout_s} s")
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON result (exit {proc.returncode})\nstdout:\n{stdout}\nstderr:\n{stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert proc.returncode == 0 and result.get("ok") is True, (
        f"scenario {name} failed (exit {proc.returncode}): {result.get('error')}\n"
        f"steps: {result.get('steps')}\nfailed requests: {result.get('failed_requests')}\n"
        f"stderr (js-sdk log tail):\n{stderr[-STDERR_TAIL:]}"
    )
    return result
