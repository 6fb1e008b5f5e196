"""Device check-ins (issue 8): a signed, sequence-numbered report of a device's state and
location evidence, evaluated against the policies in force with the server's clock.

A check-in is refused, changing nothing, when the device is unknown or retired, the signature
does not verify, the sequence number is not above the last one accepted, or ``sent_ts`` is too
far from the server's clock. Otherwise one transaction stores the verdict on the device row,
adds a history row, records acknowledgements, marks pending commands delivered and opens or
closes the device's violation; after it the security officers hear of an opened violation
through their server-notices room, and the owner's syncs are woken when access changed.
Check-ins arriving together share that transaction (group commit, ``core/group_commit.py``):
each is still refused or accepted on its own, but the fixed cost of a write is paid once per
batch.

The wire protocol is in ``docs/device-policy.md`` ("Enrolment and check-ins").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.bus.base import Bus, Doorbell
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.group_commit import GroupCommit
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError
from tumar.policy import device_eval as ev
from tumar.policy import device_policy as model
from tumar.policy.device_policy import DevicePolicy
from tumar.store import device_checkins as checkin_store
from tumar.store import devices as store
from tumar.store import directory as directory_store
from tumar.store.db import Database
from tumar.store.devices import CheckinUpdate, Command, ManagedDevice, Violation

log = logging.getLogger(__name__)
SYSTEM = audit.Who("system:devices")
MAX_ACKS = 100
MIN_NEXT_CHECKIN_MS = 5_000


def _plain(value: Any) -> Any:
    """Integral floats as integers, so that every JSON writer spells a number the same way."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def signing_bytes(body: Mapping[str, Any]) -> bytes:
    """What a check-in's signature covers: canonical JSON (sorted keys, no whitespace, UTF-8,
    integral numbers without a fraction) of the body without ``signature``."""
    payload = _plain({k: v for k, v in body.items() if k != "signature"})
    return json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode()


@lru_cache(maxsize=65_536)
def _public_key(encoded: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded))


def verify_signature(public_key: str, body: Mapping[str, Any], signature: str) -> bool:
    try:
        raw = base64.b64decode(signature + "=" * (-len(signature) % 4), validate=True)
        _public_key(public_key).verify(raw, signing_bytes(body))
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


