"""Rollout dashboard benchmark: the figures for a whole government of 100,000 officials.

Builds a tree (1 government, ``--ministries`` ministries, ``--departments`` departments each,
``--units`` units per department) and ``--people`` officials spread over the units, written
straight into the tables in bulk (not through the services: this measures the reads). About
70 % of the people have an account, half of those a device seen in the last week; most have an
activation code; deadlines are set on the government and on a few ministries.

Then it times, in-process and repeatedly:

* ``dashboard``: ``RolloutService.dashboard`` for the whole tree (an operator);
* ``GET /rollout``: the same through the admin API (routing, auth, JSON of every organisation);
* ``ministry``: the dashboard of one ministry's subtree;
* ``overdue page`` and ``timeseries (30 d)``.

SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh schema ``rollout_bench_<random>``
in ``--pg-url`` (default the test database at 127.0.0.1:5432), dropped afterwards.

    python bench/rollout_bench.py --backend both
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from harness import add_backend_args, backend_list, bench_settings, in_scratch
from tumar.app import build_app
from tumar.core.directory import cli_actor
from tumar.core.services import Services, build_services
from tumar.store.db import Database
from tumar.store.schema import (
    access_tokens,
    activation_codes,
    devices,
    organisations,
    people,
    users,
)

DAY_MS = 86_400_000
CHUNK = 5_000


async def insert_chunks(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.write() as conn:
            await conn.execute(insert(table), rows[start : start + CHUNK])


async def fill(svc: Services, args: argparse.Namespace) -> dict[str, int]:
    rng = random.Random(4)
    now = svc.clock.now_ms()
    today = time.strftime("%Y-%m-%d", time.gmtime(now / 1000))
    past = time.strftime("%Y-%m-%d", time.gmtime(now / 1000 - 10 * 86_400))
    org_rows: list[dict[str, Any]] = []
    units: list[str] = []

    def org(code: str, parent: str | None, path: str, kind: str, **extra: Any) -> None:
        org_rows.append(
            {
                "code": code,
                "parent_code": parent,
                "path": path,
                "kind": kind,
                "name_kk": f"{code} kk",
                "name_ru": f"{code} ru",
                "name_en": f"{code} en",
                "region": None,
                "head_person_id": None,
                "register_by": extra.get("register_by"),
                "transition_by": extra.get("transition_by"),
                "mfa_required": False,
                "created_ts": now,
                "updated_ts": now,
            }
        )

    org("gov", None, "/gov/", "government", register_by=today, transition_by="2099-12-31")
    for m in range(args.ministries):
        mcode = f"m{m:02d}"
        mpath = f"/gov/{mcode}/"
        org(mcode, "gov", mpath, "ministry", register_by=past if m % 4 == 0 else None)
        for d in range(args.departments):
            dcode = f"{mcode}-d{d:02d}"
            dpath = f"{mpath}{dcode}/"
            org(dcode, mcode, dpath, "department")
            for u in range(args.units):
                ucode = f"{dcode}-u{u}"
                org(ucode, dcode, f"{dpath}{ucode}/", "unit")
                units.append(ucode)
    await insert_chunks(svc.db, organisations, org_rows)

    person_rows, user_rows, device_rows, token_rows, code_rows = [], [], [], [], []
    for i in range(args.people):
        pid = f"p{i:06d}"
        registered = rng.random() < 0.7
        user_id = f"@u{i:06d}:bench.local" if registered else None
        person_rows.append(
            {
                "person_id": pid,
                "personnel_number": f"{i:06d}",
                "org_code": units[i % len(units)],
                "position": "Specialist",
                "name_cyr": f"Иванов {i}",
                "name_lat": f"Ivanov {i}",
                "email": None,
                "phone": None,
                "clearance": "internal",
                "kind": "official" if i % 50 else "external",
                "status": "active" if i % 40 else "departed",
                "user_id": user_id,
                "created_ts": now,
                "updated_ts": now,
            }
        )
        if rng.random() < 0.85 or registered:
            code_rows.append(
                {
                    "code_hash": f"h{i:06d}",
                    "person_id": pid,
                    "created_ts": now - 20 * DAY_MS,
                    "expiry_ts": now + (10 if rng.random() < 0.9 else -1) * DAY_MS,
                    "used_ts": now - rng.randrange(20) * DAY_MS if registered else None,
                    "revoked_ts": None,
                    "created_by": "bench",
                }
            )
        if registered:
            created = now - rng.randrange(60) * DAY_MS - rng.randrange(DAY_MS)
            user_rows.append(
                {
                    "user_id": user_id,
                    "localpart": f"u{i:06d}",
                    "password_hash": None,
                    "is_admin": False,
                    "deactivated": False,
                    "suspended": False,
                    "displayname": f"Ivanov {i}",
                    "avatar_url": None,
                    "created_ts": created,
                }
            )
            seen = now - rng.randrange(14) * DAY_MS
            device_rows.append(
                {
                    "user_id": user_id,
                    "device_id": "DEV1",
                    "display_name": None,
                    "created_ts": created,
                    "last_seen_ts": seen,
                    "last_seen_ip": None,
                }
            )
            token_rows.append(
                {"token_hash": f"t{i:06d}", "user_id": user_id, "device_id": "DEV1",
                 "created_ts": created}
            )  # fmt: skip
    for table, rows in (
        (people, person_rows),
        (users, user_rows),
        (devices, device_rows),
        (access_tokens, token_rows),
        (activation_codes, code_rows),
    ):
        await insert_chunks(svc.db, table, rows)
    return {
        "organisations": len(org_rows),
        "people": len(person_rows),
        "accounts": len(user_rows),
        "activation_codes": len(code_rows),
    }


async def backend_pids(db: Database) -> set[int]:
    """The PostgreSQL server processes behind this process's pooled connections."""
    pids: set[int] = set()
    idle: int = getattr(db.engine.pool, "checkedin", lambda: 1)()
    for _ in range(idle + 2):  # the pool hands its connections out in turn
        async with db.read() as conn:
            pids.add(int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
    return pids


def cpu_ms_of(pids: set[int]) -> float:
    """CPU time (user + system) used so far by the processes ``pids``, in ms."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total * 1000 / os.sysconf("SC_CLK_TCK")


async def timed(
    runs: int, job: Callable[[], Awaitable[Any]], server: set[int] | None = None
) -> dict[str, float]:
    """Wall-clock median / p95 / min / max of ``runs`` calls after two warm-up calls; the
    median CPU time per call of this process (SQLite runs inside it) and, for PostgreSQL, of
    the server processes ``server`` (clock ticks, so about 10 ms resolution per call)."""
    for _ in range(2):  # warm-up: connections, caches, statement preparation
        await job()
    samples, cpu, server_cpu = [], [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        start_server = cpu_ms_of(server) if server else 0.0
        await job()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        server_cpu.append(cpu_ms_of(server) - start_server if server else 0.0)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "min_ms": round(samples[0], 1),
        "max_ms": round(samples[-1], 1),
        "cpu_ms": round(statistics.median(cpu), 1),
        "server_cpu_ms": round(statistics.fmean(server_cpu), 1),
    }


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(
        backend,
        args.pg_url,
        "rollout_bench",
        lambda tmp, schema: bench_in(backend, args, tmp, schema),
    )


async def bench_in(
    backend: str, args: argparse.Namespace, workdir: Path, schema: str | None
) -> dict[str, Any]:
    settings = bench_settings(
        backend, workdir, args.pg_url, schema, auto_migrate=True, log_level="warning"
    )
    svc = build_services(settings)
    try:
        await svc.start()
        started = time.perf_counter()
        sizes = await fill(svc, args)
        fill_s = time.perf_counter() - started
        if args.analyze:
            async with svc.db.write() as conn:
                await conn.execute(text("ANALYZE"))
        actor = cli_actor("bench")
        board = await svc.rollout.dashboard(actor)
        results: dict[str, Any] = {
            "backend": backend,
            **sizes,
            "fill_s": round(fill_s, 1),
            "check_total": {
                "people": board.total.people,
                "registered": board.total.registered,
                "codes_issued": board.total.codes_issued,
                "active_7d": board.total.active_7d,
                "overdue": board.total.overdue,
            },
        }
        pids = await backend_pids(svc.db) if backend == "postgres" else None
        results["dashboard"] = await timed(args.runs, lambda: svc.rollout.dashboard(actor), pids)
        results["ministry"] = await timed(
            args.runs, lambda: svc.rollout.dashboard(actor, "m01"), pids
        )
        results["overdue page"] = await timed(
            args.runs, lambda: svc.rollout.overdue(actor, None, limit=100), pids
        )
        results["timeseries (30 d)"] = await timed(
            args.runs, lambda: svc.rollout.timeseries(actor, None, 30), pids
        )
        # Through the admin API: an operator's access token, JSON of every organisation.
        user_id = await svc.accounts.do_create_user("benchadmin", None, admin=True)
        session = await svc.accounts.do_open_session(user_id, None, None)
        app = build_app(settings, svc)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            headers = {"Authorization": f"Bearer {session.access_token}"}

            async def get() -> None:
                resp = await http.get("/_tumar/admin/v1/rollout", headers=headers)
                resp.raise_for_status()

            results["GET /rollout"] = await timed(args.runs, get, pids)
            resp = await http.get("/_tumar/admin/v1/rollout", headers=headers)
            results["response_bytes"] = len(resp.content)
        return results
    finally:
        await svc.close()


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"\n{r['backend']}: {r['organisations']} organisations, {r['people']} people, "
            f"{r['accounts']} accounts, {r['activation_codes']} codes (filled in {r['fill_s']} s)"
        )
        print(f"  whole tree: {r['check_total']}; GET /rollout body {r['response_bytes']} bytes")
        print(
            f"  {'operation':<20} {'median ms':>10} {'p95 ms':>8} {'min':>8} {'max':>8} "
            f"{'CPU ms':>8} {'PG CPU ms':>10}"
        )
        for name in ("dashboard", "GET /rollout", "ministry", "overdue page", "timeseries (30 d)"):
            t = r[name]
            print(
                f"  {name:<20} {t['median_ms']:>10} {t['p95_ms']:>8} {t['min_ms']:>8} "
                f"{t['max_ms']:>8} {t['cpu_ms']:>8} {t['server_cpu_ms']:>10}"
            )


async def main_async(args: argparse.Namespace) -> None:
    results = [await bench_backend(b, args) for b in backend_list(args.backend)]
    report(results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_args(p, default="both")
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--ministries", type=int, default=20)
    p.add_argument("--departments", type=int, default=10)
    p.add_argument("--units", type=int, default=5)
    p.add_argument("--runs", type=int, default=20, help="timed calls per operation")
    p.add_argument(
        "--analyze", action="store_true", help="run ANALYZE after the bulk load (planner stats)"
    )
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
