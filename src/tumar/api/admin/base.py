"""Shared plumbing of the admin API: the administrator dependency and request-body docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from tumar.api.admin.denials import record_admin_denial
from tumar.api.http import Auth, Svc
from tumar.errors import MatrixError
from tumar.policy.roles import Actor

PREFIX = "/_tumar/admin/v1"


async def get_actor(request: Request, requester: Auth, svc: Svc) -> AsyncIterator[Actor]:
    """The administrator. A request refused with 403 (no role, out of scope) is audited as
    ``denied.admin`` in its own transaction (the refused command's rolled back)."""
    try:
        yield await svc.directory.actor_for(requester)
    except MatrixError as exc:
        if exc.status == 403:
            await record_admin_denial(request, requester, svc, exc)
        raise


AdminActor = Annotated[Actor, Depends(get_actor)]


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body that the route parses itself (so that
    size limits and error codes stay those of the rest of the server)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
