"""Shared plumbing of the admin API: the administrator dependency and request-body docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel

from tumar.api.http import Auth, Svc
from tumar.policy.roles import Actor

PREFIX = "/_tumar/admin/v1"


async def get_actor(requester: Auth, svc: Svc) -> Actor:
    return await svc.directory.actor_for(requester)


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
