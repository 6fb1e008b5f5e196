"""Android Management API exports, validated against the API's discovery document (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.discovery_schema import DiscoveryValidator, load_android
from tumar.policy.device_policy import RESTRICTIONS, DevicePolicy, parse_policy
from tumar.policy.mdm_android import (
    _STATEMENTS,
    ANDROID_MODES,
    FIELDS,
    android_policy,
    api_level,
    limitations,
)

DISCOVERY = load_android()
VALIDATOR = DiscoveryValidator(DISCOVERY)


def policy(
    active: list[str],
    inactive: list[str] | None = None,
    requirements: dict[str, Any] | None = None,
) -> DevicePolicy:
    doc: dict[str, Any] = {
        "name": "HQ working hours",
        "audience": {"orgs": ["mof"]},
        "schedules": [
            {"tz": "Asia/Almaty", "hours": [{"days": [0, 1, 2, 3, 4], "start": "09:00",
                                              "end": "18:00"}]}
        ],
        "restrictions": {"active": active, "inactive": inactive or []},
    }  # fmt: skip
    if requirements is not None:
        doc["requirements"] = requirements
    return parse_policy(doc, policy_id="hq", version=2)


FULL = policy(list(RESTRICTIONS), ["usb_data"], {"min_os": {"android": "13", "ios": "17.4"}})
NONE = policy([], [], {"no_root": False, "screen_lock": False, "encryption": False})


def test_the_discovery_document_is_the_expected_revision() -> None:
    assert DISCOVERY["id"] == "androidmanagement:v1"
    assert DISCOVERY["revision"] == "20261104"


@pytest.mark.parametrize("p", [FULL, NONE, policy(["camera"]), policy([], ["camera"])])
@pytest.mark.parametrize("state", ["active", "inactive"])
def test_exports_validate_against_the_discovery_document(p: DevicePolicy, state: str) -> None:
    doc = android_policy(p, state)  # type: ignore[arg-type]
    assert VALIDATOR.errors(doc, "Policy") == []


def test_the_active_policy_restricts_and_the_inactive_one_lifts() -> None:
    active = android_policy(FULL, "active")
    assert active["cameraAccess"] == "CAMERA_ACCESS_DISABLED"
    assert active["screenCaptureDisabled"] is True
    assert active["microphoneAccess"] == "MICROPHONE_ACCESS_DISABLED"
    assert active["bluetoothDisabled"] is True
    assert active["personalUsagePolicies"] == {
        "cameraDisabled": True,
        "screenCaptureDisabled": True,
    }
    assert active["deviceRadioState"] == {"nfc": "NFC_DISABLED"}
    assert active["installAppsDisabled"] is True
    inactive = android_policy(FULL, "inactive")
    for key in ("cameraAccess", "screenCaptureDisabled", "microphoneAccess", "bluetoothDisabled",
                "personalUsagePolicies", "installAppsDisabled"):  # fmt: skip
        assert key not in inactive
    assert inactive["deviceConnectivityManagement"] == {
        "usbDataAccess": "DISALLOW_USB_DATA_TRANSFER"
    }
    # requirements hold in both states
    for doc in (active, inactive):
        assert doc["minimumApiLevel"] == 33
        assert doc["systemUpdate"] == {"type": "AUTOMATIC"}
        assert doc["passwordPolicies"] == [
            {"passwordScope": "SCOPE_DEVICE", "passwordQuality": "COMPLEXITY_LOW"}
        ]
        assert doc["encryptionPolicy"] == "ENABLED_WITHOUT_PASSWORD"
        assert doc["advancedSecurityOverrides"]["developerSettings"] == (
            "DEVELOPER_SETTINGS_DISABLED"
        )
        assert "name" not in doc and "version" not in doc


def test_nothing_restricted_nothing_required_is_an_empty_policy() -> None:
    assert android_policy(NONE, "active") == {}
    assert android_policy(NONE, "inactive") == {}


def test_a_bad_state_is_refused() -> None:
    with pytest.raises(ValueError, match="state"):
        android_policy(FULL, "sometimes")  # type: ignore[arg-type]


def test_every_restriction_maps_and_each_field_is_current() -> None:
    assert set(FIELDS) == set(RESTRICTIONS)
    for name, fields in FIELDS.items():
        assert fields, name
        for path, value in fields:
            doc: dict[str, Any] = {}
            node = doc
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
            assert VALIDATOR.errors(doc, "Policy") == [], (name, path)
    # none of the deprecated predecessors is used anywhere
    deprecated = VALIDATOR.deprecated_properties("Policy")
    assert {"cameraDisabled", "unmuteMicrophoneDisabled", "usbFileTransferDisabled",
            "tetheringConfigDisabled"} <= deprecated  # fmt: skip
    assert not deprecated & set(android_policy(FULL, "active"))


# ---- the validator itself catches what it must ------------------------------------------------

BAD = [
    ({"cameraDisabled": True}, "deprecated field"),
    ({"cameraAcess": "CAMERA_ACCESS_DISABLED"}, "unknown field"),
    ({"cameraAccess": "CAMERA_OFF"}, "is not one of"),
    ({"locationMode": "OFF"}, "deprecated value"),
    ({"screenCaptureDisabled": "yes"}, "expected a boolean"),
    ({"minimumApiLevel": "33"}, "expected an integer"),
    ({"minimumApiLevel": True}, "expected an integer"),
    ({"minimumApiLevel": 2**40}, "int32 range"),
    ({"passwordPolicies": {"passwordScope": "SCOPE_DEVICE"}}, "expected an array"),
    ({"passwordPolicies": [{"passwordScope": "SCOPE_EVERYWHERE"}]}, "is not one of"),
    ({"systemUpdate": {"type": "AUTOMATIC", "when": 1}}, "systemUpdate.when: unknown field"),
    ({"deviceWidePolicies": {"deviceRadioState": {"nfc": 1}}}, "expected a string"),
    ({"version": "7"}, "read-only"),
    ({"maximumTimeToLock": 5}, "expected a string"),
    ({"applications": [{"packageName": 7}]}, "expected a string"),
    ([], "expected an object"),
]


@pytest.mark.parametrize(("doc", "problem"), BAD)
def test_the_validator_rejects(doc: Any, problem: str) -> None:
    errors = VALIDATOR.errors(doc, "Policy")
    assert errors, doc
    assert any(problem in e for e in errors), errors


def test_free_form_objects_and_maps_are_accepted() -> None:
    doc: dict[str, Any] = {"openNetworkConfiguration": {"NetworkConfigurations": []}}
    assert VALIDATOR.errors(doc, "Policy") == []


# ---- properties ---------------------------------------------------------------------------------

subsets = st.frozensets(st.sampled_from(RESTRICTIONS))


@settings(max_examples=60, deadline=None)
@given(
    active=subsets,
    inactive=subsets,
    version=st.sampled_from(["8.1", "10", "12", "13", "14.0.1", "15", "16", "99"]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_any_policy_exports_valid_resources(
    active: frozenset[str], inactive: frozenset[str], version: str,
    flags: tuple[bool, bool, bool],
) -> None:  # fmt: skip
    req = {"min_os": {"android": version}, "no_root": flags[0], "screen_lock": flags[1],
           "encryption": flags[2]}  # fmt: skip
    p = policy(sorted(active), sorted(inactive), req)
    small = policy(sorted(active & inactive), [], req)
    for state in ("active", "inactive"):
        doc = android_policy(p, state)  # type: ignore[arg-type,unused-ignore]
        assert VALIDATOR.errors(doc, "Policy") == []
    # restricting more never loosens a field: a subset's fields are all in the superset's
    big = android_policy(p, "active")
    assert _leaves(android_policy(small, "active")) <= _leaves(big)
    assert ("minimumApiLevel" in big) == (api_level(version) is not None)


def _leaves(doc: dict[str, Any], prefix: str = "") -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add((f"{prefix}{key}", repr(value)))
    return out


@pytest.mark.parametrize(
    ("version", "level"),
    [("5.0", 21), ("5.1.1", 22), ("6", 23), ("6.0", 23), ("8.1", 27), ("9", 28), ("12", 31),
     ("12L", 32), ("13", 33), ("14.0.2", 34), ("16", 36), ("99", None), ("4.4", None),
     ("banana", None), ("", None)],
)  # fmt: skip
def test_api_levels(version: str, level: int | None) -> None:
    assert api_level(version) == level


# ---- limitations -------------------------------------------------------------------------------


def test_every_restriction_has_a_statement_per_mode() -> None:
    for name in RESTRICTIONS:
        for key in ("fully_managed", "work_profile/corporate", "work_profile/personal"):
            coverage, statement = _STATEMENTS[name][key]
            assert coverage in ("full", "partial", "none")
            assert statement.endswith("."), (name, key)


def test_a_personal_phone_keeps_its_camera_and_the_export_says_so() -> None:
    found = {lim.setting: lim for lim in limitations(FULL, "work_profile")}
    camera = found["camera"]
    assert camera.coverage == "partial"
    assert "personally owned" in camera.statement
    assert camera.key == "cameraAccess"
    assert found["microphone"].coverage == "none"
    assert found["usb_data"].coverage == "none"
    assert found["schedule"].coverage == "partial"
    corporate = {lim.setting: lim for lim in limitations(FULL, "work_profile",
                                                         ownership="corporate")}  # fmt: skip
    assert corporate["camera"].coverage == "full"
    managed = {lim.setting: lim for lim in limitations(FULL, "fully_managed")}
    assert managed["camera"].coverage == "full"
    assert managed["no_root"].coverage == "partial"  # rooting is detected, never prevented


def test_each_setting_of_the_policy_gets_one_statement() -> None:
    for mode in ANDROID_MODES[:2]:
        settings_ = [lim.setting for lim in limitations(FULL, mode)]
        assert sorted(s for s in settings_ if s in RESTRICTIONS) == sorted(RESTRICTIONS)
        assert {"min_os", "screen_lock", "encryption", "no_root"} <= set(settings_)
    assert [lim.setting for lim in limitations(NONE, "fully_managed")] == ["schedule"]


def test_unmanaged_devices_enforce_nothing() -> None:
    found = limitations(FULL, "unmanaged")
    assert [lim.coverage for lim in found] == ["partial", "none"]
    assert "nothing is enforced" in found[1].statement


def test_a_mode_from_another_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="not an Android management mode"):
        limitations(FULL, "supervised")


def test_limitations_serialise() -> None:
    row = limitations(FULL, "work_profile")[1].as_json()
    assert set(row) == {"setting", "coverage", "statement", "key"}
