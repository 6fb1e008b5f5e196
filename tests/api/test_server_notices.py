"""Server notices: each user's read-only room owned by the system account, delivered through
the normal event path and read back with /sync."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.harness import Api, User, q
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError
from tumar.store.schema import events, rooms

NOTICES = "@notices:tumar.test"


def notice(body: str) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": body}


def notice_rooms(sync: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Joined rooms tagged ``m.server_notice`` in the sync response."""
    out = {}
    for room_id, room in sync["rooms"]["join"].items():
        for ev in room["account_data"]["events"]:
            if ev["type"] == "m.tag" and "m.server_notice" in ev["content"]["tags"]:
                out[room_id] = room
    return out


def bodies(room: dict[str, Any]) -> list[str]:
    return [
        e["content"]["body"]
        for e in room["timeline"]["events"]
        if e["type"] == "m.room.message" and e["sender"] == NOTICES
    ]


async def counts(api: Api) -> tuple[int, int]:
    assert api.services is not None
    async with api.services.db.read() as conn:
        n_rooms = (await conn.execute(select(func.count()).select_from(rooms))).scalar_one()
        n_events = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
    return int(n_rooms), int(n_events)


async def test_a_notice_arrives_in_a_read_only_tagged_room(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    first = await api.services.notices.send(alice.user_id, notice("Welcome to tumar"))
    sync = await api.sync(alice)
    found = notice_rooms(sync)
    assert len(found) == 1
    room_id, room = next(iter(found.items()))
    assert bodies(room) == ["Welcome to tumar"]
    message = next(e for e in room["timeline"]["events"] if e["event_id"] == first)
    assert message["content"]["msgtype"] == "m.notice"
    state = {(e["type"], e["state_key"]): e["content"] for e in room["state"]["events"]}
    state.update(
        {(e["type"], e["state_key"]): e["content"] for e in room["timeline"]["events"]
         if "state_key" in e}
    )  # fmt: skip
    assert state[("m.room.name", "")]["name"] == "Server notices"
    assert state[("m.room.member", alice.user_id)]["membership"] == "join"
    levels = state[("m.room.power_levels", "")]
    assert levels["users"] == {NOTICES: 100}
    assert await api.services.notices.room_for(alice.user_id) == room_id

    # The user reads but cannot write: no messages, no state, no invitations, no redactions.
    rid = q(room_id)
    await api.error(
        "PUT", f"/rooms/{rid}/send/m.room.message/t1", 403, "M_FORBIDDEN", user=alice,
        json={"msgtype": "m.text", "body": "hi"},
    )  # fmt: skip
    await api.error(
        "PUT", f"/rooms/{rid}/state/m.room.name/", 403, "M_FORBIDDEN", user=alice,
        json={"name": "mine"},
    )  # fmt: skip
    bob = await api.register("bob")
    await api.error(
        "POST", f"/rooms/{rid}/invite", 403, "M_FORBIDDEN", user=alice,
        json={"user_id": bob.user_id},
    )  # fmt: skip
    await api.error(
        "PUT", f"/rooms/{rid}/redact/{q(first)}/r1", 403, "M_FORBIDDEN", user=alice, json={}
    )

    # The next notice goes into the same room and arrives incrementally.
    await api.services.notices.send(alice.user_id, notice("Second"))
    later = await api.sync(alice, since=sync["next_batch"])
    assert list(notice_rooms(later)) in ([], [room_id])  # the tag is not re-sent
    assert bodies(later["rooms"]["join"][room_id]) == ["Second"]
    assert await api.services.notices.room_for(alice.user_id) == room_id


async def test_the_system_account_cannot_log_in_or_be_registered(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    await api.services.notices.send(alice.user_id, notice("hello"))
    await api.error(
        "POST", "/register", 400, "M_USER_IN_USE",
        json={"username": "notices", "password": "x" * 12, "auth": {"type": "m.login.dummy"}},
    )  # fmt: skip
    await api.error(
        "GET", "/register/available", 400, "M_USER_IN_USE", params={"username": "notices"}
    )
    for password in ("", "anything at all"):
        await api.error(
            "POST", "/login", 403, "M_FORBIDDEN",
            json={"type": "m.login.password", "password": password,
                  "identifier": {"type": "m.id.user", "user": "notices"}},
        )  # fmt: skip
    with pytest.raises(MatrixError) as caught:
        await api.services.accounts.do_create_user("notices", "a good password")
    assert caught.value.errcode == "M_USER_IN_USE"


async def test_a_user_who_left_is_invited_back(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    await api.services.notices.send(alice.user_id, notice("one"))
    room_id = await api.services.notices.room_for(alice.user_id)
    assert room_id is not None
    await api.call("POST", f"/rooms/{q(room_id)}/leave", user=alice, json={})
    await api.services.notices.send(alice.user_id, notice("two"))
    sync = await api.sync(alice)
    assert room_id in sync["rooms"]["invite"]
    await api.join(alice, room_id)
    messages = await api.call(
        "GET", f"/rooms/{q(room_id)}/messages", user=alice, params={"dir": "f", "limit": 100}
    )
    assert [e["content"]["body"] for e in messages["chunk"] if e["type"] == "m.room.message"] == [
        "one",
        "two",
    ]


async def test_concurrent_first_notices_share_one_room(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    send = api.services.notices.send
    await asyncio.gather(*(send(alice.user_id, notice(f"n{i}")) for i in range(3)))
    found = notice_rooms(await api.sync(alice))
    assert len(found) == 1
    assert sorted(bodies(next(iter(found.values())))) == ["n0", "n1", "n2"]


async def test_refused_recipients_and_contents_change_nothing(api: Api) -> None:
    assert api.services is not None
    alice = await api.register("alice")
    gone = await api.register("gone")
    await api.services.accounts.do_deactivate(gone.user_id)
    before = await counts(api)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("@nobody:tumar.test", notice("x"), 404, "M_NOT_FOUND"),
        (gone.user_id, notice("x"), 404, "M_NOT_FOUND"),
        ("@alice:elsewhere.example", notice("x"), 400, "M_INVALID_PARAM"),
        (NOTICES, notice("x"), 400, "M_INVALID_PARAM"),
        ("not a user id", notice("x"), 400, "M_INVALID_PARAM"),
        (alice.user_id, {"body": "no msgtype"}, 400, "M_BAD_JSON"),
        (alice.user_id, {"msgtype": "m.notice", "body": 5}, 400, "M_BAD_JSON"),
        (alice.user_id, notice("x" * 70_000), 413, "M_TOO_LARGE"),
    ]
    for user_id, content, status, errcode in cases:
        with pytest.raises(MatrixError) as caught:
            await api.services.notices.send(user_id, content)
        assert (caught.value.status, caught.value.errcode) == (status, errcode), user_id
    assert await counts(api) == before
    assert await api.services.notices.room_for(alice.user_id) is None


async def test_a_failing_record_rolls_the_notice_back(api: Api) -> None:
    """``also`` runs in the message's transaction: if it fails, nothing was sent."""
    assert api.services is not None
    alice = await api.register("alice")

    async def fail(_conn: object) -> None:
        raise RuntimeError("the caller's record could not be written")

    before = await counts(api)
    with pytest.raises(RuntimeError):
        await api.services.notices.send(alice.user_id, notice("first"), also=fail)
    assert await counts(api) == before
    assert await api.services.notices.room_for(alice.user_id) is None
    await api.services.notices.send(alice.user_id, notice("ok"))
    after = await counts(api)
    with pytest.raises(RuntimeError):
        await api.services.notices.send(alice.user_id, notice("second"), also=fail)
    assert await counts(api) == after
    found = notice_rooms(await api.sync(alice))
    assert bodies(next(iter(found.values()))) == ["ok"]


async def test_an_ordinary_account_is_never_used_as_the_system_account(api: Api) -> None:
    """An account that took the name before it was reserved (here: a different configured
    name) is refused, not taken over."""
    svc = api.services
    assert svc is not None
    alice: User = await api.register("alice")
    await api.register("alerts")
    settings = svc.settings.model_copy(update={"server_notices_localpart": "alerts"})
    other = ServerNotices(svc.db, svc.rooms, svc.membership, svc.bus, svc.clock, settings)
    before = await counts(api)
    with pytest.raises(MatrixError) as caught:
        await other.send(alice.user_id, notice("x"))
    assert caught.value.errcode == "TUMAR_SERVER_NOTICES_UNAVAILABLE"
    assert await counts(api) == before
