"""Ed25519 signatures on signed JSON, checked as clients make them."""

from __future__ import annotations

import pytest

from tests.support.e2ee import SigningKey, b64
from tumar.policy.signatures import canonical_json, decode_unpadded_base64, verify_signed_json

USER = "@alice:tumar.test"


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}})
        == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()
    )


def test_a_valid_signature_verifies_and_ignores_unsigned() -> None:
    key = SigningKey.generate()
    signed = key.sign({"keys": {"x": "y"}, "usage": ["master"]}, USER, f"ed25519:{key.public}")
    assert verify_signed_json(signed, USER, f"ed25519:{key.public}", key.public)
    with_unsigned = {**signed, "unsigned": {"device_display_name": "Phone"}}
    assert verify_signed_json(with_unsigned, USER, f"ed25519:{key.public}", key.public)
    # Another party's signature alongside does not matter.
    other = SigningKey.generate()
    both = other.sign(signed, "@bob:tumar.test", "ed25519:B")
    assert verify_signed_json(both, USER, f"ed25519:{key.public}", key.public)


@pytest.mark.parametrize("case", ["tampered", "wrong key", "missing", "garbage", "other algorithm"])
def test_bad_signatures_are_refused(case: str) -> None:
    key = SigningKey.generate()
    key_id = f"ed25519:{key.public}"
    signed = key.sign({"keys": {"x": "y"}}, USER, key_id)
    public = key.public
    if case == "tampered":
        signed["keys"] = {"x": "z"}
    elif case == "wrong key":
        public = SigningKey.generate().public
    elif case == "missing":
        signed["signatures"] = {}
    elif case == "garbage":
        signed["signatures"][USER][key_id] = "%%%not base64"
    elif case == "other algorithm":
        key_id = "curve25519:abc"
    decision = verify_signed_json(signed, USER, key_id, public)
    assert not decision
    assert decision.reason


def test_unpadded_and_url_safe_base64() -> None:
    raw = bytes(range(40))
    assert decode_unpadded_base64(b64(raw)) == raw
    assert decode_unpadded_base64(b64(raw).replace("+", "-").replace("/", "_")) == raw
    with pytest.raises(ValueError):
        decode_unpadded_base64("a")
