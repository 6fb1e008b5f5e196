"""End-to-end encryption keys: upload, query, claim, changes, cross-signing and signatures.

The server stores what clients upload and hands it out; it never decrypts. What it checks is
that an upload is well formed, that it does not replace a device's identity keys (a new
identity is a new device), and that cross-signing keys and signatures were made by the keys
they name. Every change that other users must hear about takes a stream position (a
device-list change) and rings the doorbell of everyone who shares a room with the owner.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.device_lists import DeviceListDelta, changes_between, record_change
from tumar.core.requester import Requester
from tumar.errors import AuthRequired, MatrixError, forbidden, invalid_param
from tumar.ids import UserId
from tumar.policy.signatures import decode_unpadded_base64, verify_signed_json
from tumar.store import accounts as account_store
from tumar.store import e2e_keys as key_store
from tumar.store.db import Database
from tumar.store.e2e_keys import CrossSigningKey, FallbackKey, OneTimeKey, Signature

MAX_ONE_TIME_KEYS = 1_000
"""Unclaimed one-time keys a device may hold per algorithm (clients keep about 50)."""
OTK_COUNT_DEFAULTS = {"signed_curve25519": 0, "curve25519": 0}
"""Counts always reported, even at zero: some clients (matrix-nio) read both unconditionally."""
CROSS_SIGNING_TYPES = ("master", "self_signing", "user_signing")
QUERY_CHUNK = 500
"""Users per statement when reading keys (SQLite limits the parameters of one statement)."""


@dataclass(frozen=True, slots=True)
class CrossSigningUpload:
    master: Mapping[str, Any] | None = None
    self_signing: Mapping[str, Any] | None = None
    user_signing: Mapping[str, Any] | None = None

    def items(self) -> list[tuple[str, Mapping[str, Any]]]:
        keys = (self.master, self.self_signing, self.user_signing)
        pairs = zip(CROSS_SIGNING_TYPES, keys, strict=True)
        return [(kind, key) for kind, key in pairs if key is not None]


def _split_key_id(name: str, what: str) -> tuple[str, str]:
    algorithm, sep, key_id = name.partition(":")
    if not sep or not algorithm or not key_id or len(name) > 255:
        raise invalid_param(f"{what} {name[:60]!r} is not of the form <algorithm>:<key id>.")
    return algorithm, key_id


def _check_key_object(name: str, value: object, what: str) -> Mapping[str, Any] | str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("key"), str):
        sigs = value.get("signatures", {})
        if not isinstance(sigs, dict):
            raise invalid_param(f"{what} {name[:60]!r}: `signatures` must be an object.")
        return value
    raise invalid_param(f"{what} {name[:60]!r} must be a key string or an object with `key`.")


def _without_signatures(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def _merge_signature(obj: dict[str, Any], user_id: str, key_id: str, signature: str) -> None:
    sigs = obj.setdefault("signatures", {})
    if isinstance(sigs, dict):
        by_user = sigs.setdefault(user_id, {})
        if isinstance(by_user, dict):
            by_user[key_id] = signature


def _cross_signing_key(user_id: str, kind: str, obj: Mapping[str, Any]) -> CrossSigningKey:
    what = f"The {kind.replace('_', '-')} key"
    if obj.get("user_id") != user_id:
        raise invalid_param(f"{what} must have user_id {user_id}.")
    usage = obj.get("usage")
    if not isinstance(usage, list) or kind not in usage:
        raise invalid_param(f"{what} must list {kind!r} in `usage`.")
    keys = obj.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise invalid_param(f"{what} must have exactly one public key in `keys`.")
    ((name, public_key),) = keys.items()
    algorithm, key_name = _split_key_id(name, f"{what} id")
    if algorithm != "ed25519" or key_name != public_key or not isinstance(public_key, str):
        raise invalid_param(f"{what} must be `ed25519:<public key>` mapped to the same key.")
    try:
        if len(decode_unpadded_base64(public_key)) != 32:
            raise ValueError("length")
    except ValueError:
        raise invalid_param(f"{what} is not a base64 Ed25519 public key.") from None
    if "signatures" in obj and not isinstance(obj["signatures"], dict):
        raise invalid_param(f"{what}: `signatures` must be an object.")
    return CrossSigningKey(user_id, kind, public_key, dict(obj))


class KeyService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._server_name = settings.server_name

    def _local(self, user_id: str) -> bool:
        return UserId.parse(user_id).server_name == self._server_name

    # ---- /keys/upload -------------------------------------------------------------------

    async def do_upload(
        self,
        requester: Requester,
        device_keys: Mapping[str, Any] | None,
        one_time_keys: Mapping[str, object],
        fallback_keys: Mapping[str, object],
    ) -> dict[str, int]:
        """Store the device's identity keys, one-time keys and fallback keys, all or nothing.
        Returns the unclaimed one-time key counts per algorithm."""
        user, device = requester.user_id, requester.device_id
        if device_keys is not None:
            self._check_device_keys(requester, device_keys)
        otks: list[OneTimeKey] = []
        for name, value in one_time_keys.items():
            algorithm, key_id = _split_key_id(name, "One-time key id")
            otks.append(
                OneTimeKey(algorithm, key_id, _check_key_object(name, value, "One-time key"))
            )
        fallbacks: dict[str, FallbackKey] = {}
        for name, value in fallback_keys.items():
            algorithm, key_id = _split_key_id(name, "Fallback key id")
            if algorithm in fallbacks:
                raise invalid_param(f"Only one fallback key per algorithm ({algorithm}).")
            value = _check_key_object(name, value, "Fallback key")
            fallbacks[algorithm] = FallbackKey(algorithm, key_id, value, used=False)
        bell: Doorbell | None = None
        async with self._db.write() as conn:
            await self._db.lock_user(conn, user)  # concurrent uploads of one user, one by one
            if device_keys is not None:
                stored = await key_store.get_device_keys(conn, user, device)
                if stored is not None and stored.get("keys") != device_keys.get("keys"):
                    raise invalid_param(
                        f"Device {device} already has different identity keys, and they cannot "
                        "be replaced; log in again as a new device to use new keys."
                    )
                if stored != device_keys:
                    await key_store.put_device_keys(
                        conn, user, device, device_keys, self._clock.now_ms()
                    )
                    bell = await record_change(self._db, conn, user)
            await self._store_one_time_keys(conn, user, device, otks)
            if fallbacks:
                current = await key_store.get_fallback_keys(conn, user, device)
                for algorithm, fallback in fallbacks.items():
                    old = current.get(algorithm)
                    if old is not None and (old.key_id, old.key) == (fallback.key_id, fallback.key):
                        continue  # the same key again: keep whether it was used
                    await key_store.put_fallback_key(conn, user, device, fallback)
            counts = await key_store.one_time_key_counts(conn, user, device)
        if bell is not None:
            await self._bus.publish(bell)
        return {**OTK_COUNT_DEFAULTS, **counts}

    def _check_device_keys(self, requester: Requester, keys: Mapping[str, Any]) -> None:
        if keys.get("user_id") != requester.user_id or keys.get("device_id") != requester.device_id:
            raise invalid_param(
                "device_keys must have the user_id and device_id of the access token "
                f"({requester.user_id}, {requester.device_id})."
            )
        identity = keys.get("keys")
        if not isinstance(identity, dict) or not identity:
            raise invalid_param("device_keys.keys must name at least one public key.")
        for name in identity:
            _split_key_id(name, "Device key id")

    async def _store_one_time_keys(
        self, conn: Any, user: str, device: str, keys: list[OneTimeKey]
    ) -> None:
        if not keys:
            return
        existing = await key_store.get_one_time_keys(
            conn, user, device, [(k.algorithm, k.key_id) for k in keys]
        )
        new: list[OneTimeKey] = []
        for key in keys:
            old = existing.get((key.algorithm, key.key_id))
            if old is None:
                new.append(key)
            elif old != key.key:
                raise invalid_param(
                    f"One-time key {key.algorithm}:{key.key_id} was already uploaded with "
                    "different content."
                )
        counts = await key_store.one_time_key_counts(conn, user, device)
        for algorithm in {k.algorithm for k in new}:
            total = counts.get(algorithm, 0) + sum(1 for k in new if k.algorithm == algorithm)
            if total > MAX_ONE_TIME_KEYS:
                raise invalid_param(
                    f"A device may hold at most {MAX_ONE_TIME_KEYS} unclaimed one-time keys "
                    f"of one algorithm ({algorithm})."
                )
        await key_store.insert_one_time_keys(conn, user, device, new, self._clock.now_ms())

    # ---- /keys/query ------------------------------------------------------------------------

    async def query(self, requester: Requester, wanted: Mapping[str, list[str]]) -> dict[str, Any]:
        users = [u for u in wanted if self._local(u)]
        device_keys: dict[str, dict[str, Any]] = {}
        masters: dict[str, Any] = {}
        self_signing: dict[str, Any] = {}
        user_signing: dict[str, Any] = {}
        found: dict[str, dict[str, dict[str, Any]]] = {}
        names: dict[tuple[str, str], str | None] = {}
        cross: dict[str, dict[str, CrossSigningKey]] = {}
        signatures: list[Signature] = []
        async with self._db.read() as conn:
            for start in range(0, len(users), QUERY_CHUNK):
                chunk = users[start : start + QUERY_CHUNK]
                found.update(await key_store.device_keys_of(conn, chunk))
                names.update(await key_store.device_names(conn, chunk))
                cross.update(await key_store.cross_signing_keys_of(conn, chunk))
                signatures += await key_store.signatures_on(conn, chunk)
        extra: dict[tuple[str, str], list[Signature]] = {}
        for sig in signatures:
            # Signatures by the owner are public; another user's signature (their user-signing
            # key on this user's master key) is shown only to that user.
            if sig.signer_user_id in (sig.target_user_id, requester.user_id):
                extra.setdefault((sig.target_user_id, sig.target_key_id), []).append(sig)
        for user in users:
            devices = wanted[user]
            out: dict[str, Any] = {}
            for device_id, keys in found.get(user, {}).items():
                if devices and device_id not in devices:
                    continue
                keys = dict(keys)
                for sig in extra.get((user, device_id), []):
                    _merge_signature(keys, sig.signer_user_id, sig.signer_key_id, sig.signature)
                name = names.get((user, device_id))
                keys["unsigned"] = {"device_display_name": name} if name is not None else {}
                out[device_id] = keys
            device_keys[user] = out
            for kind, key in cross.get(user, {}).items():
                obj = dict(key.key)
                for sig in extra.get((user, key.public_key), []):
                    _merge_signature(obj, sig.signer_user_id, sig.signer_key_id, sig.signature)
                if kind == "master":
                    masters[user] = obj
                elif kind == "self_signing":
                    self_signing[user] = obj
                elif kind == "user_signing" and user == requester.user_id:
                    user_signing[user] = obj
        return {
            "device_keys": device_keys,
            "master_keys": masters,
            "self_signing_keys": self_signing,
            "user_signing_keys": user_signing,
            "failures": {},
        }

    # ---- /keys/claim ------------------------------------------------------------------------

    async def do_claim(
        self, requester: Requester, wanted: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Any]:
        """One key per (user, device, algorithm): the oldest one-time key, else the fallback
        key (marked used). Unknown users and devices are left out, as the spec says."""
        claimed: dict[str, dict[str, dict[str, Any]]] = {}
        async with self._db.write() as conn:
            for user, devices in wanted.items():
                if not self._local(user):
                    continue
                for device, algorithm in devices.items():
                    key = await key_store.claim_one_time_key(conn, user, device, algorithm)
                    if key is not None:
                        found = {f"{algorithm}:{key.key_id}": key.key}
                    else:
                        fallback = (await key_store.get_fallback_keys(conn, user, device)).get(
                            algorithm
                        )
                        if fallback is None:
                            continue
                        if not fallback.used:
                            await key_store.mark_fallback_key_used(conn, user, device, algorithm)
                        found = {f"{algorithm}:{fallback.key_id}": fallback.key}
                    claimed.setdefault(user, {})[device] = found
        return {"one_time_keys": claimed, "failures": {}}

    # ---- /keys/changes ----------------------------------------------------------------------

    async def changes(self, requester: Requester, after: int, upto: int) -> DeviceListDelta:
        async with self._db.read() as conn:
            upto = min(upto, await self._db.current_position(conn))
            if upto <= after:
                return DeviceListDelta([], [])
            return await changes_between(conn, requester.user_id, after, upto)

    # ---- cross-signing ------------------------------------------------------------------------

    async def cross_signing_needs_auth(
        self, requester: Requester, upload: CrossSigningUpload
    ) -> bool:
        """User-interactive auth is needed unless the user has no master key yet, or the upload
        repeats exactly the keys already stored (a retry)."""
        async with self._db.read() as conn:
            current = (await key_store.cross_signing_keys_of(conn, [requester.user_id])).get(
                requester.user_id, {}
            )
        return self._needs_auth(current, upload)

    @staticmethod
    def _needs_auth(current: Mapping[str, CrossSigningKey], upload: CrossSigningUpload) -> bool:
        if "master" not in current:
            return False
        return any(
            kind not in current or dict(current[kind].key) != dict(obj)
            for kind, obj in upload.items()
        )

    async def do_upload_cross_signing(
        self, requester: Requester, upload: CrossSigningUpload, *, authenticated: bool
    ) -> None:
        user = requester.user_id
        parsed = [_cross_signing_key(user, kind, obj) for kind, obj in upload.items()]
        async with self._db.write() as conn:
            await self._db.lock_user(conn, user)
            current = (await key_store.cross_signing_keys_of(conn, [user])).get(user, {})
            if not authenticated and self._needs_auth(current, upload):
                # Checked again inside the transaction: the keys may have changed meanwhile.
                raise AuthRequired([["m.login.password"]], secrets.token_urlsafe(12))
            master = next((k for k in parsed if k.key_type == "master"), None) or current.get(
                "master"
            )
            if master is None:
                raise MatrixError(400, "M_MISSING_PARAM", "No master signing key is available.")
            devices = {d.device_id for d in await account_store.list_devices(conn, user)}
            for key in parsed:
                if key.public_key in devices:
                    raise forbidden("A cross-signing public key may not equal a device id.")
                if key.key_type != "master":
                    verdict = verify_signed_json(
                        key.key, user, f"ed25519:{master.public_key}", master.public_key
                    )
                    if not verdict:
                        raise MatrixError(
                            400,
                            "M_INVALID_SIGNATURE",
                            f"The {key.key_type.replace('_', '-')} key must be signed by the "
                            f"master key: {verdict.reason}",
                        )
            changed = [k for k in parsed if k.key_type not in current or current[k.key_type] != k]
            now = self._clock.now_ms()
            for key in changed:
                await key_store.put_cross_signing_key(conn, key, now)
            bell = await record_change(self._db, conn, user) if changed else None
        if bell is not None:
            await self._bus.publish(bell)

    async def do_upload_signatures(
        self, requester: Requester, signed: Mapping[str, Mapping[str, Mapping[str, Any]]]
    ) -> dict[str, dict[str, dict[str, str]]]:
        """Store the requester's new signatures on their own devices and master key, and on
        other users' master keys. Each object that fails is reported in ``failures``; the
        others are stored."""
        me = requester.user_id
        failures: dict[str, dict[str, dict[str, str]]] = {}
        bells: list[Doorbell] = []

        def fail(user: str, key_id: str, errcode: str, error: str) -> None:
            failures.setdefault(user, {})[key_id] = {"errcode": errcode, "error": error}

        async with self._db.write() as conn:
            await self._db.lock_user(conn, me)
            users = [u for u in signed if self._local(u)]
            cross = await key_store.cross_signing_keys_of(conn, sorted({*users, me}))
            mine = cross.get(me, {})
            changed_users: set[str] = set()
            for target_user, objects in signed.items():
                if target_user not in users:
                    for key_id in objects:
                        fail(target_user, key_id, "M_NOT_FOUND", "Unknown user.")
                    continue
                for key_id, obj in objects.items():
                    result = await self._check_signed_object(
                        conn, me, mine, target_user, cross.get(target_user, {}), key_id, obj
                    )
                    if isinstance(result, tuple):
                        fail(target_user, key_id, *result)
                        continue
                    for sig in result:
                        await key_store.put_signature(conn, sig)
                    changed_users.add(target_user)
            for user in sorted(changed_users):
                bells.append(await record_change(self._db, conn, user))
        for bell in bells:
            await self._bus.publish(bell)
        return failures

    async def _check_signed_object(
        self,
        conn: Any,
        me: str,
        mine: Mapping[str, CrossSigningKey],
        target_user: str,
        theirs: Mapping[str, CrossSigningKey],
        key_id: str,
        obj: Mapping[str, Any],
    ) -> list[Signature] | tuple[str, str]:
        """The valid new signatures by ``me`` on one object, or (errcode, error)."""
        stored: Mapping[str, Any] | None = None
        signers: dict[str, str] = {}  # signing key id -> public key allowed to sign this object
        master = theirs.get("master")
        if master is not None and key_id == master.public_key:
            stored = master.key
            if target_user == me:
                own_devices = await key_store.device_keys_of(conn, [me])
                for keys in own_devices.get(me, {}).values():
                    for name, value in (keys.get("keys") or {}).items():
                        if name.startswith("ed25519:") and isinstance(value, str):
                            signers[name] = value
            elif "user_signing" in mine:
                usk = mine["user_signing"].public_key
                signers[f"ed25519:{usk}"] = usk
        elif target_user == me:
            stored = await key_store.get_device_keys(conn, me, key_id)
            if stored is not None and "self_signing" in mine:
                ssk = mine["self_signing"].public_key
                signers[f"ed25519:{ssk}"] = ssk
        if stored is None:
            return ("M_NOT_FOUND", f"No key {key_id!r} of {target_user} to sign.")
        if _without_signatures(stored) != _without_signatures(obj):
            return ("M_INVALID_PARAM", "The signed object differs from the stored key.")
        if not signers:
            return ("M_MISSING_PARAM", "You have no key that may sign this object.")
        mine_sigs = (obj.get("signatures") or {}).get(me)
        if not isinstance(mine_sigs, dict) or not mine_sigs:
            return ("M_INVALID_SIGNATURE", f"The object carries no signature by {me}.")
        out: list[Signature] = []
        for signer_key_id, signature in mine_sigs.items():
            public_key = signers.get(signer_key_id)
            if public_key is None or not isinstance(signature, str):
                continue  # a signature that was already there (or by a key we do not know)
            verdict = verify_signed_json(obj, me, signer_key_id, public_key)
            if not verdict:
                return ("M_INVALID_SIGNATURE", verdict.reason)
            out.append(Signature(target_user, key_id, me, signer_key_id, signature))
        if not out:
            return ("M_INVALID_SIGNATURE", "No signature by a key that may sign this object.")
        return out
