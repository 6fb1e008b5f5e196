"""The admin API under ``/_tumar/admin/v1``: REST and JSON, for users holding an administrative
role, each request checked against the scope of their grants. Its OpenAPI document is built
from these routes and served at ``/_tumar/admin/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.responses import Response

from tumar import __version__
from tumar.api.admin import (
    accounts,
    audit,
    compliance,
    correspondence,
    device_dashboard,
    device_exports,
    devices,
    imports,
    labels,
    mfa,
    notices,
    orgs,
    people,
    retention,
    roles,
    rollout,
)
from tumar.api.admin.base import PREFIX
from tumar.api.http import ok

MODULES = [orgs, people, roles, audit, rollout, mfa, imports, accounts, retention, compliance]
MODULES.append(notices)
MODULES.append(labels)
MODULES.append(correspondence)
MODULES.append(devices)
MODULES.append(device_exports)
MODULES.append(device_dashboard)


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in MODULES:
        router.include_router(module.router)
    document: dict[str, Any] = {}

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi() -> Response:
        if not document:
            document.update(openapi_document())
        return ok(document)

    return router


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the admin API, built from its routes and models."""
    documented = FastAPI(openapi_url=None)  # only to flatten the included routers
    router = APIRouter(prefix=PREFIX)
    for module in MODULES:
        router.include_router(module.router)
    documented.include_router(router)
    document = get_openapi(
        title="tumar admin API",
        version=__version__,
        description="Administration of a tumar deployment. Authenticate with the Matrix "
        "access token of a user holding an administrative role.",
        routes=documented.routes,
    )
    document["components"] = {
        **document.get("components", {}),
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }
    document["security"] = [{"bearer": []}]
    return document
