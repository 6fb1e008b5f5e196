"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): pure functions, no I/O.

The parameters are the ones every authenticator app understands: HMAC-SHA1, 6 digits, a
30-second step. Secrets are 160 random bits written in unpadded base32. The caller supplies the
time and the last step already used, so replaying a code (the same step again) is refused here
and the decision is testable without a clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_SECONDS = 30
ALGORITHM = "SHA1"
SECRET_BYTES = 20  # 160 bits, the size RFC 4226 recommends


def encode_secret(raw: bytes) -> str:
    """Base32 without padding, as authenticator apps expect it."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """Accepts what people type: any case, spaces or dashes between groups, padding or not."""
    cleaned = "".join(c for c in secret.upper() if c not in " -")
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(cleaned)
    except (binascii.Error, ValueError):
        raise ValueError("not a base32 secret") from None


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226: HMAC-SHA1 of the 8-byte counter, dynamically truncated to ``digits``."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(now_ms: int) -> int:
    """The RFC 6238 time step (T0 = 0) containing ``now_ms``."""
    return now_ms // 1000 // STEP_SECONDS


def code_at(secret: str, now_ms: int) -> str:
    return hotp(decode_secret(secret), step_at(now_ms))


def normalise_code(code: str) -> str | None:
    """The six digits of what a person typed ("123 456" is fine), or None if it is no code."""
    digits = "".join(c for c in code if c not in " -")
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of checking a code: ``step`` is set when it is accepted."""

    ok: bool
    reason: str  # "ok", "malformed", "wrong", "replayed"
    step: int | None = None


def verify(secret: str, code: str, now_ms: int, last_step: int, window: int = 1) -> Check:
    """Accept ``code`` if it is the code of a step within ``window`` steps of now (clock drift)
    that is later than ``last_step``; a code of a step already used is a replay."""
    digits = normalise_code(code)
    if digits is None:
        return Check(False, "malformed")
    key = decode_secret(secret)
    now = step_at(now_ms)
    replayed = False
    for step in range(max(0, now - window), now + window + 1):
        if hmac.compare_digest(hotp(key, step), digits):
            if step > last_step:
                return Check(True, "ok", step)
            replayed = True
    return Check(False, "replayed" if replayed else "wrong")


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read from a QR code."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": ALGORITHM,
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
