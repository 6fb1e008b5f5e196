"""Device policy on the server (issue 8): versioned policies, one-time enrolment tokens,
enrolment, commands and the administrators' reads. Check-ins are in
``core/device_checkins.py``; the design is in ``docs/device-policy.md``.

Every administrative command is one transaction with its audit row. The policy decisions
(parsing, contradictions, evaluation) are pure functions of ``policy/device_*.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.device_checkins import CheckinAnswer, CheckinRequest, Checkins, PolicyCache
from tumar.core.directory import check, out_of_scope, who
from tumar.core.requester import Requester
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError, forbidden, not_found
from tumar.policy import device_policy as model
from tumar.policy.device_policy import DevicePolicy, PolicyDocError
from tumar.policy.device_schedule import any_active, next_change_all
from tumar.policy.roles import Actor, Permission
from tumar.store import accounts as account_store
from tumar.store import device_access as access_store
from tumar.store import devices as store
from tumar.store import directory as directory_store
from tumar.store.db import Database
from tumar.store.device_access import DeviceListRow
from tumar.store.devices import Command, EnrolmentToken, ManagedDevice, StoredPolicy

COMMAND_KINDS = ("sync_now", "lock_content", "wipe_content", "show_message")
QR_SCHEME = "tumar-enrol"
MAX_ATTESTATION_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 1000


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once; only its hash is stored
    user_id: str
    expires_ts: int
    qr_payload: str


@dataclass(frozen=True, slots=True)
class Enrolment:
    token: str
    public_key: str
    platform: str
    model: str
    os_version: str
    management_mode: str
    ownership: str
    attestation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Enrolled:
    device: ManagedDevice
    policy_bundle_version: str
    checkin_interval_ms: int


@dataclass(frozen=True, slots=True)
class Preview:
    policy: DevicePolicy
    at_ts: int
    in_hours: bool  # within working hours (the zones decide per device)
    next_change_ts: int | None


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    device: ManagedDevice
    org_code: str | None
    history: list[store.Checkin]
    commands: list[Command]
    violations: list[store.Violation]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def qr_payload(server_url: str, token: str) -> str:
    """The enrolment QR code's text: ``tumar-enrol:?server=<url>&token=<token>``."""
    return f"{QR_SCHEME}:?" + urlencode({"server": server_url, "token": token})


def bad_policy(field: str, reason: str) -> MatrixError:
    return MatrixError(400, "TUMAR_BAD_POLICY", f"{field}: {reason}", field=field)


