"""Registered correspondence: concurrent registration and signature verification.

In process, per backend: an organisation tree (gov > mof, moh), an author, a signatory with an
Ed25519 key and a registry clerk of mof are created through the services; ``--letters``
letters are drafted, submitted and signed (not timed). Then, timed:

* ``register``: all letters registered at once, ``--concurrency`` at a time, through the core
  command the API calls (number taken under the counter row's lock, registry seal, delivery,
  history and audit rows, one transaction each). On PostgreSQL the registrations are split
  over ``--nodes`` Services instances on the one database (several nodes). Afterwards the
  outgoing numbers are checked: exactly 1..N, no gaps, no duplicates.
* ``verify``: every letter verified as ``GET /letters/{id}/verify`` and ``tumar letters
  verify`` do (read the letter, recompute the canonical form, check the signature and the
  registry seal).
* ``verify (pure)``: the canonical form and Ed25519 check alone, ``--pure`` times.

SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh schema in ``--pg-url``
(default the test database at 127.0.0.1:5432), dropped afterwards.

    python bench/letters.py --backend both --letters 300
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import add_backend_args, backend_list, bench_settings, gather_limited, in_scratch
from tumar.core.correspondence_drafts import LetterDraft
from tumar.core.directory import NewOrg, NewPerson, cli_actor
from tumar.core.requester import Requester
from tumar.core.services import Services, build_services
from tumar.policy import letter_signing as signing
from tumar.policy.roles import Role
from tumar.store import directory as directory_store


async def setup(svc: Services) -> dict[str, Requester]:
    actor = cli_actor("bench")
    await svc.directory.do_create_org(actor, NewOrg("gov", None, "government", "g", "g", "g"))
    for code in ("mof", "moh"):
        await svc.directory.do_create_org(actor, NewOrg(code, "gov", "ministry", code, code, code))
    who: dict[str, Requester] = {}
    for number, name in (("1", "author"), ("2", "signer"), ("3", "clerk")):
        p = await svc.directory.do_create_person(actor, NewPerson(number, "mof", "Аты", "Name"))
        user_id = await svc.accounts.do_create_user(name, None)
        async with svc.db.write() as conn:
            await directory_store.update_person(conn, p.person_id, user_id=user_id)
        who[name] = Requester(user_id, "BENCH")
    await svc.directory.do_grant(actor, who["signer"].user_id, Role.SIGNATORY, "mof")
    await svc.directory.do_grant(actor, who["clerk"].user_id, Role.REGISTRY_CLERK, "mof")
    await svc.correspondence.keys.do_create_ed25519(who["signer"])
    return who


async def signed_letters(svc: Services, who: dict[str, Requester], count: int) -> list[str]:
    letters = svc.correspondence
    ids = []
    for i in range(count):
        draft = LetterDraft(
            "mof", ("moh",), f"Letter {i}", "Please answer by **Friday**.",
            signatory=who["signer"].user_id,
        )  # fmt: skip
        v = await letters.do_create(who["author"], draft)
        await letters.do_submit(who["author"], v.letter.letter_id)
        await letters.do_sign(who["signer"], v.letter.letter_id, None)
        ids.append(v.letter.letter_id)
    return ids


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(
        backend, args.pg_url, "letters", lambda tmp, schema: bench_in(backend, args, tmp, schema)
    )


async def bench_in(
    backend: str, args: argparse.Namespace, workdir: Path, schema: str | None
) -> dict[str, Any]:
    settings = bench_settings(
        backend, workdir, args.pg_url, schema, letters_tick_seconds=0, gov_notices_tick_seconds=0
    )
    svc = build_services(settings)
    nodes = [svc]
    result: dict[str, Any] = {"backend": backend, "letters": args.letters}
    try:
        await svc.db.migrate()
        who = await setup(svc)
        ids = await signed_letters(svc, who, args.letters)
        if backend == "postgres":
            nodes += [build_services(settings) for _ in range(args.nodes - 1)]
        result["nodes"] = len(nodes)

        jobs = [
            (lambda lid=lid, i=i: nodes[i % len(nodes)].correspondence.do_register(
                who["clerk"], lid))
            for i, lid in enumerate(ids)
        ]  # fmt: skip
        started = time.perf_counter()
        views = await gather_limited(args.concurrency, jobs)
        elapsed = time.perf_counter() - started
        numbers = sorted(v.letter.outgoing_seq or 0 for v in views)
        result["gap_free"] = numbers == list(range(1, args.letters + 1))
        assert result["gap_free"], "registration numbers have gaps or duplicates"
        result["register_s"] = elapsed
        result["register_per_s"] = args.letters / elapsed

        started = time.perf_counter()
        for lid in ids:
            _ctx, report = await svc.correspondence.verify_offline(lid)
            assert report.ok, report.all_reasons()
        elapsed = time.perf_counter() - started
        result["verify_per_s"] = len(ids) / elapsed
    finally:
        for node in nodes:
            await node.close()
    return result


def pure_verifications(count: int) -> float:
    private, public = signing.generate_ed25519()
    key_id = signing.ed25519_key_id(public)
    content = signing.LetterContent("l_1", "mof", ("moh",), "Subject", "Body " * 200, "internal")
    at = datetime(2026, 3, 2, tzinfo=UTC)
    data = signing.canonical_letter(
        content, stage="signature", date=at, signer="@s:x", key_id=key_id
    )
    record = signing.SignatureRecord(
        "@s:x", key_id, "ed25519", "ed25519", signing.sign_ed25519(private, data), at,
        public_key=public,
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(count):
        report = signing.verify_letter(
            content, [record], actual_sha256=[], anchors=[], checked_at=at
        )
        assert report.ok
    return count / (time.perf_counter() - started)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    async with asyncio.timeout(args.max_seconds):
        for backend in backend_list(args.backend):
            results.append(await bench_backend(backend, args))
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_args(p)
    p.add_argument("--letters", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--nodes", type=int, default=2, help="Services on PostgreSQL (nodes)")
    p.add_argument("--pure", type=int, default=5000, help="pure verifications")
    p.add_argument("--max-seconds", type=float, default=900.0)
    args = p.parse_args(argv)
    results = asyncio.run(main_async(args))
    print(f"{'backend':<10}{'nodes':>6}{'letters':>8}{'register/s':>12}{'gap-free':>10}"
          f"{'verify/s':>10}")  # fmt: skip
    for r in results:
        print(
            f"{r['backend']:<10}{r['nodes']:>6}{r['letters']:>8}{r['register_per_s']:>12.1f}"
            f"{'yes' if r['gap_free'] else 'NO':>10}{r['verify_per_s']:>10.1f}"
        )
    print(f"pure canonical form + Ed25519 verification: {pure_verifications(args.pure):.0f}/s")


if __name__ == "__main__":
    main()
