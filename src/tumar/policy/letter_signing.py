"""Signatures on official letters: the canonical form, signing and verification. Pure.

The canonical form of a letter is canonical JSON (sorted keys, no whitespace, UTF-8) of::

    {"format": "tumar.letter.v1", "stage": "signature" | "registration",
     "letter_id", "sender", "recipients": [org codes, in the letter's order],
     "subject", "body", "label", "reply_to",
     "attachments": [{"name", "size", "sha256"}, ...],
     "outgoing_number", "date", "signer", "key_id"}

``date`` is the moment of signing (UTC, milliseconds). A signature of stage ``signature`` is
made when the signatory signs, before registration, so its ``outgoing_number`` is ``""``; a
signature of stage ``registration`` is made at registration and covers the outgoing number.
The signer's user id and key id are inside the signed bytes, so a signature cannot be passed off
as someone else's.

Two kinds of keys sign: Ed25519 keys managed by tumar (``ed25519``) and keys of imported X.509
certificates (``x509``): RSA (``rsa-pkcs1-sha256``, ``rsa-pss-sha256``) and ECDSA
(``ecdsa-p256-sha256``, ``ecdsa-p384-sha384``). Signatures are unpadded base64.

:func:`verify_letter` recomputes the canonical form from the letter as stored now and checks
each stored signature, the certificate chains (at the time of signing) and the attachments as
found in the media store; the :class:`VerificationReport` renders as JSON and as HTML.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tumar.policy.decision import Decision
from tumar.policy.letter_report import render_html
from tumar.policy.signatures import canonical_json, decode_unpadded_base64
from tumar.policy.x509_chain import CertInfo, ChainResult, info, load_certificates, validate_chain

FORMAT = "tumar.letter.v1"
Stage = Literal["signature", "registration"]
KeyKind = Literal["ed25519", "x509"]
ALGORITHMS = (
    "ed25519",
    "rsa-pkcs1-sha256",
    "rsa-pss-sha256",
    "ecdsa-p256-sha256",
    "ecdsa-p384-sha384",
)
MIN_RSA_BITS = 2048


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def iso_ms(value: datetime) -> str:
    """UTC timestamp with milliseconds, as the canonical form writes it."""
    if value.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_ms(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, UTC)


# -- the canonical form ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentDigest:
    name: str
    size: int
    sha256: str  # hexadecimal, lower case


@dataclass(frozen=True, slots=True)
class LetterContent:
    """What a letter's signatures cover, except the stage, date and signer."""

    letter_id: str
    sender: str  # organisation code
    recipients: tuple[str, ...]  # organisation codes
    subject: str
    body: str
    label: str
    reply_to: str = ""
    attachments: tuple[AttachmentDigest, ...] = ()
    outgoing_number: str = ""  # "" before registration


