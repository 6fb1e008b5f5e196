"""Staff import benchmark: 100,000 people from a generated HR file, on SQLite and PostgreSQL.

For each backend and file format, on a fresh database (a new SQLite file, or a new schema in
PostgreSQL that is dropped afterwards), it runs the command line (``tumar.cli.main``) in a
child process:

1. ``tumar org import`` of a generated tree (government, 20 ministries, 10 departments each);
2. ``tumar people import FILE``: the first import (every person new);
3. the same command again: an idempotent re-import (every person unchanged, nothing written);
4. ``tumar people import CHANGED --confirm-departures``: a second HR file in which 10% of the
   people changed position, 1% moved and 1% left (skipped with ``--no-changes``).

The child starts up once first (imports, migrations), then runs the command while a thread
samples its resident memory every 10 ms: reported are the command's wall and CPU time, and
the resident memory before it and at its peak. Nothing leaves the machine; files are
generated into a temporary directory. See ``bench/README.md``.

    python bench/import_bench.py                       # both backends, CSV and XLSX, 100,000
    python bench/import_bench.py --people 10000 --backend sqlite --formats csv
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

MINISTRIES = 20
DEPARTMENTS = 10
STAFF = ["personnel_number", "org_code", "name_cyr", "name_lat", "position", "email", "phone",
         "clearance", "kind"]  # fmt: skip
SURNAMES = [("Иванов", "Ivanov"), ("Сейтқали", "Seitkali"), ("Әбілов", "Abilov"),
            ("Петрова", "Petrova"), ("Нұрланова", "Nurlanova"), ("Ким", "Kim")]  # fmt: skip
NAMES = [("Аружан", "Aruzhan"), ("Данияр", "Daniyar"), ("Иван", "Ivan"), ("Әлия", "Aliya"),
         ("Ерлан", "Yerlan"), ("Мария", "Mariya")]  # fmt: skip
POSITIONS = ["Chief specialist", "Leading specialist", "Head of unit", "Deputy director",
             "Director", "Expert"]  # fmt: skip
CLEARANCES = ["public", "internal", "internal", "official-use"]


def org_codes() -> list[str]:
    return [f"m{m:02d}-d{d:02d}" for m in range(MINISTRIES) for d in range(DEPARTMENTS)]


def org_rows() -> list[list[str]]:
    rows = [["gov", "", "government", "Үкімет", "Правительство", "Government", "Astana"]]
    for m in range(MINISTRIES):
        rows.append([f"m{m:02d}", "gov", "ministry", f"Министрлік {m}", f"Министерство {m}",
                     f"Ministry {m}", "Astana"])  # fmt: skip
        for d in range(DEPARTMENTS):
            rows.append([f"m{m:02d}-d{d:02d}", f"m{m:02d}", "department", f"Департамент {d}",
                         f"Департамент {d}", f"Department {d}", ""])  # fmt: skip
    return rows


def person_row(i: int, changed: bool = False) -> list[str]:
    codes = org_codes()
    sur, sur_lat = SURNAMES[i % len(SURNAMES)]
    name, name_lat = NAMES[(i // 7) % len(NAMES)]
    org = codes[i % len(codes)]
    position = POSITIONS[i % len(POSITIONS)]
    if changed and i % 10 == 0:
        position = "Senior " + position  # 10% changed
    if changed and i % 100 == 1:
        org = codes[(i + 1) % len(codes)]  # 1% moved
    clearance = CLEARANCES[i % len(CLEARANCES)]
    return [f"P{i:07d}", org, f"{sur} {name}", f"{sur_lat} {name_lat}", position,
            f"p{i}@gov.kz", f"+7 701 {i:07d}", clearance, "official"]  # fmt: skip


def people(n: int, changed: bool) -> list[list[str]]:
    rows = []
    for i in range(n):
        if changed and i % 100 == 2:
            continue  # 1% left
        rows.append(person_row(i, changed))
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("staff")
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    book.save(path)
    return path


def run_tumar(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``tumar ARGS`` in a child process (see :func:`child`): the command's wall and CPU
    time, resident memory, and summary line; ``process_s`` is the child's whole life."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(args)], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in (0, 3):
        raise SystemExit(f"tumar {' '.join(args)} failed ({code}):\n{stdout}\n{stderr}")
    figures = json.loads(stderr.strip().splitlines()[-1])
    summary = next((line for line in stdout.splitlines() if " rows." in line), stdout.strip())
    process = {
        "process_s": round(wall, 2),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }
    return {**figures, **process, "summary": summary}


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def child(args: list[str]) -> int:
    """Run the command line in this process: first start up and migrate once (so that
    imports of modules and Alembic do not count), then run ``tumar ARGS`` while a thread
    samples the resident memory every 10 ms; report the resident memory before and the peak
    during the command on stderr."""
    from tumar.cli import main as tumar_main

    tumar_main(["people", "list", "--limit", "1", *args[args.index("--data-dir") :][:2]])
    before = _status_mib("VmRSS")
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _status_mib("VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    code = tumar_main(args)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    sampler.join()
    sys.stdout.flush()
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    figures = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rss_before_mib": before,
               "peak_rss_mib": max(peak[0], _status_mib("VmRSS"))}  # fmt: skip
    print(json.dumps(figures), file=sys.stderr)
    return code


def bench_backend(
    backend: str, fmt: str, files: dict[str, Path], pg_url: str, workdir: Path
) -> list[dict[str, Any]]:
    from harness import pg_admin  # not at the top: the child (see child()) does not need it

    # Services hash a dummy password when built (64 MiB with the default Argon2 cost), which
    # would hide the import's own memory; an import never hashes a password.
    env = {**os.environ, "TUMAR_LOG_LEVEL": "warning", "TUMAR_ARGON2_TIME_COST": "1",
           "TUMAR_ARGON2_MEMORY_KIB": "8"}  # fmt: skip
    data_dir = workdir / f"data-{backend}-{fmt}-{uuid.uuid4().hex[:6]}"
    schema = None
    if backend == "postgres":
        schema = f"tumar_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_admin(pg_url, f'CREATE SCHEMA "{schema}"'))
        env |= {"TUMAR_DATABASE_URL": pg_url, "TUMAR_DATABASE_SCHEMA": schema}
    common = ["--data-dir", str(data_dir), "--no-progress", "--show", "0"]
    results = []
    try:
        run_tumar(["org", "import", str(files["orgs"]), *common], env)
        base = run_tumar(["people", "list", "--limit", "1", "--data-dir", str(data_dir)], env)
        base |= {"backend": backend, "format": fmt, "phase": "baseline: tumar people list"}
        print(
            f"{backend:<9} {fmt:<5} {base['phase']:<36} {base['wall_s']:>8.2f} s "
            f"{base['cpu_s']:>8.2f} s {base['rss_before_mib']:>7} {base['peak_rss_mib']:>7} MiB",
            flush=True,
        )
        results.append(base)
        phases = [
            ("first import", [str(files[f"staff.{fmt}"])]),
            ("idempotent re-import", [str(files[f"staff.{fmt}"])]),
        ]
        if f"changed.{fmt}" in files:
            phases.append(
                ("changed file, departures confirmed",
                 [str(files[f"changed.{fmt}"]), "--confirm-departures"])
            )  # fmt: skip
        for name, args in phases:
            result = run_tumar(["people", "import", *args, *common], env)
            result |= {"backend": backend, "format": fmt, "phase": name}
            print(
                f"{backend:<9} {fmt:<5} {name:<36} {result['wall_s']:>8.2f} s "
                f"{result['cpu_s']:>8.2f} s {result['rss_before_mib']:>7} "
                f"{result['peak_rss_mib']:>7} MiB   "
                f"{result['summary']}",
                flush=True,
            )
            results.append(result)
    finally:
        if schema is not None:
            asyncio.run(pg_admin(pg_url, f'DROP SCHEMA "{schema}" CASCADE'))
    return results


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child(json.loads(sys.argv[2])))
    from harness import add_backend_args, backend_list

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--people", type=int, default=100_000)
    add_backend_args(p, default="both")
    p.add_argument("--formats", default="csv,xlsx", help="comma-separated: csv, xlsx")
    p.add_argument("--no-changes", action="store_true", help="skip the changed-file phase")
    p.add_argument("--output", type=Path, help="write the results as JSON here")
    args = p.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    backends = backend_list(args.backend)

    with tempfile.TemporaryDirectory(prefix="tumar-import-bench-") as tmp:
        workdir = Path(tmp)
        start = time.perf_counter()
        first, changed = people(args.people, False), people(args.people, True)
        files: dict[str, Path] = {"orgs": write_csv(workdir / "orgs.csv", ORG_HEADER, org_rows())}
        for fmt in formats:
            writer = write_csv if fmt == "csv" else write_xlsx
            files[f"staff.{fmt}"] = writer(workdir / f"staff.{fmt}", STAFF, first)
            if not args.no_changes:
                files[f"changed.{fmt}"] = writer(workdir / f"changed.{fmt}", STAFF, changed)
        sizes = {name: path.stat().st_size for name, path in files.items()}
        print(
            f"{args.people:,} people in {len(org_rows())} organisations; files generated in "
            f"{time.perf_counter() - start:.1f} s: "
            + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()),
            flush=True,
        )
        heading = ("backend", "file", "phase", "wall", "CPU", "RSS before, peak")
        print("{:<9} {:<5} {:<36} {:>10} {:>10} {:>20}".format(*heading))
        results = []
        for backend in backends:
            for fmt in formats:
                results += bench_backend(backend, fmt, files, args.pg_url, workdir)
    if args.output:
        meta = {"people": args.people, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "load_average": os.getloadavg(), "file_bytes": sizes}  # fmt: skip
        args.output.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


ORG_HEADER = ["code", "parent_code", "kind", "name_kk", "name_ru", "name_en", "region"]

if __name__ == "__main__":
    main()
