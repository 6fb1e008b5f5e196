"""``/_tumar/devices/v1``: the device side of device policy (issue 8). An official's app
issues itself an enrolment token (when the deployment allows it) and enrols with the access
token of the session it binds the device to; the device then checks in with signed reports and
no access token. The protocol is in ``docs/device-policy.md`` ("Enrolment and check-ins")."""

from __future__ import annotations

import io
from typing import Any, Literal

import segno
from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response
from starlette.routing import Route

from tumar.api.http import Auth, Body, RequestBody, Svc, get_json_body, ok, parse
from tumar.core.device_checkins import CheckinAnswer, CheckinRequest, FixIn
from tumar.core.devices import Enrolment, IssuedToken
from tumar.core.services import Services
from tumar.store.devices import ManagedDevice

router = APIRouter(prefix="/_tumar/devices/v1")
Short = Field(max_length=200)
QrFormat = Literal["json", "svg", "png"]


class EnrolIn(RequestBody):
    token: str = Field(min_length=1, max_length=200)
    public_key: str = Field(min_length=1, max_length=200)
    platform: str = Short
    model: str = Field(min_length=1, max_length=200)
    os_version: str = Field(min_length=1, max_length=100)
    management_mode: str = Short
    ownership: str = Short
    attestation: dict[str, Any] = Field(default_factory=dict)


class SecurityIn(RequestBody):
    rooted: bool | None = None
    screen_lock: bool | None = None
    encrypted: bool | None = None


class StateIn(RequestBody):
    platform: str = Short
    os_version: str = Field(min_length=1, max_length=100)
    restricted: list[str] = Field(default_factory=list, max_length=100)
    security: SecurityIn = Field(default_factory=SecurityIn)


class FixBody(RequestBody):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float = Field(ge=0, le=1_000_000)
    ts: int = Field(ge=0, le=2**53)


class EvidenceIn(RequestBody):
    fix: FixBody | None = None
    networks: list[str] = Field(default_factory=list, max_length=200)


class AckIn(RequestBody):
    command_id: str = Field(min_length=1, max_length=100)
    result: str = Field(default="done", max_length=200)


class CheckinIn(RequestBody):
    device_id: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=1, le=2**53)
    sent_ts: int = Field(ge=0, le=2**53)
    state: StateIn
    evidence: EvidenceIn = Field(default_factory=EvidenceIn)
    acks: list[AckIn] = Field(default_factory=list, max_length=100)
    signature: str = Field(min_length=1, max_length=200)


def token_json(t: IssuedToken) -> dict[str, Any]:
    return {
        "token": t.token,
        "user_id": t.user_id,
        "expires_ts": t.expires_ts,
        "qr_payload": t.qr_payload,
    }


def token_response(t: IssuedToken, fmt: QrFormat) -> Response:
    """The token as JSON (with the QR code as SVG text), or the QR code alone as an image."""
    qr = segno.make(t.qr_payload, error="m")
    if fmt == "png":
        out = io.BytesIO()
        qr.save(out, kind="png", scale=6)
        return Response(out.getvalue(), media_type="image/png")
    if fmt == "svg":
        return Response(qr.svg_inline(scale=6), media_type="image/svg+xml")
    return ok({**token_json(t), "qr_svg": qr.svg_inline(scale=4)}, status=201)


def device_json(d: ManagedDevice) -> dict[str, Any]:
    return {
        "device_id": d.device_id,
        "user_id": d.user_id,
        "session_device_id": d.session_device_id,
        "platform": d.platform,
        "model": d.model,
        "os_version": d.os_version,
        "management_mode": d.management_mode,
        "ownership": d.ownership,
        "enrolled_ts": d.enrolled_ts,
        "last_seq": d.last_seq,
        "last_checkin_ts": d.last_checkin_ts,
        "verdict": d.verdict,
        "valid_until_ts": d.valid_until_ts,
        "gated_labels": list(d.gated_labels),
        "findings": list(d.findings),
        "bundle_version": d.bundle_version,
        "retired_ts": d.retired_ts,
    }


def answer_json(a: CheckinAnswer) -> dict[str, Any]:
    return {
        "device_id": a.device_id,
        "verdict": a.verdict,
        "findings": a.findings,
        "required_restrictions": a.required_restrictions,
        "valid_until_ts": a.valid_until_ts,
        "grace_until_ts": a.grace_until_ts,
        "policy_bundle_version": a.policy_bundle_version,
        "next_checkin_ms": a.next_checkin_ms,
        "commands": [
            {"command_id": c.command_id, "kind": c.kind, "payload": c.payload} for c in a.commands
        ],
        "server_ts": a.server_ts,
    }


@router.post("/enrolment-tokens")
async def own_token(
    svc: Svc, requester: Auth, fmt: QrFormat = Query("json", alias="format")
) -> Response:
    return token_response(await svc.devices.do_issue_own_token(requester), fmt)


@router.post("/enrol")
async def enrol(svc: Svc, requester: Auth, body: Body) -> Response:
    data = parse(EnrolIn, body)
    enrolled = await svc.devices.do_enrol(
        requester,
        Enrolment(
            token=data.token,
            public_key=data.public_key,
            platform=data.platform,
            model=data.model,
            os_version=data.os_version,
            management_mode=data.management_mode,
            ownership=data.ownership,
            attestation=data.attestation,
        ),
    )
    return ok(
        {
            "device_id": enrolled.device.device_id,
            "policy_bundle_version": enrolled.policy_bundle_version,
            "checkin_interval_ms": enrolled.checkin_interval_ms,
        },
        status=201,
    )


@router.get("/devices")
async def my_devices(svc: Svc, requester: Auth) -> Response:
    """The signed-in official's own enrolled devices."""
    found = await svc.devices.my_devices(requester)
    return ok({"devices": [device_json(d) for d in found]})


def checkin_request(body: dict[str, Any], client_ip: str | None) -> CheckinRequest:
    """A check-in body, validated (``M_BAD_JSON`` naming each problem), as the core's request."""
    data = parse(CheckinIn, body)
    fix = data.evidence.fix
    return CheckinRequest(
        device_id=data.device_id,
        seq=data.seq,
        sent_ts=data.sent_ts,
        platform=data.state.platform,
        os_version=data.state.os_version,
        restricted=frozenset(data.state.restricted),
        rooted=data.state.security.rooted,
        screen_lock=data.state.security.screen_lock,
        encrypted=data.state.security.encrypted,
        fix=FixIn(fix.lat, fix.lon, fix.accuracy_m, fix.ts) if fix else None,
        networks=frozenset(data.evidence.networks),
        acks=tuple((a.command_id, a.result) for a in data.acks),
        signature=data.signature,
        client_ip=client_ip,
    )


async def checkin(request: Request) -> Response:
    """``POST /checkin``: a plain Starlette endpoint, not a FastAPI route. It is the busiest
    route (every device every few minutes, no access token), and FastAPI's per-request
    dependency solving cost more than the check-in's own work; errors and the body limit are
    the same as everywhere (``MatrixError`` handlers, :func:`get_json_body`)."""
    svc: Services = request.app.state.services
    body = await get_json_body(request)
    r = checkin_request(body, request.client.host if request.client else None)
    return ok(answer_json(await svc.devices.do_checkin(body, r)))


router.routes.append(Route(f"{router.prefix}/checkin", checkin, methods=["POST"]))
