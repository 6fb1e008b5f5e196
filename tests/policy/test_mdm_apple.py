"""Apple configuration profiles, validated against Apple's device-management schemas (pure)."""

from __future__ import annotations

import datetime
import plistlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tumar.policy.device_policy import RESTRICTIONS, DevicePolicy, parse_policy
from tumar.policy.mdm_apple import (
    APPLE_MODES,
    KEYS,
    active_window,
    apple_profile,
    warnings,
)

APPLE = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "apple"


def _load(name: str) -> dict[str, Any]:
    with (APPLE / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


TOP = {k["key"]: k for k in _load("TopLevel.yaml")["payloadkeys"]}
RESTRICTIONS_SCHEMA = _load("com.apple.applicationaccess.yaml")
ACCESS = {k["key"]: k for k in RESTRICTIONS_SCHEMA["payloadkeys"]}
# CommonPayloadKeys.yaml (not copied into ../shared/schemas): the keys every payload carries
COMMON = {
    "PayloadType": str, "PayloadVersion": int, "PayloadIdentifier": str, "PayloadUUID": str,
    "PayloadDisplayName": str, "PayloadDescription": str, "PayloadOrganization": str,
}  # fmt: skip
TYPES: Mapping[str, type | tuple[type, ...]] = {
    "<string>": str, "<integer>": int, "<boolean>": bool, "<real>": float,
    "<date>": datetime.datetime, "<array>": list, "<dictionary>": dict, "<data>": bytes,
}  # fmt: skip

# 2026-12-14 is a Monday; Almaty is UTC+5 all year
MON_0800_LOCAL = int(datetime.datetime(2026, 12, 14, 3, 0, tzinfo=datetime.UTC).timestamp() * 1000)
HOUR = 3_600_000


def policy(active: list[str], inactive: list[str] | None = None, **extra: Any) -> DevicePolicy:
    doc: dict[str, Any] = {
        "name": "MoF HQ",
        "audience": {"orgs": ["mof"]},
        "schedules": [
            {"tz": "Asia/Almaty", "hours": [{"days": [0, 1, 2, 3, 4], "start": "09:00",
                                              "end": "18:00"}]}
        ],
        "restrictions": {"active": active, "inactive": inactive or []},
        **extra,
    }  # fmt: skip
    return parse_policy(doc, policy_id="mof-hq", version=4)


FULL = policy(list(RESTRICTIONS), ["usb_data"])


def _check_value(key: str, spec: Mapping[str, Any], value: Any) -> list[str]:
    errors: list[str] = []
    expected = TYPES[spec["type"]]
    if spec["type"] == "<integer>" and isinstance(value, bool):
        errors.append(f"{key}: a boolean where an integer belongs")
    elif not isinstance(value, expected):
        errors.append(f"{key}: expected {spec['type']}, got {type(value).__name__}")
    if "rangelist" in spec and value not in spec["rangelist"]:
        errors.append(f"{key}: {value!r} not in {spec['rangelist']}")
    return errors


def profile_errors(profile: Mapping[str, Any]) -> list[str]:
    """Problems of a profile against TopLevel.yaml and the restrictions payload schema."""
    errors: list[str] = []
    for key, spec in TOP.items():
        if spec.get("presence") == "required" and key not in profile:
            errors.append(f"missing {key}")
    for key, value in profile.items():
        if key not in TOP:
            errors.append(f"{key}: not a top-level key")
            continue
        errors += _check_value(key, TOP[key], value)
    for i, payload in enumerate(profile.get("PayloadContent", [])):
        if payload.get("PayloadType") != RESTRICTIONS_SCHEMA["payload"]["payloadtype"]:
            errors.append(f"PayloadContent[{i}]: unexpected payload type")
        for key in ("PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID"):
            if key not in payload:
                errors.append(f"PayloadContent[{i}]: missing {key}")
        for key, value in payload.items():
            where = f"PayloadContent[{i}].{key}"
            if key in COMMON:
                if not isinstance(value, COMMON[key]) or isinstance(value, bool):
                    errors.append(f"{where}: wrong type")
                continue
            spec = ACCESS.get(key)
            if spec is None:
                errors.append(f"{where}: not a restrictions key")
                continue
            ios = spec.get("supportedOS", {}).get("iOS", {})
            if ios.get("introduced") == "n/a":
                errors.append(f"{where}: not available on iOS")
            if "deprecated" in ios or "removed" in ios:
                errors.append(f"{where}: deprecated on iOS")
            errors += _check_value(where, spec, value)
    return errors


def export(p: DevicePolicy, mode: str = "supervised") -> tuple[dict[str, Any], list[Any], bytes]:
    w = active_window(p, MON_0800_LOCAL)
    assert w is not None
    data, found = apple_profile(
        p, window_start_ts=w.start_ts, window_end_ts=w.end_ts, enrolment_mode=mode,
        identifier_prefix="kz.gov.example", organisation="gov.example.kz",
    )  # fmt: skip
    return plistlib.loads(data), found, data


@pytest.mark.parametrize("mode", APPLE_MODES)
def test_the_profile_validates_against_apples_schemas(mode: str) -> None:
    profile, _found, data = export(FULL, mode)
    assert data.startswith(b"<?xml")
    assert profile_errors(profile) == []
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadIdentifier"] == "kz.gov.example.device-policy.mof-hq"
    assert profile["PayloadOrganization"] == "gov.example.kz"
    restrictions = profile["PayloadContent"][0]
    assert restrictions["allowCamera"] is False
    assert restrictions["allowScreenShot"] is False
    assert restrictions["allowNFC"] is False
    # only restrictions of the active state; no key for the microphone exists
    assert not any(k.lower().find("micro") >= 0 for k in restrictions)


def test_the_profile_removes_itself_when_the_window_ends() -> None:
    profile, _found, _data = export(FULL)
    # Monday 09:00-18:00 Almaty = 04:00-13:00 UTC
    assert profile["RemovalDate"] == datetime.datetime(2026, 12, 14, 13, 0)
    assert profile["DurationUntilRemoval"] == 9 * 3600.0
    assert "2026-12-14T04:00:00Z" in profile["PayloadDescription"]


def test_the_validator_catches_bad_profiles() -> None:
    profile, _found, _data = export(FULL)
    bad = dict(profile, PayloadVersion=2, RemovalDate="tomorrow", Surprise=True)
    bad["PayloadContent"] = [dict(profile["PayloadContent"][0], allowCamera="no",
                                  allowTeleport=False, allowPhotoStream=False)]  # fmt: skip
    errors = profile_errors(bad)
    fragments = (
        "PayloadVersion: 2 not in",
        "RemovalDate: expected <date>",
        "Surprise: not a top-level key",
        "allowCamera: expected <boolean>",
        "allowTeleport: not a restrictions key",
        "allowPhotoStream: deprecated",
    )
    for fragment in fragments:
        assert any(fragment in e for e in errors), (fragment, errors)
    del bad["PayloadUUID"]
    assert "missing PayloadUUID" in profile_errors(bad)


def test_exports_are_reproducible_and_windows_differ() -> None:
    a, _f, data_a = export(FULL)
    _b, _f2, data_b = export(FULL)
    assert data_a == data_b
    w = active_window(FULL, MON_0800_LOCAL)
    assert w is not None
    later, _ = apple_profile(FULL, window_start_ts=w.start_ts + 86_400_000,
                             window_end_ts=w.end_ts + 86_400_000, enrolment_mode="supervised",
                             identifier_prefix="kz.gov.example")  # fmt: skip
    c = plistlib.loads(later)
    assert c["PayloadIdentifier"] == a["PayloadIdentifier"]  # the next window replaces it
    assert c["PayloadUUID"] != a["PayloadUUID"]
    assert c["PayloadContent"][0]["PayloadUUID"] != a["PayloadContent"][0]["PayloadUUID"]
    for u in (a["PayloadUUID"], c["PayloadUUID"]):
        assert str(uuid.UUID(u)).upper() == u


def test_the_key_metadata_matches_apples_schema() -> None:
    for name, keys in KEYS.items():
        assert name in RESTRICTIONS
        for k in keys:
            spec = ACCESS[k.key]
            ios = spec["supportedOS"]["iOS"]
            assert spec["type"] == "<boolean>"
            assert spec["default"] is True and k.value is False, k.key  # restricting = false
            assert ios.get("introduced") != "n/a" and "deprecated" not in ios, k.key
            assert bool(ios.get("supervised", False)) == k.supervised, k.key
            forbidden = ios.get("userenrollment", {}).get("mode") == "forbidden"
            assert forbidden == (not k.user_enrolment), k.key
            deprecated_text = "unsupervised devices is deprecated" in spec["content"]
            assert deprecated_text == k.unsupervised_deprecated, k.key


def _by_key(found: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for lim in found:
        out.setdefault(lim.key or lim.setting, []).append(lim)
    return out


def test_user_enrolment_warns_per_key_it_ignores() -> None:
    found = _by_key(warnings(FULL, "user_enrolment"))
    assert "User Enrolment" in found["allowCamera"][0].statement
    assert "allowScreenShot" not in found  # allowed for user enrolment
    assert "allowRemoteScreenObservation" not in found
    for key in ("allowNFC", "allowAirDrop", "allowHostPairing", "allowAppInstallation"):
        assert found[key][0].coverage == "none"
    assert found["microphone"][0].statement.startswith("Apple's restrictions payload has no key")
    assert any("personally owned iPhone" in lim.statement for lim in found["camera"])


def test_unsupervised_warns_for_supervised_keys_and_the_deprecated_camera() -> None:
    found = _by_key(warnings(FULL, "unsupervised"))
    assert "needs a supervised device" in found["allowNFC"][0].statement
    camera = found["allowCamera"][0]
    assert camera.coverage == "partial" and "deprecated" in camera.statement
    assert "allowScreenShot" not in found


def test_supervised_devices_only_hear_what_keys_never_do() -> None:
    found = _by_key(warnings(FULL, "supervised"))
    assert "allowCamera" not in found and "allowNFC" not in found
    assert "does not switch Bluetooth off" in found["allowBluetoothModification"][0].statement
    assert "microphone" in found
    assert "(usb_data)" in found["schedule"][0].statement  # the inactive state is not in it
    assert "requirements" in found


def test_manual_installs_can_be_removed() -> None:
    found = _by_key(warnings(FULL, "unmanaged"))
    assert "removed by the user" in found["removal"][0].statement


def test_zones_are_beyond_a_profile() -> None:
    zoned = policy(["camera"], zones=[{"id": "hq", "geometry": {
        "type": "Circle", "coordinates": [71.43, 51.13], "radius_m": 100}}])  # fmt: skip
    assert "zones" in _by_key(warnings(zoned, "supervised"))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        apple_profile(FULL, window_start_ts=10, window_end_ts=10, enrolment_mode="supervised")
    with pytest.raises(ValueError, match="not an Apple enrolment mode"):
        apple_profile(FULL, window_start_ts=0, window_end_ts=10, enrolment_mode="work_profile")


def test_active_windows() -> None:
    w = active_window(FULL, MON_0800_LOCAL)
    assert w is not None
    assert (w.start_ts - MON_0800_LOCAL, w.end_ts - MON_0800_LOCAL) == (HOUR, 10 * HOUR)
    inside = MON_0800_LOCAL + 3 * HOUR  # 11:00: from now until 18:00
    w2 = active_window(FULL, inside)
    assert w2 is not None and (w2.start_ts, w2.end_ts) == (inside, MON_0800_LOCAL + 10 * HOUR)
    friday_evening = MON_0800_LOCAL + 4 * 24 * HOUR + 11 * HOUR  # Fri 19:00 -> Mon 09:00
    w3 = active_window(FULL, friday_evening)
    assert w3 is not None and w3.start_ts == MON_0800_LOCAL + 7 * 24 * HOUR + HOUR
    always = parse_policy({"name": "x", "audience": {"orgs": ["mof"]},
                           "restrictions": {"active": ["camera"]}},
                          policy_id="x", version=1)  # fmt: skip
    assert active_window(always, MON_0800_LOCAL) is None


@settings(max_examples=40, deadline=None)
@given(
    active=st.frozensets(st.sampled_from(RESTRICTIONS)),
    mode=st.sampled_from(APPLE_MODES),
)
def test_any_policy_gives_a_valid_profile(active: frozenset[str], mode: str) -> None:
    p = policy(sorted(active))
    profile, found, _data = export(p, mode)
    assert profile_errors(profile) == []
    keys = set(profile["PayloadContent"][0]) - set(COMMON)
    assert keys == {k.key for name in active for k in KEYS.get(name, ())}
    warned = {lim.setting for lim in found}
    for name in active - set(KEYS):
        assert name in warned  # no key: always said
    if mode == "user_enrolment":
        for name in active:
            for k in KEYS.get(name, ()):
                if not k.user_enrolment:
                    assert name in warned
