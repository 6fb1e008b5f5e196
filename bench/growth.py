"""How tumar's cost grows: sync against rooms per user, sync and delivery against members per
room, and send latency against room size.

For each backend a fresh ``tumar serve`` is started (``bench/harness.py``). Accounts, devices and
access tokens are written straight into its database in bulk (the rows registration writes,
as ``bench/notices.py`` does); everything in rooms (creating rooms, joins, messages) goes
through the Client-Server API, so memberships, current state, room tables and stream positions
are exactly what the server writes. Rooms and members grow step by step and each step is
measured before the next one is added:

1. **rooms per user** (``--rooms 10,100,1000``): a user joins rooms created by a peer; at each
   step their initial ``/sync`` (p50 of ``--initial-runs``), an empty incremental sync
   (``timeout=0``, nothing new: the per-room bookkeeping alone) and the woken long-poll after
   one new message in one random room (``--messages`` in lockstep: send start -> the user's
   ``/sync`` answer carrying it).
2. **members per room** (``--members 10,1000,10000``): one room grows to N members; at each
   step the send latency with nobody polling (``--sends``), the initial sync of a member (all
   member events; and with lazy-loaded members), and the delivery latency of ``--messages`` to
   ``--pollers`` long-polling members.

Server CPU (``/proc``) is measured over each window and reported per operation: with other jobs
on the machine it is steadier than wall time.

    python bench/growth.py --backend both
    python bench/growth.py --rooms 10,100 --members 10,200 --messages 10   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

import tumar
from harness import (
    CLIENT_API,
    Api,
    CpuMeter,
    Delivery,
    PySpy,
    ServerProcess,
    User,
    add_backend_args,
    add_run_args,
    gather_limited,
    run_main,
    served,
    summary_ms,
    sync_forever,
)
from notices import database, insert_chunks
from rawhttp import RawClient
from tumar.store.schema import access_tokens, devices, users

SERVER = "bench.local"
LAZY = {"room": {"state": {"lazy_load_members": True}}}


# ---- setup ------------------------------------------------------------------------------------


def localpart(i: int) -> str:
    return f"g{i:05d}"


async def seed_accounts(db: Any, count: int) -> list[str]:
    """``count`` accounts with one device and access token each: the rows ``POST /register``
    writes (``users``, ``devices`` with its last use, ``access_tokens``), without a password
    (nobody logs in). Returns the tokens."""
    now = int(time.time() * 1000)
    user_rows, device_rows, token_rows, tokens = [], [], [], []
    for i in range(count):
        user_id, token = f"@{localpart(i)}:{SERVER}", f"growth-token-{i:05d}"
        user_rows.append(
            {"user_id": user_id, "localpart": localpart(i), "password_hash": None,
             "is_admin": False, "deactivated": False, "suspended": False,
             "displayname": localpart(i), "avatar_url": None, "created_ts": now}
        )  # fmt: skip
        device_rows.append(
            {"user_id": user_id, "device_id": f"D{i:05d}", "display_name": "growth",
             "created_ts": now, "last_seen_ts": now, "last_seen_ip": "127.0.0.1"}
        )  # fmt: skip
        token_rows.append(
            {"token_hash": hashlib.sha256(token.encode()).hexdigest(), "user_id": user_id,
             "device_id": f"D{i:05d}", "created_ts": now}
        )  # fmt: skip
        tokens.append(token)
    await insert_chunks(db, users, user_rows)
    await insert_chunks(db, devices, device_rows)
    await insert_chunks(db, access_tokens, token_rows)
    return tokens


class Bench:
    """The server, its API client, the seeded users and a wide connection pool for setup."""

    def __init__(self, server: ServerProcess, api: Api, tokens: list[str], concurrency: int):
        self.server = server
        self.api = api
        self.concurrency = concurrency
        self.pool = RawClient(
            server.base_url + CLIENT_API, timeout=120.0, max_connections=concurrency
        )
        self.tokens = tokens

    def user(self, i: int, *, own_client: bool = True) -> User:
        """Seeded user ``i``: with its own keep-alive client (a measured user) or the shared
        setup pool."""
        http = self.api.new_client() if own_client else self.pool
        return User(f"@{localpart(i)}:{SERVER}", self.tokens[i], http)

    async def timed_sync(
        self, user: User, params: dict[str, Any]
    ) -> tuple[float, int, dict[str, Any]]:
        """One ``GET /sync``: seconds until the whole body has arrived, its size, the body."""
        headers = {"authorization": f"Bearer {user.token}"}
        t0 = time.perf_counter()
        r = await user.http.get("/sync", params=params, headers=headers, timeout=300)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, r.text[:300]
        body: dict[str, Any] = orjson.loads(r.content)
        return elapsed, len(r.content), body

    async def close(self) -> None:
        await self.pool.aclose()


async def timed_setup(
    jobs: Sequence[Callable[[], Awaitable[Any]]], concurrency: int
) -> dict[str, Any]:
    t0 = time.perf_counter()
    await gather_limited(concurrency, jobs)
    took = time.perf_counter() - t0
    return {"requests": len(jobs), "s": round(took, 1), "per_s": round(len(jobs) / took, 1)}


def cpu_ms_per(meter: CpuMeter, count: int, key: str = "server_cpu_s") -> float | None:
    used = meter.result.get(key)
    return None if used is None or count == 0 else round(used * 1000 / count, 2)


async def initial_syncs(
    b: Bench, user: User, runs: int, params: dict[str, Any], spy: PySpy
) -> dict[str, Any]:
    """``runs`` initial syncs one after the other (after one unmeasured warm-up)."""
    await b.timed_sync(user, params)
    times: list[float] = []
    size, body = 0, dict[str, Any]()
    with spy, CpuMeter(b.server, b.server.postgres) as meter:
        for _ in range(runs):
            took, size, body = await b.timed_sync(user, params)
            times.append(took)
    return {
        "time": summary_ms(times),
        "bytes": size,
        "rooms": len(body["rooms"]["join"]),
        "state_events": sum(len(r["state"]["events"]) for r in body["rooms"]["join"].values()),
        "next_batch": body["next_batch"],
        "server_cpu_ms": cpu_ms_per(meter, runs),
        "postgres_cpu_ms": cpu_ms_per(meter, runs, "postgres_cpu_s"),
        "cpu": meter.result,
    }


async def lockstep_delivery(
    b: Bench,
    sender: User,
    rooms: list[str],
    readers: list[tuple[User, str]],
    messages: int,
    spy: PySpy,
    seed: int,
) -> dict[str, Any]:
    """``readers`` (user, since) long-poll; the sender sends ``messages`` one at a time, each
    into a random room of ``rooms`` once every reader has the previous one. Two warm-up
    messages first prove every long-poll is parked."""
    book = Delivery(len(readers))
    rng = random.Random(seed)

    async def reader(user: User, since: str) -> None:
        async for body, received in sync_forever(b.api, user, since, None, book, 60_000):
            for room in body.get("rooms", {}).get("join", {}).values():
                if room.get("timeline", {}).get("limited"):
                    book.limited_responses += 1
                for ev in room.get("timeline", {}).get("events", []):
                    seq = ev.get("content", {}).get("growth_seq")
                    if isinstance(seq, int):
                        book.record(user.user_id, seq, received)

    async def send(seq: int) -> None:
        done = book.expect(seq)
        room = rng.choice(rooms)
        content = {"msgtype": "m.text", "body": f"growth {seq}", "growth_seq": seq}
        t0 = time.perf_counter()
        book.sent_at[seq] = t0
        await b.api.send_text(sender, room, content)
        if seq >= 0:
            book.send_latency.append(time.perf_counter() - t0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 60)

    tasks = [asyncio.create_task(reader(u, s)) for u, s in readers]
    try:
        for seq in (-2, -1):
            await send(seq)
        await asyncio.sleep(0.3)
        responses0 = book.sync_responses
        with spy, CpuMeter(b.server, b.server.postgres) as meter:
            for seq in range(messages):
                await send(seq)
        responses = book.sync_responses - responses0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "messages": messages,
        "readers": len(readers),
        "delivered": len(book.latencies),
        "expected": messages * len(readers),
        "latency": summary_ms(book.latencies),
        "send": summary_ms(book.send_latency),
        "sync_responses": responses,
        "limited_responses": book.limited_responses,
        "duplicates": book.duplicates,
        "sync_errors": book.sync_errors[:5],
        "server_cpu_ms_per_message": cpu_ms_per(meter, messages),
        "postgres_cpu_ms_per_message": cpu_ms_per(meter, messages, "postgres_cpu_s"),
        "cpu": meter.result,
    }


# ---- curve 1: rooms per user ---------------------------------------------------------------


async def rooms_curve(b: Bench, args: argparse.Namespace, backend: str) -> list[dict[str, Any]]:
    """User 1 joins rooms that user 0 (the peer, who also sends) creates, up to each step."""
    peer_setup, user_setup = b.user(0, own_client=False), b.user(1, own_client=False)
    peer, user = b.user(0), b.user(1)
    rooms: list[str] = []
    steps = []
    for n in args.rooms:
        fresh: list[str] = []

        async def create_and_join(k: int, fresh: list[str] = fresh) -> None:
            room_id = await b.api.create_room(peer_setup, f"growth room {k}")
            await b.api.join(user_setup, room_id)
            fresh.append(room_id)

        setup = await timed_setup(
            [partial(create_and_join, k) for k in range(len(rooms), n)], b.concurrency
        )
        rooms += fresh
        print(f"[{backend}] rooms: user in {len(rooms)} rooms (setup {setup['s']} s)", flush=True)
        name = f"{backend}-rooms{n}"
        initial = await initial_syncs(
            b, user, args.initial_runs, {}, PySpy(args.profile, b.server.pid, f"{name}-initial")
        )
        assert initial["rooms"] == n, (initial["rooms"], n)
        since = initial.pop("next_batch")
        empty = []
        with CpuMeter(b.server, b.server.postgres) as meter:
            for _ in range(args.empty_runs):
                took, _, _ = await b.timed_sync(user, {"since": since, "timeout": 0})
                empty.append(took)
        empty_result: dict[str, Any] = {
            "time": summary_ms(empty),
            "server_cpu_ms": cpu_ms_per(meter, args.empty_runs),
            "cpu": meter.result,
        }
        woken = await lockstep_delivery(
            b, peer, rooms, [(user, since)], args.messages,
            PySpy(args.profile, b.server.pid, f"{name}-woken"), seed=n,
        )  # fmt: skip
        steps.append(
            {"rooms": n, "setup": setup, "initial_sync": initial, "empty_sync": empty_result,
             "woken_sync": woken, "peak_rss_bytes": b.server.peak_rss_bytes()}
        )  # fmt: skip
        print(
            f"[{backend}] rooms {n}: initial p50 {initial['time']['p50_ms']} ms, empty p50 "
            f"{empty_result['time']['p50_ms']} ms, woken p50 {woken['latency']['p50_ms']} ms",
            flush=True,
        )
    return steps


# ---- curve 2 and 3: members per room, send latency against room size ------------------------


async def send_only(b: Bench, sender: User, room_id: str, sends: int, spy: PySpy) -> dict[str, Any]:
    times = []
    with spy, CpuMeter(b.server, b.server.postgres) as meter:
        for seq in range(sends):
            t0 = time.perf_counter()
            await b.api.send_text(sender, room_id, {"msgtype": "m.text", "body": f"s{seq}"})
            times.append(time.perf_counter() - t0)
    return {
        "time": summary_ms(times),
        "server_cpu_ms": cpu_ms_per(meter, sends),
        "postgres_cpu_ms": cpu_ms_per(meter, sends, "postgres_cpu_s"),
        "cpu": meter.result,
    }


async def members_curve(
    b: Bench, args: argparse.Namespace, backend: str, first: int
) -> list[dict[str, Any]]:
    """Seeded users ``first`` .. ``first + max(members) - 1``: the first creates the room and
    sends, the next ``--pollers`` long-poll, the one after them does the initial syncs."""
    sender = b.user(first)
    pollers = [b.user(first + 1 + k) for k in range(args.pollers)]
    reader = b.user(first + 1 + args.pollers)
    room_id = await b.api.create_room(b.user(first, own_client=False), "growth members")
    members = 1
    steps = []
    for n in args.members:
        jobs = [
            partial(b.api.join, b.user(first + i, own_client=False), room_id)
            for i in range(members, n)
        ]
        setup = await timed_setup(jobs, b.concurrency)
        members = n
        print(f"[{backend}] members: room of {n} (setup {setup['s']} s)", flush=True)
        name = f"{backend}-members{n}"
        sends = await send_only(
            b, sender, room_id, args.sends, PySpy(args.profile, b.server.pid, f"{name}-send")
        )
        initial = await initial_syncs(
            b, reader, args.initial_runs, {},
            PySpy(args.profile, b.server.pid, f"{name}-initial"),
        )  # fmt: skip
        initial.pop("next_batch")
        lazy = await initial_syncs(
            b, reader, args.initial_runs, {"filter": orjson.dumps(LAZY).decode()},
            PySpy(None, b.server.pid, ""),
        )  # fmt: skip
        lazy.pop("next_batch")
        flt = {"filter": orjson.dumps(LAZY).decode()}
        starts = [(u, (await b.timed_sync(u, flt))[2]["next_batch"]) for u in pollers]
        delivery = await lockstep_delivery(
            b, sender, [room_id], starts, args.messages,
            PySpy(args.profile, b.server.pid, f"{name}-delivery"), seed=n,
        )  # fmt: skip
        steps.append(
            {"members": n, "setup": setup, "send_only": sends, "initial_sync": initial,
             "initial_sync_lazy": lazy, "delivery": delivery,
             "peak_rss_bytes": b.server.peak_rss_bytes()}
        )  # fmt: skip
        print(
            f"[{backend}] members {n}: send p50 {sends['time']['p50_ms']} ms, initial p50 "
            f"{initial['time']['p50_ms']} ms, delivery p50 {delivery['latency']['p50_ms']} ms",
            flush=True,
        )
    return steps


# ---- per backend ----------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    # Which source the server runs: the working tree, or a snapshot put first on PYTHONPATH.
    result: dict[str, Any] = {"backend": backend, "tumar_package": str(Path(tumar.__file__).parent)}
    accounts = 2 + max(args.members)
    async with served(backend, args, result, tag="growth-") as (server, api):
        db = database(server, backend, args, result)
        t0 = time.perf_counter()
        try:
            tokens = await seed_accounts(db, accounts)
        finally:
            await db.close()
        result["seed_accounts"] = accounts
        result["seed_s"] = round(time.perf_counter() - t0, 1)
        b = Bench(server, api, tokens, args.setup_concurrency)
        try:
            if args.rooms:
                result["rooms_curve"] = await rooms_curve(b, args, backend)
            if args.members:
                result["members_curve"] = await members_curve(b, args, backend, first=2)
        finally:
            await b.close()
        result["peak_rss_bytes"] = server.peak_rss_bytes()
        result["client_retries"] = api.retries
    return result


# ---- report -----------------------------------------------------------------------------------


def _num(v: float | int | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"


def grow(values: list[float | int | None]) -> list[str]:
    """Each value with its growth factor against the step before: ``12.3 (x1.4)``."""
    out = []
    for i, v in enumerate(values):
        prev = values[i - 1] if i else None
        factor = f" (x{v / prev:.1f})" if v is not None and prev else ""
        out.append(_num(v) + factor)
    return out


def table(title: str, headers: list[str], columns: list[list[str]]) -> list[str]:
    lines = [title, "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in zip(*columns, strict=True)]
    return [*lines, ""]


def _get(d: dict[str, Any], *path: str) -> Any:
    value: Any = d
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


ROOMS_HEADERS = [
    "rooms",
    "initial p50 ms",
    "CPU ms/initial",
    "KiB",
    "empty incr. p50 ms",
    "CPU ms/empty",
    "woken p50 ms",
    "woken p99 ms",
    "CPU ms/msg (send+sync)",
    "delivered",
]
MEMBERS_HEADERS = [
    "members",
    "initial p50 ms",
    "CPU ms/initial",
    "KiB",
    "lazy initial p50 ms",
    "CPU ms/lazy",
    "delivery p50 ms",
    "delivery p99 ms",
    "CPU ms/msg (send+syncs)",
    "delivered",
]


def _delivered(run: dict[str, Any]) -> str:
    return f"{run['delivered']}/{run['expected']}"


def _windows(node: Any) -> list[dict[str, Any]]:
    """Every CPU window (``CpuMeter.result``) in a backend's result."""
    if isinstance(node, list):
        return [w for item in node for w in _windows(item)]
    if not isinstance(node, dict):
        return []
    if "other_cpu_s" in node:
        return [node]
    return [w for value in node.values() for w in _windows(value)]


