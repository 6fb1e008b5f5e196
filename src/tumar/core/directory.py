"""The organisation directory: organisations, people and role grants. The only writer of these;
every change is scope-checked against the actor's grants and audited in its transaction."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.core.requester import Requester
from tumar.errors import MatrixError, forbidden, invalid_param, not_found
from tumar.policy import directory as rules
from tumar.policy.decision import Decision
from tumar.policy.roles import Actor, Grant, Permission, Role, effective_grants
from tumar.store import accounts as account_store
from tumar.store import directory as store
from tumar.store.db import Database
from tumar.store.directory import GrantRow, Organisation, PeopleQuery, Person

ORG_FIELDS = (
    "kind",
    "name_kk",
    "name_ru",
    "name_en",
    "region",
    "head_person_id",
    "register_by",
    "transition_by",
    "mfa_required",
)
PERSON_FIELDS = (
    "org_code",
    "position",
    "name_cyr",
    "name_lat",
    "email",
    "phone",
    "clearance",
    "kind",
    "status",
    "user_id",
)


def out_of_scope(reason: str) -> MatrixError:
    return MatrixError(403, "TUMAR_OUT_OF_SCOPE", reason)


def check(decision: Decision) -> None:
    if not decision:
        raise out_of_scope(decision.reason)


def who(actor: Actor) -> Who:
    return Who(actor.user_id, actor.ip)


def cli_actor(name: str = "cli") -> Actor:
    """The command line acts as a global operator (whoever can run it owns the deployment)."""
    return Actor(f"cli:{name}", effective_grants(True, ()))


@dataclass(frozen=True, slots=True)
class NewOrg:
    code: str
    parent_code: str | None
    kind: str
    name_kk: str
    name_ru: str
    name_en: str
    region: str | None = None
    head_person_id: str | None = None
    register_by: str | None = None
    transition_by: str | None = None
    mfa_required: bool = False


@dataclass(frozen=True, slots=True)
class NewPerson:
    personnel_number: str
    org_code: str
    name_cyr: str
    name_lat: str
    position: str | None = None
    email: str | None = None
    phone: str | None = None
    clearance: str | None = None
    kind: str = "official"


def new_person_id() -> str:
    return "p_" + secrets.token_hex(8)


class DirectoryService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    # ---- who is acting ----------------------------------------------------------------------

    async def actor_for(self, requester: Requester) -> Actor:
        """The requester as an administrator; 403 if they hold no administrative role."""
        async with self._db.read() as conn:
            rows = await store.grants_of(conn, requester.user_id)
        grants = effective_grants(
            requester.is_admin, (Grant(Role(r.role), r.org_code, r.path) for r in rows)
        )
        if not grants:
            raise forbidden("You do not hold an administrative role.")
        return Actor(requester.user_id, grants, requester.ip)

    # ---- organisations ----------------------------------------------------------------------

    async def list_orgs(self, actor: Actor) -> list[Organisation]:
        async with self._db.read() as conn:
            return await store.list_orgs(conn, actor.scopes(Permission.DIRECTORY_READ))

    async def get_org(self, actor: Actor, code: str) -> Organisation:
        async with self._db.read() as conn:
            org = await self._org(conn, code)
        check(actor.may(Permission.DIRECTORY_READ, org.path))
        return org

    async def do_create_org(self, actor: Actor, new: NewOrg) -> Organisation:
        self._check_org_values(new.kind, new.code)
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            if new.parent_code is None:
                if not actor.is_global(Permission.ORG_WRITE):
                    raise out_of_scope("Only an operator may create a top-level organisation.")
                path = rules.child_path("", new.code)
            else:
                parent = await self._org(conn, new.parent_code, what="parent organisation")
                check(actor.may(Permission.ORG_WRITE, parent.path))
                path = rules.child_path(parent.path, new.code)
            if await store.get_org(conn, new.code) is not None:
                raise MatrixError(409, "TUMAR_ORG_EXISTS", f"Organisation {new.code} exists.")
            await self._check_head(conn, new.head_person_id)
            org = Organisation(path=path, created_ts=now, updated_ts=now, **asdict(new))
            await store.insert_org(conn, org)
            await audit.record(
                conn, who(actor), now, "org.create", "organisation", org.code,
                org_code=org.code, after=org.as_dict(),
            )  # fmt: skip
        return org

    async def do_update_org(
        self, actor: Actor, code: str, changes: Mapping[str, Any]
    ) -> Organisation:
        """Change fields; a new ``parent_code`` moves the organisation with its subtree."""
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            org = await self._org(conn, code)
            check(actor.may(Permission.ORG_WRITE, org.path))
            values = {k: v for k, v in changes.items() if k in ORG_FIELDS}
            if "kind" in values:
                self._check_org_values(values["kind"], code)
            if "head_person_id" in values:
                await self._check_head(conn, values["head_person_id"])
            updated = replace(org, **values, updated_ts=now)
            if "parent_code" in changes and changes["parent_code"] != org.parent_code:
                updated = await self._move(conn, actor, org, changes["parent_code"], now)
                updated = replace(updated, **values)
            await store.update_org(conn, code, **values, updated_ts=now)
            before, after = audit.changed(org.as_dict(), updated.as_dict())
            before.pop("updated_ts", None)
            after.pop("updated_ts", None)
            await audit.record(
                conn, who(actor), now, "org.update", "organisation", code,
                org_code=code, before=before, after=after,
            )  # fmt: skip
        return updated

    async def _move(
        self, conn: AsyncConnection, actor: Actor, org: Organisation, parent: Any, now: int
    ) -> Organisation:
        if parent is None:
            if not actor.is_global(Permission.ORG_WRITE):
                raise out_of_scope("Only an operator may make an organisation top-level.")
            new_path = rules.child_path("", org.code)
        else:
            target = await self._org(conn, str(parent), what="parent organisation")
            check(actor.may(Permission.ORG_WRITE, target.path))
            if not (decision := rules.may_move(org.path, target.path)):
                raise MatrixError(400, "TUMAR_ORG_CYCLE", decision.reason)
            new_path = rules.child_path(target.path, org.code)
        await store.repath_subtree(conn, org.path, new_path, now)
        await store.update_org(conn, org.code, parent_code=parent)
        return replace(org, parent_code=parent, path=new_path)

    async def do_delete_org(self, actor: Actor, code: str) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            org = await self._org(conn, code)
            check(actor.may(Permission.ORG_WRITE, org.path))
            if org.parent_code is None and not actor.is_global(Permission.ORG_WRITE):
                raise out_of_scope("Only an operator may delete a top-level organisation.")
            if (
                await store.count_children(conn, code)
                or await store.count_people_in_org(conn, code)
                or await store.count_grants_on(conn, code)
            ):
                raise MatrixError(
                    409,
                    "TUMAR_ORG_NOT_EMPTY",
                    "Move or delete its units and people, and revoke the roles over it, first.",
                )
            await store.delete_org(conn, code)
            await audit.record(
                conn, who(actor), now, "org.delete", "organisation", code,
                org_code=org.parent_code, before=org.as_dict(),
            )  # fmt: skip

    def _check_org_values(self, kind: str, code: str) -> None:
        if kind not in rules.ORG_KINDS:
            raise invalid_param(f"kind must be one of {', '.join(rules.ORG_KINDS)}.")
        if not rules.valid_org_code(code):
            raise invalid_param(
                "An organisation code has 1-64 lower-case letters, digits, '.', '_' or '-'."
            )

    async def _check_head(self, conn: AsyncConnection, person_id: str | None) -> None:
        if person_id is not None and await store.get_person(conn, person_id) is None:
            raise invalid_param(f"head_person_id: no person {person_id}.")

    async def _org(
        self, conn: AsyncConnection, code: str, what: str = "organisation"
    ) -> Organisation:
        org = await store.get_org(conn, code)
        if org is None:
            raise not_found(f"No {what} with code {code}.")
        return org

    # ---- people -----------------------------------------------------------------------------

    async def list_people(self, actor: Actor, query: PeopleQuery) -> tuple[list[Person], int]:
        query = replace(query, scopes=tuple(actor.scopes(Permission.DIRECTORY_READ)))
        async with self._db.read() as conn:
            return await store.list_people(conn, query)

    async def get_person(self, actor: Actor, person_id: str) -> Person:
        async with self._db.read() as conn:
            person, path = await self._person(conn, person_id)
        check(actor.may(Permission.DIRECTORY_READ, path))
        return person

    async def get_person_by_number(self, actor: Actor, number: str) -> Person:
        async with self._db.read() as conn:
            found = await store.person_by_number(conn, number)
        if found is None:
            raise not_found(f"No person with personnel number {number}.")
        return await self.get_person(actor, found.person_id)

    async def do_create_person(self, actor: Actor, new: NewPerson) -> Person:
        now = self._clock.now_ms()
        clearance = new.clearance or self._settings.default_clearance
        self._check_person_values(clearance, new.kind, "active")
        async with self._db.write() as conn:
            org = await self._org(conn, new.org_code)
            check(actor.may(Permission.PEOPLE_WRITE, org.path))
            if await store.person_by_number(conn, new.personnel_number) is not None:
                raise MatrixError(
                    409,
                    "TUMAR_PERSON_EXISTS",
                    f"Personnel number {new.personnel_number} is already in the directory.",
                )
            person = Person(
                person_id=new_person_id(),
                status="active",
                user_id=None,
                created_ts=now,
                updated_ts=now,
                **{**asdict(new), "clearance": clearance},
            )
            await store.insert_person(conn, person)
            await audit.record(
                conn, who(actor), now, "person.create", "person", person.person_id,
                org_code=person.org_code, after=person.as_dict(),
            )  # fmt: skip
        return person

    async def do_update_person(
        self, actor: Actor, person_id: str, changes: Mapping[str, Any]
    ) -> Person:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            person, path = await self._person(conn, person_id)
            check(actor.may(Permission.PEOPLE_WRITE, path))
            values = {k: v for k, v in changes.items() if k in PERSON_FIELDS}
            if "org_code" in values and values["org_code"] != person.org_code:
                target = await self._org(conn, values["org_code"])
                check(actor.may(Permission.PEOPLE_WRITE, target.path))
            updated = replace(person, **values, updated_ts=now)
            self._check_person_values(updated.clearance, updated.kind, updated.status)
            if values.get("user_id") not in (None, person.user_id):
                await self._check_unlinked_account(conn, values["user_id"])
            await store.update_person(conn, person_id, **values, updated_ts=now)
            before, after = audit.changed(person.as_dict(), updated.as_dict())
            before.pop("updated_ts", None)
            after.pop("updated_ts", None)
            await audit.record(
                conn, who(actor), now, "person.update", "person", person_id,
                org_code=updated.org_code, before=before, after=after,
            )  # fmt: skip
        return updated

    def _check_person_values(self, clearance: str, kind: str, status: str) -> None:
        labels = self._settings.classification_labels
        if not rules.valid_clearance(clearance, labels):
            raise invalid_param(f"clearance must be one of {', '.join(labels)}.")
        if kind not in rules.PERSON_KINDS:
            raise invalid_param(f"kind must be one of {', '.join(rules.PERSON_KINDS)}.")
        if status not in rules.PERSON_STATUSES:
            raise invalid_param(f"status must be one of {', '.join(rules.PERSON_STATUSES)}.")

    async def _check_unlinked_account(self, conn: AsyncConnection, user_id: str) -> None:
        """A person has at most one account, and an account belongs to at most one person."""
        if not await _user_exists(conn, user_id):
            raise not_found(f"No account {user_id}.")
        if (holder := await store.person_by_user(conn, user_id)) is not None:
            raise MatrixError(
                409,
                "TUMAR_ACCOUNT_LINKED",
                f"The account {user_id} already belongs to person {holder.person_id}.",
            )

    async def _person(self, conn: AsyncConnection, person_id: str) -> tuple[Person, str]:
        person = await store.get_person(conn, person_id)
        path = await store.person_org_path(conn, person_id)
        if person is None or path is None:
            raise not_found(f"No person {person_id}.")
        return person, path

    # ---- roles ------------------------------------------------------------------------------

    async def list_grants(self, actor: Actor) -> list[GrantRow]:
        async with self._db.read() as conn:
            return await store.list_grants(conn, actor.scopes(Permission.DIRECTORY_READ))

    async def do_grant(self, actor: Actor, user_id: str, role: Role, org_code: str) -> GrantRow:
        now = self._clock.now_ms()
        try:
            async with self._db.write() as conn:
                path = await self._grant_path(conn, actor, role, org_code)
                if not await _user_exists(conn, user_id):
                    raise not_found(f"No account {user_id}.")
                grant = GrantRow(user_id, role.value, org_code, path, actor.user_id, now)
                await store.insert_grant(conn, grant)
                await audit.record(
                    conn, who(actor), now, "role.grant", "user", user_id,
                    org_code=org_code or None, after={"role": role.value, "org_code": org_code},
                )  # fmt: skip
        except IntegrityError:
            raise MatrixError(409, "TUMAR_ROLE_EXISTS", "That role is already granted.") from None
        return grant

    async def do_revoke(self, actor: Actor, user_id: str, role: Role, org_code: str) -> None:
        now = self._clock.now_ms()
        async with self._db.write() as conn:
            await self._grant_path(conn, actor, role, org_code)
            if not await store.delete_grant(conn, user_id, role.value, org_code):
                raise not_found("No such role grant.")
            await audit.record(
                conn, who(actor), now, "role.revoke", "user", user_id,
                org_code=org_code or None, before={"role": role.value, "org_code": org_code},
            )  # fmt: skip

    async def _grant_path(
        self, conn: AsyncConnection, actor: Actor, role: Role, org_code: str
    ) -> str:
        path = ""
        if org_code:
            path = (await self._org(conn, org_code)).path
        elif role is not Role.OPERATOR and not actor.is_global(Permission.ROLES_GRANT):
            raise out_of_scope("Only an operator may grant a role over every organisation.")
        check(actor.may_grant(role, path))
        return path


async def _user_exists(conn: AsyncConnection, user_id: str) -> bool:
    return await account_store.get_user(conn, user_id) is not None
