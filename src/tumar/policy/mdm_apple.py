"""A device policy's active window as an Apple configuration profile (``.mobileconfig``).

The profile holds one Restrictions payload (``com.apple.applicationaccess``) with the keys of
the restrictions in force while the policy is active, and removes itself when the window ends
(top-level ``RemovalDate``, and ``DurationUntilRemoval`` as the same span: the device applies
whichever comes first). Apple profiles know no time or place conditions, so the MDM installs
the next window's profile before it starts; every window of a policy shares one
``PayloadIdentifier`` (a newer profile replaces an older one), and its ``PayloadUUID``s are
derived from the policy id, version and window, so the same export is byte-for-byte the same.

Which keys an enrolment mode honours comes from Apple's schema (``supervised: true`` = ignored
on unsupervised devices; ``userenrollment: forbidden`` = ignored under User Enrolment, i.e.
personal phones): :data:`KEYS` copies that metadata and the tests compare it with the schema.
:func:`apple_profile` returns one warning per key the mode does not allow, and per restriction
Apple has no key for.

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import datetime
import plistlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from tumar.policy.device_policy import DevicePolicy
from tumar.policy.device_schedule import any_active, next_change_all
from tumar.policy.mdm_android import Limitation

APPLE_MODES = ("supervised", "unsupervised", "user_enrolment", "unmanaged")
RESTRICTIONS_TYPE = "com.apple.applicationaccess"
_NAMESPACE = uuid.UUID("4d1f6f0e-6c39-5b53-9a55-2f1f0c7d8e01")  # tumar's namespace for exports
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class AppleKey:
    """One restrictions key and the schema's metadata for iOS."""

    key: str
    value: bool  # the value that restricts
    supervised: bool  # iOS honours it on supervised devices only
    user_enrolment: bool  # allowed under User Enrolment
    unsupervised_deprecated: bool = False  # works unsupervised, but Apple deprecated that
    note: str = ""  # what the key does not do


KEYS: Mapping[str, tuple[AppleKey, ...]] = {
    "camera": (AppleKey("allowCamera", False, False, False, unsupervised_deprecated=True),),
    "screen_capture": (
        AppleKey("allowScreenShot", False, False, True),
        AppleKey("allowRemoteScreenObservation", False, False, True),
    ),
    "bluetooth": (
        AppleKey(
            "allowBluetoothModification",
            False,
            True,
            False,
            note="It only locks the Bluetooth setting as it is; it does not switch Bluetooth off.",
        ),
    ),
    "usb_data": (AppleKey("allowHostPairing", False, True, False),),
    "nfc": (AppleKey("allowNFC", False, True, False),),
    "app_install": (AppleKey("allowAppInstallation", False, True, False),),
    "tethering": (
        AppleKey(
            "allowPersonalHotspotModification",
            False,
            True,
            False,
            note="It only locks the Personal Hotspot setting as it is; it does not switch the "
            "hotspot off.",
        ),
    ),
    "external_storage": (AppleKey("allowFilesUSBDriveAccess", False, True, False),),
    "nearby_sharing": (AppleKey("allowAirDrop", False, True, False),),
}


@dataclass(frozen=True, slots=True)
class Window:
    start_ts: int  # ms
    end_ts: int  # ms


def active_window(p: DevicePolicy, now_ms: int) -> Window | None:
    """The working-hours window in force at ``now_ms`` (from now), else the next one; None
    when the policy has no schedule (always in force: a profile for it would never be removed
    by itself) or no window starts and ends within a year."""
    if not p.schedules:
        return None
    start = now_ms if any_active(p.schedules, now_ms) else next_change_all(p.schedules, now_ms)
    if start is None:
        return None
    end = next_change_all(p.schedules, start)
    return None if end is None else Window(start, end)


