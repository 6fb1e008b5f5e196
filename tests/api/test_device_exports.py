"""Device-policy exports through the admin API, on both backends: Android Management API
policies, the Apple profile, GeoJSON zones, the iCalendar working hours and the limitations,
with their content types and file names; the scope check; bad input.

The world: gov > {mof, moh}. ``secmof`` is the security officer of mof, ``secmoh`` of moh,
``mofadmin`` mof's org admin (no device permission). The policy ``mof-hq`` concerns mof.
Monday 14 December 2026, 08:00 in Astana (03:00 UTC): before working hours.
"""

from __future__ import annotations

import datetime
import json
import plistlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.admin import ADMIN, grant, org
from tests.support.discovery_schema import DiscoveryValidator, load_android
from tests.support.harness import Api, User
from tumar.clock import FakeClock
from tumar.config import Settings
from tumar.core.services import Services, build_services
from tumar.store.schema import device_policies

T0 = datetime.datetime(2026, 12, 14, 3, 0, tzinfo=datetime.UTC)
POLICIES = f"{ADMIN}/device-policies"
VALIDATOR = DiscoveryValidator(load_android())
DOC: dict[str, Any] = {
    "name": "MoF headquarters",
    "audience": {"orgs": ["mof"]},
    "schedules": [
        {"tz": "Asia/Almaty", "hours": [{"days": [0, 1, 2, 3, 4], "start": "09:00",
                                          "end": "18:00"}], "holidays": ["2026-12-16"]}
    ],
    "zones": [{"id": "hq", "name": "Headquarters", "geometry": {
        "type": "Circle", "coordinates": [71.4304, 51.1282], "radius_m": 150}}],
    "restrictions": {"active": ["camera", "screen_capture", "nfc"], "inactive": []},
    "requirements": {"min_os": {"android": "13"}},
}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(int(T0.timestamp() * 1000))


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    svc = build_services(settings, clock=clock)
    await svc.start()
    yield svc
    await svc.close()


@dataclass
class World:
    root: User
    secmof: User
    secmoh: User
    mofadmin: User


@pytest.fixture
async def world(api: Api) -> World:
    assert api.services is not None
    await api.services.accounts.do_create_user("root", "correct horse battery", admin=True)
    root = await api.login("root")
    await org(api, root, "gov", kind="government")
    await org(api, root, "mof", parent="gov")
    await org(api, root, "moh", parent="gov")
    w = World(root, await api.register("secmof"), await api.register("secmoh"),
              await api.register("mofadmin"))  # fmt: skip
    await grant(api, root, w.secmof.user_id, "security_officer", "mof")
    await grant(api, root, w.secmoh.user_id, "security_officer", "moh")
    await grant(api, root, w.mofadmin.user_id, "org_admin", "mof")
    await api.call("POST", POLICIES, user=w.secmof, json=DOC, params={"policy_id": "mof-hq"},
                   expect=201)  # fmt: skip
    return w


def export(kind: str) -> str:
    return f"{POLICIES}/mof-hq/export/{kind}"


async def policy_rows(api: Api) -> int:
    assert api.services is not None
    async with api.services.db.read() as conn:
        found = (await conn.execute(select(func.count()).select_from(device_policies))).scalar()
    return int(found or 0)


async def test_android_exports(api: Api, world: World) -> None:
    resp = await api.raw("GET", export("android-active"), user=world.secmof)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["content-disposition"] == (
        'attachment; filename="mof-hq-v1-android-active.json"'
    )
    active = resp.json()
    assert VALIDATOR.errors(active, "Policy") == []
    assert active["cameraAccess"] == "CAMERA_ACCESS_DISABLED"
    assert active["minimumApiLevel"] == 33
    # a work profile on a personal phone (the default) cannot take the whole camera
    not_enforced = resp.headers["x-tumar-not-enforced"].split(", ")
    assert "camera" in not_enforced and "nfc" in not_enforced
    resp = await api.raw("GET", export("android-inactive"), user=world.secmof,
                         params={"mode": "fully_managed"})  # fmt: skip
    inactive = resp.json()
    assert VALIDATOR.errors(inactive, "Policy") == []
    assert "cameraAccess" not in inactive and inactive["minimumApiLevel"] == 33
    assert "camera" not in resp.headers["x-tumar-not-enforced"]


