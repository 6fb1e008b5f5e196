"""The device dashboard (issue 8): what a security officer reads about device policy in their
scope. Policy schedule previews ("restricted now? next change at ..."), enrolled devices per
organisation with their verdict as it stands now, counts per organisation rolled up the tree,
and violations. Reads only; every call needs ``devices.manage`` over what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core.devices import DeviceService
from tumar.core.directory import check
from tumar.errors import MatrixError
from tumar.policy.device_eval import gated_labels_now
from tumar.policy.device_policy import DevicePolicy
from tumar.policy.device_schedule import any_active, next_change_all
from tumar.policy.roles import Actor, Permission
from tumar.store import device_access as store
from tumar.store import directory as directory_store
from tumar.store.db import Database
from tumar.store.device_access import VERDICTS, DeviceListRow, OpenViolation
from tumar.store.devices import StoredPolicy
from tumar.store.directory import Organisation

PREVIEW_CHANGES = 6  # upcoming schedule changes a preview lists


@dataclass(frozen=True, slots=True)
class Change:
    at_ts: int
    working_hours: bool  # the state from then on


@dataclass(frozen=True, slots=True)
class Preview:
    stored: StoredPolicy
    at_ts: int
    working_hours: bool  # in working hours at ``at_ts`` (always, without schedules)
    restricted_on_premises: tuple[str, ...]  # what a device must restrict there, at ``at_ts``
    restricted_elsewhere: tuple[str, ...]
    gated_labels: tuple[str, ...]  # labels that need a compliant device at ``at_ts``
    next_change_ts: int | None
    changes: tuple[Change, ...]
    people: tuple[str, ...]  # the named pilot list
    org_codes: tuple[str, ...]
    starts_ts: int | None


@dataclass(frozen=True, slots=True)
class Counts:
    enrolled: int = 0
    compliant: int = 0
    non_compliant: int = 0
    unknown: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.enrolled + other.enrolled,
            self.compliant + other.compliant,
            self.non_compliant + other.non_compliant,
            self.unknown + other.unknown,
        )


@dataclass(frozen=True, slots=True)
class OrgCounts:
    org: Organisation
    own: Counts
    total: Counts  # the organisation and everything below it


@dataclass(frozen=True, slots=True)
class Summary:
    as_of_ts: int
    total: Counts
    organisations: list[OrgCounts] = field(default_factory=list)
    outside_directory: Counts = Counts()  # accounts without a directory entry (global only)


def _counts(raw: dict[str, int] | None) -> Counts:
    raw = raw or {}
    return Counts(sum(raw.get(v, 0) for v in VERDICTS), *(raw.get(v, 0) for v in VERDICTS))


def _ordered(names: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(names))


class DeviceDashboard:
    def __init__(self, db: Database, clock: Clock, devices: DeviceService) -> None:
        self._db = db
        self._clock = clock
        self._devices = devices

    def _scopes(self, actor: Actor) -> list[str]:
        scopes = actor.scopes(Permission.DEVICES_MANAGE)
        if not scopes:
            check(actor.may(Permission.DEVICES_MANAGE, ""))  # the readable refusal
        return scopes

    async def _org_scope(self, conn: AsyncConnection, actor: Actor, org: str | None) -> str | None:
        """The path of ``org`` (checked against the actor's scope), or None for no filter."""
        if org is None:
            return None
        found = await directory_store.get_org(conn, org)
        if found is None:
            raise MatrixError(404, "M_NOT_FOUND", f"There is no organisation {org}.")
        check(actor.may(Permission.DEVICES_MANAGE, found.path))
        return found.path

    async def preview(self, actor: Actor, policy_id: str, at_ts: int | None) -> Preview:
        """Whether the policy restricts at ``at_ts`` (default now) and when that changes."""
        stored = await self._devices.get_policy(actor, policy_id)  # checks the scope
        p: DevicePolicy = self._devices.parse(stored.document, policy_id, stored.version)
        at = self._clock.now_ms() if at_ts is None else at_ts
        hours = any_active(p.schedules, at) if p.schedules else True
        changes: list[Change] = []
        t = at
        for _ in range(PREVIEW_CHANGES):
            nxt = next_change_all(p.schedules, t)
            if nxt is None:
                break
            changes.append(Change(nxt, any_active(p.schedules, nxt)))
            t = nxt
        return Preview(
            stored=stored,
            at_ts=at,
            working_hours=hours,
            restricted_on_premises=_ordered(
                p.restrictions_active if hours else p.restrictions_inactive
            ),
            restricted_elsewhere=_ordered(p.restrictions_inactive),
            gated_labels=_ordered(gated_labels_now([p], at)),
            next_change_ts=changes[0].at_ts if changes else None,
            changes=tuple(changes),
            people=p.audience.people,
            org_codes=p.audience.org_codes,
            starts_ts=p.audience.starts_ts,
        )

    async def list_devices(
        self,
        actor: Actor,
        *,
        org: str | None,
        verdict: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[DeviceListRow], int]:
        scopes = self._scopes(actor)
        async with self._db.read() as conn:
            path = await self._org_scope(conn, actor, org)
            return await store.list_devices(
                conn, scopes, now_ms=self._clock.now_ms(), org_path=path, verdict=verdict,
                limit=limit, offset=offset,
            )  # fmt: skip

    async def summary(self, actor: Actor, *, org: str | None) -> Summary:
        """Counts per organisation in scope (or below ``org``), each with its subtree's total."""
        scopes = self._scopes(actor)
        now = self._clock.now_ms()
        async with self._db.read() as conn:
            path = await self._org_scope(conn, actor, org)
            counted = await store.verdict_counts(conn, scopes, now_ms=now)
            orgs = await directory_store.list_orgs(conn, [path] if path is not None else scopes)
        own = {o.code: _counts(counted.get(o.code)) for o in orgs}
        totals = dict(own)
        by_code = {o.code: o for o in orgs}
        for o in sorted(orgs, key=lambda o: o.path.count("/"), reverse=True):
            if o.parent_code is not None and o.parent_code in totals:
                totals[o.parent_code] = totals[o.parent_code] + totals[o.code]
        grand = Counts()
        for o in orgs:
            if o.parent_code not in by_code:
                grand = grand + totals[o.code]
        outside = Counts()
        if path is None and "" in scopes:
            outside = _counts(counted.get(None))
            grand = grand + outside
        shown = [OrgCounts(o, own[o.code], totals[o.code]) for o in orgs if totals[o.code].enrolled]
        return Summary(now, grand, shown, outside)

    async def violations(
        self, actor: Actor, *, open_only: bool, org: str | None, limit: int, offset: int
    ) -> tuple[list[OpenViolation], int]:
        scopes = self._scopes(actor)
        async with self._db.read() as conn:
            path = await self._org_scope(conn, actor, org)
            return await store.list_violations(
                conn, scopes, open_only=open_only, org_path=path, limit=limit, offset=offset
            )
