"""Activation-code benchmark: issuing letters for a whole ministry at once.

Writes one ministry with ``--people`` officials straight into the tables (a tenth of them
share a name with someone, so localpart suffixes are exercised), then times, through
``ActivationService`` as the admin API and ``tumar people codes`` call it:

* ``issue``: codes for the whole subtree (localparts reserved, codes hashed and stored, one
  audit row per person), all in one transaction;
* ``letters CSV``: formatting those codes for printed letters;
* ``reissue``: the same subtree again with ``reissue`` (every earlier code revoked);
* ``activate``: one person activating (hash of the password included; Argon2 at test cost).

``peak`` is the process's peak resident memory (fill included).

SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh schema in ``--pg-url``
(default the test database at 127.0.0.1:5432), dropped afterwards.

    python bench/activation_bench.py --backend both --people 20000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from harness import add_backend_args, backend_list, bench_settings, in_scratch
from tumar.core.directory import cli_actor
from tumar.core.letters import letters_csv
from tumar.core.services import Services, build_services
from tumar.store.schema import organisations, people

GIVEN = ["Aigerim", "Nurlan", "Asel", "Daulet", "Madina", "Yerlan", "Saule", "Timur", "Dana"]
FAMILY = ["Sadykova", "Bekov", "Omarova", "Ismailov", "Nurpeisova", "Akhmetov", "Zhumabaeva"]


async def fill(svc: Services, count: int) -> None:
    now = svc.clock.now_ms()
    org = {
        "code": "mof", "parent_code": None, "path": "/mof/", "kind": "ministry",
        "name_kk": "Қаржы министрлігі", "name_ru": "Министерство финансов",
        "name_en": "Ministry of Finance", "region": None, "head_person_id": None,
        "register_by": None, "transition_by": None, "mfa_required": False,
        "created_ts": now, "updated_ts": now,
    }  # fmt: skip
    rows = []
    for i in range(count):
        # Every tenth person shares the name of the one before (a suffix is needed).
        n = i - 1 if i % 10 == 9 else i
        given, family = GIVEN[n % len(GIVEN)], FAMILY[(n // len(GIVEN)) % len(FAMILY)]
        rows.append(
            {
                "person_id": f"p_{i:012x}", "personnel_number": f"{i:07d}", "org_code": "mof",
                "position": None, "name_cyr": f"{family} {given}",
                "name_lat": f"{given} {family}{n // 63}", "email": None, "phone": None,
                "clearance": "internal", "kind": "official", "status": "active",
                "user_id": None, "created_ts": now, "updated_ts": now,
            }
        )  # fmt: skip
    async with svc.db.write() as conn:
        await conn.execute(insert(organisations).values(**org))
        for start in range(0, len(rows), 5_000):
            await conn.execute(insert(people), rows[start : start + 5_000])


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(
        backend,
        args.pg_url,
        "activation_bench",
        lambda tmp, schema: bench_in(backend, args, tmp, schema),
    )


async def bench_in(
    backend: str, args: argparse.Namespace, workdir: Path, schema: str | None
) -> dict[str, Any]:
    svc = build_services(bench_settings(backend, workdir, args.pg_url, schema))
    result: dict[str, Any] = {"backend": backend, "people": args.people}
    try:
        await svc.db.migrate()
        await fill(svc, args.people)
        actor = cli_actor("bench")

        started = time.perf_counter()
        codes = await svc.activation.do_issue(actor, org_code="mof")
        result["issue_s"] = time.perf_counter() - started
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert len(codes) == args.people
        assert len({c.localpart for c in codes}) == args.people

        started = time.perf_counter()
        csv_text = letters_csv(codes)
        result["csv_s"] = time.perf_counter() - started
        result["csv_mib"] = len(csv_text.encode()) / 2**20

        started = time.perf_counter()
        again = await svc.activation.do_issue(actor, org_code="mof", reissue=True)
        result["reissue_s"] = time.perf_counter() - started
        assert len(again) == args.people

        started = time.perf_counter()
        await svc.activation.do_activate(again[0].code, "a long and quiet river")
        result["activate_ms"] = (time.perf_counter() - started) * 1000
    finally:
        await svc.close()
    return result


def report(results: list[dict[str, Any]]) -> None:
    print(f"{'backend':<10}{'people':>8}{'issue':>10}{'peak':>10}{'csv':>9}{'reissue':>10}"
          f"{'activate':>11}")  # fmt: skip
    for r in results:
        print(
            f"{r['backend']:<10}{r['people']:>8}{r['issue_s']:>9.2f}s{r['peak_rss_mib']:>7.0f}MiB"
            f"{r['csv_s']:>8.2f}s{r['reissue_s']:>9.2f}s{r['activate_ms']:>9.0f}ms"
        )


async def main_async(args: argparse.Namespace) -> None:
    report([await bench_backend(b, args) for b in backend_list(args.backend)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_args(parser, default="both")
    parser.add_argument("--people", type=int, default=20_000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
