"""The audit hash chain on both databases: rows written by the real services form a chain,
and ``verify`` names the first row that was edited, deleted, inserted or reordered directly
in the database, and any checkpoint whose signature does not hold."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection

from tumar.core.audit_verify import VerifyReport
from tumar.core.directory import NewOrg, cli_actor
from tumar.core.services import Services
from tumar.policy.audit_chain import GENESIS, ChainRow, hash_row
from tumar.store import audit as audit_store
from tumar.store.db import alembic_config
from tumar.store.schema import audit_checkpoints, audit_log

ACTOR = cli_actor("tester")


async def write_rows(svc: Services, n: int, prefix: str = "o") -> None:
    """``n`` audited changes through the directory service (one row each)."""
    for i in range(n):
        await svc.directory.do_create_org(
            ACTOR, NewOrg(f"{prefix}{i}", None, "ministry", "kk", "ru", f"Org {i}")
        )


async def rows(svc: Services) -> list[ChainRow]:
    async with svc.db.read() as conn:
        return await audit_store.chain_rows(conn, 0, 10_000)


async def verify(svc: Services) -> VerifyReport:
    return await svc.audit_export.verify(None)


async def sql(svc: Services, *statements: object) -> None:
    async with svc.db.engine.begin() as conn:  # behind the services' back, like an intruder
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]


async def test_rows_form_a_chain_that_verifies(services: Services) -> None:
    await write_rows(services, 5)
    chain = await rows(services)
    assert [r.seq for r in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.row_hash
        assert hash_row(after.prev_hash, after) == after.row_hash
    report = await verify(services)
    assert report.ok and report.first_break is None
    assert (report.rows, report.head_seq, report.head_hash) == (5, 5, chain[-1].row_hash)


async def test_an_edited_row_is_named(services: Services) -> None:
    await write_rows(services, 6)
    await sql(services, update(audit_log).where(audit_log.c.seq == 3).values(actor="@someone"))
    report = await verify(services)
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (3, "edited")
    assert report.rows == 2


async def test_an_edited_row_with_its_hash_recomputed_is_named(services: Services) -> None:
    await write_rows(services, 6)
    row = next(r for r in await rows(services) if r.seq == 4)
    forged = ChainRow(**{**_fields(row), "target_id": "forged"})
    digest = hash_row(row.prev_hash or "", forged)
    await sql(
        services,
        update(audit_log).where(audit_log.c.seq == 4).values(target_id="forged", row_hash=digest),
    )
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (4, "edited")


async def test_a_deleted_row_is_named(services: Services) -> None:
    await write_rows(services, 6)
    await sql(services, delete(audit_log).where(audit_log.c.seq == 4))
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (4, "deleted")


async def test_a_deleted_first_row_is_named(services: Services) -> None:
    await write_rows(services, 3)
    await sql(services, delete(audit_log).where(audit_log.c.seq == 1))
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (1, "deleted")


async def test_an_inserted_row_is_named(services: Services) -> None:
    await write_rows(services, 6)
    # Make room at seq 3 (two steps, so the primary key never collides), then forge a row.
    await sql(
        services,
        update(audit_log).where(audit_log.c.seq >= 3).values(seq=audit_log.c.seq + 1000),
        update(audit_log).where(audit_log.c.seq >= 1000).values(seq=audit_log.c.seq - 999),
        insert(audit_log).values(
            seq=3, ts=1, actor="@ghost:x", action="org.create", target_type="org",
            target_id="ghost", prev_hash="f" * 64, row_hash="e" * 64,
        ),
    )  # fmt: skip
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (3, "inserted")


async def test_a_forged_row_at_the_end_is_named(services: Services) -> None:
    await write_rows(services, 3)
    await sql(
        services,
        insert(audit_log).values(
            seq=4, ts=1, actor="@ghost:x", action="org.create", target_type="org",
            target_id="ghost", prev_hash="f" * 64, row_hash="e" * 64,
        ),
    )  # fmt: skip
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (4, "inserted")


async def test_reordered_rows_are_named(services: Services) -> None:
    await write_rows(services, 6)
    await sql(
        services,
        update(audit_log).where(audit_log.c.seq == 2).values(seq=-2),
        update(audit_log).where(audit_log.c.seq == 5).values(seq=2),
        update(audit_log).where(audit_log.c.seq == -2).values(seq=5),
    )
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (2, "reordered")
    assert "seq 5" in report.first_break.detail


async def test_checkpoints_are_signed_and_catch_a_rewritten_chain(services: Services) -> None:
    await write_rows(services, 4)
    cp = await services.audit_chain.do_checkpoint()
    assert cp is not None and cp.seq == 4
    assert await services.audit_chain.do_checkpoint() is None  # nothing new to sign
    await write_rows(services, 2, prefix="p")
    report = await verify(services)
    assert report.ok
    assert (report.checkpoints_valid, report.last_checkpoint_seq, report.unsigned_rows) == (
        1,
        4,
        2,
    )
    # Rewrite the chain from seq 2 on, recomputing every hash: the links all hold again,
    # but the signed checkpoint at seq 4 no longer matches.
    chain = await rows(services)
    prev = chain[0].row_hash or ""
    statements = []
    for row in chain[1:]:
        changed = ChainRow(**{**_fields(row), "ip": "10.0.0.1" if row.seq == 2 else row.ip})
        digest = hash_row(prev, changed)
        statements.append(
            update(audit_log)
            .where(audit_log.c.seq == row.seq)
            .values(ip=changed.ip, prev_hash=prev, row_hash=digest)
        )
        prev = digest
    # prev_hash is unique: move the old values out of the way first.
    await sql(services, update(audit_log).where(audit_log.c.seq >= 2).values(
        prev_hash=audit_log.c.prev_hash + "x"), *statements)  # fmt: skip
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (1, "edited")
    assert "checkpoint at seq 4" in report.first_break.detail


async def test_a_truncated_log_is_caught_by_its_checkpoint(services: Services) -> None:
    await write_rows(services, 5)
    await services.audit_chain.do_checkpoint()
    await sql(services, delete(audit_log).where(audit_log.c.seq >= 4))
    report = await verify(services)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (4, "deleted")


@pytest.mark.parametrize("column", ["signature", "row_hash", "ts"])
async def test_a_tampered_checkpoint_fails_its_signature(services: Services, column: str) -> None:
    await write_rows(services, 3)
    await services.audit_chain.do_checkpoint()
    await write_rows(services, 2, prefix="p")
    await services.audit_chain.do_checkpoint()
    async with services.db.read() as conn:
        first = (await conn.execute(select(audit_checkpoints).order_by("seq"))).first()
    assert first is not None
    value = {
        "signature": first.signature[:-4] + ("AAA=" if first.signature[-4:] != "AAA=" else "BBB="),
        "row_hash": "0" * 64,
        "ts": first.ts + 1,
    }[column]
    await sql(
        services,
        update(audit_checkpoints).where(audit_checkpoints.c.seq == 3).values({column: value}),
    )
    report = await verify(services)
    assert not report.ok
    assert report.bad_checkpoint is not None and report.bad_checkpoint.seq == 3
    assert report.first_break is None  # the rows themselves are intact
    assert report.checkpoints_valid == 1


async def test_a_checkpoint_signed_by_another_key_is_refused(services: Services) -> None:
    await write_rows(services, 2)
    await services.audit_chain.do_checkpoint()
    other = bytes(range(32))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = (
        Ed25519PrivateKey.from_private_bytes(other)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    report = await services.audit_export.verify(None, public_key=public)
    assert report.bad_checkpoint is not None
    assert "unknown key" in report.bad_checkpoint.reason
    own = await services.audit_chain.public_key()
    assert (await services.audit_export.verify(None, public_key=own)).ok


async def test_periodic_checkpoints_follow_the_settings(services: Services) -> None:
    chain = services.audit_chain
    await write_rows(services, 2)
    assert await chain.do_checkpoint(force=False) is not None  # the first one is always due
    await write_rows(services, 1, prefix="p")
    assert await chain.do_checkpoint(force=False) is None  # 1 row, no time passed
    rows_due = services.settings.audit_checkpoint_rows
    assert rows_due == 1000  # the default


async def test_a_rolled_back_change_leaves_no_audit_row(services: Services) -> None:
    await write_rows(services, 2)
    with pytest.raises(Exception, match=r"exists"):
        await write_rows(services, 1)  # o0 exists: refused after its checks
    assert [r.seq for r in await rows(services)] == [1, 2]
    assert (await verify(services)).ok


async def test_parallel_writers_keep_one_chain(services: Services) -> None:
    """Many concurrent audited commands (PostgreSQL runs them truly in parallel): the chain
    has consecutive seqs, never forks, and verifies."""
    await asyncio.gather(*(write_rows(services, 3, prefix=f"c{i}x") for i in range(12)))
    chain = await rows(services)
    assert [r.seq for r in chain] == list(range(1, 37))
    assert (await verify(services)).ok


async def test_existing_rows_are_hashed_by_the_migration(services: Services) -> None:
    """Rows written before migration 0009 get the same hashes as the chain code computes."""

    def down(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0008")

    def up(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with services.db.engine.begin() as conn:
        await conn.run_sync(down)
        for i in (1, 2, 5):  # a gap, as a rolled-back insert leaves on PostgreSQL
            await conn.execute(
                text(
                    "INSERT INTO audit_log (seq, ts, actor, action, target_type, target_id, "
                    "org_code, ip, before, after) VALUES (:seq, :ts, 'cli:x', 'org.create', "
                    "'org', :t, NULL, '10.0.0.1', NULL, :after)"
                ),
                {
                    "seq": i,
                    "ts": 1000 + i,
                    "t": f"Ұйым-{i}",
                    "after": '{"name":"Ведомство \\"A\\""}',
                },
            )
        await conn.run_sync(up)
    await write_rows(services, 1)
    chain = await rows(services)
    assert [r.seq for r in chain] == [1, 2, 5, 6]
    assert chain[0].prev_hash == GENESIS
    assert (await verify(services)).ok


def _fields(row: ChainRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in ChainRow.__slots__}
