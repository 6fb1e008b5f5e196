"""DLP benchmark: what content fingerprinting and the lookup cost per message.

In-process, through the services (no HTTP), on SQLite and PostgreSQL:

* ``fingerprint``: the pure part (normalise, keyed hashes of every 12-character gram,
  winnowing) for messages of 100, 500 and 2000 characters, in microseconds per message;
* the index is filled with the fingerprints of ``--messages`` official-use messages (about
  200 characters each, random words) spread over ``--rooms`` official-use rooms;
* ``send``: ``RoomService.do_send`` of a fresh 200-character message into an official-use room
  (fingerprint and store), an internal room (fingerprint, lookup and store) and a public room
  (fingerprint and lookup), once with ``dlp_enabled`` and once without; the difference is the
  cost of DLP per message;
* ``refused``: forwarding an indexed official-use message into the internal room (the lookup
  finds it, the source room's label is read, the chain refuses).

SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh schema in ``--pg-url``
(default the test database at 127.0.0.1:5432), dropped afterwards.

    python bench/dlp.py --backend both
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

from sqlalchemy import func, select, text

from harness import add_backend_args, backend_list, bench_settings, in_scratch
from tumar.core.dlp import KEY_SCOPE
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.rooms import NewEvent
from tumar.core.services import Services, build_services
from tumar.errors import MatrixError
from tumar.policy.fingerprint import fingerprint_texts
from tumar.policy.labels import LABEL_EVENT
from tumar.store import dlp as dlp_store
from tumar.store.schema import content_fingerprints

SYLLABLES = ["ba", "ka", "ly", "ner", "sto", "min", "tra", "qa", "zhu", "ol", "dar", "ek", "sy"]


def words(rnd: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append("".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))))
    return " ".join(out)[:chars]


def per_message_us(durations: list[float]) -> dict[str, float]:
    data = sorted(d * 1e6 for d in durations)
    return {
        "p50_us": round(statistics.median(data), 1),
        "p95_us": round(data[int(len(data) * 0.95) - 1], 1),
        "mean_us": round(statistics.fmean(data), 1),
    }


async def timed(runs: int, job: Callable[[int], Awaitable[object]]) -> dict[str, float]:
    """Wall time per message, and this process's CPU time per message (``cpu_us``: on a
    shared machine the steadier figure; PostgreSQL's own CPU is not in it)."""
    samples = []
    cpu_started = time.process_time()
    for i in range(runs):
        started = time.perf_counter()
        await job(i)
        samples.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / runs
    return {**per_message_us(samples), "cpu_us": round(cpu * 1e6, 1)}


def bench_fingerprint(key: bytes, runs: int) -> dict[str, Any]:
    rnd = random.Random(1)
    out = {}
    for size in (100, 500, 2000):
        texts = [words(rnd, size) for _ in range(runs)]
        samples = []
        fps = 0
        for t in texts:
            started = time.perf_counter()
            fps += len(fingerprint_texts([t], key, min_chars=40))
            samples.append(time.perf_counter() - started)
        out[f"{size} chars"] = {**per_message_us(samples), "fingerprints": round(fps / runs, 1)}
    return out


async def room(svc: Services, creator: str, label: str) -> str:
    plan = RoomPlan(
        creator=creator,
        preset="private_chat",
        initial_state=[NewEvent(LABEL_EVENT, {"label": label}, "")],
    )
    return await svc.creator.do_create_room(Requester(creator, "BENCH"), plan, "private")


async def fill(svc: Services, rooms: list[str], messages: int) -> list[str]:
    """Index ``messages`` random official-use messages; returns a few of them."""
    rnd = random.Random(2)
    async with svc.db.write() as conn:
        key = await svc.keyring.key_for(conn, KEY_SCOPE)
    kept = []
    batch = 2_000
    pos = 1_000_000
    for start in range(0, messages, batch):
        async with svc.db.write() as conn:
            for i in range(start, min(messages, start + batch)):
                text = words(rnd, 200)
                if i % 1000 == 0:
                    kept.append(text)
                fps = fingerprint_texts([text], key, min_chars=40)
                pos += 1
                await dlp_store.record(conn, rooms[i % len(rooms)], fps, pos)
    return kept


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(
        backend, args.pg_url, "dlp_bench", lambda tmp, schema: bench_in(backend, args, tmp, schema)
    )