# ---- the policies in force ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """The parsed policies in force, the paths of the organisations they name, and the bundle
    version (changes whenever any policy does)."""

    version: str
    policies: tuple[DevicePolicy, ...]
    org_paths: Mapping[str, str]


class PolicyCache:
    """Parsed policies, re-read after ``ttl`` seconds (other nodes' changes) or at once after
    a change on this node.

    One load at a time: when the cache expires under many concurrent requests, one of them
    reads and the others wait for its result, instead of each taking a pool connection. A
    caller that already holds a connection passes it, so the load never waits for a second
    connection while holding one (which could exhaust the pool)."""

    def __init__(self, db: Database, clock: Clock, ttl: float = 5.0) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._bundle: Bundle | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._bundle = None

    def _fresh(self) -> Bundle | None:
        if self._bundle is None or self._clock.monotonic() - self._loaded > self._ttl:
            return None
        return self._bundle

    async def get(self, conn: AsyncConnection | None = None) -> Bundle:
        bundle = self._fresh()
        if bundle is not None:
            return bundle
        async with self._lock:
            bundle = self._fresh()  # loaded by the request we waited for
            if bundle is None:
                started = self._clock.monotonic()
                if conn is not None:
                    bundle = await _load(conn)
                else:
                    async with self._db.read() as own:
                        bundle = await _load(own)
                self._bundle, self._loaded = bundle, started
            return bundle


async def _load(conn: AsyncConnection) -> Bundle:
    stored = await store.current_policies(conn)
    policies = []
    for sp in stored:
        try:
            policies.append(
                model.parse_policy(sp.document, policy_id=sp.policy_id, version=sp.version)
            )
        except model.PolicyDocError:  # stored by an older version: skip, loudly
            log.error("device policy %s v%s no longer parses", sp.policy_id, sp.version)
    codes = sorted(
        {c for p in policies for c in (*p.audience.org_codes, *p.audience.exclude_org_codes)}
    )
    orgs = await directory_store.get_orgs(conn, codes)
    ids = ",".join(f"{p.policy_id}:{p.version}" for p in policies)
    version = hashlib.sha256(ids.encode()).hexdigest()[:16]
    return Bundle(version, tuple(policies), {c: o.path for c, o in orgs.items()})


# ---- check-ins ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixIn:
    lat: float
    lon: float
    accuracy_m: float
    ts: int


@dataclass(frozen=True, slots=True)
class CheckinRequest:
    device_id: str
    seq: int
    sent_ts: int
    platform: str
    os_version: str
    restricted: frozenset[str]
    rooted: bool | None
    screen_lock: bool | None
    encrypted: bool | None
    fix: FixIn | None
    networks: frozenset[str]
    acks: tuple[tuple[str, str], ...]  # (command_id, result)
    signature: str
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class CheckinAnswer:
    device_id: str
    verdict: str
    findings: list[dict[str, Any]]
    required_restrictions: list[str]
    valid_until_ts: int
    policy_bundle_version: str
    next_checkin_ms: int
    commands: list[Command]
    server_ts: int
    grace_until_ts: int | None


def prior_from(data: Mapping[str, Any] | None) -> ev.PriorState | None:
    return ev.PriorState.from_json(data) if data else None


def report_json(r: CheckinRequest) -> dict[str, Any]:
    return {
        "sent_ts": r.sent_ts,
        "state": {
            "platform": r.platform,
            "os_version": r.os_version,
            "restricted": sorted(r.restricted),
            "security": {
                "rooted": r.rooted,
                "screen_lock": r.screen_lock,
                "encrypted": r.encrypted,
            },
        },
        "evidence": {
            "fix": (
                {"lat": r.fix.lat, "lon": r.fix.lon, "accuracy_m": r.fix.accuracy_m, "ts": r.fix.ts}
                if r.fix
                else None
            ),
            "networks": sorted(r.networks),
        },
        "acks": [{"command_id": c, "result": res} for c, res in r.acks],
        "client_ip": r.client_ip,
    }


VerdictHook = Callable[[ManagedDevice], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Submitted:
    body: Mapping[str, Any]
    request: CheckinRequest


@dataclass(frozen=True, slots=True)
class _Done:
    """An accepted check-in of a batch: what it read, what it writes, what it answers."""

    device: ManagedDevice
    org: tuple[str, str] | None
    request: CheckinRequest
    update: CheckinUpdate
    opened: Violation | None
    closed: str | None
    answer: CheckinAnswer


class Checkins:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        policies: PolicyCache,
        notices: ServerNotices,
        bus: Bus,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._policies = policies
        self._notices = notices
        self._bus = bus
        self._batches: GroupCommit[_Submitted, _Done] = GroupCommit(
            self._run_batch, key=lambda item: item.request.device_id
        )
        self.on_access_change: list[VerdictHook] = []
        """Called after a check-in changed a device's verdict, validity or gated labels (the
        owner's syncs are woken through the bus as well)."""

    def _check_request(self, r: CheckinRequest) -> None:
        """What needs no database: the device's clock, the number of acknowledgements, no NUL
        in the texts stored as they are."""
        skew = self._settings.devices_max_clock_skew_seconds * 1000
        if abs(r.sent_ts - self._clock.now_ms()) > skew:
            raise MatrixError(
                400,
                "TUMAR_CLOCK_SKEW",
                "sent_ts is too far from the server's clock: check the device's time.",
                server_ts=self._clock.now_ms(),
            )
        if len(r.acks) > MAX_ACKS:
            raise MatrixError(400, "M_INVALID_PARAM", f"At most {MAX_ACKS} acknowledgements.")
        # The texts stored as they are (the rest is stored as JSON, escaped). The database
        # layer refuses U+0000 too, but only for a whole batch of check-ins at once.
        texts = (r.device_id, r.os_version, *(t for ack in r.acks for t in ack))
        if any("\x00" in t for t in texts):
            raise MatrixError(400, "M_INVALID_PARAM", "Text must not contain NUL (U+0000).")

    def _refuse(
        self, d: ManagedDevice | None, r: CheckinRequest, body: Mapping[str, Any]
    ) -> ManagedDevice:
        if d is None or d.retired_ts is not None:
            raise MatrixError(
                404, "TUMAR_DEVICE_UNKNOWN", "This device is not enrolled (or was retired)."
            )
        if not verify_signature(d.public_key, body, r.signature):
            raise MatrixError(
                401, "TUMAR_BAD_SIGNATURE", "The check-in's signature does not verify."
            )
        if r.seq <= d.last_seq:
            raise MatrixError(
                409,
                "TUMAR_REPLAYED_SEQUENCE",
                f"Sequence number {r.seq} is not above the last accepted ({d.last_seq}).",
                last_seq=d.last_seq,
            )
        if r.platform != d.platform:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"The device enrolled as {d.platform}, not {r.platform}."
            )
        return d

    def _evaluate(
        self,
        d: ManagedDevice,
        org: tuple[str, str] | None,
        r: CheckinRequest,
        now: int,
        bundle: Bundle,
    ) -> tuple[ev.Evaluation, list[DevicePolicy]]:
        person = model.Person(d.user_id, org[1] if org else "", org[0] if org else "")
        applicable = [
            p for p in bundle.policies if model.applies_to(p, person, now, bundle.org_paths)
        ]
        facts = ev.DeviceFacts(
            platform=r.platform,
            os_version=r.os_version,
            management_mode=d.management_mode,
            ownership=d.ownership,
            restricted=r.restricted,
            security=ev.Security(rooted=r.rooted, screen_lock=r.screen_lock, encrypted=r.encrypted),
        )
        fix = ev.Fix(r.fix.lat, r.fix.lon, r.fix.accuracy_m, r.fix.ts) if r.fix else None
        evidence = ev.Evidence(fix=fix, networks=r.networks, client_ip=r.client_ip)
        return ev.evaluate(applicable, facts, evidence, now, prior_from(d.prior)), applicable

    def _next_checkin_ms(
        self, e: ev.Evaluation, applicable: Sequence[DevicePolicy], now: int
    ) -> int:
        seconds = min(
            (p.checkin_interval_seconds for p in applicable),
            default=self._settings.devices_checkin_interval_seconds,
        )
        wait = seconds * 1000
        for ts in (e.next_change_ts, e.grace_until_ts):
            if ts is not None and ts > now:
                wait = min(wait, ts - now)
        return max(wait, MIN_NEXT_CHECKIN_MS)

    async def do_checkin(self, body: Mapping[str, Any], r: CheckinRequest) -> CheckinAnswer:
        """A device's check-in, written together with the check-ins that arrive meanwhile
        (:mod:`tumar.core.group_commit`): one transaction per batch, in which each check-in
        is refused (changing nothing) or evaluated and stored as if alone."""
        self._check_request(r)
        done = await self._batches.submit(_Submitted(body, r))
        await self._after(done.device, done.update, done.opened, done.org)
        return done.answer

    async def _run_batch(self, items: Sequence[_Submitted]) -> list[_Done | BaseException]:
        """One transaction: the devices' rows (locked), then per check-in the refusals and the
        evaluation; the new states and history rows of the accepted ones (two statements for
        the whole batch), their acknowledgements, commands and violations."""
        bundle = await self._policies.get()
        outcomes: list[_Done | BaseException] = []
        async with self._db.write() as conn:
            found = await checkin_store.devices_and_orgs(
                conn, [item.request.device_id for item in items]
            )
            now = self._clock.now_ms()
            accepted: list[_Done] = []
            for item in items:
                try:
                    d, org = found.get(item.request.device_id, (None, None))
                    done = self._decide(self._refuse(d, item.request, item.body), org,
                                        item.request, now, bundle)  # fmt: skip
                except Exception as exc:  # a refusal (or a fault) of this check-in only
                    outcomes.append(exc)
                    continue
                outcomes.append(done)
                accepted.append(done)
            await checkin_store.record_checkins(
                conn, [(a.device.device_id, a.device.last_seq, a.update) for a in accepted]
            )
            for a in accepted:
                a.answer.commands.extend(
                    await self._commands(conn, a.device, a.request, a.device.pending_commands, now)
                )
                await self._violations(conn, a.device, a.opened, a.closed, a.org, now)
        return outcomes

    def _decide(
        self,
        d: ManagedDevice,
        org: tuple[str, str] | None,
        r: CheckinRequest,
        now: int,
        bundle: Bundle,
    ) -> _Done:
        """Evaluate an accepted check-in: the device row's new state, the violation to open or
        close, and the answer (its commands are added once they are read)."""
        e, applicable = self._evaluate(d, org, r, now, bundle)
        findings: list[dict[str, Any]] = [f.as_json() for f in e.findings]
        opened = closed = None
        open_id = d.open_violation_id
        if e.verdict == ev.Verdict.NON_COMPLIANT and open_id is None:
            opened = Violation("vi_" + secrets.token_hex(8), d.device_id, d.user_id, now,
                               None, tuple(findings))  # fmt: skip
            open_id = opened.violation_id
        elif e.verdict == ev.Verdict.COMPLIANT and open_id is not None:
            closed, open_id = open_id, None
        update = CheckinUpdate(
            seq=r.seq,
            ts=now,
            os_version=r.os_version,
            report=report_json(r),
            verdict=str(e.verdict),
            valid_until_ts=e.valid_until_ts,
            gated_labels=sorted(e.gated_labels),
            findings=findings,
            prior=dict(e.state.as_json()),
            bundle_version=bundle.version,
            open_violation_id=open_id,
        )
        answer = CheckinAnswer(
            device_id=d.device_id,
            verdict=str(e.verdict),
            findings=findings,
            required_restrictions=sorted(e.required),
            valid_until_ts=e.valid_until_ts,
            policy_bundle_version=bundle.version,
            next_checkin_ms=self._next_checkin_ms(e, applicable, now),
            commands=[],
            server_ts=now,
            grace_until_ts=e.grace_until_ts,
        )
        return _Done(d, org, r, update, opened, closed, answer)

    async def _commands(
        self, conn: Any, d: ManagedDevice, r: CheckinRequest, pending: int, now: int
    ) -> list[Command]:
        """Record the acknowledgements; the commands still pending, marked delivered. Read
        only when the device has any (its row counts them)."""
        if r.acks and pending:
            acked = 0
            for command_id, result in r.acks:
                acked += await store.ack_command(conn, d.device_id, command_id, result, now)
            if acked:
                pending = await store.add_pending(conn, d.device_id, -acked)
        if not pending:
            return []
        commands = await store.pending_commands(conn, d.device_id)
        await store.mark_delivered(
            conn, [c.command_id for c in commands if c.delivered_ts is None], now
        )
        return commands

    async def _violations(
        self,
        conn: Any,
        d: ManagedDevice,
        opened: Violation | None,
        closed: str | None,
        org: tuple[str, str] | None,
        now: int,
    ) -> None:
        """Open a violation when the device is non-compliant past its grace period; close the
        open one when it complies. Unknown (within grace) changes neither."""
        org_code = org[0] if org else None
        if closed is not None:
            await store.close_violation(conn, closed, now)
            await audit.record(
                conn, SYSTEM, now, "device.violation.close", "device", d.device_id,
                org_code=org_code, after={"violation_id": closed},
            )  # fmt: skip
        if opened is not None:
            await store.insert_violation(conn, opened)
            await audit.record(
                conn, SYSTEM, now, "device.violation.open", "device", d.device_id,
                org_code=org_code,
                after={"violation_id": opened.violation_id, "user_id": d.user_id,
                       "findings": list(opened.findings)},
            )  # fmt: skip

    async def _after(
        self,
        d: ManagedDevice,
        u: CheckinUpdate,
        opened: Violation | None,
        org: tuple[str, str] | None,
    ) -> None:
        changed = (
            d.verdict != u.verdict
            or tuple(d.gated_labels) != tuple(u.gated_labels)
            or d.last_checkin_ts is None
        )
        if changed:
            new = dataclasses.replace(
                d, verdict=u.verdict, valid_until_ts=u.valid_until_ts,
                gated_labels=tuple(u.gated_labels), last_seq=u.seq, last_checkin_ts=u.ts,
            )  # fmt: skip
            await self._bus.publish(Doorbell(position=0, users=frozenset({d.user_id})))
            for hook in self.on_access_change:
                await hook(new)
        if opened is not None:
            await self._notify(d, opened, org)

    async def _notify(self, d: ManagedDevice, v: Violation, org: tuple[str, str] | None) -> None:
        """Tell the security officers of the owner's organisation (failures are logged: the
        violation is stored and listed either way)."""
        async with self._db.read() as conn:
            officers = await store.security_officers(conn, org[1] if org else "")
        reasons = "; ".join(str(f.get("reason", "")) for f in v.findings) or "non-compliant"
        text = (
            f"Device policy violation: {d.user_id}'s device {d.model} ({d.platform}, "
            f"{d.device_id}) is not compliant after its grace period: {reasons} "
            f"(violation {v.violation_id})."
        )
        for officer in officers:
            try:
                await self._notices.send(officer, {"msgtype": "m.notice", "body": text})
            except Exception:
                log.exception("could not tell %s of device violation %s", officer, v.violation_id)
