"""Checking Ed25519 signatures on signed JSON (Matrix appendix "Signing JSON"). Pure.

The server never holds a private key of its users; it only checks that a cross-signing key or
signature a client uploads was made by the key it claims, so that garbage is refused at the
door instead of breaking other users' verification later.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tumar.policy.decision import Decision


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Matrix canonical JSON: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode()


def decode_unpadded_base64(value: str) -> bytes:
    """Unpadded (or padded) standard or URL-safe base64; raises ``ValueError``."""
    text = value.strip().rstrip("=")
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from None


def signed_bytes(obj: Mapping[str, Any]) -> bytes:
    """What a signature covers: the object without ``signatures`` and ``unsigned``."""
    return canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def signature_of(obj: Mapping[str, Any], user_id: str, key_id: str) -> str | None:
    sigs = obj.get("signatures")
    if not isinstance(sigs, dict):
        return None
    by_user = sigs.get(user_id)
    if not isinstance(by_user, dict):
        return None
    value = by_user.get(key_id)
    return value if isinstance(value, str) else None


def verify_signed_json(
    obj: Mapping[str, Any], user_id: str, key_id: str, public_key: str
) -> Decision:
    """Whether ``obj`` carries a valid signature by ``user_id``'s key ``key_id`` (``ed25519:...``),
    whose unpadded base64 public key is ``public_key``."""
    if not key_id.startswith("ed25519:"):
        return Decision.deny(f"Unsupported signing algorithm in {key_id!r}.")
    signature = signature_of(obj, user_id, key_id)
    if signature is None:
        return Decision.deny(f"No signature by {user_id} with {key_id}.")
    try:
        key = Ed25519PublicKey.from_public_bytes(decode_unpadded_base64(public_key))
        raw_signature = decode_unpadded_base64(signature)
    except ValueError:
        return Decision.deny(f"The key or signature of {key_id} is not valid base64 Ed25519.")
    try:
        key.verify(raw_signature, signed_bytes(obj))
    except InvalidSignature:
        return Decision.deny(f"The signature by {key_id} does not match the signed object.")
    except ValueError:
        return Decision.deny(f"The signature by {key_id} is malformed.")
    return Decision.allow()
