"""HTTP plumbing shared by every route: JSON responses, request bodies, authentication."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import Response

from tumar.core.requester import Requester
from tumar.core.services import Services
from tumar.errors import MatrixError, invalid_param

M = TypeVar("M", bound=BaseModel)


class RequestBody(BaseModel):
    """Base of request-body models: strict types (no coercion), unknown keys tolerated."""

    model_config = ConfigDict(extra="allow", strict=True)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(body: Any = None, status: int = 200) -> JSONResponse:
    return JSONResponse({} if body is None else body, status_code=status)


async def get_services(request: Request) -> Services:
    """A coroutine on purpose: FastAPI runs plain-function dependencies in a thread pool."""
    services: Services = request.app.state.services
    return services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Svc = Annotated[Services, Depends(get_services)]


def access_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise MatrixError(401, "M_MISSING_TOKEN", "The Authorization header is not Bearer.")
        return token.strip()
    return request.query_params.get("access_token")


async def get_requester(request: Request) -> Requester:
    token = access_token(request)
    if not token:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token.")
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    return await services_of(request).accounts.get_requester(token, ip, user_agent=agent)


Auth = Annotated[Requester, Depends(get_requester)]


async def get_requester_even_suspended(request: Request) -> Requester:
    """For the endpoints a suspended (locked) account may still use: logging out."""
    token = access_token(request)
    if not token:
        raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token.")
    ip = request.client.host if request.client else None
    return await services_of(request).accounts.get_requester(token, ip, allow_suspended=True)


AuthEvenSuspended = Annotated[Requester, Depends(get_requester_even_suspended)]


async def get_optional_requester(request: Request) -> Requester | None:
    """The requester when an access token is given (endpoints where auth is optional)."""
    if access_token(request) is None:
        return None
    return await get_requester(request)


MaybeAuth = Annotated[Requester | None, Depends(get_optional_requester)]


async def get_json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    limit: int = services_of(request).settings.max_request_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MatrixError(400, "M_NOT_JSON", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise MatrixError(400, "M_BAD_JSON", "The request body must be a JSON object.")
    return value


Body = Annotated[dict[str, Any], Depends(get_json_body)]


def too_large(limit: int) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", f"The request body is larger than {limit} bytes.")


def parse(model: type[M], body: dict[str, Any]) -> M:
    """Validate a JSON body against a model; every problem is listed in the error."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise MatrixError(400, "M_BAD_JSON", describe(exc)) from None


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "Invalid request: " + "; ".join(parts)


# ---- query parameters, for handlers outside FastAPI's dependency solving (hot_routes.py) ----

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _invalid(name: str, problem: str) -> MatrixError:
    return invalid_param(f"Invalid parameter: {name}: {problem}")


def query_int(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number query parameter of at least ``minimum``; ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits.isascii() or not digits.isdigit():
        raise _invalid(name, "should be a whole number.")
    # Past 18 digits the value only needs to be "huge" (and int() of thousands of digits
    # raises): it is clamped, so a very long timeout means the longest one.
    value = int(text) if len(digits) <= 18 else (-(10**18) if text[0] == "-" else 10**18)
    if value < minimum:
        raise _invalid(name, f"should be at least {minimum}.")
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter (``true`` or ``false``); ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _invalid(name, "should be true or false.")


def query_choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter that must be one of ``choices``; ``None`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw in choices:
        return raw
    raise _invalid(name, "should be one of " + ", ".join(choices) + ".")
