"""Signing keys of signatories, trust anchors, and the signatures on letters.

- Ed25519 keys are created by tumar for a signatory; imported X.509 certificates come with
  their RSA or ECDSA private key (PEM) and are validated against the configured trust anchors
  (chain, validity, key usage) when imported and again at every signature: an expired
  certificate or one chaining to an unknown root is 400 ``TUMAR_CERTIFICATE_INVALID`` with the
  reason. Private keys are stored sealed (AES-256-GCM) under the data key ``letters.keys`` of
  the data keyring (``core/data_keys.py``), with the key id as associated data.
- At signing, every attachment is hashed (SHA-256) from the media store and the hash recorded;
  the signature covers the canonical form (``policy/letter_signing.py``).
- At registration the registry seals the letter with the organisation's own Ed25519 key (seed:
  the data key ``letters.seal.<org>``): a signature of stage ``registration`` that covers the
  outgoing number.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.correspondence_access import Context
from tumar.core.data_keys import DataKeyring
from tumar.core.directory import check, who
from tumar.core.media import original_key
from tumar.core.requester import Requester
from tumar.errors import MatrixError, not_found
from tumar.policy import letter_signing as signing
from tumar.policy.letter_signing import (
    AttachmentDigest,
    LetterContent,
    SignatureRecord,
    VerificationReport,
)
from tumar.policy.roles import PERMISSIONS, Actor, Permission, Role
from tumar.policy.x509_chain import info, load_certificate, load_certificates, validate_chain
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store.correspondence import Signature, SigningKey, TrustAnchor
from tumar.store.db import Database
from tumar.store.media_storage import MediaMissing, MediaStorage

KEYS_SCOPE = "letters.keys"
SEAL_SCOPE = "letters.seal."
MAX_PEM = 64 * 1024


def certificate_invalid(reason: str) -> MatrixError:
    return MatrixError(400, "TUMAR_CERTIFICATE_INVALID", reason)


@dataclass(frozen=True, slots=True)
class Hashed:
    sha256: str | None  # None: missing from the media store
    size: int


class SigningKeys:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        keyring: DataKeyring,
        media: MediaStorage,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._keyring = keyring
        self._media = media

    # ---- sealing private keys --------------------------------------------------------------

    async def _seal(self, conn: AsyncConnection, key_id: str, private: bytes) -> bytes:
        key = await self._keyring.key_for(conn, KEYS_SCOPE)
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(key).encrypt(nonce, private, key_id.encode())

    async def _unseal(self, conn: AsyncConnection, row: SigningKey) -> bytes:
        key = await self._keyring.key_for(conn, KEYS_SCOPE, create=False)
        sealed = row.sealed_private
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], row.key_id.encode())

    # ---- keys of signatories ---------------------------------------------------------------

    async def _check_signatory(self, conn: AsyncConnection, user_id: str) -> None:
        rows = await directory_store.grants_of(conn, user_id)
        if not any(
            r.role != Role.OPERATOR.value and Permission.LETTERS_SIGN in PERMISSIONS[Role(r.role)]
            for r in rows
        ):
            raise MatrixError(
                403, "M_FORBIDDEN", "Only a signatory may hold a key for signing letters."
            )

    async def list_keys(self, requester: Requester) -> list[SigningKey]:
        async with self._db.read() as conn:
            return await store.keys_of(conn, requester.user_id)

    async def do_create_ed25519(self, requester: Requester) -> SigningKey:
        private, public = signing.generate_ed25519()
        key_id = signing.ed25519_key_id(public)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            await self._check_signatory(conn, requester.user_id)
            row = SigningKey(
                key_id=key_id, user_id=requester.user_id, kind="ed25519", algorithm="ed25519",
                public_key=public, sealed_private=await self._seal(conn, key_id, private),
                certificate_pem=None, chain_pem=None, subject=None, issuer=None, serial=None,
                not_before_ts=None, not_after_ts=None, created_ts=now, revoked_ts=None,
            )  # fmt: skip
            await store.insert_key(conn, row)
            await audit.record(
                conn, audit.Who(requester.user_id, requester.ip), now, "letters.key.create",
                "signing_key", key_id, after={"kind": "ed25519"},
            )  # fmt: skip
        return row

    async def do_import_certificate(
        self,
        requester: Requester,
        certificate_pem: str,
        private_key_pem: str,
        chain_pem: str | None = None,
    ) -> SigningKey:
        if max(len(certificate_pem), len(private_key_pem), len(chain_pem or "")) > MAX_PEM:
            raise MatrixError(413, "M_TOO_LARGE", f"A PEM text may have at most {MAX_PEM} bytes.")
        try:
            cert = load_certificate(certificate_pem)
            intermediates = load_certificates(chain_pem) if chain_pem else []
        except ValueError as exc:
            raise certificate_invalid(str(exc)) from None
        try:
            private = signing.load_private_key(private_key_pem)
        except ValueError as exc:
            raise MatrixError(400, "M_INVALID_PARAM", str(exc)) from None
        matches = signing.key_matches_certificate(private, cert)
        if not matches:
            raise certificate_invalid(matches.reason)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            await self._check_signatory(conn, requester.user_id)
            await self._check_chain(conn, cert, intermediates, now)
            details = info(cert)
            key_id = signing.x509_key_id(cert)
            if await store.get_key(conn, key_id) is not None:
                raise MatrixError(409, "M_INVALID_PARAM", "This certificate is imported already.")
            der = private.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            row = SigningKey(
                key_id=key_id, user_id=requester.user_id, kind="x509",
                algorithm=signing.default_algorithm(private), public_key="",
                sealed_private=await self._seal(conn, key_id, der),
                certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                chain_pem="".join(
                    c.public_bytes(serialization.Encoding.PEM).decode() for c in intermediates
                ) or None,
                subject=details.subject, issuer=details.issuer, serial=details.serial,
                not_before_ts=int(details.not_before.timestamp() * 1000),
                not_after_ts=int(details.not_after.timestamp() * 1000),
                created_ts=now, revoked_ts=None,
            )  # fmt: skip
            await store.insert_key(conn, row)
            await audit.record(
                conn, audit.Who(requester.user_id, requester.ip), now, "letters.key.import",
                "signing_key", key_id,
                after={"kind": "x509", "subject": details.subject, "serial": details.serial},
            )  # fmt: skip
        return row

    async def _check_chain(
        self,
        conn: AsyncConnection,
        cert: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        now: int,
    ) -> None:
        anchors = [a.certificate_pem for a in await store.anchors(conn)]
        if not anchors:
            raise certificate_invalid("No trust anchors are configured; an operator adds them.")
        result = validate_chain(cert, list(intermediates), anchors, signing.from_ms(now))
        if not result.ok:
            raise certificate_invalid(" ".join(result.reasons) or "The chain is not valid.")

    async def do_revoke(self, requester: Requester, key_id: str) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            row = await store.get_key(conn, key_id)
            if row is None or row.user_id != requester.user_id:
                raise not_found(f"You have no signing key {key_id}.")
            if await store.revoke_key(conn, key_id, now):
                await audit.record(
                    conn, audit.Who(requester.user_id, requester.ip), now, "letters.key.revoke",
                    "signing_key", key_id,
                )  # fmt: skip

    # ---- trust anchors (operators) -----------------------------------------------------------

    async def list_anchors(self, actor: Actor) -> list[TrustAnchor]:
        check(actor.may(Permission.OPERATOR, ""))
        async with self._db.read() as conn:
            return await store.anchors(conn)

    async def do_add_anchor(self, actor: Actor, pem: str) -> TrustAnchor:
        check(actor.may(Permission.OPERATOR, ""))
        if len(pem) > MAX_PEM:
            raise MatrixError(413, "M_TOO_LARGE", f"A PEM text may have at most {MAX_PEM} bytes.")
        try:
            cert = load_certificate(pem)
        except ValueError as exc:
            raise certificate_invalid(str(exc)) from None
        details = info(cert)
        try:
            basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            basic = None
        if basic is None or not basic.ca:
            raise certificate_invalid(f"{details.subject} is not a CA certificate.")
        now = self._clock.now_ms()
        anchor = TrustAnchor(
            anchor_id=details.fingerprint,
            subject=details.subject,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            not_after_ts=int(details.not_after.timestamp() * 1000),
            added_by=actor.user_id,
            added_ts=now,
        )
        async with self._db.write() as conn:
            if await store.insert_anchor(conn, anchor):
                await audit.record(
                    conn, who(actor), now, "letters.anchor.add", "trust_anchor",
                    anchor.anchor_id, after={"subject": anchor.subject},
                )  # fmt: skip
        return anchor

    async def do_remove_anchor(self, actor: Actor, anchor_id: str) -> None:
        check(actor.may(Permission.OPERATOR, ""))
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            if not await store.delete_anchor(conn, anchor_id):
                raise not_found(f"There is no trust anchor {anchor_id}.")
            await audit.record(
                conn, who(actor), now, "letters.anchor.remove", "trust_anchor", anchor_id
            )

    # ---- attachments ---------------------------------------------------------------------------

    async def hash_media(self, mxc: str) -> Hashed:
        media_id = mxc.rsplit("/", 1)[-1]
        try:
            reader = await self._media.open(original_key(media_id))
        except MediaMissing:
            return Hashed(None, 0)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in reader.chunks():
                digest.update(chunk)
                size += len(chunk)
        except MediaMissing:  # a sealed file that fails its integrity check
            return Hashed(None, 0)
        finally:
            await reader.close()
        return Hashed(digest.hexdigest(), size)

    async def read_media(self, mxc: str, limit: int) -> bytes | None:
        media_id = mxc.rsplit("/", 1)[-1]
        try:
            return await self._media.read_all(original_key(media_id), limit)
        except MediaMissing:
            return None

    # ---- signing ----------------------------------------------------------------------------

    @staticmethod
    def content_of(ctx: Context, outgoing_number: str | None = None) -> LetterContent:
        letter = ctx.letter
        return LetterContent(
            letter_id=letter.letter_id,
            sender=letter.sender_org,
            recipients=tuple(r.org_code for r in ctx.recipients),
            subject=letter.subject,
            body=letter.body,
            label=letter.label,
            reply_to=letter.reply_to or "",
            attachments=tuple(
                AttachmentDigest(a.name, a.size, a.sha256 or "") for a in ctx.attachments
            ),
            outgoing_number=outgoing_number or letter.outgoing_number or "",
        )

    async def _pick_key(
        self, conn: AsyncConnection, user_id: str, key_id: str | None
    ) -> SigningKey:
        if key_id is not None:
            row = await store.get_key(conn, key_id)
            if row is None or row.user_id != user_id or row.revoked_ts is not None:
                raise MatrixError(
                    400, "TUMAR_NO_SIGNING_KEY", f"You have no usable signing key {key_id}."
                )
            return row
        usable = [k for k in await store.keys_of(conn, user_id) if k.revoked_ts is None]
        if not usable:
            raise MatrixError(
                400, "TUMAR_NO_SIGNING_KEY",
                "You have no signing key: create one (POST /signing-keys) or import a "
                "certificate first.",
            )  # fmt: skip
        return usable[0]

    async def sign_letter(
        self, conn: AsyncConnection, ctx: Context, user_id: str, key_id: str | None, now: int
    ) -> Signature:
        """Hash the attachments from the media store, record the hashes, and sign the
        canonical form with the signatory's key (in ``conn``'s transaction)."""
        row = await self._pick_key(conn, user_id, key_id)
        if row.kind == "x509":
            assert row.certificate_pem is not None
            cert = load_certificate(row.certificate_pem)
            chain = load_certificates(row.chain_pem) if row.chain_pem else []
            await self._check_chain(conn, cert, chain, now)
        hashed = []
        for a in ctx.attachments:
            h = await self.hash_media(a.mxc)
            if h.sha256 is None:
                raise MatrixError(
                    409, "TUMAR_LETTER_TRANSITION",
                    f"The attachment {a.name} is missing from the media store; it cannot be "
                    "signed.",
                )  # fmt: skip
            if h.size != a.size:
                raise MatrixError(
                    409, "TUMAR_LETTER_TRANSITION", f"The attachment {a.name} changed size."
                )
            await store.set_attachment_hash(conn, a.letter_id, a.position, h.sha256)
            hashed.append(h.sha256)
        content = replace(
            self.content_of(ctx),
            attachments=tuple(
                AttachmentDigest(a.name, a.size, h)
                for a, h in zip(ctx.attachments, hashed, strict=True)
            ),
        )
        data = signing.canonical_letter(
            content, stage="signature", date=signing.from_ms(now), signer=user_id,
            key_id=row.key_id,
        )  # fmt: skip
        private = await self._unseal(conn, row)
        if row.kind == "ed25519":
            algorithm, signature = "ed25519", signing.sign_ed25519(private, data)
        else:
            key = signing.load_private_key(private)
            algorithm, signature = signing.sign_with_key(key, data, row.algorithm)
        sig = Signature(
            letter_id=ctx.letter.letter_id, seq=len(ctx.signatures) + 1, stage="signature",
            signer=user_id, key_id=row.key_id, kind=row.kind, algorithm=algorithm,
            signature=signature, canonical_sha256=signing.sha256_hex(data), signed_ts=now,
            public_key=row.public_key, certificate_pem=row.certificate_pem,
            chain_pem=row.chain_pem,
        )  # fmt: skip
        await store.insert_signature(conn, sig)
        return sig

    async def seal_registration(
        self, conn: AsyncConnection, ctx: Context, clerk: str, number: str, now: int
    ) -> Signature:
        """The registry's seal: the organisation's Ed25519 key signs the letter with its
        outgoing number (stage ``registration``)."""
        seed = await self._keyring.key_for(conn, SEAL_SCOPE + ctx.letter.sender_org)
        public = signing.ed25519_public(seed)
        key_id = signing.ed25519_key_id(public)
        data = signing.canonical_letter(
            self.content_of(ctx, number), stage="registration", date=signing.from_ms(now),
            signer=clerk, key_id=key_id,
        )  # fmt: skip
        sig = Signature(
            letter_id=ctx.letter.letter_id, seq=len(ctx.signatures) + 1, stage="registration",
            signer=clerk, key_id=key_id, kind="ed25519", algorithm="ed25519",
            signature=signing.sign_ed25519(seed, data),
            canonical_sha256=signing.sha256_hex(data), signed_ts=now, public_key=public,
            certificate_pem=None, chain_pem=None,
        )  # fmt: skip
        await store.insert_signature(conn, sig)
        return sig

    # ---- verification ---------------------------------------------------------------------

    async def verify(self, conn: AsyncConnection, ctx: Context) -> VerificationReport:
        """Check the letter as stored now against its signatures, and each attachment as
        found in the media store now against its recorded hash."""
        records = [
            SignatureRecord(
                signer=s.signer,
                key_id=s.key_id,
                kind="x509" if s.kind == "x509" else "ed25519",
                algorithm=s.algorithm,
                signature=s.signature,
                signed_at=signing.from_ms(s.signed_ts),
                stage="registration" if s.stage == "registration" else "signature",
                public_key=s.public_key,
                certificate_pem=s.certificate_pem or "",
                chain_pem=s.chain_pem or "",
                canonical_sha256=s.canonical_sha256,
            )
            for s in ctx.signatures
        ]
        actual = [(await self.hash_media(a.mxc)).sha256 for a in ctx.attachments]
        anchors = [a.certificate_pem for a in await store.anchors(conn)]
        return signing.verify_letter(
            self.content_of(ctx),
            records,
            actual_sha256=actual,
            anchors=anchors,
            checked_at=signing.from_ms(self._clock.now_ms()),
            require_registration=ctx.letter.outgoing_number is not None,
        )
