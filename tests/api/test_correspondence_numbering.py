"""Registration numbers: gap-free and unique under concurrent registration on SQLite and
PostgreSQL, across two nodes (two Services on one PostgreSQL database), with failed
registrations consuming no number; per-organisation formats and the yearly restart."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import pytest

from tests.support.admin import ADMIN
from tests.support.harness import Api
from tests.support.letters_world import LETTERS, World, build_world, signed_letter, step
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.correspondence_numbers import LetterNumbering
from tumar.core.services import Services, build_services

T0 = datetime.datetime(2026, 3, 2, 6, tzinfo=datetime.UTC)


class Boom(Exception):
    pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(int(T0.timestamp() * 1000))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
async def world(api: Api) -> World:
    return await build_world(api)


async def take_many(
    svc: Services, count: int, *, fail_every: int = 0, org: str = "mof"
) -> list[int]:
    """``count`` concurrent registrations' numbers, each in its own transaction; every
    ``fail_every``-th one fails after taking its number (and rolls back)."""
    numbering: LetterNumbering = svc.correspondence.numbering

    async def one(i: int) -> int | None:
        try:
            async with svc.db.write() as conn:
                number = await numbering.take(conn, org, "out", svc.clock.now_ms())
                await asyncio.sleep(0)  # let the others pile up on the lock
                if fail_every and i % fail_every == 0:
                    raise Boom
                return number.seq
        except Boom:
            return None

    got = await asyncio.gather(*(one(i) for i in range(1, count + 1)))
    return [n for n in got if n is not None]


async def test_concurrent_takes_are_gap_free(services: Services) -> None:
    got = await take_many(services, 60, fail_every=4)
    assert len(got) == 45
    assert sorted(got) == list(range(1, 46))  # no gaps: failures gave their numbers back
    more = await take_many(services, 5)
    assert sorted(more) == list(range(46, 51))


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # nodes share PostgreSQL
async def test_two_nodes_one_database(settings: Settings, services: Services) -> None:
    other = build_services(settings, clock=services.clock)
    try:
        a, b = await asyncio.gather(
            take_many(services, 40, fail_every=7), take_many(other, 40, fail_every=5)
        )
    finally:
        await other.close()
    both = sorted(a + b)
    assert len(both) == len(set(both)) == 40 - 5 + 40 - 8
    assert both == list(range(1, len(both) + 1))


async def test_concurrent_registrations_through_the_api(api: Api, world: World) -> None:
    ids = [
        (await signed_letter(api, world, approvers=[], subject=f"Letter {i}"))["letter_id"]
        for i in range(8)
    ]
    results = await asyncio.gather(*(step(api, world["clerk"], lid, "register") for lid in ids))
    numbers = sorted(r["outgoing_number"] for r in results)
    assert numbers == [f"MOF-{i:05d}/26" for i in range(1, 9)]


async def test_format_per_organisation_and_year(api: Api, world: World, clock: FakeClock) -> None:
    root = world.root
    await api.error(
        "PUT", f"{ADMIN}/correspondence/formats/mof", 400, "M_INVALID_PARAM", user=root,
        json={"format": "{org}-{seq}"},
    )  # fmt: skip
    await api.error(
        "PUT", f"{ADMIN}/correspondence/formats/nope", 404, "M_NOT_FOUND", user=root,
        json={"format": "{org}/{yyyy}/{seq}"},
    )  # fmt: skip
    await api.error(
        "PUT", f"{ADMIN}/correspondence/formats/mof", 403, "TUMAR_OUT_OF_SCOPE",
        user=world["clerk2"], json={"format": "{org}/{yyyy}/{seq}"},
    )  # fmt: skip
    got = await api.call(
        "PUT", f"{ADMIN}/correspondence/formats/mof", user=root,
        json={"format": "{dir}-{org}/{yyyy}/{seq}"},
    )  # fmt: skip
    assert got == {"org": "mof", "format": "{dir}-{org}/{yyyy}/{seq}", "own": True}
    first = await signed_letter(api, world, approvers=[])
    first = await step(api, world["clerk"], first["letter_id"], "register")
    assert first["outgoing_number"] == "OUT-MOF/2026/1"
    incoming = await step(api, world["clerk2"], first["letter_id"], "recipients/moh/register")
    assert incoming["recipients"][0]["incoming_number"] == "MOH-00001/26"
    clock.advance(365 * 86400)
    second = await signed_letter(api, world, approvers=[])
    second = await step(api, world["clerk"], second["letter_id"], "register")
    assert second["outgoing_number"] == "OUT-MOF/2027/1"
    got = await api.call(
        "PUT", f"{ADMIN}/correspondence/formats/mof", user=root, json={"format": None}
    )
    assert got["own"] is False and got["format"] == "{org}-{seq:05}/{yy}"
    journal = await api.call("GET", f"{LETTERS}/journal?org=mof&direction=out", user=world["clerk"])
    assert [e["number"] for e in journal["entries"]] == ["OUT-MOF/2026/1", "OUT-MOF/2027/1"]
