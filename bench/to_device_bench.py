"""To-device fan-out benchmark for tumar, over the standard Matrix API only.

Starts ``tumar serve`` as a separate process on 127.0.0.1 (a fresh SQLite file or a fresh
PostgreSQL schema per backend) and measures what an end-to-end encrypted room costs the
server when a client shares a room key: ONE ``PUT /sendToDevice/{type}/{txnId}`` addressed to
N devices (one per user, each message a different ~1 KiB "ciphertext", as Olm makes them),
delivered to N devices that long-poll ``/sync``.

For each N (``--devices``, default ``10,100,500``) every recipient does an initial sync and
then long-polls in a loop; one warm-up message proves that every long-poll is parked. Then the
sender sends ``--messages`` fan-outs in lockstep (the next once every device has the previous
one). The delivery latency of one device is the time from the start of the send request to the
moment that device's ``/sync`` response holding the message has been received; each
recipient's next sync acknowledges (deletes) what it got. Reported: send request latency, the
p50/p95/p99/max delivery latency over all N x messages deliveries, the time until the last
device of a fan-out has it, and server CPU per fan-out and per delivery.

All traffic goes to loopback, every phase is bounded in requests (``--max-deliveries``) and the
whole run has a time limit (``--max-seconds``); the server is stopped at the end. See
``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
from typing import Any

from harness import (
    SERVER_ENV,
    Api,
    CpuMeter,
    Delivery,
    ServerProcess,
    User,
    add_backend_args,
    add_run_args,
    messages_for,
    register_users,
    run_main,
    served,
    summary_ms,
    sync_forever,
)

EVENT_TYPE = "org.tumar.bench.to_device"
WARMUP = -1


async def device_loop(
    api: Api, user: User, device_id: str, since: str, book: Delivery, timeout_ms: int
) -> None:
    async for body, received in sync_forever(api, user, since, None, book, timeout_ms):
        for event in body.get("to_device", {}).get("events", []):
            seq = event.get("content", {}).get("seq")
            if event.get("type") == EVENT_TYPE and isinstance(seq, int):
                book.record(device_id, seq, received)


def ciphertext(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


async def send_fanout(
    api: Api, sender: User, recipients: list[tuple[User, str]], seq: int, payload: int
) -> None:
    messages = {
        user.user_id: {device_id: {"seq": seq, "ciphertext": ciphertext(payload)}}
        for user, device_id in recipients
    }
    path = f"/sendToDevice/{EVENT_TYPE}/{sender.next_txn()}"
    await api.call("PUT", path, sender, {"messages": messages})


async def bench_fanout(
    api: Api,
    server: ServerProcess,
    *,
    devices: int,
    messages: int,
    payload: int,
    timeout_ms: int,
    setup_concurrency: int,
    drain_seconds: float,
) -> dict[str, Any]:
    tag = f"td{devices}x{time.monotonic_ns() % 10**6}-"
    sender = (await register_users(api, tag + "s", 1, 1))[0]
    users = await register_users(api, tag + "r", devices, setup_concurrency)
    recipients = []
    for user in users:
        whoami = await api.call("GET", "/account/whoami", user)
        recipients.append((user, str(whoami["device_id"])))
    book = Delivery(devices)
    starts = [await api.sync(user, None, None, 0) for user in users]
    loops = [
        asyncio.create_task(device_loop(api, u, d, s["next_batch"], book, timeout_ms))
        for (u, d), s in zip(recipients, starts, strict=True)
    ]
    try:
        # Warm-up: every device must be parked in a long-poll and get one message.
        book.sent_at[WARMUP] = time.perf_counter()
        await send_fanout(api, sender, recipients, WARMUP, payload)
        await asyncio.wait_for(book.expect(WARMUP).wait(), 60)
        await asyncio.sleep(0.5)  # let every device re-park its long-poll
        with CpuMeter(server, server.postgres) as cpu:
            started = time.perf_counter()
            for seq in range(messages):
                book.sent_at[seq] = time.perf_counter()
                await send_fanout(api, sender, recipients, seq, payload)
                book.send_latency.append(time.perf_counter() - book.sent_at[seq])
                try:
                    await asyncio.wait_for(book.expect(seq).wait(), drain_seconds)
                except TimeoutError:
                    break
            elapsed = time.perf_counter() - started
    finally:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    delivered = len(book.latencies)
    server_cpu = cpu.server_cpu
    fanouts = [book.fanout_done[s] for s in range(messages) if s in book.fanout_done]
    return {
        "devices": devices,
        "messages": messages,
        "payload_bytes_per_device": payload,
        "delivered": delivered,
        "expected": devices * messages,
        "duplicates": book.duplicates,
        "sync_errors": book.sync_errors[:5],
        "send_latency": summary_ms(book.send_latency),
        "delivery_latency": summary_ms(book.latencies),
        "fanout_complete": summary_ms(fanouts),
        "deliveries_per_s": round(delivered / elapsed, 1) if elapsed > 0 else None,
        "server_cpu_ms_per_fanout": round(server_cpu * 1000 / messages, 2)
        if server_cpu is not None and messages
        else None,
        "server_cpu_ms_per_delivery": round(server_cpu * 1000 / delivered, 3)
        if server_cpu is not None and delivered
        else None,
        "cpu": cpu.result,
    }


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "runs": []}
    async with served(backend, args, result, tag="td-") as (server, api):
        for devices in args.devices:
            messages = messages_for(devices, args.messages, args.max_deliveries)
            print(f"[{backend}] {messages} fan-outs to {devices} devices", flush=True)
            result["runs"].append(
                await bench_fanout(
                    api,
                    server,
                    devices=devices,
                    messages=messages,
                    payload=args.payload,
                    timeout_ms=args.sync_timeout_ms,
                    setup_concurrency=args.setup_concurrency,
                    drain_seconds=args.drain_seconds,
                )
            )
        result["peak_rss_bytes"] = server.peak_rss_bytes()
    return result


def _f(v: Any) -> str:
    return "-" if v is None else str(v)


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "backend   devices  fan-outs  delivered | send p50 ms  send p95 ms | "
        "deliv p50 ms  p95 ms  p99 ms  max ms | last device p50 ms | deliv/s | "
        "srv CPU ms/fan-out  ms/deliv"
    ]
    for r in results:
        for run in r["runs"]:
            d, send = run["delivery_latency"], run["send_latency"]
            lines.append(
                f"{r['backend']:<9} {run['devices']:>7}  {run['messages']:>8}  "
                f"{run['delivered']:>5}/{run['expected']:<5} | "
                f"{_f(send['p50_ms']):>11}  {_f(send['p95_ms']):>11} | "
                f"{_f(d['p50_ms']):>12}  {_f(d['p95_ms']):>6}  {_f(d['p99_ms']):>6}  "
                f"{_f(d['max_ms']):>6} | {_f(run['fanout_complete']['p50_ms']):>18} | "
                f"{_f(run['deliveries_per_s']):>7} | {_f(run['server_cpu_ms_per_fanout']):>18}  "
                f"{_f(run['server_cpu_ms_per_delivery']):>8}"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_backend_args(p)
    p.add_argument("--devices", default="10,100,500", help="recipient devices per fan-out")
    p.add_argument("--messages", type=int, default=30, help="fan-outs per device count")
    p.add_argument(
        "--max-deliveries", type=int, default=5000, help="cap on devices x fan-outs per run"
    )
    p.add_argument("--payload", type=int, default=768, help="random bytes per device message")
    p.add_argument("--sync-timeout-ms", type=int, default=30_000)
    p.add_argument("--drain-seconds", type=float, default=30.0, help="wait for stragglers")
    p.add_argument("--setup-concurrency", type=int, default=8)
    add_run_args(p)
    args = p.parse_args(argv)
    args.devices = [int(x) for x in str(args.devices).split(",") if x.strip()]
    if not args.devices or min(args.devices) < 1 or args.messages < 1:
        p.error("--devices and --messages must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    done = run_main(args, argv, run_backend, render, server_env=SERVER_ENV, name="to-device")
    if done is None:
        return 1
    print(f"\nwritten: {done[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
