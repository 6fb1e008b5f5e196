"""Third-party identifiers (email addresses, phone numbers): accounts come from the personnel
directory, so there are none to list and none can be added or bound."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tumar.api.http import Auth, ok
from tumar.errors import MatrixError, forbidden

router = APIRouter()

NOT_HERE = (
    "Email addresses and phone numbers are not linked to accounts on this server: accounts "
    "come from the personnel directory."
)


@router.get("/account/3pid")
async def list_3pids(requester: Auth) -> Any:
    return ok({"threepids": []})


@router.post("/account/3pid/add")
@router.post("/account/3pid/bind")
async def add_3pid(requester: Auth) -> Any:
    raise forbidden(NOT_HERE)


@router.post("/account/3pid/delete")
@router.post("/account/3pid/unbind")
async def remove_3pid(requester: Auth) -> Any:
    raise MatrixError(400, "M_THREEPID_NOT_FOUND", NOT_HERE)


@router.post("/account/3pid/email/requestToken")
@router.post("/account/3pid/msisdn/requestToken")
@router.post("/account/password/email/requestToken")
@router.post("/account/password/msisdn/requestToken")
async def request_token() -> Any:
    raise MatrixError(403, "M_THREEPID_DENIED", NOT_HERE)
