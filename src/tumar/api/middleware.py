"""Outermost ASGI layer: request ids, CORS on every response (errors included), preflight
without authentication, a last safety net that turns a crash into ``M_UNKNOWN``, and per
request one count, one latency observation (by route template) and one access-log line.

It runs on every request, so it does only dict lookups and a few additions; the route
template comes from ``scope["route"]``, which the router sets on the shared scope once it
has matched (unmatched requests count as ``other``).
"""

from __future__ import annotations

import logging
import secrets
from time import perf_counter
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tumar.api.hot_routes import ROUTE_KEY
from tumar.core.metrics import HttpMetrics, NodeMetrics, registry_of
from tumar.logs import REQUEST_ID

log = logging.getLogger("tumar.http")
access = logging.getLogger("tumar.access")

CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"X-Requested-With, Content-Type, Authorization"),
]
# Metric labels take the method only from this set, so a client cannot invent label values.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


class MatrixHTTPMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._metrics: HttpMetrics | None = None

    def _http_metrics(self, scope: Scope) -> HttpMetrics:
        """The app's registry (found once: one middleware instance serves one app)."""
        if self._metrics is None:
            app = scope.get("app")
            self._metrics = (registry_of(app) if app is not None else NodeMetrics()).http
        return self._metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = perf_counter()
        request_id = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = request_id
        context = REQUEST_ID.set(request_id)
        extra = [*CORS_HEADERS, (b"x-request-id", request_id.encode())]
        status = 0  # 0: no answer started (the client went away, or the task was cancelled)
        try:
            if scope["method"] == "OPTIONS":
                status = 204
                await send({"type": "http.response.start", "status": 204, "headers": extra})
                await send({"type": "http.response.body", "body": b""})
                return

            async def send_with_headers(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                log.exception("unhandled error", extra={"request_id": request_id})
                if status:
                    raise
                status = 500
                body = orjson.dumps(
                    {
                        "errcode": "M_UNKNOWN",
                        "error": f"Internal server error (request id {request_id}).",
                    }
                )
                headers: list[Any] = [(b"content-type", b"application/json"), *extra]
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            self._record(scope, status, perf_counter() - began)
            REQUEST_ID.reset(context)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        template = route_template(scope)
        method: str = scope["method"]
        if method not in _METHODS:
            method = "other"
        self._http_metrics(scope).observe(method, template, status, seconds)
        if access.isEnabledFor(logging.INFO):
            ms = round(seconds * 1000, 2)
            fields = {"method": method, "route": template, "status": status, "duration_ms": ms}
            # makeRecord + handle is access.info() without looking up the caller's frame.
            access.handle(
                access.makeRecord(
                    access.name, logging.INFO, __file__, 0, "%s %s %d %.2fms",
                    (method, template, status, ms), None, extra=fields,
                )
            )  # fmt: skip


def route_template(scope: Scope) -> str:
    """The matched route's path template with its router prefix (``/_matrix/client/v3/rooms/
    {room_id}/messages``), or ``other`` when nothing matched.

    FastAPI routers included with a prefix keep their routes' own short paths (``/sync``) in
    ``scope["route"]``; FastAPI records the full template in its effective route context.
    Both are read defensively, so a FastAPI change degrades the label, never the request
    (``tests/api/test_ops.py`` notices)."""
    hot = scope.get(ROUTE_KEY)  # a hot route's exact path (api/hot_routes.py)
    if hot is not None:
        return str(hot)
    context = scope.get("fastapi", {}).get("effective_route_context")
    full = getattr(context, "path_format", None)
    if isinstance(full, str) and full:
        return full
    # A plain Starlette route (the device check-in) leaves FastAPI's template empty.
    plain = getattr(getattr(context, "starlette_route", None), "path_format", None)
    if isinstance(plain, str) and plain:
        return plain
    short = getattr(scope.get("route"), "path", None)
    return short if isinstance(short, str) else "other"