def busy_note(result: dict[str, Any]) -> str:
    """How busy the machine was with other work while this backend was measured."""
    windows = [w for w in _windows(result) if w.get("other_cpu_s") is not None]
    wall = sum(w["wall_s"] or 0 for w in windows)
    if not wall:
        return ""
    other = sum(w["other_cpu_s"] for w in windows) / wall
    server = sum(w["server_cpu_s"] or 0 for w in windows) / wall
    return (
        f"During the measured windows ({wall:.0f} s) the server used {server:.2f} cores on "
        f"average, other work {other:.2f} cores (not the server, this client or, on "
        "PostgreSQL, the database)."
    )


def render(results: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for r in results:
        be = r["backend"]
        lines += [f"## {be}: {busy_note(r)}", ""]
        steps = r.get("rooms_curve", [])
        if steps:

            def col(*path: str, steps: list[dict[str, Any]] = steps) -> list[str]:
                return grow([_get(s, *path) for s in steps])

            lines += table(
                f"Sync against rooms per user ({be})",
                ROOMS_HEADERS,
                [
                    [f"{s['rooms']:,}" for s in steps],
                    col("initial_sync", "time", "p50_ms"),
                    col("initial_sync", "server_cpu_ms"),
                    grow([s["initial_sync"]["bytes"] / 1024 for s in steps]),
                    col("empty_sync", "time", "p50_ms"),
                    col("empty_sync", "server_cpu_ms"),
                    col("woken_sync", "latency", "p50_ms"),
                    col("woken_sync", "latency", "p99_ms"),
                    col("woken_sync", "server_cpu_ms_per_message"),
                    [_delivered(s["woken_sync"]) for s in steps],
                ],
            )
        steps = r.get("members_curve", [])
        if steps:

            def mcol(*path: str, steps: list[dict[str, Any]] = steps) -> list[str]:
                return grow([_get(s, *path) for s in steps])

            members = [f"{s['members']:,}" for s in steps]
            lines += table(
                f"Send latency against room size, nobody polling ({be})",
                ["members", "send p50 ms", "send p99 ms", "CPU ms/send"],
                [
                    members,
                    mcol("send_only", "time", "p50_ms"),
                    mcol("send_only", "time", "p99_ms"),
                    mcol("send_only", "server_cpu_ms"),
                ],
            )
            lines += table(
                f"Sync against members per room ({be})",
                MEMBERS_HEADERS,
                [
                    members,
                    mcol("initial_sync", "time", "p50_ms"),
                    mcol("initial_sync", "server_cpu_ms"),
                    grow([s["initial_sync"]["bytes"] / 1024 for s in steps]),
                    mcol("initial_sync_lazy", "time", "p50_ms"),
                    mcol("initial_sync_lazy", "server_cpu_ms"),
                    mcol("delivery", "latency", "p50_ms"),
                    mcol("delivery", "latency", "p99_ms"),
                    mcol("delivery", "server_cpu_ms_per_message"),
                    [_delivered(s["delivery"]) for s in steps],
                ],
            )
            lines += table(
                f"Setup through the API ({be})",
                ["members", "joins", "seconds", "joins/s"],
                [
                    members,
                    [f"{s['setup']['requests']:,}" for s in steps],
                    [_num(s["setup"]["s"]) for s in steps],
                    grow([s["setup"]["per_s"] for s in steps]),
                ],
            )
    return "\n".join(lines)


def counts(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_args(p)
    add_run_args(p)
    p.add_argument("--rooms", type=counts, default=[10, 100, 1000], help="rooms per user steps")
    p.add_argument("--members", type=counts, default=[10, 1000, 10000], help="room size steps")
    p.add_argument("--initial-runs", type=int, default=5, help="initial syncs per step")
    p.add_argument("--empty-runs", type=int, default=20, help="empty incremental syncs per step")
    p.add_argument("--messages", type=int, default=20, help="woken syncs / deliveries per step")
    p.add_argument("--sends", type=int, default=50, help="sends with nobody polling per step")
    p.add_argument("--pollers", type=int, default=5, help="long-polling members")
    p.add_argument("--setup-concurrency", type=int, default=8)
    p.add_argument("--profile", type=Path, help="sample each measured window with py-spy here")
    args = p.parse_args(argv)
    if args.members and max(args.members) < args.pollers + 2:
        p.error("--members must allow the sender, the pollers and a reader")
    run_main(args, argv, run_backend, render, server_env={}, name="growth")


if __name__ == "__main__":
    main()
