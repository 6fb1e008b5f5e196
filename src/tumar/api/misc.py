"""Discovery and small endpoints: versions, capabilities, well-known, VoIP,
the user directory, and the federation refusal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from tumar.api.http import Auth, Body, Svc, ok, parse
from tumar.core.room_creation import ROOM_VERSION, SUPPORTED_ROOM_VERSIONS
from tumar.errors import forbidden

# v1.4: threads, edits, per-thread notifications and receipts, private receipts, room types in
# the directory and in upgrades. v1.11 is listed for authenticated media (clients switch to
# /_matrix/client/v1/media when they see it); the versions between are listed once what they
# add is supported.
SPEC_VERSIONS = ["r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.11"]

client = APIRouter()  # mounted under /_matrix/client/{v3,r0}
top = APIRouter()  # mounted at the root


class DirectorySearch(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    search_term: StrictStr
    limit: int = Field(10, ge=1, le=100)


@top.get("/_matrix/client/versions")
async def versions() -> Any:
    return ok({"versions": SPEC_VERSIONS, "unstable_features": {}})


@top.get("/.well-known/matrix/client")
async def well_known(svc: Svc) -> Any:
    return ok({"m.homeserver": {"base_url": svc.settings.effective_public_baseurl}})


@top.api_route("/_matrix/federation/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
@top.api_route("/_matrix/key/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
async def federation_disabled(rest: str) -> Any:
    raise forbidden("Federation is disabled on this server.")


@client.get("/capabilities")
async def capabilities(requester: Auth) -> Any:
    return ok(
        {
            "capabilities": {
                "m.room_versions": {
                    "default": ROOM_VERSION,
                    "available": {v: "stable" for v in SUPPORTED_ROOM_VERSIONS},
                },
                "m.change_password": {"enabled": True},
                "m.set_displayname": {"enabled": True},
                "m.set_avatar_url": {"enabled": True},
                "m.3pid_changes": {"enabled": False},
            }
        }
    )


@client.get("/voip/turnServer")
async def turn_server(requester: Auth) -> Any:
    raise forbidden("Voice and video calls are switched off on this server.")


@client.post("/user_directory/search")
async def user_directory(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(DirectorySearch, body)
    if not req.search_term.strip():
        return ok({"results": [], "limited": False})
    term = req.search_term.strip()
    results, limited = await svc.user_directory.search(requester, term, req.limit)
    return ok({"results": results, "limited": limited})
