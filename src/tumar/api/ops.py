"""Operations endpoints for load balancers and monitoring: liveness, readiness, metrics.

- ``GET /health/live``: 200 while the process serves requests at all.
- ``GET /health/ready`` (and ``/health``): 200 when the database answers; 503 when it does
  not or the node is draining (shutting down), so a load balancer sends no new requests here.
  A failing bus (Redis down) answers 200 with status ``degraded``: the node still serves.
  Each check is bounded by ``READY_TIMEOUT_S``.
- ``GET /metrics``: Prometheus text format, for clients in ``metrics_allow`` only.

No authentication: these answer load balancers and scrapers, not people. They reveal no user
data; the readiness reasons name the failing dependency and the error type only.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tumar import __version__, gc_policy
from tumar.api.http import Svc, ok
from tumar.core.metrics import CONTENT_TYPE, Registry, Sample, registry_of
from tumar.core.services import Services
from tumar.errors import forbidden

log = logging.getLogger("tumar.ops")
router = APIRouter()

READY_TIMEOUT_S = 2.0
"""Longest a readiness check waits for one dependency; a hanging database is a failure."""


def set_draining(app: Any) -> None:
    """Mark the node as shutting down: readiness answers 503 from now on."""
    app.state.draining = True


def is_draining(app: Any, svc: Services) -> bool:
    return bool(getattr(app.state, "draining", False)) or svc.notifier.draining


@router.get("/health/live")
async def live() -> Any:
    return ok({"status": "ok"})


@router.get("/health/ready")
@router.get("/health")
async def ready(request: Request, svc: Svc) -> Any:
    database, bus = await asyncio.gather(
        _check("database", _database(svc)), _check("bus", svc.bus.check())
    )
    if bus != "ok":
        # Every node shares the bus: without it a node still serves (it polls the database
        # for new events), so a bus failure must not take every node out of rotation at once.
        bus = f"degraded: {bus}"
    checks = {"database": database, "bus": bus}
    if is_draining(request.app, svc):
        return ok({"status": "draining", "checks": checks}, status=503)
    if database != "ok":
        return ok({"status": "unavailable", "checks": checks}, status=503)
    return ok({"status": "ok" if bus == "ok" else "degraded", "checks": checks})


async def _database(svc: Services) -> None:
    await svc.db.ping()


async def _check(name: str, probe: Awaitable[str | None]) -> str:
    """``ok``, or a short reason: the probe's own (the bus says why), a timeout, or the type
    of the error (its text may name hosts and users; it goes to the log instead)."""
    try:
        reason = await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %s s", name, READY_TIMEOUT_S)
        return f"timeout after {READY_TIMEOUT_S:g} s"
    except Exception as exc:
        log.warning("readiness: %s failed: %r", name, exc)
        return f"error: {type(exc).__name__}"
    return "ok" if reason is None else reason


@router.get("/metrics")
async def metrics(request: Request, svc: Svc) -> Response:
    host = request.client.host if request.client else None
    if not _allowed(host, svc.settings.metrics_allow):
        raise forbidden("Metrics are not available to this address.")
    node = registry_of(request.app)
    if not node.registry.has("tumar_sync_waiters"):
        _node_gauges(node.registry, request.app, svc)
    return Response(node.registry.render(), media_type=CONTENT_TYPE)


def _allowed(host: str | None, networks: Iterable[str]) -> bool:
    """Whether ``host`` lies in one of ``networks``; an unknown address never does."""
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n) for n in networks)


def _node_gauges(registry: Registry, app: Any, svc: Services) -> None:
    """Gauges read from the services at scrape time (registered on the first scrape)."""
    pool: Any = svc.db.engine.pool

    def pool_figure(method: str) -> float | None:
        read = getattr(pool, method, None)  # not every pool class counts connections
        return float(read()) if callable(read) else None

    def build_info() -> Iterable[Sample]:
        return (((__version__,), 1.0),)

    registry.gauge(
        "tumar_sync_waiters", "Long-polling /sync requests parked on this node.",
        lambda: svc.notifier.waiting,
    )  # fmt: skip
    registry.gauge(
        "tumar_bus_connected",
        "1 while doorbells reach the other nodes (always 1 for the in-process bus).",
        lambda: 1.0 if svc.bus.connected else 0.0,
    )
    registry.gauge(
        "tumar_bus_lag_seconds", "Last observed delay from publishing a doorbell to receiving it.",
        lambda: svc.bus.lag_seconds,
    )  # fmt: skip
    registry.gauge(
        "tumar_db_pool_checked_out", "Database connections in use now.",
        lambda: pool_figure("checkedout"),
    )  # fmt: skip
    registry.gauge(
        "tumar_db_pool_size", "Database connections the pool keeps (there is no overflow).",
        lambda: pool_figure("size"),
    )  # fmt: skip
    registry.gauge(
        "tumar_node_draining", "1 while this node is shutting down (readiness answers 503).",
        lambda: 1.0 if is_draining(app, svc) else 0.0,
    )  # fmt: skip
    registry.gauge("tumar_build_info", "The running tumar version.", build_info, ("version",))

    def collections() -> Iterable[Sample]:
        return (((str(g),), float(s["collections"])) for g, s in enumerate(gc.get_stats()))

    registry.gauge(
        "tumar_gc_collections", "Python garbage collections of each generation so far.",
        collections, ("generation",),
    )  # fmt: skip
    registry.gauge(
        "tumar_gc_last_full_pause_seconds",
        "How long the last timed full collection stopped the loop (gc_full_interval_seconds).",
        lambda: gc_policy.PROCESS.last_pause_s,
    )
