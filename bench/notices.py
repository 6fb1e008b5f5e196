"""Government notifications at the scale of a whole government.

For each backend a fresh ``tumar serve`` is started (``bench/harness.py``); then, written straight
into its database in bulk: a tree of 1 government, ``--ministries`` ministries and
``--departments`` departments each, ``--accounts`` officials with accounts spread over the
departments, and access tokens for ``--pollers`` of them. Those pollers do an initial ``/sync``
and then long-poll ``/sync?timeout=30000`` over HTTP on loopback, each with its own connection.

A communications officer then sends notifications to the whole tree (every account) through
the admin API, one after the other:

1. the *first* notification anyone ever gets. Each poller's notice room was made in the
   background after its first ``/sync`` (the bench waits for them); with
   ``TUMAR_GOV_NOTICES_PREPARE_ROOMS=false`` in the environment, delivery makes them;
2. ``--repeat`` more: the steady state (the rooms exist).

Measured per notification: the time to accept the send (the ``POST`` until its answer), the
time until each long-polling recipient's ``/sync`` answer carrying the notice arrived
(p50/p99/max, and when the last one had it), and server CPU while delivering. Then the report
of the last notification: ``GET .../report`` (counts per organisation, rolled up) and the first
page of ``GET .../recipients?pending=true``, each timed ``--report-runs`` times.

    python bench/notices.py --backend both
    python bench/notices.py --accounts 10000 --pollers 200      # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from harness import (
    CLIENT_ERRORS,
    Api,
    CpuMeter,
    MatrixError,
    PySpy,
    User,
    add_backend_args,
    add_run_args,
    run_main,
    served,
    summary_ms,
)
from rawhttp import RawClient
from tumar.store.db import Database
from tumar.store.schema import access_tokens, devices, organisations, people, role_grants, users

CHUNK = 5_000
SERVER = "bench.local"
NOTICE_KEY = "kz.tumar.notification"
SERVER_NOTICE = "m.server_notice"  # the notice room's tag
ADMIN = "/_tumar/admin/v1"


def database(
    server: Any, backend: str, args: argparse.Namespace, result: dict[str, Any]
) -> Database:
    if backend == "sqlite":
        path = Path(server.log_path).parent / "data" / "tumar.db"
        return Database(f"sqlite+aiosqlite:///{path}")
    return Database(args.pg_url, schema=result["schema"], pool_size=2)


async def insert_chunks(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.write() as conn:
            await conn.execute(insert(table), rows[start : start + CHUNK])


async def seed(db: Database, args: argparse.Namespace) -> tuple[list[str], str]:
    """The tree, the accounts and people, the pollers' tokens, and the comms officer's token."""
    now = int(time.time() * 1000) - 86_400_000  # accounts exist before any notification
    orgs: list[dict[str, Any]] = []
    departments: list[str] = []

    def org(code: str, parent: str | None, path: str, kind: str) -> None:
        orgs.append(
            {"code": code, "parent_code": parent, "path": path, "kind": kind,
             "name_kk": code, "name_ru": code, "name_en": code, "region": None,
             "head_person_id": None, "register_by": None, "transition_by": None,
             "mfa_required": False, "created_ts": now, "updated_ts": now}
        )  # fmt: skip

    org("gov", None, "/gov/", "government")
    for m in range(args.ministries):
        mcode = f"m{m:02d}"
        org(mcode, "gov", f"/gov/{mcode}/", "ministry")
        for d in range(args.departments):
            dcode = f"{mcode}-d{d:02d}"
            org(dcode, mcode, f"/gov/{mcode}/{dcode}/", "department")
            departments.append(dcode)
    await insert_chunks(db, organisations, orgs)
    user_rows, person_rows, device_rows, token_rows = [], [], [], []
    tokens: list[str] = []
    for i in range(args.accounts):
        user_id = f"@o{i:06d}:{SERVER}"
        user_rows.append(
            {"user_id": user_id, "localpart": f"o{i:06d}", "password_hash": None,
             "is_admin": False, "deactivated": False, "suspended": False,
             "displayname": f"Official {i}", "avatar_url": None, "created_ts": now}
        )  # fmt: skip
        person_rows.append(
            {"person_id": f"p{i:06d}", "personnel_number": f"{i:06d}",
             "org_code": departments[i % len(departments)], "position": None,
             "name_cyr": f"Иванов {i}", "name_lat": f"Ivanov {i}", "email": None, "phone": None,
             "clearance": "internal", "kind": "official", "status": "active",
             "user_id": user_id, "created_ts": now, "updated_ts": now}
        )  # fmt: skip
        if i < args.pollers:
            token = f"bench-token-{i:06d}"
            tokens.append(token)
            device_rows.append(
                {"user_id": user_id, "device_id": f"D{i:06d}", "display_name": "bench",
                 "created_ts": now, "last_seen_ts": None, "last_seen_ip": None}
            )  # fmt: skip
            token_rows.append(
                {"token_hash": hashlib.sha256(token.encode()).hexdigest(), "user_id": user_id,
                 "device_id": f"D{i:06d}", "created_ts": now}
            )  # fmt: skip
    comms = f"@comms:{SERVER}"
    user_rows.append(
        {"user_id": comms, "localpart": "comms", "password_hash": None, "is_admin": False,
         "deactivated": False, "suspended": False, "displayname": "Comms", "avatar_url": None,
         "created_ts": now}
    )  # fmt: skip
    device_rows.append(
        {"user_id": comms, "device_id": "COMMS", "display_name": "bench", "created_ts": now,
         "last_seen_ts": None, "last_seen_ip": None}
    )  # fmt: skip
    token_rows.append(
        {"token_hash": hashlib.sha256(b"bench-comms").hexdigest(), "user_id": comms,
         "device_id": "COMMS", "created_ts": now}
    )  # fmt: skip
    await insert_chunks(db, users, user_rows)
    await insert_chunks(db, people, person_rows)
    await insert_chunks(db, devices, device_rows)
    await insert_chunks(db, access_tokens, token_rows)
    async with db.write() as conn:
        await conn.execute(
            insert(role_grants).values(
                user_id=comms, role="comms_officer", org_code="gov", granted_by="bench",
                created_ts=now,
            )
        )  # fmt: skip
    return tokens, "bench-comms"


class Watch:
    """When each poller's /sync answer carrying a given notification arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, dict[str, float]] = {}
        self.waiters: dict[str, asyncio.Event] = {}
        self.expected = 0
        self.errors: list[str] = []
        self.responses = 0
        self.ready: set[str] = set()
        self.rooms: set[str] = set()  # pollers whose notice room came in a /sync answer

    def expect(self, notice_id: str, count: int) -> asyncio.Event:
        """Arrivals recorded before the send's answer came back are kept."""
        self.expected = count
        event = self.waiters[notice_id] = asyncio.Event()
        if len(self.arrived.setdefault(notice_id, {})) >= count:
            event.set()
        return event

    def saw(self, user: str, body: Any, at: float) -> None:
        for room in body.get("rooms", {}).get("join", {}).values():
            for data in room.get("account_data", {}).get("events", []):
                if data.get("type") == "m.tag" and SERVER_NOTICE in data["content"]["tags"]:
                    self.rooms.add(user)
            for ev in room.get("timeline", {}).get("events", []):
                fields = ev.get("content", {}).get(NOTICE_KEY)
                if not isinstance(fields, dict) or "title" not in fields:
                    continue
                got = self.arrived.setdefault(fields["id"], {})
                if user not in got:
                    got[user] = at
                    if len(got) >= self.expected and fields["id"] in self.waiters:
                        self.waiters[fields["id"]].set()


