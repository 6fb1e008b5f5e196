"""tumar and Synapse side by side, over the standard Matrix Client-Server API only.

For each backend (SQLite, PostgreSQL) the same workload runs against ``tumar serve`` and against
Synapse (bench/synapse_server.py), one server after the other on the same machine in the same
run, each a fresh process on loopback with rate limits off and cheap password hashing:

1. send throughput: K concurrent senders in one room (msg/s, send latency);
2. fan-out: one room, N members long-polling ``/sync``, one sender in lockstep (delivery
   latency p50/p95/p99, deliveries per second; matrix_bench's latency logic);
3. history paging: the room of (1), topped up to M messages, walked from the end to the start
   with ``/messages?dir=b&limit=50`` (per page p50/p95, pages per second);
4. initial sync of a user in R rooms (a few messages and two members each): p50 of a few
   initial syncs, each from a new device (login), and the response size;
5. peak RSS of the server process at the end, and server CPU per scenario and per operation.

It prints one table per backend with both servers, the ratio (oriented so that > 1 means tumar
is better) and the aims of issue 9, and writes everything to ``bench/results/compare-*.json``.
Every scenario is bounded in count and time. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness import (
    CLIENT_ERRORS,
    PASSWORD,
    SERVER_ENV,
    Api,
    CpuMeter,
    MatrixError,
    PySpy,
    ServerProcess,
    User,
    add_backend_args,
    add_run_args,
    gather_limited,
    register_users,
    room_with_members,
    run_main,
    served,
    summary_ms,
)
from matrix_bench import bench_delivery_latency, table
from synapse_server import DEFAULT_VENV, config_summary, ensure_venv, synapse_served

SERVERS = ("tumar", "synapse")
SCENARIOS = ("send", "fanout", "history", "initial-sync")


def _per_op_ms(cpu_s: float | None, ops: int) -> float | None:
    return round(cpu_s * 1000 / ops, 3) if cpu_s is not None and ops else None


def _cpu_fields(meter: CpuMeter, ops: int) -> dict[str, Any]:
    """Server (and PostgreSQL) CPU of a measured window, in total and per operation."""
    pg = meter.result.get("postgres_cpu_s")
    return {
        "cpu": meter.result,
        "server_cpu_ms_per_op": _per_op_ms(meter.server_cpu, ops),
        "postgres_cpu_ms_per_op": _per_op_ms(pg, ops),
    }


# ---- (1) send throughput ----------------------------------------------------------------------


async def scenario_send(
    api: Api, server: ServerProcess, *, senders: int, messages: int, concurrency: int
) -> tuple[dict[str, Any], str, list[User]]:
    """K senders, one request at a time each, ``messages`` in total; also returns the room
    and its senders for the history scenario."""
    users = await register_users(api, "tp", senders, concurrency)
    room_id = await room_with_members(api, users, "throughput", concurrency)
    await asyncio.gather(  # warm-up, not counted
        *(api.send_text(u, room_id, {"msgtype": "m.text", "body": "w"}) for u in users)
    )
    shares = [messages // senders + (1 if i < messages % senders else 0) for i in range(senders)]
    latencies: list[float] = []
    errors: list[str] = []

    async def sender(user: User, count: int) -> None:
        for i in range(count):
            t0 = time.perf_counter()
            try:
                await api.send_text(user, room_id, {"msgtype": "m.text", "body": f"msg {i}"})
            except (MatrixError, *CLIENT_ERRORS) as exc:
                errors.append(repr(exc)[:200])
                continue
            latencies.append(time.perf_counter() - t0)

    with CpuMeter(server, server.postgres) as meter:
        t0 = time.perf_counter()
        await asyncio.gather(*(sender(u, n) for u, n in zip(users, shares, strict=True)))
        elapsed = time.perf_counter() - t0
    result = {
        "senders": senders,
        "messages": messages,
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "elapsed_s": round(elapsed, 3),
        "messages_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "send_latency": summary_ms(latencies),
        **_cpu_fields(meter, len(latencies)),
        "room_messages": senders + len(latencies),
    }
    return result, room_id, users


# ---- (2) fan-out ------------------------------------------------------------------------------


async def scenario_fanout(
    api: Api, server: ServerProcess, args: argparse.Namespace
) -> dict[str, Any]:
    result = await bench_delivery_latency(
        api,
        server,
        PySpy(None, server.pid, "fanout"),  # no profiling here
        members=args.members,
        messages=args.fanout_messages,
        rate=0.0,
        concurrency=args.setup_concurrency,
        sync_timeout_ms=30_000,
        timeline_limit=100,
        drain_s=30.0,
    )
    result["server_cpu_ms_per_op"] = result.get("server_cpu_ms_per_delivery")
    result["postgres_cpu_ms_per_op"] = _per_op_ms(
        result["cpu"].get("postgres_cpu_s"), result["deliveries"]
    )
    return result


# ---- (3) history paging -----------------------------------------------------------------------


async def scenario_history(
    api: Api,
    server: ServerProcess,
    room_id: str,
    users: list[User],
    have: int,
    *,
    messages: int,
    limit: int,
    walks: int,
) -> dict[str, Any]:
    """Top the room up to ``messages`` message events, then walk it back to its creation
    ``walks`` times, one page of ``limit`` events at a time."""
    missing = max(0, messages - have)
    await gather_limited(
        len(users),
        [
            lambda i=i: api.send_text(
                users[i % len(users)], room_id, {"msgtype": "m.text", "body": "h"}
            )
            for i in range(missing)
        ],
    )
    reader = users[0]
    path = f"/rooms/{quote(room_id, safe='')}/messages"
    max_pages = 10 * (have + missing) // limit + 20
    page_times: list[float] = []
    seen_per_walk: list[int] = []
    walk_times: list[float] = []
    with CpuMeter(server, server.postgres) as meter:
        for _ in range(walks):
            token: str | None = None
            seen = 0
            w0 = time.perf_counter()
            for _ in range(max_pages):
                params: dict[str, Any] = {"dir": "b", "limit": limit}
                if token is not None:
                    params["from"] = token
                t0 = time.perf_counter()
                page = await api.call("GET", path, reader, params=params)
                page_times.append(time.perf_counter() - t0)
                chunk = page.get("chunk", [])
                seen += sum(1 for ev in chunk if ev.get("type") == "m.room.message")
                end = page.get("end")
                if not chunk or end is None or end == token:
                    break
                token = end
            walk_times.append(time.perf_counter() - w0)
            seen_per_walk.append(seen)
    pages = len(page_times)
    elapsed = sum(walk_times)
    return {
        "room_messages": have + missing,
        "limit": limit,
        "walks": walks,
        "pages": pages,
        "messages_seen_per_walk": seen_per_walk,
        "page_latency": summary_ms(page_times),
        "pages_per_s": round(pages / elapsed, 1) if elapsed > 0 else None,
        "walk_s": [round(w, 3) for w in walk_times],
        **_cpu_fields(meter, pages),
    }


# ---- (4) initial sync -------------------------------------------------------------------------


async def login(api: Api, username: str) -> User:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": username},
        "password": PASSWORD,
        "initial_device_display_name": "bench sync",
    }
    data = await api.call("POST", "/login", body=body)
    return User(data["user_id"], data["access_token"], api.new_client())


async def scenario_initial_sync(
    api: Api,
    server: ServerProcess,
    *,
    rooms: int,
    room_messages: int,
    syncs: int,
    concurrency: int,
    settle_s: float,
) -> dict[str, Any]:
    """A user in ``rooms`` rooms (created over the API; a second member and ``room_messages``
    messages in each), then ``syncs`` initial syncs (no ``since``, default filter), each by a
    new device of that user, one after the other."""
    t_setup = time.perf_counter()
    owner, peer = await register_users(api, "is", 2, 2)

    async def fill(i: int) -> None:
        room_id = await api.create_room(owner, f"sync room {i}")
        await api.join(peer, room_id)
        for k in range(room_messages):
            who = owner if k % 2 == 0 else peer
            await api.send_text(who, room_id, {"msgtype": "m.text", "body": f"room {i} #{k}"})

    await gather_limited(concurrency, [lambda i=i: fill(i) for i in range(rooms)])
    devices = [await login(api, "is0") for _ in range(syncs)]
    setup_s = time.perf_counter() - t_setup
    await asyncio.sleep(settle_s)  # let background work of the setup finish (both servers)

    times: list[float] = []
    sizes: list[int] = []
    joined: list[int] = []
    timeline_events: list[int] = []
    with CpuMeter(server, server.postgres) as meter:
        for dev in devices:
            headers = {"authorization": f"Bearer {dev.token}"}
            t0 = time.perf_counter()
            r = await dev.http.get("/sync", params={"timeout": 0}, headers=headers, timeout=300)
            times.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise MatrixError(r.status_code, r.text[:200])
            sizes.append(len(r.content))
            body = r.json()
            join = body.get("rooms", {}).get("join", {})
            joined.append(len(join))
            timeline_events.append(
                sum(len(room.get("timeline", {}).get("events", [])) for room in join.values())
            )
    return {
        "rooms": rooms,
        "room_messages": room_messages,
        "syncs": syncs,
        "latency": summary_ms(times),
        "response_bytes": sizes,
        "rooms_in_response": joined,
        "timeline_events_in_response": timeline_events,
        "setup_s": round(setup_s, 2),
        **_cpu_fields(meter, len(times)),
    }


# ---- one server ---------------------------------------------------------------------------------


async def bounded(
    name: str, seconds: float, job: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """One scenario within ``seconds``; a failure or time-out is recorded, not raised."""
    t0 = time.perf_counter()
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            result = await job()
    except TimeoutError as exc:  # the scenario's own limit, or a wait inside it
        error = (
            f"over --scenario-seconds={seconds:g}"
            if limit.expired()
            else f"a wait timed out: {exc!r}"
        )
        result = {"error": error}
    except (MatrixError, *CLIENT_ERRORS, KeyError) as exc:
        result = {"error": repr(exc)[:300]}
    result["scenario_s"] = round(time.perf_counter() - t0, 2)
    if "error" in result:
        print(f"    {name}: {result['error']}", flush=True)
    return result


async def run_scenarios(
    label: str, server: ServerProcess, api: Api, args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {"pid": server.pid, "startup_s": server.startup_s}
    limit = args.scenario_seconds
    room: tuple[str, list[User], int] | None = None

    async def send() -> dict[str, Any]:
        nonlocal room
        result, room_id, users = await scenario_send(
            api,
            server,
            senders=args.senders,
            messages=args.messages,
            concurrency=args.setup_concurrency,
        )
        room = (room_id, users, result["room_messages"])
        return result

    async def history() -> dict[str, Any]:
        if room is None:  # the send scenario was skipped or failed: a room of its own
            users = await register_users(api, "hp", args.senders, args.setup_concurrency)
            room_id = await room_with_members(api, users, "history", args.setup_concurrency)
            have = 0
        else:
            room_id, users, have = room
        return await scenario_history(
            api,
            server,
            room_id,
            users,
            have,
            messages=args.history_messages,
            limit=args.page_limit,
            walks=args.history_walks,
        )

    async def fanout() -> dict[str, Any]:
        return await scenario_fanout(api, server, args)

    async def initial_sync() -> dict[str, Any]:
        return await scenario_initial_sync(
            api,
            server,
            rooms=args.rooms,
            room_messages=args.room_messages,
            syncs=args.initial_syncs,
            concurrency=args.setup_concurrency,
            settle_s=args.settle_seconds,
        )

    jobs = {"send": send, "history": history, "fanout": fanout, "initial-sync": initial_sync}
    for name in ("send", "history", "fanout", "initial-sync"):
        if name in args.scenarios:
            print(f"[{label}] {name}", flush=True)
            out[name] = await bounded(name, limit, jobs[name])
    out["peak_rss_bytes"] = server.peak_rss_bytes()
    out["server_cpu_total_s"] = server.cpu_seconds()
    out["client_retries"] = api.retries
    return out


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "servers": {}}
    for name in args.servers:
        entry: dict[str, Any] = {}
        result["servers"][name] = entry
        label = f"{backend}/{name}"
        try:
            if name == "tumar":
                async with served(backend, args, entry, tag="compare-") as (server, api):
                    entry.update(await run_scenarios(label, server, api, args))
            else:
                async with synapse_served(backend, args, args.synapse_python, entry) as (
                    server,
                    api,
                ):
                    entry.update(await run_scenarios(label, server, api, args))
        except RuntimeError as exc:  # the server did not start
            entry["error"] = str(exc)[:2000]
            print(f"[{label}] {exc}", file=sys.stderr, flush=True)
    return result


# ---- output -------------------------------------------------------------------------------------


def _get(d: dict[str, Any] | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


# (scenario, metric, value getter, which way is better, aim as a ratio). "higher": ratio =
# tumar / synapse; "lower": ratio = synapse / tumar; None: shown without a ratio.
Row = tuple[str, str, Callable[[dict[str, Any]], Any], str | None, float | None]
HIGHER, LOWER = "higher", "lower"


def _at(*keys: str) -> Callable[[dict[str, Any]], Any]:
    return lambda s: _get(s, *keys)


def _first(scenario: str, key: str) -> Callable[[dict[str, Any]], Any]:
    """The first of a per-request list (all requests return the same content)."""
    return lambda s: (_get(s, scenario, key) or [None])[0]


def _pair(a: Any, b: Any, sep: str = " / ") -> str | None:
    return None if a is None and b is None else f"{_num(a)}{sep}{_num(b)}"


def _mib(s: dict[str, Any]) -> float | None:
    v = s.get("peak_rss_bytes")
    return None if v is None else round(v / 1048576, 1)


def _sent(s: dict[str, Any]) -> str | None:
    return _pair(_get(s, "send", "ok"), _get(s, "send", "errors"))


def _delivered(s: dict[str, Any]) -> str | None:
    return _pair(_get(s, "fanout", "deliveries"), _get(s, "fanout", "expected_deliveries"), "/")


def _sync_kib(s: dict[str, Any]) -> float | None:
    size = _first("initial-sync", "response_bytes")(s)
    return None if size is None else round(size / 1024, 1)


def _sync_content(s: dict[str, Any]) -> str | None:
    rooms = _first("initial-sync", "rooms_in_response")(s)
    return _pair(rooms, _first("initial-sync", "timeline_events_in_response")(s))


def _log_errors(s: dict[str, Any]) -> str | None:
    return _pair(s.get("server_log_errors"), s.get("server_log_tracebacks"))


def _rows(postgres: bool) -> list[Row]:
    rows: list[Row] = [
        ("send", "msg/s", _at("send", "messages_per_s"), HIGHER, 10),
        ("send", "send p50 ms", _at("send", "send_latency", "p50_ms"), LOWER, None),
        ("send", "send p99 ms", _at("send", "send_latency", "p99_ms"), LOWER, None),
        ("send", "srv CPU ms/msg", _at("send", "server_cpu_ms_per_op"), LOWER, None),
        ("send", "sent / errors", _sent, None, None),
        ("fan-out", "deliveries/s", _at("fanout", "deliveries_per_s"), HIGHER, 10),
        ("fan-out", "p50 ms", _at("fanout", "latency", "p50_ms"), LOWER, None),
        ("fan-out", "p95 ms", _at("fanout", "latency", "p95_ms"), LOWER, None),
        ("fan-out", "p99 ms", _at("fanout", "latency", "p99_ms"), LOWER, 10),
        ("fan-out", "srv CPU ms/deliv", _at("fanout", "server_cpu_ms_per_op"), LOWER, None),
        ("fan-out", "delivered", _delivered, None, None),
        ("history", "pages/s", _at("history", "pages_per_s"), HIGHER, None),
        ("history", "page p50 ms", _at("history", "page_latency", "p50_ms"), LOWER, None),
        ("history", "page p95 ms", _at("history", "page_latency", "p95_ms"), LOWER, None),
        ("history", "srv CPU ms/page", _at("history", "server_cpu_ms_per_op"), LOWER, None),
        ("history", "msgs seen/walk", _first("history", "messages_seen_per_walk"), None, None),
        ("initial sync", "p50 ms", _at("initial-sync", "latency", "p50_ms"), LOWER, 5),
        (
            "initial sync",
            "srv CPU ms/sync",
            _at("initial-sync", "server_cpu_ms_per_op"),
            LOWER,
            None,
        ),
        ("initial sync", "response KiB", _sync_kib, None, None),
        ("initial sync", "rooms / events", _sync_content, None, None),
        ("memory", "peak RSS MiB", _mib, LOWER, 2),
        ("server", "CPU s, whole run", lambda s: s.get("server_cpu_total_s"), LOWER, None),
        ("server", "log errors / tracebacks", _log_errors, None, None),
    ]
    if postgres:  # PostgreSQL's own CPU (all its processes on the machine: noisy)
        for scenario, key, unit in (
            ("send", "send", "msg"),
            ("fan-out", "fanout", "deliv"),
            ("history", "history", "page"),
            ("initial sync", "initial-sync", "sync"),
        ):
            pg = (scenario, f"pg CPU ms/{unit}", _at(key, "postgres_cpu_ms_per_op"), LOWER, None)
            rows.append(pg)
        order = [r[0] for r in rows]
        rows.sort(key=lambda r: order.index(r[0]))
    return rows


def _aim_text(better: str | None, aim: float | None) -> str:
    if aim is None:
        return ""
    return f">= {aim:g}x" if better == HIGHER else f"<= 1/{aim:g}"


def ratio(tumar: Any, synapse: Any, better: str | None) -> float | None:
    if better is None or not isinstance(tumar, int | float) or not isinstance(synapse, int | float):
        return None
    if better == "higher":
        return tumar / synapse if synapse else None
    return synapse / tumar if tumar else None


def backend_table(result: dict[str, Any]) -> str:
    servers = result["servers"]
    t = servers.get("tumar") or {}
    s = servers.get("synapse") or {}
    lines = []
    for scen, metric, get, better, aim in _rows(result["backend"] == "postgres"):
        tv, sv = get(t), get(s)
        r = ratio(tv, sv, better)
        verdict = "" if aim is None else ("-" if r is None else ("met" if r >= aim else "missed"))
        lines.append(
            [
                scen,
                metric,
                _num(tv),
                _num(sv),
                "-" if r is None else f"{r:.2f}x",
                _aim_text(better, aim),
                verdict,
            ]
        )
    head = ["scenario", "metric", "tumar", "synapse", "ratio", "aim", "verdict"]
    return table(head, lines)


def _load_note(result: dict[str, Any]) -> str:
    """Average CPU cores busy with other work during the measured windows, per server."""
    notes = []
    for name, srv in result["servers"].items():
        other = wall = 0.0
        for key in SCENARIOS:
            cpu = _get(srv, key, "cpu") or {}
            if cpu.get("other_cpu_s") is not None and cpu.get("wall_s"):
                other += cpu["other_cpu_s"]
                wall += cpu["wall_s"]
        if wall:
            notes.append(f"{name} {other / wall:.2f}")
    return ", ".join(notes) or "-"


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for result in results:
        errors = {
            f"{name}/{k}": v["error"]
            for name, srv in result["servers"].items()
            for k, v in [("server", srv), *((k, srv.get(k) or {}) for k in SCENARIOS)]
            if isinstance(v, dict) and "error" in v
        }
        version = _get(result, "servers", "synapse", "synapse_version")
        out.append(f"== {result['backend']} (Synapse {version or '-'}) ==")
        out.append(backend_table(result))
        out.append(
            "ratio > 1: tumar better (throughput: tumar/synapse; latency, CPU, memory: "
            "synapse/tumar)."
        )
        out.append(f"other cores busy during measured windows (machine load): {_load_note(result)}")
        for where, err in errors.items():
            out.append(f"ERROR {where}: {err[:300]}")
        out.append("")
    return "\n".join(out)


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_backend_args(p)
    p.add_argument("--servers", default="tumar,synapse", help="comma-separated: tumar,synapse")
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    p.add_argument(
        "--synapse-venv",
        type=Path,
        default=DEFAULT_VENV,
        help="Synapse's virtualenv (created with pip when missing; default bench/.synapse-venv)",
    )
    p.add_argument("--senders", type=int, default=10, help="(1) concurrent senders")
    p.add_argument("--messages", type=int, default=1000, help="(1) messages in total")
    p.add_argument("--members", type=int, default=200, help="(2) members long-polling /sync")
    p.add_argument("--fanout-messages", type=int, default=20, help="(2) lockstep messages")
    p.add_argument("--history-messages", type=int, default=1000, help="(3) messages in the room")
    p.add_argument("--page-limit", type=int, default=50, help="(3) /messages limit")
    p.add_argument("--history-walks", type=int, default=3, help="(3) walks end -> start")
    p.add_argument("--rooms", type=int, default=200, help="(4) rooms of the syncing user")
    p.add_argument("--room-messages", type=int, default=3, help="(4) messages per room")
    p.add_argument("--initial-syncs", type=int, default=5, help="(4) initial syncs timed")
    p.add_argument("--settle-seconds", type=float, default=2.0, help="(4) pause after setup")
    p.add_argument("--setup-concurrency", type=int, default=8)
    p.add_argument(
        "--scenario-seconds", type=float, default=600.0, help="time limit of each scenario"
    )
    add_run_args(p)
    p.set_defaults(max_seconds=3600.0)
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.servers or any(s not in SERVERS for s in args.servers):
        p.error(f"--servers: a subset of {','.join(SERVERS)}")
    if any(s not in SCENARIOS for s in args.scenarios):
        p.error(f"--scenarios: a subset of {','.join(SCENARIOS)}")
    if min(args.senders, args.members, args.page_limit, args.initial_syncs) < 1:
        p.error("--senders, --members, --page-limit and --initial-syncs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.synapse_python = ensure_venv(args.synapse_venv) if "synapse" in args.servers else None
    server_env = {**SERVER_ENV, **{f"synapse.{k}": str(v) for k, v in config_summary().items()}}
    done = run_main(args, argv, run_backend, render, server_env=server_env, name="compare")
    if done is None:
        return 1
    out, report = done
    print(f"wrote {out} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
