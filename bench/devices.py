"""Device check-ins per second that one node sustains, with the verdict computed.

For each backend a fresh ``tumar serve`` is started (``bench/harness.py``); written straight
into its database: a government of ``--ministries`` ministries, ``--devices`` officials with
an enrolled device each (Ed25519 keys made here), and one device policy covering everyone
(working hours in Asia/Almaty 00:00-23:59 every day, so a run is within them and evaluates
the restrictions whenever it starts; a
circular zone with a building Wi-Fi; camera and screen capture restricted while active;
requirements; the ``official-use`` gate). Then ``--clients`` concurrent clients on loopback
send signed check-ins (``POST /_tumar/devices/v1/checkin``, a keep-alive connection each), each
client owning its own devices so that every device's sequence numbers arrive in order. Bodies
are signed before the clock starts (the client shares the machine with the server; signing
during the run would measure the client). Most devices report compliance inside the zone; a
share (``--away``) reports a position away from it, and ``--violating`` the camera enabled.

Measured: accepted check-ins per second over the run (bounded by ``--checkins`` and
``--seconds``), latency p50/p99, refusals, and CPU of the server and PostgreSQL.
The target is 1,110/s: ten times 100,000 devices checking in every 15 minutes.

    python bench/devices.py --backend both
    python bench/devices.py --devices 2000 --checkins 4000    # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from harness import (
    SERVER_ENV,
    CpuMeter,
    PySpy,
    add_backend_args,
    add_run_args,
    run_main,
    served,
    summary_ms,
)
from rawhttp import RawClient
from tumar.cli_device_agent import Simulated, checkin_body
from tumar.policy.device_policy import parse_policy, policy_document
from tumar.store.db import Database
from tumar.store.json import dumps
from tumar.store.schema import device_policies, managed_devices, organisations, people, users

CHUNK = 5_000
SERVER = "bench.local"
LAT, LON = 51.1283, 71.4305
TARGET = 1_110


def database(
    server: Any, backend: str, args: argparse.Namespace, result: dict[str, Any]
) -> Database:
    if backend == "sqlite":
        path = Path(server.log_path).parent / "data" / "tumar.db"
        return Database(f"sqlite+aiosqlite:///{path}")
    return Database(args.pg_url, schema=result["schema"], pool_size=2)


def policy() -> dict[str, Any]:
    doc = {
        "name": "Every ministry's premises",
        "audience": {"orgs": ["gov"]},
        "schedules": [
            {
                "tz": "Asia/Almaty",
                "hours": [{"day": d, "start": "00:00", "end": "23:59"} for d in range(7)],
            }
        ],
        "zones": [
            {
                "id": "hq",
                "name": "Government house",
                "geometry": {"type": "Circle", "coordinates": [LON, LAT], "radius_m": 400},
                "networks": ["wifi:GOV-STAFF"],
            }
        ],
        "restrictions": {"active": ["camera", "screen_capture"], "inactive": []},
        "requirements": {"min_os": {"android": "13", "ios": "17"}},
        "grace_seconds": 3600,
        "gate": {"labels": ["official-use"]},
    }
    return policy_document(parse_policy(doc, policy_id="bench", version=1))


async def insert_chunks(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.write() as conn:
            await conn.execute(insert(table), rows[start : start + CHUNK])


async def seed(db: Database, args: argparse.Namespace) -> list[tuple[str, Ed25519PrivateKey]]:
    now = int(time.time() * 1000) - 86_400_000
    orgs = [
        {"code": code, "parent_code": parent, "path": path, "kind": kind, "name_kk": code,
         "name_ru": code, "name_en": code, "region": None, "head_person_id": None,
         "register_by": None, "transition_by": None, "mfa_required": False,
         "created_ts": now, "updated_ts": now}
        for code, parent, path, kind in [("gov", None, "/gov/", "government")] + [
            (f"m{m:02d}", "gov", f"/gov/m{m:02d}/", "ministry") for m in range(args.ministries)
        ]
    ]  # fmt: skip
    await insert_chunks(db, organisations, orgs)
    user_rows, person_rows, device_rows = [], [], []
    devices = []
    for i in range(args.devices):
        user_id = f"@o{i:06d}:{SERVER}"
        key = Ed25519PrivateKey.generate()
        device_id = f"dv_{i:06x}"
        devices.append((device_id, key))
        user_rows.append(
            {"user_id": user_id, "localpart": f"o{i:06d}", "password_hash": None,
             "is_admin": False, "deactivated": False, "suspended": False,
             "displayname": f"Official {i}", "avatar_url": None, "created_ts": now}
        )  # fmt: skip
        person_rows.append(
            {"person_id": f"p{i:06d}", "personnel_number": f"{i:06d}",
             "org_code": f"m{i % args.ministries:02d}", "position": None,
             "name_cyr": f"Иванов {i}", "name_lat": f"Ivanov {i}", "email": None, "phone": None,
             "clearance": "internal", "kind": "official", "status": "active",
             "user_id": user_id, "created_ts": now, "updated_ts": now}
        )  # fmt: skip
        device_rows.append(
            {"device_id": device_id, "user_id": user_id, "session_device_id": f"D{i:06d}",
             "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
             "platform": "android", "model": "bench", "os_version": "14",
             "management_mode": "work_profile", "ownership": "personal", "attestation": "{}",
             "enrolled_ts": now, "last_seq": 0, "last_checkin_ts": None, "report": None,
             "verdict": "unknown", "valid_until_ts": None, "gated_labels": "[]",
             "findings": "[]", "prior": None, "bundle_version": None, "retired_ts": None,
             "pending_commands": 0, "open_violation_id": None}
        )  # fmt: skip
    await insert_chunks(db, users, user_rows)
    await insert_chunks(db, people, person_rows)
    await insert_chunks(db, managed_devices, device_rows)
    async with db.write() as conn:
        await conn.execute(
            insert(device_policies).values(
                policy_id="bench", version=1, name="bench", document=dumps(policy()),
                created_by="bench", created_ts=now, retired_ts=None,
            )
        )  # fmt: skip
    return devices


def bodies(
    devices: list[tuple[str, Ed25519PrivateKey]], args: argparse.Namespace
) -> list[list[bytes]]:
    """Per client, its check-in bodies in order: client c owns devices c, c + C, c + 2C, ...
    and checks them in round-robin (sequence number r + 1 in round r)."""
    compliant = Simulated(restricted={"camera", "screen_capture"}, lat=LAT, lon=LON,
                          networks={"wifi:GOV-STAFF"})  # fmt: skip
    away = Simulated(restricted=set(), lat=LAT + 0.1, lon=LON, accuracy_m=30)
    violating = Simulated(restricted={"screen_capture"}, lat=LAT, lon=LON)
    per_client: list[list[bytes]] = [[] for _ in range(args.clients)]
    now = int(time.time() * 1000)
    total = min(args.checkins, args.devices * 50)
    for k in range(total):
        d = k % args.devices
        device_id, key = devices[d]
        share = (d * 7919) % 1000 / 1000
        sim = (
            violating
            if share < args.violating
            else away
            if share < args.violating + args.away
            else compliant
        )
        body = checkin_body(device_id, k // args.devices + 1, now, sim, [], key)
        per_client[d % args.clients].append(orjson.dumps(body))
    return per_client


async def client_run(
    base_url: str, mine: list[bytes], deadline: float, stats: dict[str, Any]
) -> None:
    http = RawClient(base_url, timeout=60.0)
    try:
        for content in mine:
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            resp = await http.post(
                "/_tumar/devices/v1/checkin", content=content,
                headers={"content-type": "application/json"},
            )  # fmt: skip
            stats["latencies"].append(time.perf_counter() - t)
            if resp.status_code == 200:
                stats["ok"] += 1
                verdict = resp.json()["verdict"]
                stats["verdicts"][verdict] = stats["verdicts"].get(verdict, 0) + 1
            else:
                stats["refused"][str(resp.status_code)] = (
                    stats["refused"].get(str(resp.status_code), 0) + 1
                )
    finally:
        await http.aclose()


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "devices": args.devices,
                              "clients": args.clients}  # fmt: skip
    async with served(backend, args, result, tag="devices-") as (server, _api):
        db = database(server, backend, args, result)
        t0 = time.perf_counter()
        try:
            devices = await seed(db, args)
        finally:
            await db.close()
        result["seed_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        per_client = bodies(devices, args)
        result["sign_s"] = round(time.perf_counter() - t0, 1)
        print(f"[{backend}] seeded {args.devices} devices in {result['seed_s']} s, "
              f"signed {sum(map(len, per_client))} check-ins in {result['sign_s']} s",
              flush=True)  # fmt: skip
        await asyncio.sleep(6)  # the server's policy cache re-reads after 5 s
        stats: dict[str, Any] = {"ok": 0, "refused": {}, "verdicts": {}, "latencies": []}
        spy = PySpy(args.profile, server.pid, f"devices-{backend}")
        with CpuMeter(server, backend == "postgres") as cpu, spy:
            started = time.perf_counter()
            deadline = started + args.seconds
            await asyncio.gather(
                *(client_run(server.base_url, mine, deadline, stats) for mine in per_client)
            )
            elapsed = time.perf_counter() - started
        result["checkins"] = stats["ok"]
        result["elapsed_s"] = round(elapsed, 2)
        result["per_second"] = round(stats["ok"] / elapsed, 1)
        result["refused"] = stats["refused"]
        result["verdicts"] = stats["verdicts"]
        result["latency"] = summary_ms(stats["latencies"])
        result["cpu"] = cpu.result
        result["profile"] = spy.outputs
        print(f"[{backend}] {result['per_second']} check-ins/s ({stats['ok']} in "
              f"{result['elapsed_s']} s), p50 {result['latency'].get('p50_ms')} ms, "
              f"p99 {result['latency'].get('p99_ms')} ms, refused {stats['refused']}",
              flush=True)  # fmt: skip
    return result


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | devices | clients | check-ins | per second | target | p50 ms | p99 ms "
        "| refused | server CPU s | PostgreSQL CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat, cpu = r.get("latency", {}), r.get("cpu", {})
        lines.append(
            f"| {r['backend']} | {r['devices']:,} | {r['clients']} | {r.get('checkins', 0):,} | "
            f"{r.get('per_second')} | {TARGET:,} | {lat.get('p50_ms')} | {lat.get('p99_ms')} | "
            f"{r.get('refused')} | {cpu.get('server_cpu_s')} | {cpu.get('postgres_cpu_s')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_args(p)
    add_run_args(p)
    p.add_argument("--devices", type=int, default=20_000)
    p.add_argument("--ministries", type=int, default=20)
    p.add_argument("--clients", type=int, default=32, help="concurrent connections")
    p.add_argument("--checkins", type=int, default=30_000, help="most check-ins sent")
    p.add_argument("--seconds", type=float, default=60.0, help="most seconds of sending")
    p.add_argument("--away", type=float, default=0.2, help="share of devices off the premises")
    p.add_argument("--violating", type=float, default=0.02, help="share with the camera on")
    p.add_argument("--profile", type=Path, help="sample the run with py-spy into this directory")
    args = p.parse_args(argv)
    done = run_main(args, argv, run_backend, render, server_env=SERVER_ENV, name="devices")
    if done is not None:
        print(f"\nreport: {done[0]}")


if __name__ == "__main__":
    main()
