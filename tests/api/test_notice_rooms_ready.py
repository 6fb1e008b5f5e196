"""Notice rooms made ahead of the first notification (``gov_notices_prepare_rooms``): a person
in the directory gets their notice room in the background after their first ``/sync``, and the
first notification is then written into it. Same world as ``test_gov_notices.py`` (both
backends); the rest of the suite runs with the setting off (``tests/conftest.py``)."""

# ruff: noqa: F811  (the fixtures imported from test_gov_notices are parameters here)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_gov_notices import (  # noqa: F401  (fixtures)
    SYSTEM,
    World,
    clock,
    notice_events,
    send,
    services,
    world,
)
from tests.support.harness import Api, User
from tumar.config import Settings
from tumar.core import gov_notices_delivery as delivery_module
from tumar.store import gov_notices as notice_store
from tumar.store.schema import rooms, server_notice_rooms

TAG = "m.server_notice"


@pytest.fixture
def prepare() -> bool:
    return True


@pytest.fixture
def settings(settings: Settings, prepare: bool) -> Settings:
    return settings.model_copy(update={"gov_notices_prepare_rooms": prepare})


async def room_rows(api: Api) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        return len(list(await conn.execute(select(rooms.c.room_id))))


async def notice_room_of(api: Api, user: User) -> str | None:
    assert api.services is not None
    async with api.services.db.read() as conn:
        found = await conn.execute(
            select(server_notice_rooms.c.room_id).where(
                server_notice_rooms.c.user_id == user.user_id
            )
        )
        return found.scalar_one_or_none()


def tagged_rooms(sync: dict[str, Any]) -> list[str]:
    return [
        room_id
        for room_id, room in sync["rooms"]["join"].items()
        for ev in room["account_data"]["events"]
        if ev["type"] == "m.tag" and TAG in ev["content"]["tags"]
    ]


async def first_sync_and_room(
    api: Api, user: User, first: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """The first sync, then (unless the room was quicker than that sync's reads) a long-poll
    that the new notice room wakes: that answer and the room."""
    if first is None:
        first = await api.sync(user)
    body = first
    if not tagged_rooms(first):  # made in the background: the first sync does not wait
        body = await api.sync(user, since=first["next_batch"], timeout=5000)
    [room_id] = tagged_rooms(body)
    room = body["rooms"]["join"][room_id]
    assert notice_events(body) == []  # a room, no message yet
    members = {
        ev["state_key"]: ev["content"]["membership"]
        for ev in (*room["state"]["events"], *room["timeline"]["events"])
        if ev["type"] == "m.room.member"
    }
    assert members == {SYSTEM: "join", user.user_id: "join"}
    return body, room_id


async def test_first_sync_makes_the_room_and_the_first_notice_lands_in_it(
    api: Api, world: World
) -> None:
    w = world
    a1 = w.users["a1"]
    woken, room_id = await first_sync_and_room(api, a1)
    assert await notice_room_of(api, a1) == room_id
    before = await room_rows(api)
    sent = await send(api, w.comms)
    later = await api.sync(a1, since=woken["next_batch"])
    [ev] = notice_events(later)
    assert ev["content"]["kz.tumar.notification"]["id"] == sent["notice_id"]
    assert list(later["rooms"]["join"]) == [room_id]
    assert await room_rows(api) == before  # the notification made no room
    # Later syncs (and a second look at the same user) make nothing more.
    again = await api.sync(a1, since=later["next_batch"])
    assert again["rooms"]["join"] == {}
    assert await room_rows(api) == before


async def test_only_people_in_the_directory_get_a_room(api: Api, world: World) -> None:
    w = world
    # comms holds no person record; a plain registered account neither.
    plain = await api.register("plain")
    for user in (w.comms, plain):
        first = await api.sync(user)
        assert tagged_rooms(first) == []
    # A person synced after them gets theirs (so the worker has passed the others by then).
    await first_sync_and_room(api, w.users["a2"])
    assert await notice_room_of(api, w.comms) is None
    assert await notice_room_of(api, plain) is None


async def test_a_batch_of_first_syncs_each_gets_one_room(api: Api, world: World) -> None:
    assert api.services is not None
    w = world
    names = ["a1", "a2", "b1", "b2", "c1", "x1"]
    firsts = {n: await api.sync(w.users[n]) for n in names}
    seen = {}
    for n in names:
        _body, seen[n] = await first_sync_and_room(api, w.users[n], firsts[n])
    assert len(set(seen.values())) == len(names)
    for n in names:
        assert await notice_room_of(api, w.users[n]) == seen[n]


@pytest.mark.parametrize("prepare", [False])
async def test_with_the_setting_off_the_first_notice_makes_the_room(api: Api, world: World) -> None:
    w = world
    a1 = w.users["a1"]
    first = await api.sync(a1)
    # No room comes ahead (the long-poll would bring it).
    quiet = await api.sync(a1, since=first["next_batch"], timeout=500)
    assert tagged_rooms(quiet) == []
    assert await notice_room_of(api, a1) is None
    before = await room_rows(api)
    await send(api, w.comms, priority="information", ack_required=False, deadline=None)
    woken = await api.sync(a1, since=first["next_batch"], timeout=5000)
    assert len(notice_events(woken)) == 1  # the room came with the notification
    assert await notice_room_of(api, a1) is not None
    assert await room_rows(api) == before + 1
    assert await notice_room_of(api, w.users["a2"]) is None  # a2 has not synced


async def test_a_failed_batch_is_tried_again_at_the_next_sync(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    a1 = w.users["a1"]
    monkeypatch.setattr(delivery_module, "PREPARE_RETRY_S", 0.5)
    real = notice_store.candidates
    failures = []

    async def failing(*args: Any, **kwargs: Any) -> Any:
        failures.append(args[1])
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(notice_store, "candidates", failing)
    first = await api.sync(a1)  # answers; the batch fails in the background
    for _ in range(100):
        if failures:
            break
        await asyncio.sleep(0.05)
    assert failures == [[a1.user_id]]
    quiet = await api.sync(a1, since=first["next_batch"])
    assert tagged_rooms(quiet) == []
    assert "creating notice rooms failed" in caplog.text
    assert await notice_room_of(api, a1) is None
    monkeypatch.setattr(notice_store, "candidates", real)
    # Queued again by a sync once the retry pause is over: sync until the room comes, a
    # bounded number of times.
    since, found = quiet["next_batch"], []
    for _ in range(50):
        body = await api.sync(a1, since=since, timeout=200)
        since, found = body["next_batch"], tagged_rooms(body)
        if found:
            break
    [room_id] = found
    assert await notice_room_of(api, a1) == room_id
