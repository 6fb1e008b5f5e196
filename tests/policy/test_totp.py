"""TOTP arithmetic against the RFC test vectors, and the replay and drift rules."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tumar.policy import totp

RFC_KEY = b"12345678901234567890"
RFC_SECRET = totp.encode_secret(RFC_KEY)


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(enumerate(["755224", "287082", "359152", "969429", "338314",
               "254676", "287922", "162583", "399871", "520489"])),
)  # fmt: skip
def test_hotp_rfc4226_vectors(counter: int, expected: str) -> None:
    assert totp.hotp(RFC_KEY, counter) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
     (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")],
)  # fmt: skip
def test_totp_rfc6238_sha1_vectors(seconds: int, expected: str) -> None:
    assert totp.hotp(RFC_KEY, totp.step_at(seconds * 1000), digits=8) == expected
    assert totp.code_at(RFC_SECRET, seconds * 1000) == expected[-6:]


def test_secret_round_trip_and_typing_tolerance() -> None:
    assert totp.decode_secret(RFC_SECRET) == RFC_KEY
    spaced = totp.grouped(RFC_SECRET).lower()
    assert totp.decode_secret(spaced) == RFC_KEY
    with pytest.raises(ValueError):
        totp.decode_secret("not base32 !")


def test_verify_accepts_drift_and_refuses_replays() -> None:
    now = 1_700_000_000_000
    step = totp.step_at(now)
    current = totp.code_at(RFC_SECRET, now)
    assert totp.verify(RFC_SECRET, current, now, 0) == totp.Check(True, "ok", step)
    assert totp.verify(RFC_SECRET, current[:3] + " " + current[3:], now, 0).ok
    previous = totp.code_at(RFC_SECRET, now - 30_000)
    assert totp.verify(RFC_SECRET, previous, now, 0).step == step - 1
    assert totp.verify(RFC_SECRET, previous, now, 0, window=0).reason == "wrong"
    two_ago = totp.code_at(RFC_SECRET, now - 60_000)
    assert totp.verify(RFC_SECRET, two_ago, now, 0).reason == "wrong"
    assert totp.verify(RFC_SECRET, current, now, last_step=step).reason == "replayed"
    # A newer step used already makes the older code a replay too.
    assert totp.verify(RFC_SECRET, previous, now, last_step=step).reason == "replayed"


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123456\n"])
def test_verify_refuses_what_is_no_code(bad: str) -> None:
    assert totp.verify(RFC_SECRET, bad, 1_700_000_000_000, 0).reason == "malformed"


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=10**6))
def test_a_wrong_code_is_never_accepted(now: int, guess: int) -> None:
    code = f"{guess:06d}"[-6:]
    result = totp.verify(RFC_SECRET, code, now, 0)
    step = totp.step_at(now)
    valid = {totp.hotp(RFC_KEY, s) for s in (step - 1, step, step + 1) if s > 0}
    assert result.ok == (code in valid)


def test_otpauth_uri() -> None:
    uri = totp.otpauth_uri(RFC_SECRET, "@alice:gov.kz", "tumar gov")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/tumar%20gov:@alice:gov.kz"
    query = parse_qs(parts.query)
    assert query == {
        "secret": [RFC_SECRET], "issuer": ["tumar gov"], "algorithm": ["SHA1"],
        "digits": ["6"], "period": ["30"],
    }  # fmt: skip
