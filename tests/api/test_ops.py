"""Operations endpoints: health (liveness, readiness), Prometheus metrics, JSON logs."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.support.harness import Api, free_port, q
from tumar import __version__
from tumar.api import ops
from tumar.app import build_app
from tumar.bus.local import LocalBus
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.logs import configure_logging
from tumar.store.db import Database

# ---- a tiny parser of the Prometheus text format (0.0.4) -----------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> tuple[Series, dict[str, str]]:
    """Every line is a comment (``# HELP``/``# TYPE``) or ``name{labels} value``; returns the
    samples and each family's type. Fails on anything else."""
    samples: Series = {}
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, raw_labels, value = match.groups()
        labels: list[tuple[str, str]] = []
        if raw_labels:
            consumed = "".join(m.group(0) for m in _LABEL.finditer(raw_labels))
            assert consumed == raw_labels, f"bad labels: {line!r}"
            labels = [(m.group(1), m.group(2)) for m in _LABEL.finditer(raw_labels)]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"sample before its TYPE: {line!r}"
        samples[(name, frozenset(labels))] = float(value)
    return samples, types


def value(samples: Series, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def get(api: Api, path: str, expect: int = 200) -> Any:
    """GET an operations path (outside the client API prefix ``Api.call`` adds)."""
    resp = await api.client.get(path)
    assert resp.status_code == expect, f"{path}: {resp.status_code} {resp.text}"
    return resp.json()


async def scrape(api: Api) -> Series:
    resp = await api.client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(resp.text)[0]


# ---- health -----------------------------------------------------------------------------------


async def test_liveness_and_readiness_when_all_is_well(api: Api) -> None:
    assert await get(api, "/health/live") == {"status": "ok"}
    healthy = {"status": "ok", "checks": {"database": "ok", "bus": "ok"}}
    assert await get(api, "/health/ready") == healthy
    assert await get(api, "/health") == healthy


class BrokenBus(LocalBus):
    """A bus whose backend is unreachable (what a RedisBus reports while Redis is down)."""

    async def check(self) -> str | None:
        return "redis unreachable"

    @property
    def connected(self) -> bool:
        return False

    @property
    def lag_seconds(self) -> float:
        return 2.5


@pytest.fixture
async def broken_bus_api(settings: Settings) -> AsyncIterator[Api]:
    svc = build_services(settings, bus=BrokenBus())
    await svc.start()
    async with Api.in_process(build_app(settings, svc), svc) as client:
        yield client
    await svc.close()


async def test_readiness_reports_a_failing_bus_as_degraded(broken_bus_api: Api) -> None:
    # The node still serves without the bus (it polls the database), and every node shares
    # it: a bus failure must not take them all out of the load balancer at once.
    body = await get(broken_bus_api, "/health/ready")
    assert body == {
        "status": "degraded",
        "checks": {"database": "ok", "bus": "degraded: redis unreachable"},
    }
    assert await get(broken_bus_api, "/health/live") == {"status": "ok"}
    samples = await scrape(broken_bus_api)
    assert value(samples, "tumar_bus_connected") == 0
    assert value(samples, "tumar_bus_lag_seconds") == 2.5


async def test_a_draining_node_is_not_ready_even_with_the_bus_degraded(
    broken_bus_api: Api,
) -> None:
    assert broken_bus_api.services is not None
    broken_bus_api.services.notifier.drain()
    body = await get(broken_bus_api, "/health/ready", 503)
    assert body["status"] == "draining" and body["checks"]["bus"].startswith("degraded: ")


def _unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":  # a file that is not a database: every query fails
        broken = tmp_path / "broken.db"
        broken.write_bytes(b"this is not an SQLite database\n" * 200)
        return f"sqlite+aiosqlite:///{broken}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test"  # nobody listens


async def _ops_api(settings: Settings, db: Database) -> tuple[Services, FastAPI]:
    """Services on a database that is down: not started (starting reads the database)."""
    svc = build_services(settings, db=db)
    return svc, build_app(settings, svc)


async def test_readiness_fails_when_the_database_is_unreachable(
    settings: Settings, backend: str, tmp_path: Path
) -> None:
    db = Database(_unreachable_url(backend, tmp_path))
    svc, app = await _ops_api(settings, db)
    try:
        async with Api.in_process(app, svc) as api:
            body = await get(api, "/health/ready", 503)
            assert body["status"] == "unavailable"
            assert body["checks"]["bus"] == "ok"
            assert body["checks"]["database"].startswith("error: "), body
            assert await get(api, "/health/live") == {"status": "ok"}
    finally:
        await db.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung database)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


async def test_readiness_gives_up_on_a_database_that_hangs(
    tmp_path: Path, silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "READY_TIMEOUT_S", 0.3)
    settings = make_settings(data_dir=tmp_path)
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{silent_server}/test")
    svc, app = await _ops_api(settings, db)
    try:
        async with Api.in_process(app, svc) as api:
            started = asyncio.get_running_loop().time()
            body = await get(api, "/health/ready", 503)
            assert asyncio.get_running_loop().time() - started < 2.0
            assert body["checks"]["database"] == "timeout after 0.3 s"
    finally:
        await db.close()


async def test_readiness_fails_while_draining(api: Api) -> None:
    assert api.services is not None
    await get(api, "/health/ready")
    api.services.notifier.drain()  # what the server does on SIGTERM (tumar/server.py)
    body = await get(api, "/health/ready", 503)
    assert body == {"status": "draining", "checks": {"database": "ok", "bus": "ok"}}
    assert value(await scrape(api), "tumar_node_draining") == 1


async def test_readiness_fails_once_the_server_marks_the_node_draining(
    services: Services,
) -> None:
    app = build_app(services.settings, services)
    async with Api.in_process(app, services) as api:
        await get(api, "/health")
        ops.set_draining(app)  # the signal handler's first step, before the drain itself
        assert (await get(api, "/health", 503))["status"] == "draining"


# ---- metrics ----------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    for _ in range(3):
        await api.call("GET", f"/rooms/{q(room)}/messages", user=alice)
    await api.error("GET", "/sync", 401, "M_MISSING_TOKEN")
    await api.raw("GET", "/_matrix/client/v3/no/such/endpoint")
    await api.raw("POST", "/_tumar/devices/v1/checkin")  # a plain Starlette route, no body
    text = (await api.client.get("/metrics")).text
    samples, types = parse_metrics(text)

    assert types["tumar_http_requests_total"] == "counter"
    assert types["tumar_http_request_duration_seconds"] == "histogram"
    messages = "/_matrix/client/v3/rooms/{room_id}/messages"
    requests = "tumar_http_requests_total"
    assert value(samples, requests, method="GET", route=messages, status="200") == 3
    assert (
        value(samples, requests, method="GET", route="/_matrix/client/v3/sync", status="401") == 1
    )
    assert (
        value(samples, requests, method="POST", route="/_matrix/client/v3/register", status="200")
        == 1
    )
    assert value(samples, requests, method="GET", route="other", status="404") == 1
    checkin = "/_tumar/devices/v1/checkin"
    assert value(samples, requests, method="POST", route=checkin, status="400") == 1
    assert room not in text and q(room) not in text  # templates, never raw paths
    # The histogram: cumulative buckets ending at +Inf == _count, a positive _sum.
    hist = "tumar_http_request_duration_seconds"
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == f"{hist}_bucket" and dict(labels)["route"] == messages
    )
    assert len(buckets) > 5 and buckets[-1][0] == float("inf")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    assert counts[-1] == 3 == value(samples, f"{hist}_count", method="GET", route=messages)
    total = value(samples, f"{hist}_sum", method="GET", route=messages)
    assert total is not None and 0 < total < 60


