"""Diagnostic: how many SQL statements one request costs (send, and a woken ``/sync``).

Runs tumar in this process (uvicorn on 127.0.0.1, SQLite in a temporary directory, or
PostgreSQL with ``--postgres``), counts the statements that reach the database driver through a
SQLAlchemy ``before_cursor_execute`` listener, and drives it over HTTP with the same client
code as ``matrix_bench.py`` (``harness.py``). It changes nothing in the server; it only
observes.

    python bench/count_queries.py [--members 3] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import harness  # noqa: E402


class Counting:
    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.on = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.on:
            self.statements[_label(statement)] += 1

    @contextlib.contextmanager
    def window(self) -> Any:
        self.statements.clear()
        self.on = True
        try:
            yield self
        finally:
            self.on = False


def _label(statement: str) -> str:
    """A short name for a statement: verb and main table(s)."""
    s = " ".join(statement.split())
    verb = s.split(" ", 1)[0].upper()
    tables = re.findall(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)", s, re.IGNORECASE)
    seen = list(dict.fromkeys(t for t in tables if t.lower() not in ("select",)))
    return f"{verb} {','.join(seen)}".strip()


def show(title: str, counts: Counter[str], per: int = 1) -> None:
    total = sum(counts.values())
    print(f"-- {title}: {total / per:.1f} statements per request")
    for label, n in counts.most_common():
        print(f"   {n / per:5.1f}  {label}")


async def main_async(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy import event

    from tumar.app import build_app
    from tumar.config import Settings
    from tumar.core.services import build_services

    for k, v in harness.SERVER_ENV.items():
        os.environ.setdefault(k, v)
    workdir = Path(tempfile.mkdtemp(prefix="tumar-count-"))
    schema = None
    extra: dict[str, Any] = {}
    if args.postgres:
        schema = f"tumar_count_{uuid.uuid4().hex[:8]}"
        await harness.pg_admin(args.pg_url, f'CREATE SCHEMA "{schema}"')
        extra = {"database_url": args.pg_url, "database_schema": schema}
    settings = Settings(data_dir=workdir, **extra)
    svc = build_services(settings)
    counting = Counting()
    event.listen(svc.db.engine.sync_engine, "before_cursor_execute", counting)
    app = build_app(settings, svc)
    port = harness.free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    await svc.start()
    serve = asyncio.create_task(server.serve())
    api = harness.Api(f"http://127.0.0.1:{port}")
    try:
        for _ in range(400):  # up to 20 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        users = await harness.register_users(api, "q", args.members + 1, 4)
        sender, readers = users[0], users[1:]
        room_id = await harness.room_with_members(api, users, "count", 4)
        flt = {"room": {"timeline": {"limit": 100}}}
        fids = [await api.create_filter(u, flt) for u in readers]
        since = [
            (await api.sync(u, None, f, 0))["next_batch"]
            for u, f in zip(readers, fids, strict=True)
        ]

        rounds = 5
        with counting.window():
            for _ in range(rounds):
                await api.send_text(sender, room_id, {"msgtype": "m.text", "body": "x"})
        show(f"PUT /send (one sender, room of {args.members + 1})", counting.statements, rounds)
        one_send = Counter({k: v // rounds for k, v in counting.statements.items()})

        # One long-poll per reader, parked; then one message wakes them all.
        async def poll(u: harness.User, s: str, f: str) -> str:
            body = await api.sync(u, s, f, 30_000)
            return str(body["next_batch"])

        for _ in range(2):  # bring the tokens up to date
            since = [await poll(u, s, f) for u, s, f in zip(readers, since, fids, strict=True)]
            await api.send_text(sender, room_id, {"msgtype": "m.text", "body": "y"})
        since = [await poll(u, s, f) for u, s, f in zip(readers, since, fids, strict=True)]
        with counting.window():
            tasks = [
                asyncio.create_task(poll(u, s, f))
                for u, s, f in zip(readers, since, fids, strict=True)
            ]
            await asyncio.sleep(0.5)  # all parked
            parked = dict(counting.statements)
            await api.send_text(sender, room_id, {"msgtype": "m.text", "body": "z"})
            await asyncio.gather(*tasks)
        parked_counts: Counter[str] = Counter(parked)
        show(
            f"GET /sync long-poll, before parking ({len(readers)} members)",
            parked_counts,
            len(readers),
        )
        woken = counting.statements - parked_counts - one_send
        show("GET /sync after the wake-up, per member", woken, len(readers))
        total = (sum(parked_counts.values()) + sum(woken.values())) / len(readers)
        print(f"== per member and message: {total:.1f} statements (plus COMMIT/ROLLBACK)")
    finally:
        await api.close()
        server.should_exit = True
        await serve
        await svc.close()
        if schema is not None:
            await harness.pg_admin(args.pg_url, f'DROP SCHEMA "{schema}" CASCADE')
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--postgres", action="store_true")
    p.add_argument(
        "--pg-url", default=os.environ.get("TUMAR_BENCH_POSTGRES_URL", harness.DEFAULT_PG_URL)
    )
    return asyncio.run(main_async(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
