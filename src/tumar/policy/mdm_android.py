"""A device policy as Android Management API ``Policy`` resources, and what they cannot enforce.

The Android Management API has no time or place conditions, so a tumar policy becomes two
``Policy`` resources: one for while it is active (working hours on the premises) and one for
while it is inactive. The MDM integration applies the one that matches tumar's verdict; the
device keeps the last one it received in between. Each restriction maps to the current
(non-deprecated) fields of the API's discovery document (revision 20261104); a restriction
that is not in force in a state is left out, so the platform default (the user's choice)
applies. Requirements (minimum OS, screen lock, encryption, no root) hold in both states.

:func:`limitations` says plainly, per restriction and requirement, what a management mode can
enforce: a work profile on a personal phone is a separate compartment, and nothing set there
reaches the personal side (the phone's own camera app, for a start).

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tumar.policy.device_policy import DevicePolicy

State = Literal["active", "inactive"]
Coverage = Literal["full", "partial", "none"]
ANDROID_MODES = ("fully_managed", "work_profile", "unmanaged")

# restriction -> (field path, value while restricted), applied together.
FIELDS: Mapping[str, tuple[tuple[tuple[str, ...], object], ...]] = {
    "camera": (
        (("cameraAccess",), "CAMERA_ACCESS_DISABLED"),
        # company-owned devices with a work profile: the personal profile's camera too
        (("personalUsagePolicies", "cameraDisabled"), True),
    ),
    "screen_capture": (
        (("screenCaptureDisabled",), True),
        (("personalUsagePolicies", "screenCaptureDisabled"), True),
    ),
    "microphone": ((("microphoneAccess",), "MICROPHONE_ACCESS_DISABLED"),),
    "bluetooth": (
        (("bluetoothDisabled",), True),
        (("deviceConnectivityManagement", "bluetoothSharing"), "BLUETOOTH_SHARING_DISALLOWED"),
    ),
    "usb_data": (
        (("deviceConnectivityManagement", "usbDataAccess"), "DISALLOW_USB_DATA_TRANSFER"),
    ),
    "nfc": (
        (("deviceRadioState", "nfc"), "NFC_DISABLED"),
        (("deviceWidePolicies", "deviceRadioState", "nfc"), "NFC_DISABLED"),
    ),
    "app_install": (
        (("installAppsDisabled",), True),
        (("advancedSecurityOverrides", "untrustedAppsPolicy"), "DISALLOW_INSTALL"),
    ),
    "tethering": (
        (("deviceConnectivityManagement", "tetheringSettings"), "DISALLOW_ALL_TETHERING"),
    ),
    "external_storage": ((("mountPhysicalMediaDisabled",), True),),
    "nearby_sharing": (
        (("crossDevicePolicies", "nearbyAppStreaming"), "NEARBY_APP_STREAMING_DISABLED"),
        (
            ("crossDevicePolicies", "nearbyNotificationStreaming"),
            "NEARBY_NOTIFICATION_STREAMING_DISABLED",
        ),
        (("deviceConnectivityManagement", "bluetoothSharing"), "BLUETOOTH_SHARING_DISALLOWED"),
        (("deviceConnectivityManagement", "wifiDirectSettings"), "DISALLOW_WIFI_DIRECT"),
    ),
}

# Android release -> API level, for ``minimumApiLevel``.
API_LEVELS: Mapping[str, int] = {
    "5.0": 21, "5.1": 22, "6": 23, "7.0": 24, "7.1": 25, "8.0": 26, "8.1": 27, "9": 28,
    "10": 29, "11": 30, "12": 31, "12L": 32, "13": 33, "14": 34, "15": 35, "16": 36,
}  # fmt: skip
_VERSION = re.compile(r"^(\d{1,2})(?:\.(\d{1,2}))?(?:\.\d+)*$")


def api_level(version: str) -> int | None:
    """The API level of an Android release such as ``"13"``, ``"8.1.0"`` or ``"12L"``."""
    text = version.strip()
    if text.upper() == "12L":
        return API_LEVELS["12L"]
    m = _VERSION.match(text)
    if m is None:
        return None
    major, minor = m.group(1), m.group(2) or "0"
    return API_LEVELS.get(f"{major}.{minor}") or API_LEVELS.get(major)


def _put(doc: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def restricted(p: DevicePolicy, state: State) -> frozenset[str]:
    return p.restrictions_active if state == "active" else p.restrictions_inactive


def android_policy(p: DevicePolicy, state: State) -> dict[str, Any]:
    """The ``Policy`` resource for ``state``. Without ``name`` and ``version``: the MDM names
    the resource, and the API numbers its versions itself."""
    if state not in ("active", "inactive"):
        raise ValueError(f"state must be active or inactive, not {state!r}")
    doc: dict[str, Any] = {}
    for name in sorted(restricted(p, state)):
        for path, value in FIELDS.get(name, ()):
            _put(doc, path, value)
    req = p.requirements
    android_min = req.min_os.get("android")
    level = api_level(android_min) if android_min else None
    if level is not None:
        doc["minimumApiLevel"] = level
        doc["systemUpdate"] = {"type": "AUTOMATIC"}
    if req.screen_lock:
        doc["passwordPolicies"] = [
            {"passwordScope": "SCOPE_DEVICE", "passwordQuality": "COMPLEXITY_LOW"}
        ]
    if req.encryption:
        doc["encryptionPolicy"] = "ENABLED_WITHOUT_PASSWORD"
    if req.no_root:
        _put(doc, ("advancedSecurityOverrides", "developerSettings"), "DEVELOPER_SETTINGS_DISABLED")
        _put(
            doc,
            ("advancedSecurityOverrides", "googlePlayProtectVerifyApps"),
            "VERIFY_APPS_ENFORCED",
        )
    return doc


# ---- what cannot be enforced ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limitation:
    """What one export can do about one setting in one management mode."""

    setting: str  # a restriction name, or "min_os", "screen_lock", "encryption", "no_root",
    # "schedule", "zones"
    coverage: Coverage  # full: the platform enforces it; partial: part of it; none: not at all
    statement: str
    key: str = ""  # the platform field or key concerned, if any

    def as_json(self) -> dict[str, str]:
        return {
            "setting": self.setting,
            "coverage": self.coverage,
            "statement": self.statement,
            "key": self.key,
        }


_PERSONAL_SIDE = "the personal profile keeps it"
_STATEMENTS: Mapping[str, Mapping[str, tuple[Coverage, str]]] = {
    "camera": {
        "fully_managed": ("full", "Every camera on the device is disabled."),
        "work_profile/corporate": (
            "full",
            "Disabled in the work profile, and in the personal profile through the personal "
            "usage policy of a company-owned device.",
        ),
        "work_profile/personal": (
            "partial",
            "Only apps in the work profile lose the camera; the phone's own camera app and "
            "every personal app keep it. No MDM can switch off the whole camera of a "
            "personally owned phone.",
        ),
    },
    "screen_capture": {
        "fully_managed": ("full", "Screenshots and screen recording are blocked."),
        "work_profile/corporate": (
            "full",
            "Blocked in the work profile, and in the personal profile through the personal "
            "usage policy of a company-owned device.",
        ),
        "work_profile/personal": (
            "partial",
            f"Blocked for work-profile apps (tumar's app included); {_PERSONAL_SIDE}, and "
            "nothing stops a second phone photographing the screen.",
        ),
    },
    "microphone": {
        "fully_managed": ("full", "The microphone is disabled device-wide."),
        "work_profile/corporate": (
            "none",
            "The API applies microphone access on fully managed devices only.",
        ),
        "work_profile/personal": (
            "none",
            "The API applies microphone access on fully managed devices only; a personal "
            "phone's microphone cannot be switched off.",
        ),
    },
    "bluetooth": {
        "fully_managed": ("full", "Bluetooth is switched off and sharing over it is blocked."),
        "work_profile/corporate": (
            "partial",
            "Sharing work files over Bluetooth is blocked; the radio stays the user's choice.",
        ),
        "work_profile/personal": (
            "partial",
            "Sharing work files over Bluetooth is blocked; the radio stays the user's choice.",
        ),
    },
    "usb_data": {
        "fully_managed": ("full", "USB data transfer is blocked (Android 12 and later)."),
        "work_profile/corporate": ("full", "USB data transfer is blocked (company-owned)."),
        "work_profile/personal": (
            "none",
            "The API supports USB data control on company-owned devices only.",
        ),
    },
    "nfc": {
        "fully_managed": ("full", "NFC is switched off (Android 15 and later)."),
        "work_profile/corporate": (
            "full",
            "NFC is switched off through the device-wide policy (Android 15 and later).",
        ),
        "work_profile/personal": (
            "none",
            "NFC on a personally owned phone stays the user's choice; the MDM reports the "
            "setting as not applicable to the management mode.",
        ),
    },
    "app_install": {
        "fully_managed": ("full", "The user cannot install apps."),
        "work_profile/corporate": (
            "partial",
            f"No installs in the work profile; {_PERSONAL_SIDE} open.",
        ),
        "work_profile/personal": (
            "partial",
            f"No installs in the work profile; {_PERSONAL_SIDE} open.",
        ),
    },
    "tethering": {
        "fully_managed": ("full", "Every form of tethering is blocked."),
        "work_profile/corporate": ("full", "Every form of tethering is blocked."),
        "work_profile/personal": (
            "none",
            "Tethering on a personally owned phone stays the user's choice.",
        ),
    },
    "external_storage": {
        "fully_managed": ("full", "External media (SD cards, USB drives) cannot be mounted."),
        "work_profile/corporate": (
            "partial",
            "Work-profile apps cannot mount external media; the personal side can.",
        ),
        "work_profile/personal": (
            "partial",
            "Work-profile apps cannot mount external media; the personal side can.",
        ),
    },
    "nearby_sharing": {
        "fully_managed": (
            "partial",
            "App and notification streaming to nearby devices, Bluetooth sharing and Wi-Fi "
            "Direct are blocked; Quick Share itself has no switch of its own in the API.",
        ),
        "work_profile/corporate": (
            "partial",
            "Streaming and Bluetooth sharing from the work profile are blocked; the personal "
            "profile can still share nearby.",
        ),
        "work_profile/personal": (
            "partial",
            "Streaming and Bluetooth sharing from the work profile are blocked; the personal "
            "profile can still share nearby.",
        ),
    },
}
_REQUIREMENTS: Mapping[str, Mapping[str, tuple[Coverage, str]]] = {
    "min_os": {
        "*": (
            "partial",
            "An older Android version is reported as non-compliant and updates install "
            "automatically where the mode allows; no MDM can upgrade a phone the maker no "
            "longer updates.",
        ),
    },
    "screen_lock": {
        "*": (
            "full",
            "A device screen lock is required (on personal phones with a work profile, as a "
            "complexity band on Android 12 and later).",
        ),
    },
    "encryption": {"*": ("full", "Storage encryption is required.")},
    "no_root": {
        "fully_managed": (
            "partial",
            "Developer options are disabled and Play Protect app checks enforced; rooting "
            "itself is only detected (integrity verdict, check-ins), never prevented.",
        ),
        "*": (
            "partial",
            "Play Protect app checks are enforced, but safe boot and rooting are outside a "
            "work profile's reach; rooting is only detected, never prevented.",
        ),
    },
}


def _mode_key(mode: str, ownership: str) -> str:
    if mode == "work_profile":
        return f"work_profile/{'corporate' if ownership == 'corporate' else 'personal'}"
    return mode


def limitations(p: DevicePolicy, mode: str, *, ownership: str = "personal") -> list[Limitation]:
    """What the Android exports of ``p`` cannot (fully) enforce on a device in ``mode``."""
    if mode not in ANDROID_MODES:
        raise ValueError(f"{mode!r} is not an Android management mode ({', '.join(ANDROID_MODES)})")
    out = [
        Limitation(
            "schedule",
            "partial",
            "Android has no working-hours or location rule: the MDM must apply the active and "
            "the inactive policy when tumar's verdict changes, and the phone keeps the last "
            "one it received in between.",
        )
    ]
    if mode == "unmanaged":
        out.append(
            Limitation(
                "*",
                "none",
                "Without an MDM nothing is enforced on the phone; tumar only sees what its app "
                "reports and gates official content on that.",
            )
        )
        return out
    key = _mode_key(mode, ownership)
    names = sorted(p.restrictions_active | p.restrictions_inactive)
    for name in names:
        fields = FIELDS.get(name, ())
        first = ".".join(fields[0][0]) if fields else ""
        if not fields:
            out.append(
                Limitation(
                    name,
                    "none",
                    "The Android Management API has no setting for this; tumar checks it "
                    "through the device's check-ins only.",
                )
            )
            continue
        table = _STATEMENTS.get(name, {})
        coverage, statement = table.get(
            key,
            ("partial", "Applied where the management mode allows; check the MDM's report."),
        )
        out.append(Limitation(name, coverage, statement, first))
    req = p.requirements
    present = {
        "min_os": "android" in req.min_os,
        "screen_lock": req.screen_lock,
        "encryption": req.encryption,
        "no_root": req.no_root,
    }
    for setting, wanted in present.items():
        if not wanted:
            continue
        rows = _REQUIREMENTS[setting]
        coverage, statement = rows.get(mode, rows["*"])
        out.append(Limitation(setting, coverage, statement))
    android_min = req.min_os.get("android")
    if android_min and api_level(android_min) is None:
        out.append(
            Limitation(
                "min_os",
                "none",
                f"The minimum Android version {android_min!r} has no known API level, so the "
                "export leaves minimumApiLevel out.",
                "minimumApiLevel",
            )
        )
    return out
