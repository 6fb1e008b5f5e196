"""The ASGI application: routes mounted under v3 and r0, Matrix-style errors everywhere."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from tumar import __version__
from tumar.api import (
    accounts,
    admin,
    correspondence,
    devices,
    events,
    keys,
    media,
    misc,
    notices,
    ops,
    presence,
    push,
    relations,
    reports,
    room_directory,
    room_keys,
    rooms,
    search,
    sso,
    sync,
    tags,
    threepid,
    to_device,
    userdata,
    web,
)
from tumar.api.hot_routes import HotRoutes
from tumar.api.http import JSONResponse
from tumar.api.middleware import MatrixHTTPMiddleware
from tumar.config import Settings
from tumar.core.audit import Who, record_denial
from tumar.core.services import Services, build_services
from tumar.errors import MatrixError, PolicyDenied

CLIENT_PREFIXES = ("/_matrix/client/v3", "/_matrix/client/r0")
DB_RETRY_AFTER_MS = 2000
log = logging.getLogger("tumar.app")

# Raised by asyncpg (untranslated by SQLAlchemy when they happen while connecting) when
# PostgreSQL is unreachable, shutting down, still starting up or out of connections. (Not the
# whole operator-intervention class: a cancelled or timed-out query is no outage.)
_PG_CONNECTION_ERRORS = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_DRIVER_MODULES = ("sqlalchemy.", "asyncpg", "aiosqlite")


def build_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. Given ``services``, the caller owns their start and close."""
    owned = services is None
    svc = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await svc.start()
        try:
            yield
        finally:
            if owned:
                await svc.close()

    app = FastAPI(
        title="tumar",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # tumar's metrics are its own (/metrics); FastAPI's native OpenTelemetry would look
        # up the global providers, reading the environment, on every request (4 % of a
        # woken /sync's CPU) to find them unconfigured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = svc
    # First: device check-ins are the busiest unauthenticated route, and matching a path
    # against every route before it costs more than the check-in's own work.
    app.include_router(devices.router)  # /_tumar/devices/v1: enrolment and check-ins
    app.include_router(ops.router)  # /health, /metrics: load balancers and monitoring
    for prefix in CLIENT_PREFIXES:
        for module in (accounts, rooms, events, sync, userdata, keys, to_device, room_keys):
            app.include_router(module.router, prefix=prefix)
        app.include_router(misc.client, prefix=prefix)
        for module in (push, presence, tags, reports, threepid, room_directory, search):
            app.include_router(module.router, prefix=prefix)
        app.include_router(sso.client, prefix=prefix)
    app.include_router(accounts.v1, prefix="/_matrix/client/v1")
    app.include_router(relations.v1, prefix="/_matrix/client/v1")
    app.include_router(misc.top)
    app.include_router(media.router)
    app.include_router(admin.build_router())
    app.include_router(notices.router)  # /_tumar/notices/v1: recipients' side
    app.include_router(correspondence.router)  # /_tumar/letters/v1: official letters
    app.include_router(sso.page_router)
    app.include_router(web.router)  # last: the web app never shadows an API route
    _install_error_handlers(app)
    hot = {
        f"{prefix}{path}": route for prefix in CLIENT_PREFIXES for path, route in sync.HOT.items()
    }
    app.add_middleware(HotRoutes, routes=hot)  # inside the next: added first
    app.state.hot_routes = hot  # routes FastAPI does not list (the API coverage tests read it)
    app.add_middleware(MatrixHTTPMiddleware)
    return app


async def _audit_denial(request: Request, exc: PolicyDenied) -> None:
    """Record a classification refusal; the refused transaction has rolled back by now."""
    svc: Services = request.app.state.services
    assert exc.actor is not None
    await record_denial(
        svc.db, Who(exc.actor, request.client.host if request.client else None),
        svc.clock.now_ms(), f"denied.{exc.action}", "room", exc.room_id or "",
        errcode=exc.errcode, reason=exc.error,
    )  # fmt: skip


def _install_error_handlers(app: FastAPI) -> None:
    async def matrix_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MatrixError)
        if isinstance(exc, PolicyDenied) and exc.actor is not None:
            await _audit_denial(request, exc)
        return JSONResponse(exc.to_body(), status_code=exc.status)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            body: dict[str, Any] = {"errcode": "M_UNRECOGNIZED", "error": "Method not allowed."}
        elif exc.status_code == 404:
            body = {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request."}
        else:
            body = {"errcode": "M_UNKNOWN", "error": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            {"errcode": "M_INVALID_PARAM", "error": "Invalid parameter: " + "; ".join(parts)},
            status_code=400,
        )

    async def database_error(request: Request, exc: Exception) -> Response:
        if not database_outage(exc):
            raise exc  # a bug, not an outage: the middleware answers 500 with a request id
        rid = getattr(request.state, "request_id", "")
        log.warning("database unavailable (request %s): %s", rid, type(exc).__name__)
        body = {
            "errcode": "M_UNKNOWN",
            "error": "The database is unavailable; try again shortly.",
            "retry_after_ms": DB_RETRY_AFTER_MS,
        }
        headers = {"Retry-After": str(DB_RETRY_AFTER_MS // 1000)}
        return JSONResponse(body, status_code=503, headers=headers)

    app.add_exception_handler(MatrixError, matrix_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for kind in (DBAPIError, OSError, *_PG_CONNECTION_ERRORS):
        app.add_exception_handler(kind, database_error)


def database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (PostgreSQL restarting, network
    cut), as opposed to a bug in a query. Connection failures while connecting surface raw
    (``OSError``, asyncpg errors); a connection lost mid-query surfaces as a ``DBAPIError``
    that SQLAlchemy marks ``connection_invalidated`` (the pool then reconnects by itself)."""
    seen: BaseException | None = exc
    for _ in range(5):  # the error, what it wraps, what caused that
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, _PG_CONNECTION_ERRORS):
            return True
        if isinstance(seen, OSError) and _raised_by_driver(seen):
            return True
        nxt = seen.orig if isinstance(seen, DBAPIError) else None
        seen = nxt or seen.__cause__ or seen.__context__
    return False


def _raised_by_driver(exc: BaseException) -> bool:
    """An ``OSError`` from the database driver or pool, not from media files or sockets."""
    for frame, _line in traceback.walk_tb(exc.__traceback__):
        if str(frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
    return False