def canonical_letter(
    content: LetterContent, *, stage: Stage, date: datetime, signer: str, key_id: str
) -> bytes:
    """The bytes a signature covers. For stage ``signature`` the outgoing number is left out
    (written as ``""``), since the letter is signed before it is registered."""
    number = content.outgoing_number if stage == "registration" else ""
    return canonical_json(
        {
            "format": FORMAT,
            "stage": stage,
            "letter_id": content.letter_id,
            "sender": content.sender,
            "recipients": list(content.recipients),
            "subject": content.subject,
            "body": content.body,
            "label": content.label,
            "reply_to": content.reply_to,
            "attachments": [
                {"name": a.name, "size": a.size, "sha256": a.sha256.lower()}
                for a in content.attachments
            ],
            "outgoing_number": number,
            "date": iso_ms(date),
            "signer": signer,
            "key_id": key_id,
        }
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- keys and signing ------------------------------------------------------------------------


def generate_ed25519() -> tuple[bytes, str]:
    """A new Ed25519 key: (32 private bytes to seal, unpadded base64 public key)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return private, ed25519_public(private)


def ed25519_public(private: bytes) -> str:
    public = Ed25519PrivateKey.from_private_bytes(private).public_key()
    return b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def ed25519_key_id(public_key: str) -> str:
    """``ed25519:`` and the first 16 hex digits of the SHA-256 of the raw public key."""
    return "ed25519:" + sha256_hex(decode_unpadded_base64(public_key))[:16]


def x509_key_id(cert: x509.Certificate) -> str:
    """``x509:`` and the first 16 hex digits of the certificate's SHA-256 fingerprint."""
    return "x509:" + info(cert).fingerprint[:16]


def sign_ed25519(private: bytes, data: bytes) -> str:
    return b64(Ed25519PrivateKey.from_private_bytes(private).sign(data))


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def load_private_key(pem: bytes | str, password: bytes | None = None) -> PrivateKey:
    """An RSA or ECDSA private key (PEM or DER, PKCS#8 or traditional); ``ValueError`` else."""
    raw = pem.encode() if isinstance(pem, str) else bytes(pem)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(raw, password)
        else:
            key = serialization.load_der_private_key(raw, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"This is not a readable private key ({exc}).") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits.")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
            raise ValueError("Only ECDSA keys on P-256 and P-384 are accepted.")
        return key
    raise ValueError("Only RSA and ECDSA keys can be imported with a certificate.")


def default_algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-pkcs1-sha256"
    return "ecdsa-p384-sha384" if isinstance(key.curve, ec.SECP384R1) else "ecdsa-p256-sha256"


def key_matches_certificate(key: PrivateKey, cert: x509.Certificate) -> Decision:
    """Whether the private key belongs to the certificate."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return Decision.deny("The private key does not belong to the certificate.")
    return Decision.allow()


def sign_with_key(key: PrivateKey, data: bytes, algorithm: str | None = None) -> tuple[str, str]:
    """Sign ``data`` with an RSA or ECDSA key: (algorithm, unpadded base64 signature)."""
    algorithm = algorithm or default_algorithm(key)
    if isinstance(key, rsa.RSAPrivateKey):
        if algorithm == "rsa-pkcs1-sha256":
            return algorithm, b64(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        if algorithm == "rsa-pss-sha256":
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            return algorithm, b64(key.sign(data, pss, hashes.SHA256()))
    elif algorithm == default_algorithm(key):
        digest: hashes.HashAlgorithm = (
            hashes.SHA384() if algorithm == "ecdsa-p384-sha384" else hashes.SHA256()
        )
        return algorithm, b64(key.sign(data, ec.ECDSA(digest)))
    raise ValueError(f"The algorithm {algorithm} does not fit this key.")


def verify_bytes(
    algorithm: str, public: Ed25519PublicKey | x509.Certificate, data: bytes, signature: str
) -> bool:
    """Whether ``signature`` over ``data`` verifies with the Ed25519 key or the certificate's
    key under ``algorithm``."""
    try:
        sig = decode_unpadded_base64(signature)
        if isinstance(public, Ed25519PublicKey):
            if algorithm != "ed25519":
                return False
            public.verify(sig, data)
            return True
        key = public.public_key()
        if isinstance(key, rsa.RSAPublicKey) and algorithm == "rsa-pkcs1-sha256":
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, rsa.RSAPublicKey) and algorithm == "rsa-pss-sha256":
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            key.verify(sig, data, pss, hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm in (
            "ecdsa-p256-sha256",
            "ecdsa-p384-sha384",
        ):
            curve = ec.SECP384R1 if algorithm == "ecdsa-p384-sha384" else ec.SECP256R1
            if not isinstance(key.curve, curve):
                return False
            digest: hashes.HashAlgorithm = (
                hashes.SHA384() if algorithm == "ecdsa-p384-sha384" else hashes.SHA256()
            )
            key.verify(sig, data, ec.ECDSA(digest))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """A signature as the server stores it."""

    signer: str  # user id
    key_id: str
    kind: KeyKind
    algorithm: str
    signature: str  # unpadded base64
    signed_at: datetime
    stage: Stage = "signature"
    public_key: str = ""  # unpadded base64 raw Ed25519 key (x509: the certificate holds it)
    certificate_pem: str = ""
    chain_pem: str = ""  # intermediates, PEM bundle
    canonical_sha256: str = ""  # SHA-256 of the canonical form at signing, hexadecimal


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    signer: str
    stage: Stage
    signed_at: datetime
    kind: KeyKind
    algorithm: str
    key_id: str
    certificate: CertInfo | None
    signature_valid: bool
    content_unchanged: bool
    chain_ok: bool | None  # None for Ed25519 keys (no chain)
    chain_path: tuple[CertInfo, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.signature_valid and self.content_unchanged and self.chain_ok is not False

    def as_json(self) -> dict[str, object]:
        return {
            "signer": self.signer,
            "stage": self.stage,
            "signed_at": iso_ms(self.signed_at),
            "kind": self.kind,
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "certificate": self.certificate.as_json() if self.certificate else None,
            "chain_ok": self.chain_ok,
            "chain": [c.as_json() for c in self.chain_path],
            "signature_valid": self.signature_valid,
            "content_unchanged": self.content_unchanged,
            "ok": self.ok,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class AttachmentCheck:
    name: str
    recorded_sha256: str
    actual_sha256: str | None  # None: the file is missing from the media store

    @property
    def unchanged(self) -> bool:
        return self.actual_sha256 is not None and self.actual_sha256 == self.recorded_sha256

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "recorded_sha256": self.recorded_sha256,
            "actual_sha256": self.actual_sha256,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """The verdict on a stored letter: each signature, each attachment, and reasons."""

    letter_id: str
    subject: str
    sender: str
    recipients: tuple[str, ...]
    outgoing_number: str
    checked_at: datetime
    signatures: tuple[SignatureCheck, ...]
    attachments: tuple[AttachmentCheck, ...]
    reasons: tuple[str, ...] = field(default=())

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def content_unchanged(self) -> bool:
        return self.signed and all(
            s.content_unchanged and s.signature_valid for s in self.signatures
        )

    @property
    def attachments_unchanged(self) -> bool:
        return all(a.unchanged for a in self.attachments)

    @property
    def chain_ok(self) -> bool:
        return all(s.chain_ok is not False for s in self.signatures)

    @property
    def ok(self) -> bool:
        return (
            self.signed
            and all(s.ok for s in self.signatures)
            and self.attachments_unchanged
            and not self.reasons
        )

    @property
    def signer(self) -> str:
        first = self._signatory()
        return first.signer if first else ""

    @property
    def when(self) -> datetime | None:
        first = self._signatory()
        return first.signed_at if first else None

    @property
    def key_id(self) -> str:
        first = self._signatory()
        return first.key_id if first else ""

    def _signatory(self) -> SignatureCheck | None:
        stages = [s for s in self.signatures if s.stage == "signature"] or list(self.signatures)
        return stages[0] if stages else None

    def all_reasons(self) -> list[str]:
        out = list(self.reasons)
        for s in self.signatures:
            out.extend(s.reasons)
        for a in self.attachments:
            if a.actual_sha256 is None:
                out.append(f"The attachment {a.name} is missing from the media store.")
            elif not a.unchanged:
                out.append(f"The attachment {a.name} was changed after signing.")
        return list(dict.fromkeys(out))

    def as_json(self) -> dict[str, object]:
        when = self.when
        return {
            "letter_id": self.letter_id,
            "subject": self.subject,
            "sender": self.sender,
            "recipients": list(self.recipients),
            "outgoing_number": self.outgoing_number,
            "checked_at": iso_ms(self.checked_at),
            "ok": self.ok,
            "signer": self.signer,
            "when": iso_ms(when) if when else None,
            "key_id": self.key_id,
            "content_unchanged": self.content_unchanged,
            "attachments_unchanged": self.attachments_unchanged,
            "chain_ok": self.chain_ok,
            "signatures": [s.as_json() for s in self.signatures],
            "attachments": [a.as_json() for a in self.attachments],
            "reasons": self.all_reasons(),
        }

    def to_json(self) -> str:
        return canonical_json(self.as_json()).decode()

    def to_html(self) -> str:
        return render_html(self.as_json())


def _check_one(
    content: LetterContent,
    record: SignatureRecord,
    anchors: Sequence[x509.Certificate | bytes | str],
) -> SignatureCheck:
    reasons: list[str] = []
    data = canonical_letter(
        content,
        stage=record.stage,
        date=record.signed_at,
        signer=record.signer,
        key_id=record.key_id,
    )
    digest = sha256_hex(data)
    cert_info: CertInfo | None = None
    chain: ChainResult | None = None
    public: Ed25519PublicKey | x509.Certificate | None = None
    if record.kind == "ed25519":
        try:
            raw = decode_unpadded_base64(record.public_key)
            public = Ed25519PublicKey.from_public_bytes(raw)
            if ed25519_key_id(record.public_key) != record.key_id:
                reasons.append(f"The key id {record.key_id} does not match the public key.")
        except ValueError:
            reasons.append("The stored Ed25519 public key is not readable.")
    else:
        try:
            certs = load_certificates(record.certificate_pem)
            intermediates = load_certificates(record.chain_pem)
        except ValueError as exc:
            certs, intermediates = [], []
            reasons.append(str(exc))
        if certs:
            public = certs[0]
            cert_info = info(public)
            if x509_key_id(public) != record.key_id:
                reasons.append(f"The key id {record.key_id} does not match the certificate.")
            chain = validate_chain(public, intermediates, anchors, record.signed_at)
            reasons.extend(chain.reasons)
        elif not reasons:
            reasons.append("The signature has no certificate.")
    valid = public is not None and verify_bytes(record.algorithm, public, data, record.signature)
    unchanged = valid and (not record.canonical_sha256 or record.canonical_sha256 == digest)
    if record.canonical_sha256 and record.canonical_sha256 != digest:
        reasons.append(
            f"The letter was changed after the {record.stage} by {record.signer} "
            "(its canonical form differs from the one signed)."
        )
    elif public is not None and not valid:
        reasons.append(
            f"The {record.stage} signature by {record.signer} does not verify: the letter or "
            "the signature was changed."
        )
    return SignatureCheck(
        signer=record.signer,
        stage=record.stage,
        signed_at=record.signed_at,
        kind=record.kind,
        algorithm=record.algorithm,
        key_id=record.key_id,
        certificate=cert_info,
        signature_valid=valid,
        content_unchanged=unchanged,
        chain_ok=None if record.kind == "ed25519" else bool(chain and chain.ok),
        chain_path=chain.path if chain else (),
        reasons=tuple(reasons),
    )


def verify_letter(
    content: LetterContent,
    signatures: Sequence[SignatureRecord],
    *,
    actual_sha256: Mapping[str, str | None] | Sequence[str | None],
    anchors: Sequence[x509.Certificate | bytes | str],
    checked_at: datetime,
    require_registration: bool = False,
) -> VerificationReport:
    """Check a stored letter. ``content`` is the letter as stored now (its attachment hashes
    as recorded), ``actual_sha256`` the attachment hashes as computed from the media store now
    (by position, or by name; ``None`` for a missing file). X.509 chains are validated at the
    time of each signature."""
    checks = tuple(_check_one(content, s, anchors) for s in signatures)
    reasons: list[str] = []
    if not signatures:
        reasons.append("The letter has no signature.")
    elif not any(s.stage == "signature" for s in signatures):
        reasons.append("The letter has no signature by its signatory.")
    sealed = any(s.stage == "registration" for s in signatures)
    if require_registration and content.outgoing_number and not sealed:
        reasons.append("The registration of the letter is not sealed by a signature.")
    attachments: list[AttachmentCheck] = []
    for i, att in enumerate(content.attachments):
        if isinstance(actual_sha256, Mapping):
            actual = actual_sha256.get(att.name)
        else:
            actual = actual_sha256[i] if i < len(actual_sha256) else None
        attachments.append(AttachmentCheck(att.name, att.sha256.lower(), actual and actual.lower()))
    return VerificationReport(
        letter_id=content.letter_id,
        subject=content.subject,
        sender=content.sender,
        recipients=content.recipients,
        outgoing_number=content.outgoing_number,
        checked_at=checked_at,
        signatures=checks,
        attachments=tuple(attachments),
        reasons=tuple(reasons),
    )


def with_number(content: LetterContent, outgoing_number: str) -> LetterContent:
    return replace(content, outgoing_number=outgoing_number)


verify = verify_letter