async def bench_in(
    backend: str, args: argparse.Namespace, workdir: Path, schema: str | None
) -> dict[str, Any]:
    settings = bench_settings(
        backend,
        workdir,
        args.pg_url,
        schema,
        log_level="warning",
        rate_limit_enabled=False,
        default_clearance="official-use",
        classification_default_room="public",
    )
    results: dict[str, Any] = {"backend": backend, "messages": args.messages, "rooms": args.rooms}
    svc = build_services(settings)
    try:
        await svc.db.migrate()
        await svc.start()
        alice = await svc.accounts.do_create_user("alice", None)
        me = Requester(alice, "BENCH")
        official = [await room(svc, alice, "official-use") for _ in range(args.rooms)]
        internal = await room(svc, alice, "internal")
        public = await room(svc, alice, "public")
        async with svc.db.write() as conn:
            key = await svc.keyring.key_for(conn, KEY_SCOPE)
        results["fingerprint"] = bench_fingerprint(key, args.runs)

        started = time.perf_counter()
        kept = await fill(svc, official, args.messages)
        results["fill_s"] = round(time.perf_counter() - started, 1)
        async with svc.db.write() as conn:
            # Planner statistics, as autovacuum (PostgreSQL) would have them in a running
            # deployment; without them PostgreSQL scans the whole bulk-filled table.
            await conn.execute(text("ANALYZE"))
        async with svc.db.read() as conn:
            rows = await conn.execute(select(func.count()).select_from(content_fingerprints))
            results["index_rows"] = int(rows.scalar_one())

        rnd = random.Random(3)
        texts = [words(rnd, 200) for _ in range(args.runs * 6)]
        sends: dict[str, Any] = {}
        for target_name, target in (
            ("official-use", official[0]),
            ("internal", internal),
            ("public", public),
        ):
            on = await timed(
                args.runs,
                lambda i, t=target: svc.rooms.do_send(  # type: ignore[misc]
                    me, t, "m.room.message", {"msgtype": "m.text", "body": texts.pop()}
                ),
            )
            sends[target_name] = {"dlp on": on}
        results["send"] = sends

        async def refuse(i: int) -> None:
            try:
                await svc.rooms.do_send(
                    me,
                    internal,
                    "m.room.message",
                    {"msgtype": "m.text", "body": kept[i % len(kept)]},
                )
            except MatrixError as exc:
                assert exc.errcode == "TUMAR_DLP"
            else:
                raise AssertionError("the forward was not refused")

        results["refused"] = await timed(args.runs, refuse)
        results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    finally:
        await svc.close()

    off = build_services(settings.model_copy(update={"dlp_enabled": False}))
    try:
        await off.start()
        for target_name, target in (
            ("official-use", official[0]),
            ("internal", internal),
            ("public", public),
        ):
            results["send"][target_name]["dlp off"] = await timed(
                args.runs,
                lambda i, t=target: off.rooms.do_send(  # type: ignore[misc]
                    me, t, "m.room.message", {"msgtype": "m.text", "body": texts.pop()}
                ),
            )
    finally:
        await off.close()
    return results


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\n{r['backend']}: {r['index_rows']} fingerprints of {r['messages']} messages "
              f"in {r['rooms']} rooms (filled in {r['fill_s']} s)")  # fmt: skip
        print(f"  {'fingerprint only':<28}{'p50 µs':>10}{'p95 µs':>10}{'fps':>8}")
        for size, v in r["fingerprint"].items():
            print(f"  {size:<28}{v['p50_us']:>10}{v['p95_us']:>10}{v['fingerprints']:>8}")
        print(f"  {'send (200 chars) into':<28}{'on p50':>10}{'off p50':>10}{'cost':>8}"
              f"{'on cpu':>10}{'off cpu':>10}{'cost':>8}")  # fmt: skip
        for target, v in r["send"].items():
            on, off = v["dlp on"], v["dlp off"]
            wall = on["p50_us"] - off["p50_us"]
            cpu = on["cpu_us"] - off["cpu_us"]
            print(f"  {target:<28}{on['p50_us']:>10}{off['p50_us']:>10}{wall:>8.0f}"
                  f"{on['cpu_us']:>10}{off['cpu_us']:>10}{cpu:>8.0f}")  # fmt: skip
        refused = r["refused"]
        print(f"  {'refused forward':<28}{refused['p50_us']:>10}{'':>18}{refused['cpu_us']:>10}")
        print(f"  load average at the end: {r['load_average']}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_backend_args(p)
    p.add_argument("--messages", type=int, default=20_000, help="indexed official-use messages")
    p.add_argument("--rooms", type=int, default=20, help="official-use rooms they are spread over")
    p.add_argument("--runs", type=int, default=300, help="timed messages per measurement")
    args = p.parse_args(argv)

    async def run() -> list[dict[str, Any]]:
        return [await bench_backend(b, args) for b in backend_list(args.backend)]

    report(asyncio.run(run()))


if __name__ == "__main__":
    main()