async def poll(
    api: Api, user: User, watch: Watch, stop: asyncio.Event, gate: asyncio.Semaphore
) -> None:
    while True:  # the initial sync, a few at a time, retried until it answers
        async with gate:
            try:
                body = await api.sync(user, None, None, 0)
                break
            except (MatrixError, *CLIENT_ERRORS) as exc:
                watch.errors.append(repr(exc)[:200])
        await asyncio.sleep(1.0)
    since = body["next_batch"]
    watch.saw(user.user_id, body, time.perf_counter())
    watch.ready.add(user.user_id)
    while not stop.is_set():
        try:
            body = await api.sync(user, since, None, 30_000)
        except (MatrixError, *CLIENT_ERRORS) as exc:
            watch.errors.append(repr(exc)[:200])
            await asyncio.sleep(0.5)
            continue
        watch.responses += 1
        since = body["next_batch"]
        watch.saw(user.user_id, body, time.perf_counter())


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "accounts": args.accounts,
                              "pollers": args.pollers}  # fmt: skip
    async with served(backend, args, result, tag="notices-") as (server, api):
        db = database(server, backend, args, result)
        t0 = time.perf_counter()
        try:
            tokens, comms_token = await seed(db, args)
        finally:
            await db.close()
        result["seed_s"] = round(time.perf_counter() - t0, 1)
        print(f"[{backend}] seeded {args.accounts} accounts in {result['seed_s']} s", flush=True)
        # A keep-alive connection per poller, through the lean client (``rawhttp``): with httpx
        # the 2,000 pollers' client took as much CPU as the server, from the same two cores.
        clients = [RawClient(server.base_url + "/_matrix/client/v3", timeout=90.0) for _ in tokens]
        pollers = [User(f"@o{i:06d}:{SERVER}", t, clients[i]) for i, t in enumerate(tokens)]
        admin = RawClient(server.base_url, timeout=120,
                          headers={"Authorization": f"Bearer {comms_token}"})  # fmt: skip
        watch = Watch()
        stop = asyncio.Event()
        gate = asyncio.Semaphore(50)
        tasks = [asyncio.ensure_future(poll(api, u, watch, stop, gate)) for u in pollers]
        try:
            t0 = time.perf_counter()
            while len(watch.ready) < len(pollers) and time.perf_counter() - t0 < args.settle:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
            # Their notice rooms, made in the background after each first /sync (unless
            # TUMAR_GOV_NOTICES_PREPARE_ROOMS=false: then the first notification makes them).
            while len(watch.rooms) < len(watch.ready) and time.perf_counter() - t0 < args.settle:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
            result["notice_rooms_before_first"] = len(watch.rooms)
            await asyncio.sleep(5.0)  # the last ones park their long-poll
            result["pollers_ready"] = len(watch.ready)
            print(f"[{backend}] {len(watch.ready)} pollers long-polling, "
                  f"{len(watch.rooms)} with a notice room", flush=True)  # fmt: skip
            runs = []
            rooms = len(watch.rooms)
            for n in range(1 + args.repeat):
                body = {"title": f"Bench notification {n}", "body": "Please read **this**.",
                        "priority": "urgent", "audience": {"orgs": ["gov"]},
                        "ack_required": True, "send": True}  # fmt: skip
                spy = PySpy(args.profile, server.pid, f"notices-{backend}-{n}")
                responses_before = watch.responses
                with CpuMeter(server, backend == "postgres") as cpu, spy:
                    started = time.perf_counter()
                    resp = await admin.post(f"{ADMIN}/notices", json=body)
                    accepted = time.perf_counter() - started
                    assert resp.status_code == 201, resp.text
                    notice_id = resp.json()["notice_id"]
                    done = watch.expect(notice_id, len(watch.ready))
                    # Arrivals may already have been recorded before expect(): keep them.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), args.wait_seconds)
                arrived = watch.arrived.get(notice_id, {})
                # Long-poll answers in this window: one per poller if each woke once.
                responses = watch.responses - responses_before
                latencies = [t - started for t in arrived.values()]
                run = {
                    "notice": ("first" + (" (creates notice rooms)" if not rooms else ""))
                    if n == 0
                    else "steady state",
                    "recipients": resp.json()["recipients_at_send"],
                    "accept_ms": round(accepted * 1000, 1),
                    "delivered": len(arrived),
                    "expected": len(watch.ready),
                    "delivery": summary_ms(latencies),
                    "all_have_it_ms": round(max(latencies) * 1000) if latencies else None,
                    "sync_answers": responses,
                    "cpu": None,
                }
                run["cpu"] = cpu.result
                runs.append(run)
                print(f"[{backend}] {run['notice']}: accept {run['accept_ms']} ms, "
                      f"{run['delivered']}/{run['expected']} delivered, "
                      f"p50 {run['delivery'].get('p50_ms')} ms, "
                      f"p99 {run['delivery'].get('p99_ms')} ms, "
                      f"{responses} /sync answers, server CPU {run['cpu'].get('server_cpu_s')} s",
                      flush=True)  # fmt: skip
                await asyncio.sleep(1.0)
            result["runs"] = runs
            report_times, pending_times = [], []
            for _ in range(args.report_runs):
                t = time.perf_counter()
                r = await admin.get(f"{ADMIN}/notices/{notice_id}/report")
                report_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                total = r.json()["total"]
                t = time.perf_counter()
                p = await admin.get(
                    f"{ADMIN}/notices/{notice_id}/recipients", params={"pending": "true"}
                )
                pending_times.append(time.perf_counter() - t)
                assert p.status_code == 200, p.text
            result["report"] = summary_ms(report_times)
            result["pending_page"] = summary_ms(pending_times)
            result["report_total"] = total
            result["sync_errors"] = len(watch.errors)
            result["sync_responses"] = watch.responses
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await admin.aclose()
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
    return result


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | notification | recipients | accept send ms | long-pollers with it "
        "| p50 ms | p99 ms | all have it ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for run in r.get("runs", []):
            d = run["delivery"]
            lines.append(
                f"| {r['backend']} | {run['notice']} | {run['recipients']:,} | "
                f"{run['accept_ms']:,} | {run['delivered']:,} / {run['expected']:,} | "
                f"{d.get('p50_ms')} | {d.get('p99_ms')} | {run['all_have_it_ms']} |"
            )
    lines += ["", "| backend | report p50 ms | report max ms | pending page p50 ms | totals |",
              "|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        rep, pend = r.get("report", {}), r.get("pending_page", {})
        lines.append(
            f"| {r['backend']} | {rep.get('p50_ms')} | {rep.get('max_ms')} | "
            f"{pend.get('p50_ms')} | {r.get('report_total')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_args(p)
    add_run_args(p)
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--pollers", type=int, default=2_000)
    p.add_argument("--ministries", type=int, default=20)
    p.add_argument("--departments", type=int, default=10)
    p.add_argument("--repeat", type=int, default=2, help="steady-state notifications")
    p.add_argument("--settle", type=float, default=300.0, help="most seconds for initial syncs")
    p.add_argument("--wait-seconds", type=float, default=180.0, help="per notification")
    p.add_argument("--report-runs", type=int, default=5)
    p.add_argument(
        "--profile", type=Path, help="sample each delivery with py-spy into this directory"
    )
    args = p.parse_args(argv)
    run_main(args, argv, run_backend, render, server_env={}, name="notices")


if __name__ == "__main__":
    main()
