"""Legal holds: while a hold is active the retention job purges nothing of its room, or nothing
that its person sent, in any room.

Placing and lifting need the ``legal_hold`` permission (security officers in their subtree,
operators everywhere) and a reason; both are audited in their transaction. Scope:

* a person (person id, or the user id of an account linked to a person) belongs to their
  organisation;
* an account that belongs to no person, and a room whose creator belongs to no person, can be
  held only by someone holding the permission everywhere;
* a room belongs to the organisation of the person who created it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.core import audit
from tumar.core.directory import check, out_of_scope, who
from tumar.errors import MatrixError, invalid_param, not_found
from tumar.ids import RoomId, UserId
from tumar.policy.roles import Actor, Permission
from tumar.store import directory as directory_store
from tumar.store import retention as store
from tumar.store.db import Database
from tumar.store.retention import Hold

TargetType = Literal["room", "person"]
MAX_REASON = 2000


def new_hold_id() -> str:
    return "h_" + secrets.token_hex(8)


def check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise MatrixError(
            400, "TUMAR_REASON_REQUIRED", "A legal hold needs a reason (for example a case number)."
        )
    if len(text) > MAX_REASON:
        raise invalid_param(f"The reason is longer than {MAX_REASON} characters.")
    return text


def hold_dict(hold: Hold) -> dict[str, Any]:
    return {**asdict(hold), "active": hold.active}


class LegalHoldService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _scope(self, conn: AsyncConnection, person_id: str | None) -> tuple[str, str]:
        """(org code, org path) of a person; ("", "") when there is none, which only global
        holders of the permission reach."""
        if person_id is None:
            return "", ""
        person = await directory_store.get_person(conn, person_id)
        if person is None:
            return "", ""
        path = await directory_store.person_org_path(conn, person_id)
        return person.org_code, path or ""

    async def _resolve(
        self, conn: AsyncConnection, target_type: TargetType, target: str
    ) -> tuple[str, str, str | None]:
        """(stored target type, target id, person id) of a hold target; 404 when unknown."""
        if target_type == "room":
            RoomId.parse(target)
            creator = await store.room_creator(conn, target)
            if creator is None:
                raise not_found(f"No room {target} on this server.")
            person = await directory_store.person_by_user(conn, creator)
            return "room", target, person.person_id if person is not None else None
        if target.startswith("@"):
            UserId.parse(target)
            if not await store.user_exists(conn, target):
                raise not_found(f"No account {target} on this server.")
            person = await directory_store.person_by_user(conn, target)
            return "user", target, person.person_id if person is not None else None
        found = await directory_store.get_person(conn, target)
        if found is None:
            raise not_found(f"No person with id {target}.")
        return "person", target, found.person_id

    async def do_place(
        self, actor: Actor, target_type: TargetType, target: str, reason: str | None
    ) -> Hold:
        text = check_reason(reason)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            kind, target_id, person_id = await self._resolve(conn, target_type, target)
            if kind == "room":
                # Orders the hold after a purge batch of this room that is already running.
                await self._db.lock_room(conn, target_id)
            org_code, path = await self._scope(conn, person_id)
            check(actor.may(Permission.LEGAL_HOLD, path))
            hold = Hold(
                hold_id=new_hold_id(),
                target_type=kind,
                target_id=target_id,
                person_id=person_id if kind != "room" else None,
                org_code=org_code or None,
                reason=text,
                placed_by=actor.user_id,
                placed_ts=now,
                lifted_by=None,
                lifted_ts=None,
                lift_reason=None,
            )
            await store.insert_hold(conn, hold)
            await audit.record(
                conn,
                who(actor),
                now,
                "legal_hold.place",
                kind,
                target_id,
                org_code=org_code or None,
                after={"hold_id": hold.hold_id, "reason": text},
            )
        return hold

    async def do_lift(self, actor: Actor, hold_id: str, reason: str | None) -> Hold:
        text = check_reason(reason)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            hold = await store.get_hold(conn, hold_id)
            if hold is None:
                raise not_found(f"No legal hold {hold_id}.")
            await self._check_scope(conn, actor, hold)
            if not hold.active:
                raise MatrixError(400, "TUMAR_HOLD_LIFTED", f"The legal hold {hold_id} was lifted.")
            await store.lift_hold(
                conn, hold_id, lifted_by=actor.user_id, lifted_ts=now, reason=text
            )
            await audit.record(
                conn,
                who(actor),
                now,
                "legal_hold.lift",
                hold.target_type,
                hold.target_id,
                org_code=hold.org_code,
                before={"hold_id": hold_id, "reason": hold.reason},
                after={"hold_id": hold_id, "lift_reason": text},
            )
            lifted = await store.get_hold(conn, hold_id)
        assert lifted is not None
        return lifted

    async def _check_scope(self, conn: AsyncConnection, actor: Actor, hold: Hold) -> None:
        path = ""
        if hold.org_code:
            org = await directory_store.get_org(conn, hold.org_code)
            path = org.path if org is not None else ""
        check(actor.may(Permission.LEGAL_HOLD, path))

    async def get(self, actor: Actor, hold_id: str) -> Hold:
        async with self._db.read() as conn:
            hold = await store.get_hold(conn, hold_id)
            if hold is None:
                raise not_found(f"No legal hold {hold_id}.")
            await self._check_scope(conn, actor, hold)
        return hold

    async def list(self, actor: Actor, *, active_only: bool = True) -> list[Hold]:
        """The holds in the actor's scope."""
        scopes = actor.scopes(Permission.LEGAL_HOLD)
        if not scopes:
            raise out_of_scope("You do not hold a role that allows legal_hold.")
        async with self._db.read() as conn:
            holds = await store.list_holds(conn, active_only=active_only)
            codes = sorted({h.org_code for h in holds if h.org_code})
            orgs = await directory_store.get_orgs(conn, codes)
        paths = {code: org.path for code, org in orgs.items()}
        return [
            h
            for h in holds
            if actor.may(Permission.LEGAL_HOLD, paths.get(h.org_code or "", "")).allowed
        ]
