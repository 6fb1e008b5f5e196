"""Helpers for the everyday-feature tests: sending arbitrary events, relations, refusals that
must leave the database untouched."""

from __future__ import annotations

import itertools
from typing import Any

from tests.api.test_bad_input import assert_same, policy_denial, snapshot
from tests.support.harness import Api, User, q

V1 = "/_matrix/client/v1"
_txn = itertools.count(1)


def rq(room_id: str) -> str:
    return f"/rooms/{q(room_id)}"


async def send_event(
    api: Api, user: User, room_id: str, event_type: str, content: dict[str, Any]
) -> str:
    body = await api.call(
        "PUT",
        f"{rq(room_id)}/send/{q(event_type)}/e{next(_txn)}",
        user=user,
        json=content,
    )
    return str(body["event_id"])


def text(body: str, **extra: Any) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body, **extra}


def edit(original: str, body: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }


def in_thread(root: str, body: str) -> dict[str, Any]:
    return text(body, **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})


def reaction(target: str, key: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}


async def refused(
    api: Api, method: str, path: str, status: int, errcode: str, **kwargs: Any
) -> dict[str, Any]:
    """The request is refused with a readable error, and no table changed."""
    assert api.services is not None
    before = await snapshot(api.services)
    body = await api.error(method, path, status, errcode, **kwargs)
    assert len(body["error"]) >= 10 and " " in body["error"].strip()
    assert_same(before, await snapshot(api.services), denied=policy_denial(status, errcode))
    return body


async def refused_send(
    api: Api,
    user: User,
    room_id: str,
    event_type: str,
    content: dict[str, Any],
    errcode: str,
    status: int = 400,
) -> dict[str, Any]:
    return await refused(
        api,
        "PUT",
        f"{rq(room_id)}/send/{q(event_type)}/bad{next(_txn)}",
        status,
        errcode,
        user=user,
        json=content,
    )


async def get_event(api: Api, user: User, room_id: str, event_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.call("GET", f"{rq(room_id)}/event/{q(event_id)}", user=user)
    return body


def relations_of(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = event.get("unsigned", {}).get("m.relations", {})
    return value
