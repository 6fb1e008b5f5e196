"""Load benchmark for tumar, over the standard Matrix Client-Server API only.

Starts ``tumar serve`` as a separate process on 127.0.0.1 (a fresh SQLite file or a fresh
PostgreSQL schema per backend), then measures

* send throughput: K concurrent senders in one room, ``PUT /rooms/{id}/send/...``;
* end-to-end delivery latency: one sender, N members long-polling ``/sync`` in a loop; for each
  message, the time from the start of the send request until each member's ``/sync`` returns it.

All traffic goes to loopback, every phase has a bounded number of requests and the whole run has
a time limit; the server is stopped at the end. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from harness import (
    CLIENT_ERRORS,
    SERVER_ENV,
    Api,
    CpuMeter,
    Delivery,
    MatrixError,
    PySpy,
    ServerProcess,
    User,
    add_backend_args,
    add_run_args,
    gather_limited,
    messages_for,
    register_users,
    room_with_members,
    run_main,
    served,
    summary_ms,
    sync_forever,
)

# ---- (a) send throughput --------------------------------------------------------------------


async def bench_send_throughput(
    api: Api, server: ServerProcess, spy: PySpy, *, senders: int, messages: int, concurrency: int
) -> dict[str, Any]:
    t_setup = time.perf_counter()
    users = await register_users(api, "tp", senders, concurrency)
    room_id = await room_with_members(api, users, "throughput", concurrency)
    # Warm-up: one message per sender, not counted.
    await asyncio.gather(
        *(api.send_text(u, room_id, {"msgtype": "m.text", "body": "w"}) for u in users)
    )
    setup_s = time.perf_counter() - t_setup

    shares = [messages // senders + (1 if i < messages % senders else 0) for i in range(senders)]
    latencies: list[float] = []
    errors: list[str] = []

    async def sender(user: User, count: int) -> None:
        for i in range(count):
            content = {"msgtype": "m.text", "body": f"throughput message {i}"}
            t0 = time.perf_counter()
            try:
                await api.send_text(user, room_id, content)
            except (MatrixError, *CLIENT_ERRORS) as exc:
                errors.append(repr(exc)[:200])
                continue
            latencies.append(time.perf_counter() - t0)

    with spy, CpuMeter(server, server.postgres) as meter:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(u, n) for u, n in zip(users, shares, strict=True)))
        elapsed = time.perf_counter() - t0
    server_cpu = meter.server_cpu
    return {
        "senders": senders,
        "messages": messages,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "elapsed_s": round(elapsed, 3),
        "messages_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "send_latency": summary_ms(latencies),
        "cpu": meter.result,
        "server_cpu_ms_per_message": (
            round(server_cpu * 1000 / len(latencies), 3) if server_cpu and latencies else None
        ),
        "setup_s": round(setup_s, 2),
        "peak_rss_bytes": server.peak_rss_bytes(),
    }


# ---- (b) end-to-end delivery latency --------------------------------------------------------


async def member_loop(
    api: Api,
    user: User,
    room_id: str,
    since: str,
    filter_id: str,
    book: Delivery,
    timeout_ms: int,
) -> None:
    async for body, received in sync_forever(api, user, since, filter_id, book, timeout_ms):
        room = body.get("rooms", {}).get("join", {}).get(room_id)
        if not room:
            continue
        timeline = room.get("timeline", {})
        if timeline.get("limited"):
            book.limited_responses += 1
        for ev in timeline.get("events", []):
            seq = ev.get("content", {}).get("bench_seq")
            if isinstance(seq, int) and ev.get("sender") != user.user_id:
                book.record(user.user_id, seq, received)


async def bench_delivery_latency(
    api: Api,
    server: ServerProcess,
    spy: PySpy,
    *,
    members: int,
    messages: int,
    rate: float,
    concurrency: int,
    sync_timeout_ms: int,
    timeline_limit: int,
    drain_s: float,
) -> dict[str, Any]:
    t_setup = time.perf_counter()
    tag = f"m{members}x"
    users = await register_users(api, tag, members + 1, concurrency)
    sender, readers = users[0], users[1:]
    room_id = await room_with_members(api, users, f"latency {members}", concurrency)
    flt = {"room": {"timeline": {"limit": timeline_limit}}}
    filter_ids = await gather_limited(
        concurrency, [lambda u=u: api.create_filter(u, flt) for u in readers]
    )

    async def initial(u: User, fid: str) -> tuple[str, float]:
        t0 = time.perf_counter()
        body = await api.sync(u, None, fid, 0)
        return body["next_batch"], time.perf_counter() - t0

    initial_syncs = await gather_limited(
        concurrency,
        [lambda u=u, f=f: initial(u, f) for u, f in zip(readers, filter_ids, strict=True)],
    )
    setup_s = time.perf_counter() - t_setup

    book = Delivery(members)
    loops = [
        asyncio.create_task(
            member_loop(api, u, room_id, since, fid, book, sync_timeout_ms),
            name=f"sync-{u.user_id}",
        )
        for u, fid, (since, _) in zip(readers, filter_ids, initial_syncs, strict=True)
    ]
    try:
        # Warm-up (negative sequence numbers, not counted): proves every member's long-poll is
        # connected and parked before the measurement starts.
        for seq in (-2, -1):
            done = book.expect(seq)
            book.sent_at[seq] = time.perf_counter()
            await api.send_text(
                sender, room_id, {"msgtype": "m.text", "body": "w", "bench_seq": seq}
            )
            await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(0.2)

        with spy, CpuMeter(server, server.postgres) as meter:
            responses0 = book.sync_responses
            start = time.perf_counter()
            for seq in range(messages):
                done = book.expect(seq)
                content = {"msgtype": "m.text", "body": f"latency message {seq}", "bench_seq": seq}
                t0 = time.perf_counter()
                book.sent_at[seq] = t0
                await api.send_text(sender, room_id, content)
                book.send_latency.append(time.perf_counter() - t0)
                if rate > 0:
                    delay = start + (seq + 1) / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), drain_s)
            send_end = time.perf_counter()
            pending = [book.expect(s).wait() for s in range(messages)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), drain_s)
            sync_responses = book.sync_responses - responses0
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    expected = members * messages
    delivered = len(book.latencies)
    window = (book.last_delivery - start) if delivered else 0.0
    server_cpu = meter.server_cpu
    return {
        "members": members,
        "messages": messages,
        "mode": f"{rate:g} msg/s open loop" if rate > 0 else "lockstep",
        "rate_msgs_per_s": rate,
        "expected_deliveries": expected,
        "deliveries": delivered,
        "lost": expected - delivered,
        "latency": summary_ms(book.latencies),
        "fanout_complete": summary_ms(
            list(book.fanout_done.get(s, 0.0) for s in range(messages) if s in book.fanout_done)
        ),
        "send_latency": summary_ms(book.send_latency),
        "send_phase_s": round(send_end - start, 3),
        "window_s": round(window, 3),
        "deliveries_per_s": round(delivered / window, 1) if window > 0 else None,
        "sync_responses": sync_responses,
        "events_per_sync_response": round(delivered / sync_responses, 2)
        if sync_responses
        else None,
        "limited_responses": book.limited_responses,
        "duplicate_deliveries": book.duplicates,
        "sync_errors": len(book.sync_errors),
        "sync_error_samples": book.sync_errors[:5],
        "cpu": meter.result,
        "server_cpu_ms_per_delivery": (
            round(server_cpu * 1000 / delivered, 3) if server_cpu and delivered else None
        ),
        "initial_sync": summary_ms([d for _, d in initial_syncs]),
        "setup_s": round(setup_s, 2),
        "peak_rss_bytes": server.peak_rss_bytes(),
    }


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend}
    async with served(backend, args, result, log_tail=10) as (server, api):
        assert server.startup_s is not None
        result["startup_s"] = round(server.startup_s, 2)
        result["server_pid"] = server.pid
        if args.messages > 0:
            print(f"[{backend}] (a) {args.senders} senders x {args.messages} messages")
            result["throughput"] = await bench_send_throughput(
                api,
                server,
                PySpy(args.profile, server.pid, f"{backend}-throughput"),
                senders=args.senders,
                messages=args.messages,
                concurrency=args.setup_concurrency,
            )
        result["latency"] = []
        for n in args.members:
            count = messages_for(n, args.latency_messages, args.max_deliveries)
            print(f"[{backend}] (b) {n} members, {count} messages", flush=True)
            result["latency"].append(
                await bench_delivery_latency(
                    api,
                    server,
                    PySpy(args.profile, server.pid, f"{backend}-latency-{n}"),
                    members=n,
                    messages=count,
                    rate=args.rate,
                    concurrency=args.setup_concurrency,
                    sync_timeout_ms=args.sync_timeout_ms,
                    timeline_limit=args.timeline_limit,
                    drain_s=args.drain_seconds,
                )
            )
        result["peak_rss_bytes"] = server.peak_rss_bytes()
        result["client_retries"] = api.retries
        result["server_cpu_total_s"] = server.cpu_seconds()
    return result


# ---- output -------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _cores(cpu: dict[str, Any], key: str) -> str:
    """Average number of cores a CPU figure of the window amounts to."""
    value, wall = cpu.get(key), cpu.get("wall_s")
    return "-" if value is None or not wall else f"{value / wall:.2f}"


def _mib(v: int | None) -> str:
    return "-" if v is None else f"{v / 1048576:.0f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, sep, *body])


def render(results: list[dict[str, Any]]) -> str:
    out: list[str] = []
    tp_rows = []
    for r in results:
        t = r.get("throughput")
        if t:
            s = t["send_latency"]
            tp_rows.append(
                [
                    r["backend"],
                    str(t["senders"]),
                    str(t["ok"]),
                    str(t["errors"]),
                    _fmt(t["messages_per_s"]),
                    _fmt(s["p50_ms"]),
                    _fmt(s["p95_ms"]),
                    _fmt(s["p99_ms"]),
                    _fmt(t["server_cpu_ms_per_message"], 2),
                    _cores(t["cpu"], "server_cpu_s"),
                    _cores(t["cpu"], "postgres_cpu_s"),
                    _cores(t["cpu"], "other_cpu_s"),
                ]
            )
    if tp_rows:
        out.append("(a) send throughput: K concurrent senders, one room")
        headers = ["backend", "K", "sent", "errors", "msg/s", "p50 ms", "p95 ms", "p99 ms"]
        headers += ["srv CPU ms/msg", "srv cores", "pg cores", "other cores"]
        out.append(table(headers, tp_rows))
        out.append("")
    lat_rows = []
    for r in results:
        for b in r.get("latency", []):
            lat = b["latency"]
            lat_rows.append(
                [
                    r["backend"],
                    str(b["members"]),
                    str(b["messages"]),
                    b["mode"],
                    f"{b['deliveries']}/{b['expected_deliveries']}",
                    _fmt(lat["p50_ms"]),
                    _fmt(lat["p95_ms"]),
                    _fmt(lat["p99_ms"]),
                    _fmt(lat["max_ms"]),
                    _fmt(b["deliveries_per_s"]),
                    _fmt(b["events_per_sync_response"], 2),
                    _fmt(b["server_cpu_ms_per_delivery"], 3),
                    _fmt(b["send_latency"]["p50_ms"]),
                    _fmt(b["initial_sync"]["p50_ms"]),
                    _cores(b["cpu"], "server_cpu_s"),
                    _cores(b["cpu"], "postgres_cpu_s"),
                    _cores(b["cpu"], "other_cpu_s"),
                ]
            )
    if lat_rows:
        out.append("(b) end-to-end delivery: 1 sender, N members long-polling /sync")
        out.append("    latency = send request start -> member's /sync response received")
        headers = ["backend", "N", "msgs", "pacing", "delivered", "p50 ms", "p95 ms", "p99 ms"]
        headers += ["max ms", "deliv/s", "ev/sync", "srv CPU ms/deliv", "send p50 ms"]
        headers += ["init sync p50 ms", "srv cores", "pg cores", "other cores"]
        out.append(table(headers, lat_rows))
        out.append("")
    rss = [
        [
            r["backend"],
            _mib(r.get("peak_rss_bytes")),
            _fmt(r.get("server_cpu_total_s")),
            _fmt(r.get("server_log_errors")),
            _fmt(r.get("server_log_tracebacks")),
        ]
        for r in results
    ]
    headers = ["backend", "server peak RSS MiB", "server CPU s total", "log errors", "tracebacks"]
    out.append(table(headers, rss))
    out.append(
        "srv / pg cores: CPU time of the server / of all postgres processes divided by the wall "
        "time\nof the measured window; other cores: CPU busy with none of these nor this client "
        "(other jobs)."
    )
    return "\n".join(out)


# ---- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_backend_args(p)
    p.add_argument("--senders", type=int, default=10, help="(a) concurrent senders K")
    p.add_argument("--messages", type=int, default=2000, help="(a) messages in total; 0 skips (a)")
    p.add_argument(
        "--members",
        default="50",
        help="(b) members N, comma-separated for several runs (e.g. 50,200); 0 skips (b)",
    )
    p.add_argument("--latency-messages", type=int, default=30, help="(b) messages per run")
    p.add_argument(
        "--max-deliveries",
        type=int,
        default=2000,
        help="(b) cap on messages x members per run (fewer messages in big rooms); 0: no cap",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="(b) messages per second (open loop); 0: lockstep, i.e. send the next message "
        "once every member has the previous one",
    )
    p.add_argument("--sync-timeout-ms", type=int, default=30_000)
    p.add_argument("--timeline-limit", type=int, default=100, help="(b) sync filter limit")
    p.add_argument("--drain-seconds", type=float, default=30.0, help="(b) wait for stragglers")
    p.add_argument("--setup-concurrency", type=int, default=8)
    p.add_argument(
        "--profile",
        type=Path,
        help="directory for py-spy profiles (collapsed stacks) of the server, one per phase",
    )
    add_run_args(p)
    args = p.parse_args(argv)
    args.members = [int(x) for x in str(args.members).split(",") if x.strip() and int(x) != 0]
    if any(n < 1 for n in args.members) or args.senders < 1:
        p.error("--members and --senders must be positive (--members 0 skips (b))")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    done = run_main(args, argv, run_backend, render, server_env=SERVER_ENV, name="bench")
    if done is None:
        return 1
    out, report = done
    print(f"\nwrote {out} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