async def test_metrics_report_node_gauges(api: Api) -> None:
    samples = await scrape(api)
    assert value(samples, "tumar_build_info", version=__version__) == 1
    assert value(samples, "tumar_sync_waiters") == 0
    assert value(samples, "tumar_bus_connected") == 1
    assert value(samples, "tumar_bus_lag_seconds") == 0
    assert value(samples, "tumar_node_draining") == 0
    size = value(samples, "tumar_db_pool_size")
    assert size is not None and size >= 1
    checked_out = value(samples, "tumar_db_pool_checked_out")
    assert checked_out is not None and 0 <= checked_out <= 2 * size


async def test_metrics_count_parked_long_polls(api: Api) -> None:
    alice = await api.register("alice")
    room = await api.create_room(alice)
    since = (await api.sync(alice))["next_batch"]
    poll = asyncio.ensure_future(api.sync(alice, since, timeout=8000))
    for _ in range(100):
        if value(await scrape(api), "tumar_sync_waiters") == 1:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the long-poll never showed as parked")
    await api.send(alice, room, "wake up")
    assert (await asyncio.wait_for(poll, 5))["rooms"]["join"][room]
    assert value(await scrape(api), "tumar_sync_waiters") == 0


async def _from_address(app: FastAPI, services: Services, address: str) -> Api:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return Api(httpx.AsyncClient(transport=transport, base_url="http://tumar.test"), services)


