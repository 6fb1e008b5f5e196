"""Encryption-at-rest benchmark: what sealing message content costs per message, on send and on
read, and what encrypted media storage costs per MiB.

In-process, through the services (no HTTP), on SQLite and PostgreSQL:

* ``codec``: the pure part: sealing (JSON, AES-256-GCM, base64) and opening a message of 200
  and 2000 characters, and its blind search index (a keyed hash of every word prefix), in
  microseconds per message;
* ``send``: ``RoomService.do_send`` of a fresh 200-character message into an official-use
  room (sealed, blind-indexed) and into an internal room (plaintext), DLP off in both so only
  encryption differs; the difference of the medians is the cost of sealing per message;
* ``read``: one page of ``--page`` events from ``store.events.room_timeline`` in each room, in
  microseconds per event (data keys cached, as on a running server), and once more with a
  fresh key cache (the first read of a room after a start);
* ``search``: ``POST /search`` through ``SearchService`` for one word in each room;
* ``media``: writing and reading a 16 MiB file through the encrypted media storage against
  the plain file storage, in MiB/s.

    python bench/at_rest.py --backend both
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness import add_backend_args, backend_list, bench_settings, in_scratch
from tumar.core.at_rest import NONCE_BYTES, AtRest, blind_text, event_aad, search_key
from tumar.core.requester import Requester
from tumar.core.room_creation import RoomPlan
from tumar.core.rooms import NewEvent
from tumar.core.search import parse_room_events
from tumar.core.services import Services, build_services
from tumar.policy.labels import LABEL_EVENT
from tumar.store import events as event_store
from tumar.store.events import SEALED_PREFIX
from tumar.store.json import loads
from tumar.store.media_storage import FileMediaStorage, MediaStorage
from tumar.store.sealed_media import SealedMediaStorage

SYLLABLES = ["ba", "ka", "ly", "ner", "sto", "min", "tra", "qa", "zhu", "ol", "dar", "ek", "sy"]
MIB = 1024 * 1024


def words(rnd: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < chars:
        out.append("".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))))
    return " ".join(out)[:chars]


def stats_us(samples: list[float], per: int = 1) -> dict[str, float]:
    data = sorted(s * 1e6 / per for s in samples)
    return {
        "p50_us": round(statistics.median(data), 1),
        "p95_us": round(data[max(0, int(len(data) * 0.95) - 1)], 1),
        "mean_us": round(statistics.fmean(data), 1),
    }


async def timed(
    runs: int, job: Callable[[int], Awaitable[object]], per: int = 1
) -> dict[str, float]:
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        await job(i)
        samples.append(time.perf_counter() - started)
    return stats_us(samples, per)


def bench_codec(runs: int) -> dict[str, Any]:
    rnd = random.Random(1)
    key = os.urandom(32)
    cipher = AESGCM(key)
    blind_key = search_key(key)
    out: dict[str, Any] = {}
    for size in (200, 2000):
        contents = [{"msgtype": "m.text", "body": words(rnd, size)} for _ in range(runs)]
        seal, open_, blind = [], [], []
        tokens = ""
        for i, content in enumerate(contents):
            aad = event_aad("!room:bench", f"$e{i}")
            t0 = time.perf_counter()
            sealed = AtRest.seal_content(key, "!room:bench", f"$e{i}", content)
            t1 = time.perf_counter()
            raw = base64.b64decode(sealed[len(SEALED_PREFIX) :])
            loads(cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode())
            t2 = time.perf_counter()
            tokens = blind_text(blind_key, content["body"])
            t3 = time.perf_counter()
            seal.append(t1 - t0)
            open_.append(t2 - t1)
            blind.append(t3 - t2)
        out[f"{size} chars"] = {
            "seal": stats_us(seal),
            "open": stats_us(open_),
            "blind index": stats_us(blind),
            "blind tokens": len(tokens.split()),
        }
    return out


async def room(svc: Services, creator: str, label: str) -> str:
    plan = RoomPlan(
        creator=creator,
        preset="private_chat",
        initial_state=[NewEvent(LABEL_EVENT, {"label": label}, "")],
    )
    return await svc.creator.do_create_room(Requester(creator, "BENCH"), plan, "private")


async def bench_media(storage: MediaStorage, size: int) -> dict[str, float]:
    data = os.urandom(size)
    t0 = time.perf_counter()
    writer = await storage.writer("bench/file")
    for start in range(0, size, 256 * 1024):
        await writer.write(data[start : start + 256 * 1024])
    await writer.seal()
    await writer.commit("bench/file")
    t1 = time.perf_counter()
    reader = await storage.open("bench/file")
    got = 0
    async for chunk in reader.chunks():
        got += len(chunk)
    t2 = time.perf_counter()
    assert got == size
    return {
        "write_mib_s": round(size / MIB / (t1 - t0), 1),
        "read_mib_s": round(size / MIB / (t2 - t1), 1),
    }


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(
        backend,
        args.pg_url,
        "at_rest_bench",
        lambda tmp, schema: bench_in(backend, args, tmp, schema),
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
        dlp_enabled=False,
    )
    results: dict[str, Any] = {"backend": backend, "runs": args.runs, "page": args.page}
    svc = build_services(settings)
    try:
        await svc.db.migrate()
        await svc.start()
        alice = await svc.accounts.do_create_user("alice", None)
        me = Requester(alice, "BENCH")
        rooms = {
            "official-use (sealed)": await room(svc, alice, "official-use"),
            "internal (plaintext)": await room(svc, alice, "internal"),
        }
        rnd = random.Random(3)
        texts = [words(rnd, 200) for _ in range(args.runs * 4 + 1)]
        send: dict[str, Any] = {}
        for _ in range(2):  # the first round warms both paths up; the second is kept
            for name, room_id in rooms.items():
                send[name] = await timed(
                    args.runs,
                    lambda i, r=room_id: svc.rooms.do_send(  # type: ignore[misc]
                        me, r, "m.room.message", {"msgtype": "m.text", "body": texts.pop()}
                    ),
                )
        names = list(rooms)
        send["sealing cost p50_us"] = round(send[names[0]]["p50_us"] - send[names[1]]["p50_us"], 1)
        results["send"] = send

        read: dict[str, Any] = {}
        for name, room_id in rooms.items():

            async def page(_: int, r: str = room_id) -> None:
                async with svc.db.read() as conn:
                    got = await event_store.room_timeline(conn, r, limit=args.page)
                assert len(got) == args.page and "body" in got[0].content

            await page(0)
            read[name] = await timed(args.runs, page, per=args.page)
        read["opening cost p50_us per event"] = round(
            read[names[0]]["p50_us"] - read[names[1]]["p50_us"], 1
        )
        results["read (per event)"] = read

        cold: dict[str, Any] = {}
        for name, room_id in rooms.items():
            fresh = build_services(settings)
            try:
                t0 = time.perf_counter()
                async with fresh.db.read() as conn:
                    await event_store.room_timeline(conn, room_id, limit=args.page)
                cold[name] = round((time.perf_counter() - t0) * 1e3, 2)
            finally:
                await fresh.close()
        results["first page after a start (ms)"] = cold

        search: dict[str, Any] = {}
        for name, room_id in rooms.items():
            query = parse_room_events(
                {"search_term": "stomin", "filter": {"rooms": [room_id]}, "order_by": "recent"}
            )
            search[name] = await timed(
                max(10, args.runs // 10), lambda _i, q=query: svc.search.search(me, q, None)
            )
        results["search"] = search
    finally:
        await svc.close()

    plain = FileMediaStorage(workdir / "plain")
    fresh = build_services(settings)
    try:
        sealed = SealedMediaStorage(FileMediaStorage(workdir / "sealed"), fresh.at_rest.media_key)
        results["media 16 MiB"] = {
            "plain": await bench_media(plain, 16 * MIB),
            "encrypted": await bench_media(sealed, 16 * MIB),
        }
    finally:
        await fresh.close()
    return results


SECTIONS = (
    "codec",
    "send",
    "read (per event)",
    "first page after a start (ms)",
    "search",
    "media 16 MiB",
)


def render(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"== {r['backend']} ==")
        for section in (
            "codec",
            "send",
            "read (per event)",
            "first page after a start (ms)",
            "search",
            "media 16 MiB",
        ):
            lines.append(f"{section}:")
            for name, value in r.get(section, {}).items():
                lines.append(f"  {name}: {value}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    codec = bench_codec(args.runs)
    out = []
    for backend in backend_list(args.backend):
        result = await bench_backend(backend, args)
        result["codec"] = codec
        out.append(result)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_backend_args(p)
    p.add_argument("--runs", type=int, default=300, help="messages per measured phase")
    p.add_argument("--page", type=int, default=50, help="events per timeline page read")
    args = p.parse_args(argv)
    results = asyncio.run(run(args))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
