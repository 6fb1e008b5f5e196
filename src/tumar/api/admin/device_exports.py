"""``/_tumar/admin/v1/device-policies/{id}/export/...``: a device policy as files for other
systems: Android Management API ``Policy`` resources (active and inactive state), an Apple
configuration profile for the next working-hours window, the zones as GeoJSON, the working
hours as iCalendar, and what each platform and enrolment mode cannot enforce
(``.../export/limitations``). Every route needs ``devices.manage`` over the organisations the
policy concerns (the same check as reading the policy). ``docs/device-exports.md`` explains
what maps to what."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from tumar.api.admin.base import AdminActor
from tumar.api.http import Svc, ok
from tumar.errors import MatrixError
from tumar.policy import mdm_android, mdm_apple, mdm_calendar
from tumar.policy.device_policy import DevicePolicy
from tumar.policy.mdm_android import Limitation

router = APIRouter(tags=["device policies"])
FileKind = Literal["android-active", "android-inactive", "apple", "geojson", "ics"]
APPLE_PLATFORMS = ("ios", "ipados")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
AT_BEFORE_MS = 366 * 86_400_000
AT_AFTER_MS = 5 * 366 * 86_400_000
MEDIA_TYPES = {
    "android-active": "application/json",
    "android-inactive": "application/json",
    "apple": "application/x-apple-aspen-config",
    "geojson": "application/geo+json",
    "ics": "text/calendar; charset=utf-8",
}
SUFFIXES = {
    "android-active": "android-active.json",
    "android-inactive": "android-inactive.json",
    "apple": "mobileconfig",
    "geojson": "geojson",
    "ics": "ics",
}

FILE_CONTENT: dict[str, Any] = {
    "application/json": {"schema": {"type": "object"}},
    "application/x-apple-aspen-config": {"schema": {"type": "string", "format": "binary"}},
    "application/geo+json": {"schema": {"type": "object"}},
    "text/calendar": {"schema": {"type": "string"}},
}


class LimitationOut(BaseModel):
    setting: str
    coverage: Literal["full", "partial", "none"]
    statement: str
    key: str


class LimitationsOut(BaseModel):
    policy_id: str
    version: int
    platform: str
    mode: str
    ownership: str
    limitations: list[LimitationOut]


def _at(value: str | None, now_ms: int) -> int:
    if value is None:
        return now_ms
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MatrixError(
            400, "M_INVALID_PARAM", f"at is not an ISO 8601 date-time: {value[:40]}"
        ) from None
    if parsed.tzinfo is None:
        raise MatrixError(400, "M_INVALID_PARAM", "at needs a time-zone offset (e.g. +05:00).")
    at_ms = int(parsed.timestamp() * 1000)
    if not now_ms - AT_BEFORE_MS <= at_ms <= now_ms + AT_AFTER_MS:
        raise MatrixError(
            400, "M_INVALID_PARAM", "at must lie within a year before and five years after now."
        )
    return at_ms


def _mode(platform: str, mode: str | None) -> str:
    allowed: tuple[str, ...]
    if platform == "android":
        chosen = mode or "work_profile"
        allowed = mdm_android.ANDROID_MODES
    elif platform in APPLE_PLATFORMS:
        chosen = mode or "user_enrolment"
        allowed = mdm_apple.APPLE_MODES
    else:
        raise MatrixError(
            400,
            "M_INVALID_PARAM",
            f"platform must be android, {' or '.join(APPLE_PLATFORMS)}; MDM exports exist for "
            "these only.",
        )
    if chosen not in allowed:
        raise MatrixError(
            400,
            "M_INVALID_PARAM",
            f"mode {chosen!r} is not a {platform} management mode ({', '.join(allowed)}).",
        )
    return chosen


def _limits(p: DevicePolicy, platform: str, mode: str, ownership: str) -> list[Limitation]:
    if platform == "android":
        return mdm_android.limitations(p, mode, ownership=ownership)
    return mdm_apple.warnings(p, mode)


def _not_enforced(found: list[Limitation]) -> str:
    names = sorted({lim.setting for lim in found if lim.coverage != "full"})
    return ", ".join(names)


def _window(p: DevicePolicy, at_ms: int) -> mdm_apple.Window:
    window = mdm_apple.active_window(p, at_ms)
    if window is None:
        raise MatrixError(
            409,
            "TUMAR_NO_WINDOW",
            "This policy has no working-hours window that starts and ends within a year "
            "(a policy without schedules is in force at all times), so there is no profile "
            "that removes itself at the end of a window.",
        )
    return window


async def _policy(svc: Svc, actor: AdminActor, policy_id: str) -> DevicePolicy:
    stored = await svc.devices.get_policy(actor, policy_id)
    if stored.retired_ts is not None:
        raise MatrixError(404, "M_NOT_FOUND", f"The device policy {policy_id} is retired.")
    return svc.devices.parse(stored.document, stored.policy_id, stored.version)


def _file(p: DevicePolicy, kind: str, content: bytes, not_enforced: str = "") -> Response:
    safe = _UNSAFE.sub("-", p.policy_id).strip("-.") or "policy"
    name = f"{safe}-v{p.version}-{SUFFIXES[kind]}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if not_enforced:
        headers["X-Tumar-Not-Enforced"] = not_enforced
    return Response(content=content, media_type=MEDIA_TYPES[kind], headers=headers)


@router.get("/device-policies/{policy_id}/export/limitations", response_model=LimitationsOut)
async def export_limitations(
    policy_id: str,
    actor: AdminActor,
    svc: Svc,
    platform: str = Query("android", max_length=20, description="android, ios or ipados"),
    mode: str | None = Query(None, max_length=40, description="management / enrolment mode"),
    ownership: Literal["corporate", "personal"] = Query("personal"),
) -> Response:
    chosen = _mode(platform, mode)
    p = await _policy(svc, actor, policy_id)
    found = _limits(p, platform, chosen, ownership)
    return ok(
        {
            "policy_id": p.policy_id,
            "version": p.version,
            "platform": platform,
            "mode": chosen,
            "ownership": ownership,
            "limitations": [lim.as_json() for lim in found],
        }
    )


@router.get(
    "/device-policies/{policy_id}/export/{kind}",
    response_class=Response,
    responses={
        200: {
            "content": FILE_CONTENT,
            "description": "The file; X-Tumar-Not-Enforced lists the settings the platform and "
            "mode cannot (fully) enforce",
        }
    },
)
async def export_file(
    policy_id: str,
    kind: FileKind,
    actor: AdminActor,
    svc: Svc,
    mode: str | None = Query(None, max_length=40, description="management / enrolment mode"),
    platform: str | None = Query(None, max_length=20, description="ios or ipados (apple)"),
    ownership: Literal["corporate", "personal"] = Query("personal"),
    at: str | None = Query(None, max_length=40, description="ISO 8601 instant (default now)"),
) -> Response:
    if kind.startswith("android"):
        if platform not in (None, "android"):
            raise MatrixError(400, "M_INVALID_PARAM", "An Android export has platform android.")
        chosen = _mode("android", mode)
    elif kind == "apple":
        if platform == "android":
            raise MatrixError(400, "M_INVALID_PARAM", "An Apple profile is for ios or ipados.")
        chosen = _mode(platform or "ios", mode)
    else:
        chosen = ""
    at_ms = _at(at, svc.clock.now_ms())
    p = await _policy(svc, actor, policy_id)
    if kind in ("android-active", "android-inactive"):
        state: mdm_android.State = "active" if kind == "android-active" else "inactive"
        body = json.dumps(mdm_android.android_policy(p, state), indent=2, sort_keys=True)
        found = mdm_android.limitations(p, chosen, ownership=ownership)
        return _file(p, kind, body.encode() + b"\n", _not_enforced(found))
    if kind == "apple":
        window = _window(p, at_ms)
        prefix = ".".join(reversed(svc.settings.server_name.split(":")[0].split(".")))
        data, found = mdm_apple.apple_profile(
            p,
            window_start_ts=window.start_ts,
            window_end_ts=window.end_ts,
            enrolment_mode=chosen,
            identifier_prefix=prefix,
            organisation=svc.settings.server_name,
        )
        return _file(p, kind, data, _not_enforced(found))
    if kind == "geojson":
        body = json.dumps(mdm_calendar.zones_geojson(p), ensure_ascii=False, indent=2)
        return _file(p, kind, body.encode() + b"\n")
    start = datetime.datetime.fromtimestamp(at_ms / 1000, tz=datetime.UTC).date()
    text = mdm_calendar.schedule_ics(p, start=start, stamp_ts=at_ms)
    return _file(p, kind, text.encode())
