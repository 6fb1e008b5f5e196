"""X.509 certificates of signatories: loading and chain validation against trust anchors. Pure
(the time of validation is a parameter).

A chain is valid at a time when a path leads from the leaf certificate through the given
intermediates to one of the trust anchors and every link holds:

- name chaining: the issuer name of each certificate is the subject name of the next;
- the signature of each certificate verifies with the next one's public key (RSA PKCS#1 v1.5
  or PSS, ECDSA, Ed25519: whatever the issuer used);
- every certificate on the path, the anchor included, is within its validity period;
- every issuer is a CA (basicConstraints cA=TRUE), may sign certificates when it carries a
  keyUsage, and respects its pathLenConstraint;
- the leaf's keyUsage allows digitalSignature or nonRepudiation (contentCommitment).

Revocation (CRL, OCSP) is not checked here: that needs the network, and this module does no
I/O. The reasons are readable sentences, safe to show to the person who imported the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

MAX_DEPTH = 8  # certificates on a path, anchor included
MAX_PEM = 256 * 1024  # bytes of one PEM bundle


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What a person reads about a certificate."""

    subject: str
    issuer: str
    serial: str  # hexadecimal
    not_before: datetime
    not_after: datetime
    fingerprint: str  # SHA-256 of the DER encoding, hexadecimal

    def as_json(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "fingerprint_sha256": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The verdict on a certificate chain: ``ok`` and, when not, the reasons; ``path`` is the
    certificates from the leaf to the anchor as far as they could be linked."""

    ok: bool
    reasons: tuple[str, ...]
    path: tuple[CertInfo, ...]

    def __bool__(self) -> bool:
        return self.ok


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def name_of(name: x509.Name) -> str:
    """RFC 4514 text of a name (``CN=Aliya,O=MoF,C=KZ``)."""
    return name.rfc4514_string()


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode(errors="replace")


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def info(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        subject=name_of(cert.subject),
        issuer=name_of(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert),
    )


def load_certificate(data: bytes | str) -> x509.Certificate:
    """One certificate, PEM or DER; raises ``ValueError`` with a readable message."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_PEM:
        raise ValueError("The certificate is too large.")
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"This is not a readable X.509 certificate ({exc}).") from None


def load_certificates(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (empty input gives none); raises ``ValueError``."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not raw.strip():
        return []
    if len(raw) > MAX_PEM:
        raise ValueError("The certificate bundle is too large.")
    if not raw.lstrip().startswith(b"-----BEGIN"):
        return [load_certificate(raw)]
    try:
        return x509.load_pem_x509_certificates(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"The certificate bundle is not readable ({exc}).") from None


def _as_cert(value: x509.Certificate | bytes | str) -> x509.Certificate:
    return value if isinstance(value, x509.Certificate) else load_certificate(value)


def _as_certs(value: x509.Certificate | bytes | str) -> list[x509.Certificate]:
    return [value] if isinstance(value, x509.Certificate) else load_certificates(value)


def _basic(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _who(cert: x509.Certificate) -> str:
    return common_name(cert) or name_of(cert.subject) or "(no name)"


def check_leaf_usage(cert: x509.Certificate) -> list[str]:
    """Reasons why ``cert`` may not sign documents (empty when it may)."""
    usage = _key_usage(cert)
    if usage is None:
        return [f"The certificate of {_who(cert)} has no keyUsage extension."]
    if not (usage.digital_signature or usage.content_commitment):
        return [
            f"The certificate of {_who(cert)} does not allow digital signatures "
            "(keyUsage lacks digitalSignature and nonRepudiation)."
        ]
    return []


def _check_issuer(issuer: x509.Certificate, below: int) -> list[str]:
    """Reasons why ``issuer`` may not issue a certificate with ``below`` CAs under it."""
    reasons: list[str] = []
    basic = _basic(issuer)
    if basic is None or not basic.ca:
        reasons.append(f"{_who(issuer)} is not a certificate authority (basicConstraints).")
    elif basic.path_length is not None and below > basic.path_length:
        reasons.append(f"{_who(issuer)} allows at most {basic.path_length} CAs below it.")
    usage = _key_usage(issuer)
    if usage is not None and not usage.key_cert_sign:
        reasons.append(f"The keyUsage of {_who(issuer)} does not allow signing certificates.")
    return reasons


def _check_time(cert: x509.Certificate, at: datetime) -> list[str]:
    if at < cert.not_valid_before_utc:
        start = _iso(cert.not_valid_before_utc)
        return [f"The certificate of {_who(cert)} is not valid before {start}."]
    if at > cert.not_valid_after_utc:
        return [f"The certificate of {_who(cert)} expired on {_iso(cert.not_valid_after_utc)}."]
    return []


def validate_chain(
    cert_pem: x509.Certificate | bytes | str,
    intermediates: Sequence[x509.Certificate | bytes | str],
    anchors: Sequence[x509.Certificate | bytes | str],
    at: datetime,
) -> ChainResult:
    """Validate the leaf ``cert_pem`` through ``intermediates`` to one of ``anchors`` at ``at``
    (an aware datetime). Never raises on bad certificates: unreadable input is a reason."""
    if at.tzinfo is None:
        raise ValueError("validate_chain needs an aware datetime")
    try:
        leaf = _as_cert(cert_pem)
        pool = [c for item in intermediates for c in _as_certs(item)]
        roots = [c for item in anchors for c in _as_certs(item)]
    except ValueError as exc:
        return ChainResult(False, (str(exc),), ())
    if not roots:
        return ChainResult(False, ("No trust anchors are configured.",), (info(leaf),))
    root_prints = {fingerprint(r) for r in roots}
    reasons: list[str] = check_leaf_usage(leaf)
    path = [leaf]
    current = leaf
    while fingerprint(current) not in root_prints:
        if len(path) >= MAX_DEPTH:
            reasons.append(f"The chain is longer than {MAX_DEPTH} certificates.")
            break
        named = [c for c in roots + pool if c.subject == current.issuer and c not in path]
        if not named:
            if current.issuer == current.subject:
                reasons.append(
                    f"The chain ends at {_who(current)}, which is not a configured trust anchor."
                )
            elif any(c.subject == current.issuer for c in path):
                reasons.append("The chain loops back on itself.")
            else:
                reasons.append(
                    f"No issuer certificate for {_who(current)} (issued by "
                    f"{name_of(current.issuer)}) is among the intermediates or trust anchors."
                )
            break
        issuer = next((c for c in named if _signed_by(current, c)), None)
        if issuer is None:
            reasons.append(
                f"The signature on the certificate of {_who(current)} does not verify with the "
                f"key of {name_of(current.issuer)}."
            )
            break
        path.append(issuer)
        current = issuer
    linked = fingerprint(current) in root_prints
    for cert in path:
        reasons.extend(_check_time(cert, at))
    for below, issuer in enumerate(path[1:]):
        reasons.extend(_check_issuer(issuer, below))
    ok = linked and not reasons
    return ChainResult(ok, tuple(dict.fromkeys(reasons)), tuple(info(c) for c in path))
