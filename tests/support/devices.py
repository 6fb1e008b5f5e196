"""What tests send to enrol a managed device (``POST /_tumar/devices/v1/enrol``)."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def enrol_body(token: str, key: Ed25519PrivateKey, **extra: Any) -> dict[str, Any]:
    """An Android work-profile phone with ``key``, enrolling with the one-time ``token``."""
    return {
        "token": token,
        "public_key": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        "platform": "android",
        "model": "Pixel 8",
        "os_version": "14",
        "management_mode": "work_profile",
        "ownership": "personal",
        "attestation": {"kind": "play_integrity", "verdict": "MEETS_DEVICE_INTEGRITY"},
        **extra,
    }
