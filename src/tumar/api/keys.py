"""End-to-end encryption keys: upload, query, claim, changes, cross-signing, signatures.

The server relays keys; it never decrypts. Bodies are checked for shape here (mis-typed
fields are 400 ``M_BAD_JSON``); the key objects themselves are passed on as uploaded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import StrictInt, StrictStr

from tumar.api.accounts import AuthDict, _check_password_uia
from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.core.keys import CrossSigningUpload
from tumar.core.tokens import SyncToken
from tumar.errors import bad_json, missing_param

router = APIRouter()


class DeviceKeys(RequestBody):
    user_id: StrictStr
    device_id: StrictStr
    algorithms: list[StrictStr]
    keys: dict[str, StrictStr]
    signatures: dict[str, dict[str, StrictStr]]


class KeysUpload(RequestBody):
    device_keys: DeviceKeys | None = None
    one_time_keys: dict[str, StrictStr | dict[str, Any]] | None = None
    fallback_keys: dict[str, StrictStr | dict[str, Any]] | None = None


class KeysQuery(RequestBody):
    device_keys: dict[str, list[StrictStr]]
    timeout: StrictInt | None = None


class KeysClaim(RequestBody):
    one_time_keys: dict[str, dict[str, StrictStr]]
    timeout: StrictInt | None = None


class CrossSigningKeys(RequestBody):
    master_key: dict[str, Any] | None = None
    self_signing_key: dict[str, Any] | None = None
    user_signing_key: dict[str, Any] | None = None
    auth: AuthDict | None = None


@router.post("/keys/upload")
async def upload_keys(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(KeysUpload, body)
    counts = await svc.keys.do_upload(
        requester,
        body["device_keys"] if req.device_keys is not None else None,
        body.get("one_time_keys") or {},
        body.get("fallback_keys") or {},
    )
    return ok({"one_time_key_counts": counts})


@router.post("/keys/query")
async def query_keys(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(KeysQuery, body)
    return ok(await svc.keys.query(requester, {u: list(d) for u, d in req.device_keys.items()}))


@router.post("/keys/claim")
async def claim_keys(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(KeysClaim, body)
    return ok(await svc.keys.do_claim(requester, req.one_time_keys))


@router.get("/keys/changes")
async def key_changes(svc: Svc, requester: Auth, request: Request, to: str | None = None) -> Any:
    start = request.query_params.get("from")  # `from` is a Python keyword
    if not start:
        raise missing_param("`from` (a sync token) is required.")
    after = SyncToken.parse(start).pos
    upto = SyncToken.parse(to).pos if to else await svc.db.current_position()
    delta = await svc.keys.changes(requester, after, upto)
    return ok({"changed": delta.changed, "left": delta.left})


@router.post("/keys/device_signing/upload")
async def upload_cross_signing(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(CrossSigningKeys, body)
    upload = CrossSigningUpload(
        master=req.master_key, self_signing=req.self_signing_key, user_signing=req.user_signing_key
    )
    authenticated = False
    if await svc.keys.cross_signing_needs_auth(requester, upload):
        await _check_password_uia(svc, requester, req.auth, requester.ip)
        authenticated = True
    await svc.keys.do_upload_cross_signing(requester, upload, authenticated=authenticated)
    return ok()


@router.post("/keys/signatures/upload")
async def upload_signatures(svc: Svc, requester: Auth, body: Body) -> Any:
    signed: dict[str, dict[str, dict[str, Any]]] = {}
    for user_id, objects in body.items():
        if not isinstance(objects, dict) or not all(isinstance(o, dict) for o in objects.values()):
            raise bad_json(
                "Invalid request: the body maps user ids to key ids to signed key objects."
            )
        signed[user_id] = objects
    failures = await svc.keys.do_upload_signatures(requester, signed)
    return ok({"failures": failures})
