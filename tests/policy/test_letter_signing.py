"""Signatures on letters with both key kinds; tampering; certificate chains; the report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.test_ca import NOW, CaSet, Issued, build_ca, issue, leaf, make_key
from tumar.policy.letter_signing import (
    AttachmentDigest,
    LetterContent,
    SignatureRecord,
    Stage,
    VerificationReport,
    canonical_letter,
    ed25519_key_id,
    generate_ed25519,
    key_matches_certificate,
    load_private_key,
    sha256_hex,
    sign_ed25519,
    sign_with_key,
    verify_letter,
    x509_key_id,
)
from tumar.policy.x509_chain import load_certificate, validate_chain

SIGNED_AT = datetime(2026, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)
REGISTERED_AT = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
PDF = "a" * 64
XLSX = "b" * 64

CONTENT = LetterContent(
    letter_id="L1",
    sender="mof",
    recipients=("moj", "edu"),
    subject="Budget 2027",
    body="Please send the **figures** by 1 April.",
    label="internal",
    reply_to="",
    attachments=(AttachmentDigest("plan.pdf", 1024, PDF), AttachmentDigest("t.xlsx", 9, XLSX)),
    outgoing_number="MOF-00012/26",
)
ACTUAL: list[str | None] = [PDF, XLSX]


@pytest.fixture(scope="module")
def ca() -> CaSet:
    return build_ca()


def ed25519_record(
    content: LetterContent = CONTENT, stage: Stage = "signature", signer: str = "@sig:t"
) -> tuple[SignatureRecord, bytes]:
    private, public = generate_ed25519()
    key_id = ed25519_key_id(public)
    at = SIGNED_AT if stage == "signature" else REGISTERED_AT
    data = canonical_letter(content, stage=stage, date=at, signer=signer, key_id=key_id)
    record = SignatureRecord(
        signer=signer,
        key_id=key_id,
        kind="ed25519",
        algorithm="ed25519",
        signature=sign_ed25519(private, data),
        signed_at=at,
        stage=stage,
        public_key=public,
        canonical_sha256=sha256_hex(data),
    )
    return record, private


def x509_record(
    ca: CaSet,
    who: Issued,
    algorithm: str | None = None,
    content: LetterContent = CONTENT,
    at: datetime = SIGNED_AT,
) -> SignatureRecord:
    key = load_private_key(who.key_pem)
    assert key_matches_certificate(key, who.cert)
    key_id = x509_key_id(who.cert)
    data = canonical_letter(content, stage="signature", date=at, signer="@sig:t", key_id=key_id)
    algorithm, signature = sign_with_key(key, data, algorithm)
    return SignatureRecord(
        signer="@sig:t",
        key_id=key_id,
        kind="x509",
        algorithm=algorithm,
        signature=signature,
        signed_at=at,
        certificate_pem=who.pem,
        chain_pem=ca.chain_of(who),
        canonical_sha256=sha256_hex(data),
    )


def check(
    ca: CaSet,
    records: list[SignatureRecord],
    content: LetterContent = CONTENT,
    actual: list[str | None] | dict[str, str | None] | None = None,
) -> VerificationReport:
    actual = list(ACTUAL) if actual is None else actual
    return verify_letter(content, records, actual_sha256=actual, anchors=ca.anchors, checked_at=NOW)


# -- the canonical form -----------------------------------------------------------------------


def test_canonical_form_is_stable_and_leaves_the_number_out_before_registration() -> None:
    args = {"date": SIGNED_AT, "signer": "@sig:t", "key_id": "ed25519:x"}
    form = canonical_letter(CONTENT, stage="signature", **args)  # type: ignore[arg-type]
    parsed = json.loads(form)
    assert parsed["outgoing_number"] == ""
    assert parsed["date"] == "2026-03-01T10:15:30.123Z"
    assert parsed["recipients"] == ["moj", "edu"]
    assert parsed["attachments"][0] == {"name": "plan.pdf", "size": 1024, "sha256": PDF}
    assert form == canonical_letter(
        replace(CONTENT, outgoing_number="other"),
        stage="signature",
        **args,  # type: ignore[arg-type]
    )
    sealed = canonical_letter(CONTENT, stage="registration", **args)  # type: ignore[arg-type]
    assert json.loads(sealed)["outgoing_number"] == "MOF-00012/26"
    assert form == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    # The same moment from milliseconds gives the same bytes.
    ms = datetime.fromtimestamp(int(SIGNED_AT.timestamp() * 1000) / 1000, UTC)
    assert (
        canonical_letter(CONTENT, stage="signature", date=ms, signer="@sig:t", key_id="ed25519:x")
        == form
    )


# -- Ed25519 ------------------------------------------------------------------------------------


def test_ed25519_signature_verifies(ca: CaSet) -> None:
    record, _ = ed25519_record()
    seal, _ = ed25519_record(stage="registration", signer="@clerk:t")
    report = check(ca, [record, seal])
    assert report.ok, report.all_reasons()
    assert report.signer == "@sig:t" and report.when == SIGNED_AT
    assert report.key_id.startswith("ed25519:")
    assert report.content_unchanged and report.attachments_unchanged and report.chain_ok
    assert report.signatures[0].chain_ok is None


TAMPERS = {
    "body": replace(CONTENT, body="Please send the figures by 1 May."),
    "subject": replace(CONTENT, subject="Budget 2028"),
    "attachment hash": replace(
        CONTENT,
        attachments=(AttachmentDigest("plan.pdf", 1024, "c" * 64), CONTENT.attachments[1]),
    ),
    "attachment dropped": replace(CONTENT, attachments=CONTENT.attachments[:1]),
    "recipients": replace(CONTENT, recipients=("moj",)),
    "recipient order": replace(CONTENT, recipients=("edu", "moj")),
    "sender": replace(CONTENT, sender="moj"),
    "number": replace(CONTENT, outgoing_number="MOF-00013/26"),
    "label": replace(CONTENT, label="public"),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_ed25519_tampering_is_detected(ca: CaSet, what: str) -> None:
    record, _ = ed25519_record()
    seal, _ = ed25519_record(stage="registration", signer="@clerk:t")
    report = check(ca, [record, seal], TAMPERS[what])
    assert not report.ok
    assert not report.content_unchanged
    assert any("changed" in r for r in report.all_reasons()), report.all_reasons()
    # The number is covered by the registration seal only.
    if what == "number":
        assert report.signatures[0].ok and not report.signatures[1].ok


def test_changed_stored_hash_or_signature_or_time_is_detected(ca: CaSet) -> None:
    record, _ = ed25519_record()
    for bad in (
        replace(record, signature=record.signature[:-4] + "AAAA"),
        replace(record, signature="not base64!"),
        replace(record, signed_at=REGISTERED_AT),
        replace(record, signer="@other:t"),
        replace(record, canonical_sha256="0" * 64, signature=record.signature[::-1]),
    ):
        report = check(ca, [bad])
        assert not report.ok and not report.content_unchanged
    other_public = generate_ed25519()[1]
    swapped = check(ca, [replace(record, public_key=other_public)])
    assert not swapped.ok
    assert any("does not match" in r for r in swapped.all_reasons())


def test_changed_or_missing_attachment_in_the_media_store(ca: CaSet) -> None:
    record, _ = ed25519_record()
    changed = check(ca, [record], actual=[PDF, "d" * 64])
    assert changed.content_unchanged and not changed.attachments_unchanged and not changed.ok
    assert "The attachment t.xlsx was changed after signing." in changed.all_reasons()
    missing = check(ca, [record], actual={"plan.pdf": PDF})
    assert "The attachment t.xlsx is missing from the media store." in missing.all_reasons()


def test_unsigned_letter_is_not_ok(ca: CaSet) -> None:
    report = check(ca, [])
    assert not report.ok and "The letter has no signature." in report.all_reasons()
    seal, _ = ed25519_record(stage="registration", signer="@clerk:t")
    assert "no signature by its signatory" in " ".join(check(ca, [seal]).all_reasons())
    record, _ = ed25519_record()
    unsealed = verify_letter(
        CONTENT,
        [record],
        actual_sha256=ACTUAL,
        anchors=ca.anchors,
        checked_at=NOW,
        require_registration=True,
    )
    assert not unsealed.ok


# -- X.509 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "algorithm"),
    [
        ("rsa_leaf", "rsa-pkcs1-sha256"),
        ("rsa_leaf", "rsa-pss-sha256"),
        ("rsa_pss_leaf", None),
        ("ec_leaf", "ecdsa-p256-sha256"),
        ("ec384_leaf", "ecdsa-p384-sha384"),
    ],
)
def test_x509_signatures_verify_and_tampering_is_detected(
    ca: CaSet, who: str, algorithm: str | None
) -> None:
    record = x509_record(ca, getattr(ca, who), algorithm)
    report = check(ca, [record])
    assert report.ok, report.all_reasons()
    sig = report.signatures[0]
    assert sig.chain_ok and len(sig.chain_path) == 3
    assert sig.certificate is not None and "Signatory" in sig.certificate.subject
    for what in ("body", "attachment hash", "recipients"):
        assert not check(ca, [record], TAMPERS[what]).ok


def test_the_algorithm_must_fit_the_key(ca: CaSet) -> None:
    key = load_private_key(ca.ec_leaf.key_pem)
    with pytest.raises(ValueError):
        sign_with_key(key, b"x", "rsa-pss-sha256")
    with pytest.raises(ValueError):
        sign_with_key(key, b"x", "ecdsa-p384-sha384")
    record = x509_record(ca, ca.ec_leaf)
    assert not check(ca, [replace(record, algorithm="ecdsa-p384-sha384")]).ok
    assert not check(ca, [replace(record, algorithm="ed25519")]).ok


def test_private_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="readable"):
        load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    small = issue(
        "Small",
        make_key("ec256"),
        None,
        ca=True,
        not_before=NOW,
        not_after=NOW.replace(year=2030),
        usage=None,
    )
    p521 = ec.generate_private_key(ec.SECP521R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256 and P-384"):
        load_private_key(p521)
    ca = build_ca()
    assert not key_matches_certificate(load_private_key(small.key_pem), ca.ec_leaf.cert)


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("expired_leaf", "expired on 2015-01-01"),
        ("future_leaf", "not valid before 2049-01-01"),
        ("no_usage_leaf", "does not allow digital signatures"),
        ("not_ca_leaf", "Not A CA is not a certificate authority"),
        ("foreign_leaf", "No issuer certificate for Stranger Signatory"),
    ],
)
def test_bad_certificates_give_clear_reasons(ca: CaSet, who: str, reason: str) -> None:
    issued = getattr(ca, who)
    chain = validate_chain(issued.pem, [ca.chain_of(issued)], ca.anchors, NOW)
    assert not chain.ok
    assert any(reason in r for r in chain.reasons), chain.reasons
    at = datetime(2012, 1, 1, tzinfo=UTC) if who == "expired_leaf" else SIGNED_AT
    report = check(ca, [x509_record(ca, issued, at=at)])
    if who == "expired_leaf":
        assert report.ok  # valid when it signed, in 2012
        late = check(ca, [x509_record(ca, issued)])
        assert not late.ok and not late.chain_ok
    else:
        assert not report.ok and not report.chain_ok
        assert report.content_unchanged  # the content is fine; the certificate is not
        assert any(reason in r for r in report.all_reasons())


def test_unknown_root_even_with_its_certificate(ca: CaSet) -> None:
    chain = validate_chain(ca.foreign_leaf.pem, [ca.foreign_root.pem], ca.anchors, NOW)
    assert not chain.ok
    assert "Unknown Root CA, which is not a configured trust anchor" in chain.reasons[0]
    assert not validate_chain(ca.rsa_leaf.pem, [ca.rsa_intermediate.pem], [], NOW).ok


def test_broken_chain_link(ca: CaSet) -> None:
    # An impostor intermediate with the right name but another key.
    impostor = issue(
        "Test Issuing CA RSA",
        make_key("rsa"),
        ca.root,
        ca=True,
        not_before=ca.root.cert.not_valid_before_utc,
        not_after=ca.root.cert.not_valid_after_utc,
        usage=None,
    )
    chain = validate_chain(ca.rsa_leaf.pem, [impostor.pem], ca.anchors, NOW)
    assert not chain.ok
    assert any("does not verify with the key of" in r for r in chain.reasons)
    # A leaf claiming the intermediate as issuer, signed by the leaf's own key.
    forged = issue(
        "Forged",
        make_key("ec256"),
        None,
        ca=False,
        not_before=NOW,
        not_after=NOW.replace(year=2030),
        usage=None,
    )
    assert not validate_chain(forged.pem, [ca.intermediate.pem], ca.anchors, NOW).ok
    # No intermediates at all.
    missing = validate_chain(ca.ec_leaf.pem, [], ca.anchors, NOW)
    assert not missing.ok and "No issuer certificate" in missing.reasons[0]
    # A CA without cA=TRUE in the middle.
    no_basic = issue(
        "Flat CA",
        make_key("ec256"),
        ca.root,
        ca=True,
        basic=False,
        not_before=ca.root.cert.not_valid_before_utc,
        not_after=ca.root.cert.not_valid_after_utc,
        usage=None,
    )
    below = leaf("Below Flat", no_basic, "ec256")
    flat = validate_chain(below.pem, [no_basic.pem], ca.anchors, NOW)
    assert not flat.ok and any("Flat CA is not a certificate authority" in r for r in flat.reasons)


def test_unreadable_certificates(ca: CaSet) -> None:
    with pytest.raises(ValueError, match=r"not a readable X\.509"):
        load_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError):
        load_certificate(b"\x30\x03garbage")
    assert load_certificate(ca.rsa_leaf.der) == ca.rsa_leaf.cert
    bad = validate_chain("garbage", [], ca.anchors, NOW)
    assert not bad.ok and bad.reasons
    record = replace(x509_record(ca, ca.ec_leaf), certificate_pem="garbage")
    assert not check(ca, [record]).ok
    with pytest.raises(ValueError):
        validate_chain(ca.ec_leaf.pem, [], ca.anchors, datetime(2026, 1, 1))


# -- the report ---------------------------------------------------------------------------------


def test_report_json_and_html(ca: CaSet) -> None:
    evil = replace(CONTENT, subject="<script>alert(1)</script> & co")
    record = x509_record(ca, ca.rsa_leaf, content=evil)
    report = check(ca, [record], evil)
    data = json.loads(report.to_json())
    assert data["ok"] is True
    assert data["signer"] == "@sig:t"
    assert data["signatures"][0]["certificate"]["subject"].startswith("CN=Bakyt Signatory")
    assert data["signatures"][0]["certificate"]["serial"]
    assert data["signatures"][0]["chain_ok"] is True
    assert data["attachments"][1] == {
        "name": "t.xlsx",
        "recorded_sha256": XLSX,
        "actual_sha256": XLSX,
        "unchanged": True,
    }
    html = report.to_html()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "CN=Bakyt Signatory" in html and "The letter is authentic" in html
    assert "http" not in html  # self-contained
    bad = check(ca, [record], replace(evil, body="changed"), actual=[PDF, None])
    bad_html = bad.to_html()
    assert "could NOT be verified" in bad_html
    assert "missing from the media store" in bad_html
    assert json.loads(bad.to_json())["content_unchanged"] is False