async def test_apple_profile_for_the_next_window(api: Api, world: World) -> None:
    resp = await api.raw("GET", export("apple"), user=world.secmof,
                         params={"mode": "user_enrolment"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-apple-aspen-config"
    assert resp.headers["content-disposition"].endswith('filename="mof-hq-v1-mobileconfig"')
    profile = plistlib.loads(resp.content)
    assert profile["PayloadIdentifier"] == "test.tumar.device-policy.mof-hq"
    assert profile["RemovalDate"] == datetime.datetime(2026, 12, 14, 13, 0)  # 18:00 Almaty
    assert profile["PayloadContent"][0]["allowCamera"] is False
    assert "camera" in resp.headers["x-tumar-not-enforced"]
    again = await api.raw("GET", export("apple"), user=world.secmof,
                          params={"mode": "user_enrolment"})  # fmt: skip
    assert again.content == resp.content  # reproducible
    # an explicit instant: Wednesday is a holiday, so the window is Thursday's
    at = {"mode": "supervised", "at": "2026-12-16T10:00:00+05:00"}
    resp = await api.raw("GET", export("apple"), user=world.secmof, params=at)
    profile = plistlib.loads(resp.content)
    assert profile["RemovalDate"] == datetime.datetime(2026, 12, 17, 13, 0)
    assert "camera" not in resp.headers.get("x-tumar-not-enforced", "")


async def test_geojson_and_icalendar(api: Api, world: World) -> None:
    resp = await api.raw("GET", export("geojson"), user=world.secmof)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/geo+json"
    assert resp.headers["content-disposition"].endswith('filename="mof-hq-v1-geojson"')
    doc = json.loads(resp.content)
    assert doc["type"] == "FeatureCollection"
    assert doc["features"][0]["properties"]["radius_m"] == 150
    resp = await api.raw("GET", export("ics"), user=world.secmof)
    assert resp.headers["content-type"] == "text/calendar; charset=utf-8"
    text = resp.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART;TZID=Asia/Almaty:20261214T090000\r\n" in text
    assert "EXDATE;TZID=Asia/Almaty:20261216T090000\r\n" in text


async def test_limitations(api: Api, world: World) -> None:
    body = await api.call("GET", export("limitations"), user=world.secmof,
                          params={"platform": "ios", "mode": "unsupervised"})  # fmt: skip
    assert (body["platform"], body["mode"], body["version"]) == ("ios", "unsupervised", 1)
    keys = {lim["key"] for lim in body["limitations"]}
    assert "allowNFC" in keys  # needs supervision
    body = await api.call("GET", export("limitations"), user=world.secmof)
    assert body["mode"] == "work_profile"
    camera = [lim for lim in body["limitations"] if lim["setting"] == "camera"]
    assert camera[0]["coverage"] == "partial"


async def test_a_new_version_is_exported_as_such(api: Api, world: World) -> None:
    changed = {**DOC, "restrictions": {"active": ["camera"], "inactive": ["camera"]}}
    await api.call("PUT", f"{POLICIES}/mof-hq", user=world.secmof, json=changed)
    resp = await api.raw("GET", export("android-inactive"), user=world.secmof)
    assert 'filename="mof-hq-v2-android-inactive.json"' in resp.headers["content-disposition"]
    assert resp.json()["cameraAccess"] == "CAMERA_ACCESS_DISABLED"


async def test_scope_and_permissions(api: Api, world: World) -> None:
    rows = await policy_rows(api)
    for kind in ("android-active", "apple", "geojson", "ics", "limitations"):
        await api.error("GET", export(kind), 403, "TUMAR_OUT_OF_SCOPE", user=world.secmoh)
        await api.error("GET", export(kind), 403, "TUMAR_OUT_OF_SCOPE", user=world.mofadmin)
        resp = await api.raw("GET", export(kind))
        assert resp.status_code == 401
    # the operator sees every policy
    assert (await api.raw("GET", export("ics"), user=world.root)).status_code == 200
    assert await policy_rows(api) == rows  # exports change nothing


async def test_bad_input(api: Api, world: World) -> None:
    sec = world.secmof
    await api.error("GET", f"{POLICIES}/nope/export/ics", 404, "M_NOT_FOUND", user=sec)
    await api.error("GET", export("pdf"), 400, "M_INVALID_PARAM", user=sec)
    await api.error("GET", export("android-active"), 400, "M_INVALID_PARAM", user=sec,
                    params={"mode": "supervised"})  # fmt: skip
    await api.error("GET", export("apple"), 400, "M_INVALID_PARAM", user=sec,
                    params={"mode": "work_profile"})  # fmt: skip
    await api.error("GET", export("apple"), 400, "M_INVALID_PARAM", user=sec,
                    params={"platform": "android"})  # fmt: skip
    await api.error("GET", export("apple"), 400, "M_INVALID_PARAM", user=sec,
                    params={"at": "tomorrow"})  # fmt: skip
    await api.error("GET", export("apple"), 400, "M_INVALID_PARAM", user=sec,
                    params={"at": "2026-12-16T10:00:00"})  # fmt: skip
    for far in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        await api.error("GET", export("ics"), 400, "M_INVALID_PARAM", user=sec,
                        params={"at": far})  # fmt: skip
    await api.error("GET", export("limitations"), 400, "M_INVALID_PARAM", user=sec,
                    params={"platform": "windows"})  # fmt: skip
    await api.error("GET", export("ics"), 400, "M_INVALID_PARAM", user=sec,
                    params={"ownership": "stolen"})  # fmt: skip


async def test_no_window_and_retired_policies(api: Api, world: World) -> None:
    always = {k: v for k, v in DOC.items() if k != "schedules"}
    always["audience"] = {"orgs": ["moh"]}
    await api.call("POST", POLICIES, user=world.secmoh, json=always,
                   params={"policy_id": "moh-always"}, expect=201)  # fmt: skip
    path = f"{POLICIES}/moh-always/export"
    await api.error("GET", f"{path}/apple", 409, "TUMAR_NO_WINDOW", user=world.secmoh)
    text = (await api.raw("GET", f"{path}/ics", user=world.secmoh)).content.decode()
    assert "at all times" in text
    await api.call("DELETE", f"{POLICIES}/moh-always", user=world.secmoh)
    await api.error("GET", f"{path}/geojson", 404, "M_NOT_FOUND", user=world.secmoh)