def _utc(ts_ms: int) -> datetime.datetime:
    """A naive UTC datetime, as plistlib writes dates (``...Z``)."""
    aware = datetime.datetime.fromtimestamp(ts_ms // 1000, tz=datetime.UTC)
    return aware.replace(tzinfo=None)


def profile_uuid(p: DevicePolicy, window: Window, part: str) -> str:
    name = f"{p.policy_id}:{p.version}:{window.start_ts}:{window.end_ts}:{part}"
    return str(uuid.uuid5(_NAMESPACE, name)).upper()


def identifier(p: DevicePolicy, prefix: str) -> str:
    safe = _ID_UNSAFE.sub("-", p.policy_id).strip("-.") or "policy"
    return f"{prefix}.device-policy.{safe}"


def _mode_warnings(name: str, k: AppleKey, mode: str) -> list[Limitation]:
    out: list[Limitation] = []
    if mode == "user_enrolment" and not k.user_enrolment:
        out.append(
            Limitation(
                name,
                "none",
                f"{k.key} is not allowed under User Enrolment (a personal phone): iOS ignores it.",
                k.key,
            )
        )
    elif mode in ("unsupervised", "unmanaged", "user_enrolment") and k.supervised:
        out.append(
            Limitation(
                name,
                "none",
                f"{k.key} needs a supervised device: iOS ignores it on this one.",
                k.key,
            )
        )
    elif mode in ("unsupervised", "unmanaged") and k.unsupervised_deprecated:
        out.append(
            Limitation(
                name,
                "partial",
                f"{k.key} still works on unsupervised devices, but Apple has deprecated that; "
                "supervise the device to keep it.",
                k.key,
            )
        )
    if k.note:
        out.append(Limitation(name, "partial", f"{k.key}: {k.note}", k.key))
    return out


def warnings(p: DevicePolicy, enrolment_mode: str) -> list[Limitation]:
    """What the profile of ``p`` cannot enforce on a device in ``enrolment_mode``."""
    if enrolment_mode not in APPLE_MODES:
        raise ValueError(
            f"{enrolment_mode!r} is not an Apple enrolment mode ({', '.join(APPLE_MODES)})"
        )
    out: list[Limitation] = []
    for name in sorted(p.restrictions_active):
        keys = KEYS.get(name, ())
        if not keys:
            out.append(
                Limitation(
                    name,
                    "none",
                    "Apple's restrictions payload has no key for this; tumar checks it through "
                    "the device's check-ins only.",
                )
            )
        for k in keys:
            out.extend(_mode_warnings(name, k, enrolment_mode))
    if "camera" in p.restrictions_active and enrolment_mode in ("user_enrolment", "unmanaged"):
        out.append(
            Limitation(
                "camera",
                "none",
                "No profile can switch off the camera of a personally owned iPhone: only apps "
                "that tumar's app manages are kept apart from the camera roll.",
            )
        )
    if p.restrictions_inactive:
        names = ", ".join(sorted(p.restrictions_inactive))
        out.append(
            Limitation(
                "schedule",
                "partial",
                f"The restrictions outside working hours ({names}) are not in this profile, "
                "which covers the active window only; deploy them as a separate profile.",
            )
        )
    if p.zones:
        out.append(
            Limitation(
                "zones",
                "none",
                "A profile cannot depend on place: it restricts for the whole window wherever "
                "the phone is.",
            )
        )
    req = p.requirements
    if req.min_os or req.screen_lock or req.encryption or req.no_root:
        out.append(
            Limitation(
                "requirements",
                "none",
                "Minimum OS, passcode, encryption and jailbreak checks are not part of a "
                "restrictions profile; tumar checks them through the check-ins.",
            )
        )
    if enrolment_mode == "unmanaged":
        out.append(
            Limitation(
                "removal",
                "none",
                "A profile installed by hand can be removed by the user at any time.",
            )
        )
    return out


def restrictions_payload(p: DevicePolicy) -> dict[str, object]:
    """The restriction keys while ``p`` is active (key -> value)."""
    keys: dict[str, object] = {}
    for name in sorted(p.restrictions_active):
        for k in KEYS.get(name, ()):
            keys[k.key] = k.value
    return keys


def apple_profile(
    p: DevicePolicy,
    *,
    window_start_ts: int,
    window_end_ts: int,
    enrolment_mode: str,
    identifier_prefix: str = "tumar",
    organisation: str = "",
) -> tuple[bytes, list[Limitation]]:
    """The ``.mobileconfig`` (XML plist) for the window [start, end) in ms, and its warnings."""
    if window_end_ts <= window_start_ts:
        raise ValueError("the window must end after it starts")
    found = warnings(p, enrolment_mode)  # checks the mode first
    window = Window(window_start_ts, window_end_ts)
    ident = identifier(p, identifier_prefix)
    start, end = _utc(window_start_ts), _utc(window_end_ts)
    restrictions: dict[str, object] = {
        "PayloadType": RESTRICTIONS_TYPE,
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.restrictions",
        "PayloadUUID": profile_uuid(p, window, "restrictions"),
        "PayloadDisplayName": "Restrictions during working hours",
        **restrictions_payload(p),
    }
    profile: dict[str, object] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": ident,
        "PayloadUUID": profile_uuid(p, window, "profile"),
        "PayloadDisplayName": f"{p.name} (working hours)"[:200],
        "PayloadDescription": (
            f"Restrictions of the device policy {p.policy_id!r} (version {p.version}) from "
            f"{start.isoformat()}Z to {end.isoformat()}Z; the profile removes itself then."
        ),
        "PayloadContent": [restrictions],
        "RemovalDate": end,
        "DurationUntilRemoval": float((window_end_ts - window_start_ts) / 1000),
        "TargetDeviceType": 1,
    }
    if organisation:
        profile["PayloadOrganization"] = organisation
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True), found
