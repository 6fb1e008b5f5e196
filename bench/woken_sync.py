"""Diagnostic: server CPU of one woken ``/sync``, in this process, without HTTP.

``matrix_bench.py`` and ``compare.py`` measure deliveries over real sockets, with the client
on the same two cores; their CPU figures move by 20 % from run to run. This benchmark calls
the ASGI application directly (no uvicorn, no sockets, no client library), so what it times
is tumar's own work from the app's entry to the answer's last byte: N members park a
long-poll, one message wakes them all, and the process CPU of each phase is divided by N.
Repeated rounds give a median steady enough to compare two versions of the code.

    python bench/woken_sync.py [--backend sqlite|postgres] [--members 200] [--rounds 15]
                               [--cprofile out.prof]

Figures are per member: *park* (the request that finds nothing new and waits) and *wake*
(from the send until every member has its answer, the send included: under 1 % of it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import orjson

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import harness  # noqa: E402

CLIENT = "/_matrix/client/v3"


class AsgiClient:
    """Requests straight into an ASGI app: one scope, one body message, the answer collected."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = [(b"content-type", b"application/json"), (b"host", b"bench.local")]
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        full = CLIENT + path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(full),
            "raw_path": full.encode(),
            "query_string": urlencode(params or {}).encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8008),
        }
        payload = orjson.dumps(body) if body is not None else b""
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.Event().wait()  # the client never goes away
            raise AssertionError("unreachable")

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        data = orjson.loads(b"".join(chunks) or b"{}")
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tumar.app import build_app
    from tumar.core.services import build_services

    for k, v in harness.SERVER_ENV.items():
        os.environ.setdefault(k, v)

    async def body(workdir: Path, schema: str | None) -> dict[str, Any]:
        settings = harness.bench_settings(
            args.backend,
            workdir,
            args.pg_url,
            schema,
            registration="open",
            rate_limit_enabled=False,
        )
        svc = build_services(settings)
        await svc.start()
        try:
            return await measure(args, AsgiClient(build_app(settings, svc)))
        finally:
            await svc.close()

    return await harness.in_scratch(args.backend, args.pg_url, "woken", body)


async def measure(args: argparse.Namespace, api: AsgiClient) -> dict[str, Any]:
    tokens = []
    for i in range(args.members + 1):
        auth = {"type": "m.login.dummy"}
        reg = {"username": f"w{i}", "password": "secret-secret", "auth": auth}
        tokens.append((await api.call("POST", "/register", body=reg))["access_token"])
    sender, members = tokens[0], tokens[1:]
    room = (await api.call("POST", "/createRoom", sender, {"preset": "public_chat"}))["room_id"]
    for t in members:
        await api.call("POST", f"/join/{quote(room)}", t, {})
    # A stored filter, as Element and the other benchmarks use.
    flt = {"room": {"timeline": {"limit": 100}}}
    filters: dict[str, str] = {}
    since = []
    for i, t in enumerate(members, start=1):
        user = f"@w{i}:bench.local"
        made = await api.call("POST", f"/user/{quote(user)}/filter", t, flt)
        filters[t] = made["filter_id"]
        first = await api.call("GET", "/sync", t, params={"timeout": 0, "filter": filters[t]})
        since.append(first["next_batch"])

    extra = [0]

    async def poll(token: str, s: str) -> str:
        """Long-poll until the room's message comes (other news, such as the members'
        presence in the warm-up round, comes first and is counted)."""
        while True:
            params = {"since": s, "timeout": 30_000, "filter": filters[token]}
            answer = await api.call("GET", "/sync", token, params=params)
            s = str(answer["next_batch"])
            if room in answer["rooms"]["join"]:
                return s
            extra[0] += 1

    park: list[float] = []
    wake: list[float] = []
    profiler = cProfile.Profile() if args.cprofile else None
    for n in range(args.rounds + 1):  # round 0 warms the caches up, uncounted
        c0 = time.process_time()
        tasks = [asyncio.ensure_future(poll(t, s)) for t, s in zip(members, since, strict=True)]
        for _ in range(50):  # every request reaches its wait (no timer: only yields)
            await asyncio.sleep(0)
        c1 = time.process_time()
        if profiler is not None and n:
            profiler.enable()
        txn = f"t{n}"
        await api.call(
            "PUT",
            f"/rooms/{quote(room)}/send/m.room.message/{txn}",
            sender,
            {"msgtype": "m.text", "body": f"message {n}"},
        )
        since = await asyncio.gather(*tasks)
        if profiler is not None:
            profiler.disable()
        c2 = time.process_time()
        if not n:
            extra[0] = 0  # the warm-up's
        else:
            park.append((c1 - c0) / args.members * 1000)
            wake.append((c2 - c1) / args.members * 1000)
    if profiler is not None:
        profiler.dump_stats(args.cprofile)
    return {
        "backend": args.backend,
        "members": args.members,
        "rounds": args.rounds,
        "park_ms_median": round(statistics.median(park), 3),
        "wake_ms_median": round(statistics.median(wake), 3),
        "wake_ms_min": round(min(wake), 3),
        "wake_ms_max": round(max(wake), 3),
        "other_answers": extra[0],  # answers without the message in the counted rounds
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument(
        "--pg-url", default=os.environ.get("TUMAR_BENCH_POSTGRES_URL", harness.DEFAULT_PG_URL)
    )
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--cprofile", type=Path, help="write a cProfile of the wake phases here")
    args = p.parse_args(argv)
    if args.members < 1 or args.rounds < 1:
        p.error("--members and --rounds must be positive")
    result = asyncio.run(run(args))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