async def test_metrics_are_refused_outside_metrics_allow(services: Services) -> None:
    app = build_app(services.settings, services)
    outsider = await _from_address(app, services, "203.0.113.5")
    async with outsider.client:
        assert (await get(outsider, "/metrics", 403))["errcode"] == "M_FORBIDDEN"
        assert await get(outsider, "/health/live") == {"status": "ok"}
    for inside in ("10.1.2.3", "192.168.7.7", "::1", "fd00::5"):
        insider = await _from_address(app, services, inside)
        async with insider.client:
            assert (await insider.client.get("/metrics")).status_code == 200, inside


async def test_metrics_allow_admits_the_listed_networks_only(settings: Settings) -> None:
    listed = settings.model_copy(update={"metrics_allow": ["203.0.113.0/24"]})
    svc = build_services(listed)
    await svc.start()
    try:
        app = build_app(listed, svc)
        outsider = await _from_address(app, svc, "203.0.113.5")
        async with outsider.client:
            assert (await outsider.client.get("/metrics")).status_code == 200
        local = await _from_address(app, svc, "127.0.0.1")
        async with local.client:
            assert (await get(local, "/metrics", 403))["errcode"] == "M_FORBIDDEN"
    finally:
        await svc.close()


def test_metrics_allow_must_be_networks() -> None:
    with pytest.raises(ValueError, match="metrics_allow"):
        make_settings(metrics_allow=["10.0.0.0/8", "not-a-network"])
    assert make_settings(metrics_allow=[" 10.1.2.3/8 "]).metrics_allow == ["10.0.0.0/8"]


# ---- logs -------------------------------------------------------------------------------------


@pytest.fixture
def json_log(tmp_path: Path) -> Iterator[io.StringIO]:
    """configure_logging(log_format=json) into a buffer; the root logger restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("uvicorn.access").disabled)
    stream = io.StringIO()
    configure_logging(make_settings(log_format="json", data_dir=tmp_path), stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("uvicorn.access").disabled = saved[2]


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_json_access_lines_carry_the_request_id(api: Api, json_log: io.StringIO) -> None:
    resp = await api.raw("GET", "/_matrix/client/v3/sync")
    assert resp.status_code == 401
    request_id = resp.headers["x-request-id"]
    lines = [r for r in _lines(json_log) if r.get("request_id") == request_id]
    access = [r for r in lines if r["logger"] == "tumar.access"]
    assert len(access) == 1, lines
    line = access[0]
    assert line["level"] == "info"
    assert line["method"] == "GET" and line["route"] == "/_matrix/client/v3/sync"
    assert line["status"] == 401 and isinstance(line["duration_ms"], float | int)
    assert line["msg"].startswith("GET /_matrix/client/v3/sync 401 ")
    assert line["ts"].endswith("Z")
    datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))


async def test_a_crash_is_logged_with_its_request_id_and_traceback(
    services: Services, json_log: io.StringIO
) -> None:
    app = build_app(services.settings, services)

    async def boom() -> None:
        raise RuntimeError("kaput")

    app.router.add_api_route("/_test/boom", boom)
    app.router.routes.insert(0, app.router.routes.pop())  # before the web app's routes
    async with Api.in_process(app, services) as api:
        resp = await api.client.get("/_test/boom")
    assert resp.status_code == 500 and resp.json()["errcode"] == "M_UNKNOWN"
    request_id = resp.headers["x-request-id"]
    assert request_id in resp.json()["error"]
    crash = [
        r
        for r in _lines(json_log)
        if r["logger"] == "tumar.http" and r.get("request_id") == request_id
    ]
    assert len(crash) == 1 and crash[0]["level"] == "error"
    assert "RuntimeError: kaput" in crash[0]["exc"]
    access = [
        r
        for r in _lines(json_log)
        if r["logger"] == "tumar.access" and r.get("request_id") == request_id
    ]
    assert access and access[0]["status"] == 500 and access[0]["route"] == "/_test/boom"


def test_json_lines_carry_extra_fields_and_no_request_id_outside_requests(
    json_log: io.StringIO,
) -> None:
    logging.getLogger("tumar.test").warning("moved %d rows", 3, extra={"table": "events"})
    (line,) = _lines(json_log)
    assert line["msg"] == "moved 3 rows" and line["table"] == "events"
    assert line["level"] == "warning" and line["logger"] == "tumar.test"
    assert "request_id" not in line