def check_public_key(value: str) -> str:
    """A base64 Ed25519 public key (32 bytes), returned in standard padded base64."""
    try:
        raw = base64.b64decode(value, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise MatrixError(
            400, "M_INVALID_PARAM", "public_key must be a base64 Ed25519 public key (32 bytes)."
        ) from None
    return base64.b64encode(raw).decode()


class DeviceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        bus: Bus,
        notices: ServerNotices,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.policies = PolicyCache(db, clock)
        self.checkins = Checkins(db, clock, settings, self.policies, notices, bus)

    async def do_checkin(self, body: Mapping[str, Any], r: CheckinRequest) -> CheckinAnswer:
        """A device's signed check-in (``core/device_checkins.py``)."""
        return await self.checkins.do_checkin(body, r)

    # ---- scope ---------------------------------------------------------------------------------

    async def _audience_paths(self, conn: AsyncConnection, p: DevicePolicy) -> list[str] | None:
        """The organisation paths a policy concerns; None when it has no organisation or
        person in its audience (then only a deployment-wide officer manages it)."""
        codes = sorted({*p.audience.org_codes, *p.audience.exclude_org_codes})
        orgs = await directory_store.get_orgs(conn, codes)
        missing = [c for c in codes if c not in orgs]
        if missing:
            raise bad_policy("audience.org_codes", f"unknown organisations: {', '.join(missing)}")
        paths = [orgs[c].path for c in codes]
        for user_id in sorted(set(p.audience.people)):
            found = await store.person_org(conn, user_id)
            if found is None:
                if await account_store.get_user(conn, user_id) is None:
                    raise bad_policy("audience.people", f"{user_id} has no account here")
                return None  # an account outside the directory: deployment-wide only
            paths.append(found[1])
        return paths or None

    def _may_manage(self, actor: Actor, paths: Sequence[str] | None) -> None:
        if paths is None:
            if not actor.is_global(Permission.DEVICES_MANAGE):
                check(actor.may(Permission.DEVICES_MANAGE, ""))  # the readable refusal
            return
        for path in paths:
            check(actor.may(Permission.DEVICES_MANAGE, path))

    def _may_read(self, actor: Actor, paths: Sequence[str] | None) -> bool:
        if actor.is_global(Permission.DEVICES_MANAGE):
            return True
        return any(actor.may(Permission.DEVICES_MANAGE, p) for p in paths or ())

    async def _device_scope(self, conn: AsyncConnection, actor: Actor, d: ManagedDevice) -> str:
        found = await store.person_org(conn, d.user_id)
        if found is None:
            if not actor.is_global(Permission.DEVICES_MANAGE):
                raise out_of_scope("This device's owner is outside your administrative scope.")
            return ""
        check(actor.may(Permission.DEVICES_MANAGE, found[1]))
        return found[0]

    # ---- policies ------------------------------------------------------------------------------

    def parse(self, doc: Mapping[str, Any], policy_id: str, version: int) -> DevicePolicy:
        try:
            return model.parse_policy(doc, policy_id=policy_id, version=version)
        except PolicyDocError as exc:
            raise bad_policy(exc.field, exc.reason) from None

    async def list_policies(self, actor: Actor) -> list[StoredPolicy]:
        """The policies in force that concern the actor's scope."""
        actor_scopes = actor.scopes(Permission.DEVICES_MANAGE)
        if not actor_scopes:
            check(actor.may(Permission.DEVICES_MANAGE, ""))
        async with self._db.read() as conn:
            found = await store.current_policies(conn)
            result = []
            for sp in found:
                p = self.parse(sp.document, sp.policy_id, sp.version)
                try:
                    paths = await self._audience_paths(conn, p)
                except MatrixError:  # an organisation was deleted since: global officers only
                    paths = None
                if self._may_read(actor, paths):
                    result.append(sp)
        return result

    async def policy_versions(self, actor: Actor, policy_id: str) -> list[StoredPolicy]:
        """Every version of a policy, newest first (the newest decides the scope)."""
        async with self._db.read() as conn:
            versions = await store.policy_versions(conn, policy_id)
            if not versions:
                raise not_found(f"There is no device policy {policy_id}.")
            latest = versions[0]
            p = self.parse(latest.document, policy_id, latest.version)
            try:
                paths = await self._audience_paths(conn, p)
            except MatrixError:
                paths = None
        if not self._may_read(actor, paths):
            raise out_of_scope("This policy concerns organisations outside your scope.")
        return versions

    async def get_policy(self, actor: Actor, policy_id: str) -> StoredPolicy:
        return (await self.policy_versions(actor, policy_id))[0]

    async def _check_contradictions(
        self, conn: AsyncConnection, new: DevicePolicy, replacing: str | None
    ) -> None:
        """Refuse a policy that contradicts one in force (contradictions already there
        between other policies are not this change's fault and do not block it)."""
        others = []
        for sp in await store.current_policies(conn):
            if sp.policy_id != replacing:
                others.append(self.parse(sp.document, sp.policy_id, sp.version))
        everyone = [*others, new]
        codes = sorted(
            {c for p in everyone for c in (*p.audience.org_codes, *p.audience.exclude_org_codes)}
        )
        orgs = await directory_store.get_orgs(conn, codes)
        people_paths: dict[str, str] = {}
        for user_id in sorted({u for p in everyone for u in p.audience.people}):
            found = await store.person_org(conn, user_id)
            if found is not None:
                people_paths[user_id] = found[1]
        paths = {c: o.path for c, o in orgs.items()}
        before = set(model.contradictions(others, org_paths=paths, people_paths=people_paths))
        found_now = model.contradictions(everyone, org_paths=paths, people_paths=people_paths)
        new_ones = [c for c in found_now if c not in before]
        if new_ones:
            raise MatrixError(
                409,
                "TUMAR_POLICY_CONFLICT",
                "The policy contradicts policies in force: " + " ".join(new_ones),
                contradictions=new_ones,
            )

    async def do_create_policy(
        self, actor: Actor, doc: Mapping[str, Any], *, policy_id: str | None = None
    ) -> StoredPolicy:
        policy_id = policy_id or "dp_" + secrets.token_hex(6)
        p = self.parse(doc, policy_id, 1)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            if await store.latest_policy(conn, policy_id) is not None:
                raise MatrixError(
                    409, "TUMAR_POLICY_EXISTS", f"There is already a device policy {policy_id}."
                )
            self._may_manage(actor, await self._audience_paths(conn, p))
            await self._check_contradictions(conn, p, None)
            sp = StoredPolicy(
                policy_id, 1, p.name, model.policy_document(p), actor.user_id, now, None
            )
            await store.insert_policy(conn, sp)
            await audit.record(
                conn, who(actor), now, "device_policy.create", "device_policy", policy_id,
                org_code=(p.audience.org_codes or (None,))[0], after=sp.document,
            )  # fmt: skip
        self.policies.invalidate()
        return sp

    async def do_update_policy(
        self, actor: Actor, policy_id: str, doc: Mapping[str, Any]
    ) -> StoredPolicy:
        """A new version of a policy (the old versions stay, for the record)."""
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            old = await store.latest_policy(conn, policy_id)
            if old is None or old.retired_ts is not None:
                raise not_found(f"There is no device policy {policy_id} in force.")
            before = self.parse(old.document, policy_id, old.version)
            try:
                self._may_manage(actor, await self._audience_paths(conn, before))
            except MatrixError as exc:
                if exc.errcode != "TUMAR_BAD_POLICY":
                    raise
                self._may_manage(actor, None)  # its organisations are gone: global only
            p = self.parse(doc, policy_id, old.version + 1)
            self._may_manage(actor, await self._audience_paths(conn, p))
            await self._check_contradictions(conn, p, policy_id)
            sp = StoredPolicy(
                policy_id, p.version, p.name, model.policy_document(p), actor.user_id, now, None
            )
            await store.insert_policy(conn, sp)
            await audit.record(
                conn, who(actor), now, "device_policy.update", "device_policy", policy_id,
                org_code=(p.audience.org_codes or (None,))[0],
                before={"version": old.version, **old.document},
                after={"version": sp.version, **sp.document},
            )  # fmt: skip
        self.policies.invalidate()
        return sp

    async def do_retire_policy(self, actor: Actor, policy_id: str) -> StoredPolicy:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            old = await store.latest_policy(conn, policy_id)
            if old is None or old.retired_ts is not None:
                raise not_found(f"There is no device policy {policy_id} in force.")
            p = self.parse(old.document, policy_id, old.version)
            try:
                paths = await self._audience_paths(conn, p)
            except MatrixError:
                paths = None
            self._may_manage(actor, paths)
            await store.retire_policy(conn, policy_id, now)
            await audit.record(
                conn, who(actor), now, "device_policy.retire", "device_policy", policy_id,
                org_code=(p.audience.org_codes or (None,))[0], before={"version": old.version},
            )  # fmt: skip
        self.policies.invalidate()
        return StoredPolicy(
            old.policy_id, old.version, old.name, old.document, old.created_by,
            old.created_ts, now,
        )  # fmt: skip

    # ---- enrolment tokens ----------------------------------------------------------------------

    async def _issue(self, conn: AsyncConnection, issued_by: str, user_id: str) -> IssuedToken:
        now = self._clock.now_ms()
        token = secrets.token_urlsafe(24)
        expires = now + self._settings.devices_token_ttl_seconds * 1000
        await store.insert_token(
            conn, EnrolmentToken(token_hash(token), user_id, issued_by, now, expires, None, None)
        )
        url = self._settings.effective_public_baseurl
        return IssuedToken(token, user_id, expires, qr_payload(url, token))

    async def do_issue_token(self, actor: Actor, user_id: str) -> IssuedToken:
        """A one-time enrolment token for ``user_id``'s device, issued by a security officer."""
        async with self._db.write() as conn:
            user = await account_store.get_user(conn, user_id)
            if user is None or user.deactivated:
                raise not_found(f"There is no active account {user_id}.")
            found = await store.person_org(conn, user_id)
            self._may_manage(actor, [found[1]] if found else None)
            issued = await self._issue(conn, actor.user_id, user_id)
            await audit.record(
                conn, who(actor), self._clock.now_ms(), "device.token", "user", user_id,
                org_code=found[0] if found else None, after={"expires_ts": issued.expires_ts},
            )  # fmt: skip
        return issued

    async def do_issue_own_token(self, requester: Requester) -> IssuedToken:
        """Self-service: an official's token for their own device, when the setting allows."""
        if not self._settings.devices_self_service_tokens:
            raise forbidden("Enrolment tokens are issued by your security officer.")
        async with self._db.write() as conn:
            issued = await self._issue(conn, requester.user_id, requester.user_id)
            found = await store.person_org(conn, requester.user_id)
            await audit.record(
                conn, audit.Who(requester.user_id, requester.ip), self._clock.now_ms(),
                "device.token", "user", requester.user_id,
                org_code=found[0] if found else None, after={"expires_ts": issued.expires_ts},
            )  # fmt: skip
        return issued

    # ---- enrolment -----------------------------------------------------------------------------

    def _check_enrolment(self, e: Enrolment) -> Enrolment:
        for name, value, allowed in (
            ("platform", e.platform, model.PLATFORMS),
            ("management_mode", e.management_mode, model.MANAGEMENT_MODES),
            ("ownership", e.ownership, model.OWNERSHIPS),
        ):
            if value not in allowed:
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"{name} must be one of: {', '.join(allowed)}."
                )
        if len(orjson.dumps(dict(e.attestation))) > MAX_ATTESTATION_BYTES:
            raise MatrixError(413, "M_TOO_LARGE", "The attestation evidence is too large.")
        return e

    async def do_enrol(self, requester: Requester, e: Enrolment) -> Enrolled:
        """Enrol a device with a one-time token, bound to the requester's session."""
        self._check_enrolment(e)
        key = check_public_key(e.public_key)
        now = self._clock.now_ms()
        th = token_hash(e.token)
        device_id = "dv_" + secrets.token_hex(10)
        async with self._db.write() as conn:
            t = await store.get_token(conn, th)
            if t is None or t.used_ts is not None or t.expires_ts <= now:
                state = "unknown" if t is None else "used" if t.used_ts else "expired"
                raise MatrixError(
                    403, "TUMAR_BAD_ENROLMENT_TOKEN", f"The enrolment token is {state}."
                )
            if t.user_id != requester.user_id:
                raise MatrixError(
                    403,
                    "TUMAR_BAD_ENROLMENT_TOKEN",
                    "The enrolment token was issued for another account.",
                )
            if not await store.use_token(conn, th, now, device_id):
                raise MatrixError(403, "TUMAR_BAD_ENROLMENT_TOKEN", "The enrolment token is used.")
            # One device per session: a re-enrolment from the same session replaces the old.
            replaced = await store.device_for_session(conn, requester.user_id, requester.device_id)
            if replaced is not None:
                await store.retire_device(conn, replaced.device_id, now)
            d = ManagedDevice(
                device_id=device_id,
                user_id=requester.user_id,
                session_device_id=requester.device_id,
                public_key=key,
                platform=e.platform,
                model=e.model,
                os_version=e.os_version,
                management_mode=e.management_mode,
                ownership=e.ownership,
                attestation=dict(e.attestation),
                enrolled_ts=now,
                last_seq=0,
                last_checkin_ts=None,
                report=None,
                verdict="unknown",
                valid_until_ts=None,
                gated_labels=(),
                findings=(),
                prior=None,
                bundle_version=None,
                retired_ts=None,
            )
            await store.insert_device(conn, d)
            found = await store.person_org(conn, requester.user_id)
            await audit.record(
                conn, audit.Who(requester.user_id, requester.ip), now, "device.enrol",
                "device", device_id, org_code=found[0] if found else None,
                after={
                    "session": requester.device_id, "platform": e.platform, "model": e.model,
                    "os_version": e.os_version, "management_mode": e.management_mode,
                    "ownership": e.ownership,
                    "replaced": replaced.device_id if replaced else None,
                },
            )  # fmt: skip
        bundle = await self.policies.get()
        return Enrolled(d, bundle.version, self._settings.devices_checkin_interval_seconds * 1000)

    # ---- commands ------------------------------------------------------------------------------

    async def do_command(
        self, actor: Actor, device_id: str, kind: str, message: str | None = None
    ) -> Command:
        if kind not in COMMAND_KINDS:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"kind must be one of: {', '.join(COMMAND_KINDS)}."
            )
        payload: dict[str, Any] = {}
        if kind == "show_message":
            if not message or not message.strip() or len(message) > MAX_MESSAGE_CHARS:
                raise MatrixError(
                    400,
                    "M_INVALID_PARAM",
                    f"show_message needs a message of 1 to {MAX_MESSAGE_CHARS} characters.",
                )
            payload["message"] = message
        elif message is not None:
            raise MatrixError(400, "M_INVALID_PARAM", "Only show_message takes a message.")
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            d = await self._get_device(conn, device_id)
            org_code = await self._device_scope(conn, actor, d)
            if d.retired_ts is not None:
                raise MatrixError(409, "TUMAR_DEVICE_RETIRED", "The device is retired.")
            c = Command(
                "dc_" + secrets.token_hex(8), device_id, kind, payload, actor.user_id, now,
                None, None, None,
            )  # fmt: skip
            await store.insert_command(conn, c)
            await audit.record(
                conn, who(actor), now, "device.command", "device", device_id,
                org_code=org_code or None,
                after={"command_id": c.command_id, "kind": kind, **payload},
            )  # fmt: skip
        return c

    async def do_retire_device(self, actor: Actor, device_id: str) -> ManagedDevice:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            d = await self._get_device(conn, device_id)
            org_code = await self._device_scope(conn, actor, d)
            if not await store.retire_device(conn, device_id, now):
                raise MatrixError(409, "TUMAR_DEVICE_RETIRED", "The device is already retired.")
            open_v = await store.open_violation(conn, device_id)
            if open_v is not None:
                await store.close_violation(conn, open_v.violation_id, now)
            await audit.record(
                conn, who(actor), now, "device.retire", "device", device_id,
                org_code=org_code or None, before={"user_id": d.user_id, "verdict": d.verdict},
            )  # fmt: skip
            retired = await self._get_device(conn, device_id)
        return retired

    # ---- reads ---------------------------------------------------------------------------------

    async def _get_device(self, conn: AsyncConnection, device_id: str) -> ManagedDevice:
        d = await store.get_device(conn, device_id)
        if d is None:
            raise MatrixError(404, "TUMAR_DEVICE_UNKNOWN", f"There is no device {device_id}.")
        return d

    async def device_detail(self, actor: Actor, device_id: str) -> DeviceDetail:
        limit = self._settings.devices_history_kept
        async with self._db.read() as conn:
            d = await self._get_device(conn, device_id)
            org_code = await self._device_scope(conn, actor, d)
            return DeviceDetail(
                d,
                org_code or None,
                await store.checkin_history(conn, device_id, limit),
                await store.commands_of(conn, device_id, limit),
                await store.violations_of(conn, device_id, limit),
            )

    async def list_devices(
        self,
        actor: Actor,
        *,
        org_code: str | None = None,
        verdict: str | None = None,
        limit: int = 100,
    ) -> tuple[list[DeviceListRow], int]:
        """Enrolled devices in the actor's scope (verdicts as they stand now)."""
        scopes = actor.scopes(Permission.DEVICES_MANAGE)
        if not scopes:
            check(actor.may(Permission.DEVICES_MANAGE, ""))
        async with self._db.read() as conn:
            path = None
            if org_code is not None:
                org = await directory_store.get_org(conn, org_code)
                if org is None:
                    raise not_found(f"There is no organisation {org_code}.")
                check(actor.may(Permission.DEVICES_MANAGE, org.path))
                path = org.path
            return await access_store.list_devices(
                conn, scopes, now_ms=self._clock.now_ms(), org_path=path, verdict=verdict,
                limit=limit,
            )  # fmt: skip

    async def preview(self, actor: Actor, policy_id: str, at_ms: int) -> Preview:
        """Whether the policy's working hours are on at ``at_ms``, and the next change."""
        sp = await self.get_policy(actor, policy_id)
        p = self.parse(sp.document, sp.policy_id, sp.version)
        return Preview(
            p, at_ms, any_active(p.schedules, at_ms), next_change_all(p.schedules, at_ms)
        )

    async def my_devices(self, requester: Requester) -> list[ManagedDevice]:
        async with self._db.read() as conn:
            return await store.devices_of_user(conn, requester.user_id)
