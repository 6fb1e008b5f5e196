"""Hot routes (``api/hot_routes.py``): ``/sync`` outside FastAPI's router answers as every
other route does: both prefixes, wrong methods, errors through the app's handlers, the
middleware's headers and its safety net."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.harness import Api
from tumar.app import build_app
from tumar.core.services import Services
from tumar.errors import PolicyDenied


async def test_sync_under_both_prefixes_and_its_parameters(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    for prefix in ("/_matrix/client/v3", "/_matrix/client/r0"):
        r = await api.raw("GET", f"{prefix}/sync", user=alice, params={"timeout": "0"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert room in body["rooms"]["join"]
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["x-request-id"]
    since = body["next_batch"]
    # Booleans as clients write them; the full state comes again.
    for word in ("true", "True", "1"):
        full = await api.sync(alice, since, full_state=word, timeout="0")
        assert room in full["rooms"]["join"], word
    quiet = await api.sync(alice, since, full_state="false", timeout="0")
    assert quiet["rooms"]["join"] == {}
    # A timeout of thousands of digits is just a long one (clamped to the longest).
    r = await api.raw("GET", "/sync", user=alice, params={"since": since, "timeout": "9" * 5000})
    assert r.status_code == 200 and r.json()["next_batch"]
    # The access token may come as a query parameter too.
    r = await api.raw("GET", "/sync", params={"access_token": alice.token, "since": since})
    assert r.status_code == 200 and r.json()["rooms"]["join"] == {}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"timeout": "-1"}, "timeout"),
        ({"timeout": "1.5"}, "timeout"),
        ({"timeout": "٣"}, "timeout"),  # a digit, but not an ASCII one
        ({"timeout": ""}, "timeout"),
        ({"timeout": "-" + "9" * 5000}, "timeout"),
        ({"full_state": "maybe"}, "full_state"),
        ({"set_presence": "busy"}, "set_presence"),
    ],
)
async def test_sync_names_the_bad_parameter(api: Api, params: dict[str, str], name: str) -> None:
    alice = await api.register("alice")
    body = await api.error("GET", "/sync", 400, "M_INVALID_PARAM", user=alice, params=params)
    assert body["error"].startswith(f"Invalid parameter: {name}: "), body


async def test_other_methods_on_a_hot_path_are_not_allowed(api: Api) -> None:
    alice = await api.register("alice")
    for method in ("POST", "PUT", "DELETE"):
        r = await api.raw(method, "/sync", user=alice)
        assert r.status_code == 405, (method, r.text)
        assert r.json() == {"errcode": "M_UNRECOGNIZED", "error": "Method not allowed."}
        assert r.headers["x-request-id"]
    r = await api.raw("OPTIONS", "/sync")  # CORS preflight, as for every route
    assert r.status_code == 204


async def test_errors_go_through_the_apps_handlers(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await api.register("alice")

    class Refused(PolicyDenied):
        """A subclass: found through its classes, as Starlette finds handlers."""

    async def refuse(_req: Any) -> dict[str, Any]:
        raise Refused(403, "M_FORBIDDEN", "Not now.")

    monkeypatch.setattr(services.sync, "sync", refuse)
    await api.error("GET", "/sync", 403, "M_FORBIDDEN", user=alice)

    async def crash(_req: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.sync, "sync", crash)
    r = await api.raw("GET", "/sync", user=alice)
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    assert r.json() == {
        "errcode": "M_UNKNOWN",
        "error": f"Internal server error (request id {rid}).",
    }


class _LongPoll:
    """A raw ASGI long-poll of ``/sync`` that has parked: ``leave`` makes its client go away;
    ``sent`` holds what the app answered."""

    def __init__(self) -> None:
        self.leave = asyncio.Event()
        self.sent: list[dict[str, Any]] = []

    async def start(self, api: Api, services: Services) -> asyncio.Task[None]:
        alice = await api.register("alice")
        since = (await api.sync(alice))["next_batch"]
        path = "/_matrix/client/v3/sync"
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": f"since={since}&timeout=10000".encode(),
            "headers": [(b"authorization", f"Bearer {alice.token}".encode())],
            "client": ("127.0.0.1", 4321), "server": ("tumar.test", 80),
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            await self.leave.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        app = build_app(services.settings, services)
        task = asyncio.create_task(app(scope, receive, send))
        for _ in range(200):
            if services.notifier.waiting:
                return task
            await asyncio.sleep(0.01)
        raise AssertionError("the long-poll never parked")


async def test_a_long_poll_whose_client_leaves_stops_waiting(api: Api, services: Services) -> None:
    poll = _LongPoll()
    task = await poll.start(api, services)
    poll.leave.set()
    await asyncio.wait_for(task, 5)  # at once, not after the 10 s timeout
    assert services.notifier.waiting == 0
    assert poll.sent[0]["status"] == 200 and poll.sent[1]["body"] == b"{}"  # nobody reads it


async def test_a_parked_long_poll_cancelled_by_the_server_stays_cancelled(
    api: Api, services: Services
) -> None:
    """Only the client's leaving turns a long-poll into an empty answer; a cancellation from
    elsewhere (a server shutting down) goes on up as a cancellation."""
    poll = _LongPoll()  # its client never leaves
    task = await poll.start(api, services)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert poll.sent == []  # no empty 200 answer on the way out
    assert services.notifier.waiting == 0
