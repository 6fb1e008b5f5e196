"""``/_tumar/admin/v1``: device policies (versioned, every change audited), enrolment tokens,
device detail with its check-in history, commands and retirement, for holders of
``devices.manage`` (security officers) over the organisations concerned. The dashboard's lists
and previews are in ``device_dashboard.py``, the MDM exports in ``device_exports.py``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from tumar.api.admin.base import AdminActor, body_doc
from tumar.api.admin.models import AdminBody
from tumar.api.devices import QrFormat, device_json, token_response
from tumar.api.http import Body, Svc, ok, parse
from tumar.core.devices import DeviceDetail
from tumar.store.devices import Command, StoredPolicy

router = APIRouter(tags=["devices"])
POLICY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class DeviceIdConvertor(Convertor[str]):
    """Device ids (``dv_<hex>``) only, so that ``/devices/summary`` and other fixed paths of
    the dashboard never reach the device routes, whatever the order routers are added in."""

    regex = "dv_[0-9a-f]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("device_id", DeviceIdConvertor())


class PolicyOut(BaseModel):
    policy_id: str
    version: int
    name: str
    document: dict[str, Any]
    created_by: str
    created_ts: int
    retired_ts: int | None


class PolicyList(BaseModel):
    policies: list[PolicyOut]


class TokenIn(AdminBody):
    user_id: str = Field(min_length=3, max_length=255)


class TokenOut(BaseModel):
    token: str
    user_id: str
    expires_ts: int
    qr_payload: str
    qr_svg: str


class CommandIn(AdminBody):
    kind: Literal["sync_now", "lock_content", "wipe_content", "show_message"]
    message: str | None = Field(default=None, max_length=1000)


class CommandOut(BaseModel):
    command_id: str
    device_id: str
    kind: str
    payload: dict[str, Any]
    issued_by: str
    issued_ts: int
    delivered_ts: int | None
    acked_ts: int | None
    result: str | None


class DeviceOut(BaseModel):
    device_id: str
    user_id: str
    session_device_id: str | None
    platform: str
    model: str
    os_version: str
    management_mode: str
    ownership: str
    enrolled_ts: int
    last_seq: int
    last_checkin_ts: int | None
    verdict: str
    valid_until_ts: int | None
    gated_labels: list[str]
    findings: list[dict[str, Any]]
    bundle_version: str | None
    retired_ts: int | None


class CheckinOut(BaseModel):
    seq: int
    received_ts: int
    verdict: str
    report: dict[str, Any]


class ViolationOut(BaseModel):
    violation_id: str
    opened_ts: int
    closed_ts: int | None
    findings: list[dict[str, Any]]


class DeviceDetailOut(DeviceOut):
    org_code: str | None
    attestation: dict[str, Any]
    report: dict[str, Any] | None
    checkins: list[CheckinOut]
    commands: list[CommandOut]
    violations: list[ViolationOut]


def policy_json(p: StoredPolicy) -> dict[str, Any]:
    return {
        "policy_id": p.policy_id,
        "version": p.version,
        "name": p.name,
        "document": p.document,
        "created_by": p.created_by,
        "created_ts": p.created_ts,
        "retired_ts": p.retired_ts,
    }


def command_json(c: Command) -> dict[str, Any]:
    return {
        "command_id": c.command_id,
        "device_id": c.device_id,
        "kind": c.kind,
        "payload": c.payload,
        "issued_by": c.issued_by,
        "issued_ts": c.issued_ts,
        "delivered_ts": c.delivered_ts,
        "acked_ts": c.acked_ts,
        "result": c.result,
    }


def detail_json(x: DeviceDetail) -> dict[str, Any]:
    return {
        **device_json(x.device),
        "org_code": x.org_code,
        "attestation": x.device.attestation,
        "report": x.device.report,
        "checkins": [
            {"seq": c.seq, "received_ts": c.received_ts, "verdict": c.verdict, "report": c.report}
            for c in x.history
        ],
        "commands": [command_json(c) for c in x.commands],
        "violations": [
            {
                "violation_id": v.violation_id,
                "opened_ts": v.opened_ts,
                "closed_ts": v.closed_ts,
                "findings": list(v.findings),
            }
            for v in x.violations
        ],
    }


POLICY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A device policy document (docs/device-policy.md)",
                }
            }
        },
    }
}


@router.get("/device-policies", response_model=PolicyList)
async def list_policies(actor: AdminActor, svc: Svc) -> Response:
    found = await svc.devices.list_policies(actor)
    return ok({"policies": [policy_json(p) for p in found]})


@router.post(
    "/device-policies", response_model=PolicyOut, status_code=201, openapi_extra=POLICY_DOC
)
async def create_policy(
    actor: AdminActor,
    svc: Svc,
    body: Body,
    policy_id: str | None = Query(None, pattern=POLICY_ID, description="default: generated"),
) -> Response:
    p = await svc.devices.do_create_policy(actor, body, policy_id=policy_id)
    return ok(policy_json(p), status=201)


@router.get("/device-policies/{policy_id}", response_model=PolicyOut)
async def get_policy(policy_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(policy_json(await svc.devices.get_policy(actor, policy_id)))


@router.put("/device-policies/{policy_id}", response_model=PolicyOut, openapi_extra=POLICY_DOC)
async def update_policy(policy_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    return ok(policy_json(await svc.devices.do_update_policy(actor, policy_id, body)))


@router.delete("/device-policies/{policy_id}", response_model=PolicyOut)
async def retire_policy(policy_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(policy_json(await svc.devices.do_retire_policy(actor, policy_id)))


@router.get("/device-policies/{policy_id}/versions", response_model=PolicyList)
async def policy_versions(policy_id: str, actor: AdminActor, svc: Svc) -> Response:
    found = await svc.devices.policy_versions(actor, policy_id)
    return ok({"policies": [policy_json(p) for p in found]})


@router.post(
    "/device-enrolment-tokens",
    response_model=TokenOut,
    status_code=201,
    openapi_extra=body_doc(TokenIn),
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
async def issue_token(
    actor: AdminActor,
    svc: Svc,
    body: Body,
    fmt: QrFormat = Query("json", alias="format", description="json, or the QR code alone"),
) -> Response:
    data = parse(TokenIn, body)
    return token_response(await svc.devices.do_issue_token(actor, data.user_id), fmt)


@router.get("/devices/{device_id:device_id}", response_model=DeviceDetailOut)
async def device_detail(device_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(detail_json(await svc.devices.device_detail(actor, device_id)))


@router.post(
    "/devices/{device_id:device_id}/commands",
    response_model=CommandOut,
    status_code=201,
    openapi_extra=body_doc(CommandIn),
)
async def command(device_id: str, actor: AdminActor, svc: Svc, body: Body) -> Response:
    data = parse(CommandIn, body)
    c = await svc.devices.do_command(actor, device_id, data.kind, data.message)
    return ok(command_json(c), status=201)


@router.post("/devices/{device_id:device_id}/retire", response_model=DeviceOut)
async def retire(device_id: str, actor: AdminActor, svc: Svc) -> Response:
    return ok(device_json(await svc.devices.do_retire_device(actor, device_id)))
