"""HTTP-level behaviour: rate limits and path decoding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import make_settings
from tests.support.harness import Api, q
from tumar.app import build_app
from tumar.config import Settings
from tumar.core.services import build_services


@pytest.fixture
async def limited_api(settings: Settings) -> AsyncIterator[Api]:
    limited = settings.model_copy(
        update={
            "rate_limit_enabled": True,
            "rate_limit_per_second": 0.001,
            "rate_limit_burst": 3,
            "login_rate_per_second": 0.001,
            "login_rate_burst": 2,
        }
    )
    svc = build_services(limited)
    await svc.start()
    async with Api.in_process(build_app(limited, svc), svc) as client:
        yield client
    await svc.close()


async def test_sends_over_the_burst_are_limited_with_retry_after(limited_api: Api) -> None:
    alice = await limited_api.register("alice")
    room = await limited_api.create_room(alice)
    sent = [await limited_api.send(alice, room, f"m{i}") for i in range(3)]
    assert len(set(sent)) == 3
    body = await limited_api.error(
        "PUT",
        f"/rooms/{q(room)}/send/m.room.message/over",
        429,
        "M_LIMIT_EXCEEDED",
        user=alice,
        json={"msgtype": "m.text", "body": "too many"},
    )
    assert isinstance(body["retry_after_ms"], int) and body["retry_after_ms"] > 0
    # The refused message was not stored.
    page = await limited_api.call("GET", f"/rooms/{q(room)}/messages", user=alice)
    assert "too many" not in [e["content"].get("body") for e in page["chunk"]]


async def test_login_attempts_are_throttled(limited_api: Api) -> None:
    await limited_api.register("bob")
    bad = {"type": "m.login.password", "user": "bob", "password": "wrong"}
    for _ in range(2):
        await limited_api.error("POST", "/login", 403, "M_FORBIDDEN", json=bad)
    await limited_api.error("POST", "/login", 429, "M_LIMIT_EXCEEDED", json=bad)


async def test_path_segments_are_decoded_exactly_once(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice, room_alias_name="team")
    # A percent-encoded alias resolves.
    found = await api.call("GET", f"/directory/room/{q('#team:tumar.test')}")
    assert found["room_id"] == room
    # "%252F" decodes once to the literal text "%2F"; "%2F" decodes to "/".
    for raw, key in (("a%252Fb", "a%2Fb"), ("a%2Fb", "a/b")):
        await api.call(
            "PUT", f"/rooms/{q(room)}/state/org.example.k/{raw}", user=alice, json={"k": key}
        )
    state = await api.call("GET", f"/rooms/{q(room)}/state", user=alice)
    keys = {e["state_key"]: e["content"]["k"] for e in state if e["type"] == "org.example.k"}
    assert keys == {"a%2Fb": "a%2Fb", "a/b": "a/b"}


async def test_settings_defaults_are_safe() -> None:
    defaults = Settings()
    assert defaults.registration == "closed"
    assert defaults.rate_limit_enabled is True
    assert make_settings().registration == "open"
