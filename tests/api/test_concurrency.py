"""Concurrent requests: each command stays atomic and answers cleanly (no 500s), on both
databases. PostgreSQL runs these truly in parallel; SQLite serialises writers."""

from __future__ import annotations

import asyncio

from tests.support.harness import PASSWORD, Api, q


async def test_single_use_registration_token_registers_one_account(api: Api) -> None:
    assert api.services is not None
    token = await api.services.accounts.do_create_registration_token(uses_allowed=1)
    attempts = [
        api.raw(
            "POST",
            "/register",
            json={
                "username": f"racer{i}",
                "password": PASSWORD,  # the password policy wants 12 characters or more
                "auth": {"type": "m.login.registration_token", "token": token},
            },
        )
        for i in range(6)
    ]
    statuses = sorted(r.status_code for r in await asyncio.gather(*attempts))
    assert statuses == [200, 401, 401, 401, 401, 401]


async def test_retried_send_with_one_transaction_id_stores_one_event(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    body = {"msgtype": "m.text", "body": "once"}
    path = f"/rooms/{q(room)}/send/m.room.message/same-txn"
    responses = await asyncio.gather(
        *(api.raw("PUT", path, user=alice, json=body) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.json()["event_id"] for r in responses}) == 1
    page = await api.call("GET", f"/rooms/{q(room)}/messages", user=alice, params={"limit": 50})
    assert [e["content"].get("body") for e in page["chunk"]].count("once") == 1


async def test_concurrent_filter_uploads_get_distinct_ids(api: Api) -> None:
    alice = await api.register("alice")
    path = f"/user/{q(alice.user_id)}/filter"
    responses = await asyncio.gather(
        *(
            api.raw("POST", path, user=alice, json={"room": {"timeline": {"limit": i}}})
            for i in range(6)
        )
    )
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()["filter_id"] for r in responses}) == 6


async def test_concurrent_rooms_with_one_alias_one_wins(api: Api) -> None:
    alice = await api.register("alice")
    responses = await asyncio.gather(
        *(
            api.raw("POST", "/createRoom", user=alice, json={"room_alias_name": "hq"})
            for _ in range(4)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400, 400, 400]
    assert {r.json().get("errcode") for r in responses if r.status_code == 400} == {"M_ROOM_IN_USE"}
    found = await api.call("GET", f"/directory/room/{q('#hq:tumar.test')}")
    winner = next(r.json()["room_id"] for r in responses if r.status_code == 200)
    assert found["room_id"] == winner


async def test_concurrent_logins_to_one_new_device_both_succeed(api: Api) -> None:
    alice = await api.register("alice")
    login = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "alice"},
        "password": alice.password,
        "device_id": "SHAREDDEV",
    }
    responses = await asyncio.gather(*(api.raw("POST", "/login", json=login) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    tokens = {r.json()["access_token"] for r in responses}
    assert len(tokens) == 4
    devices = await api.call("GET", "/devices", user=alice)
    assert [d["device_id"] for d in devices["devices"]].count("SHAREDDEV") == 1
