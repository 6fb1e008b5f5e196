"""A test certificate authority built with cryptography, for signature tests of letters.

:func:`build_ca` returns one cached :class:`CaSet`: a root and an intermediate CA, leaves with
RSA (PKCS#1 v1.5 and PSS-signed) and ECDSA (P-256, P-384) keys, an expired leaf, a leaf
without the digitalSignature/nonRepudiation key usage, a leaf issued by a CA that is not a CA
(basicConstraints), and a leaf from an unknown root. Validity periods are wide (2000-2050 for
the CAs, 2020-2045 for good leaves) so tests with any fixed or real clock work; the expired leaf
ended in 2015 and the future leaf starts in 2049.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

KeyKind = Literal["rsa", "ec256", "ec384"]
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CA_FROM = datetime(2000, 1, 1, tzinfo=UTC)
CA_UNTIL = datetime(2050, 1, 1, tzinfo=UTC)
LEAF_FROM = datetime(2020, 1, 1, tzinfo=UTC)
LEAF_UNTIL = datetime(2045, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # a moment when the good certificates are valid


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def make_key(kind: KeyKind) -> Key:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1())


def _name(common: str, org: str = "Test State PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _usage(*, sign: bool = False, cert_sign: bool = False, encipher: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    common: str,
    key: Key,
    issuer: Issued | None,
    *,
    ca: bool,
    not_before: datetime,
    not_after: datetime,
    usage: x509.KeyUsage | None,
    path_length: int | None = None,
    pss: bool = False,
    basic: bool = True,
) -> Issued:
    """A certificate for ``key`` signed by ``issuer`` (self-signed when ``None``)."""
    subject = _name(common)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    digest = hashes.SHA384() if isinstance(signer_key, ec.EllipticCurvePrivateKey) else None
    algorithm = digest or hashes.SHA256()
    if pss and isinstance(signer_key, rsa.RSAPrivateKey):
        cert = builder.sign(
            signer_key,
            algorithm,
            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        )
    else:
        cert = builder.sign(signer_key, algorithm)
    return Issued(cert, key)


def leaf(
    common: str,
    issuer: Issued,
    kind: KeyKind = "rsa",
    *,
    not_before: datetime = LEAF_FROM,
    not_after: datetime = LEAF_UNTIL,
    usage: x509.KeyUsage | None = None,
    pss: bool = False,
) -> Issued:
    return issue(
        common,
        make_key(kind),
        issuer,
        ca=False,
        not_before=not_before,
        not_after=not_after,
        usage=usage if usage is not None else _usage(sign=True),
        pss=pss,
    )


@dataclass(frozen=True)
class CaSet:
    root: Issued  # RSA root, the trust anchor
    intermediate: Issued  # ECDSA P-384 intermediate below the root
    rsa_intermediate: Issued  # RSA intermediate below the root
    rsa_leaf: Issued  # RSA key, issued by rsa_intermediate (PKCS#1 v1.5)
    rsa_pss_leaf: Issued  # RSA key, certificate signed with RSA-PSS by rsa_intermediate
    ec_leaf: Issued  # ECDSA P-256 key, issued by the P-384 intermediate
    ec384_leaf: Issued  # ECDSA P-384 key
    expired_leaf: Issued  # valid 2010-2015
    future_leaf: Issued  # valid from 2049
    no_usage_leaf: Issued  # keyUsage keyEncipherment only
    not_ca: Issued  # an end-entity certificate (cA=FALSE) below the P-384 intermediate
    not_ca_leaf: Issued  # issued by not_ca, which may not issue certificates
    foreign_root: Issued  # not configured as an anchor
    foreign_leaf: Issued  # issued by foreign_root

    @property
    def anchors(self) -> list[str]:
        return [self.root.pem]

    def chain_of(self, issued: Issued) -> str:
        """The intermediates PEM bundle for a leaf of this CA."""
        by = {
            self.rsa_leaf: self.rsa_intermediate,
            self.rsa_pss_leaf: self.rsa_intermediate,
        }
        if issued == self.not_ca_leaf:
            return self.not_ca.pem + self.intermediate.pem
        return by.get(issued, self.intermediate).pem


@cache
def build_ca() -> CaSet:
    root = issue(
        "Test Root CA",
        make_key("rsa"),
        None,
        ca=True,
        not_before=CA_FROM,
        not_after=CA_UNTIL,
        usage=_usage(cert_sign=True),
    )
    inter = issue(
        "Test Issuing CA P-384",
        make_key("ec384"),
        root,
        ca=True,
        not_before=CA_FROM,
        not_after=CA_UNTIL,
        usage=_usage(cert_sign=True),
        path_length=0,
    )
    rsa_inter = issue(
        "Test Issuing CA RSA",
        make_key("rsa"),
        root,
        ca=True,
        not_before=CA_FROM,
        not_after=CA_UNTIL,
        usage=_usage(cert_sign=True),
        path_length=0,
    )
    ec_leaf = leaf("Aliya Signatory", inter, "ec256")
    not_ca = issue(
        "Not A CA",
        make_key("ec256"),
        inter,
        ca=False,
        not_before=LEAF_FROM,
        not_after=LEAF_UNTIL,
        usage=_usage(sign=True),
    )
    foreign_root = issue(
        "Unknown Root CA",
        make_key("ec256"),
        None,
        ca=True,
        not_before=CA_FROM,
        not_after=CA_UNTIL,
        usage=_usage(cert_sign=True),
    )
    return CaSet(
        root=root,
        intermediate=inter,
        rsa_intermediate=rsa_inter,
        rsa_leaf=leaf("Bakyt Signatory", rsa_inter, "rsa"),
        rsa_pss_leaf=leaf("Dana Signatory", rsa_inter, "rsa", pss=True),
        ec_leaf=ec_leaf,
        ec384_leaf=leaf("Erlan Signatory", inter, "ec384"),
        expired_leaf=leaf(
            "Old Signatory",
            inter,
            "ec256",
            not_before=datetime(2010, 1, 1, tzinfo=UTC),
            not_after=datetime(2015, 1, 1, tzinfo=UTC),
        ),
        future_leaf=leaf(
            "Future Signatory",
            inter,
            "ec256",
            not_before=datetime(2049, 1, 1, tzinfo=UTC),
            not_after=datetime(2049, 12, 31, tzinfo=UTC),
        ),
        no_usage_leaf=leaf("Encryption Only", inter, "ec256", usage=_usage(encipher=True)),
        not_ca=not_ca,
        not_ca_leaf=leaf("Sub Signatory", not_ca, "ec256"),
        foreign_root=foreign_root,
        foreign_leaf=leaf("Stranger Signatory", foreign_root, "ec256"),
    )
