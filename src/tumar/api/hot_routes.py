"""The busiest routes, dispatched without FastAPI's router and dependency solving.

Every member woken by a message sends one ``GET /sync``. In the profile of a woken burst,
FastAPI's route matching (it tries the routes in order, router by router) and its dependency
solving took a fifth of the server's CPU, more than the sync's own database reads. A hot
route is a plain handler, ``(Request) -> Response``, for one exact path and method, found
with one dict lookup.

Nothing else changes for it. :class:`~tumar.api.middleware.MatrixHTTPMiddleware` runs
outside this layer, so request ids, CORS headers, metrics and the access log are the same; a
hot route's errors are answered by the app's own exception handlers, looked up along the
exception's classes as Starlette does, and whatever they do not answer reaches the
middleware's last safety net (500). A hot path asked with another method answers 405
``M_UNRECOGNIZED``, as FastAPI would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tumar.api.http import JSONResponse
from tumar.errors import unrecognized

HotHandler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

ROUTE_KEY = "tumar.hot_route"
"""Scope key holding the matched hot route's path template (for metrics and the access log)."""


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[str, tuple[str, HotHandler]]) -> None:
        """``routes``: full path -> (method, handler)."""
        self.app = app
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        method, handler = found
        scope[ROUTE_KEY] = scope["path"]
        request = Request(scope, receive)
        if scope["method"] != method:
            wrong = unrecognized("Method not allowed.", 405)
            response: Response = JSONResponse(wrong.to_body(), status_code=wrong.status)
        else:
            try:
                response = await handler(request)
            except Exception as exc:
                answer = _error_handler(scope, exc)
                if answer is None:
                    raise
                response = await answer(request, exc)
        await response(scope, receive, send)


def _error_handler(scope: Scope, exc: Exception) -> ErrorHandler | None:
    """The app's handler for ``exc``: the first of its classes (most specific first) that
    has one, as Starlette's ``ExceptionMiddleware`` looks it up."""
    handlers: dict[Any, ErrorHandler] = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
