"""Administrative roles and their scope: pure decisions, no I/O.

A grant gives a user one role over an organisation subtree (identified by the subtree root's
materialised path, e.g. ``/gov/mof/``) or, with the empty path, over everything. A request is
allowed when some grant's role carries the permission and the grant's subtree contains the
target organisation. The server's own ``is_admin`` flag counts as a global operator grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tumar.policy.decision import Decision


class Role(StrEnum):
    OPERATOR = "operator"
    ORG_ADMIN = "org_admin"
    SECURITY_OFFICER = "security_officer"
    COMMS_OFFICER = "comms_officer"
    REGISTRY_CLERK = "registry_clerk"
    SIGNATORY = "signatory"


class Permission(StrEnum):
    DIRECTORY_READ = "directory.read"  # organisations and people in scope
    ORG_WRITE = "org.write"  # create, edit, move organisations below the scope root
    PEOPLE_WRITE = "people.write"  # create, edit, import, move people
    ACCOUNTS_MANAGE = "accounts.manage"  # activation codes, suspend, deactivate, sessions
    ROLES_GRANT = "roles.grant"  # grant or revoke roles in scope (see GRANTABLE)
    ROLLOUT = "rollout"  # deadlines, dashboard, reminders
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"  # audit and compliance exports, chain verification
    LABELS_MANAGE = "labels.manage"  # lower room labels (with a reason), DLP rules
    LEGAL_HOLD = "legal_hold"  # place and lift legal holds on rooms and people
    NOTIFY = "notify"  # author, send, correct and withdraw government notifications
    DEVICES_MANAGE = "devices.manage"  # device policies, enrolment tokens, devices, commands
    LETTERS_REGISTER = "letters.register"  # registry journal: register, deliver, number letters
    LETTERS_SIGN = "letters.sign"  # sign official letters for the organisation
    OPERATOR = "operator"  # deployment-wide settings


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(Permission),
    Role.ORG_ADMIN: frozenset(
        {
            Permission.DIRECTORY_READ,
            Permission.ORG_WRITE,
            Permission.PEOPLE_WRITE,
            Permission.ACCOUNTS_MANAGE,
            Permission.ROLES_GRANT,
            Permission.ROLLOUT,
            Permission.AUDIT_READ,
        }
    ),
    Role.SECURITY_OFFICER: frozenset(
        {
            Permission.DIRECTORY_READ,
            Permission.AUDIT_READ,
            Permission.AUDIT_EXPORT,
            Permission.LABELS_MANAGE,
            Permission.LEGAL_HOLD,
            Permission.DEVICES_MANAGE,
        }
    ),
    Role.COMMS_OFFICER: frozenset({Permission.DIRECTORY_READ, Permission.NOTIFY}),
    Role.REGISTRY_CLERK: frozenset({Permission.DIRECTORY_READ, Permission.LETTERS_REGISTER}),
    Role.SIGNATORY: frozenset({Permission.DIRECTORY_READ, Permission.LETTERS_SIGN}),
}

# Which roles a holder of ROLES_GRANT may hand out. Security officers are appointed by the
# operator only, so that the people they watch cannot appoint or remove them.
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.OPERATOR: frozenset(Role),
    Role.ORG_ADMIN: frozenset(
        {Role.ORG_ADMIN, Role.COMMS_OFFICER, Role.REGISTRY_CLERK, Role.SIGNATORY}
    ),
}


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    org_code: str  # "" for everywhere
    path: str  # materialised path of org_code; "" for everywhere


def contains(scope_path: str, target_path: str) -> bool:
    """Whether the subtree rooted at ``scope_path`` holds ``target_path`` ("" holds all)."""
    return scope_path == "" or target_path.startswith(scope_path)


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated administrator: who, and the grants they hold."""

    user_id: str
    grants: tuple[Grant, ...]
    ip: str | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.grants)

    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def scopes(self, permission: Permission) -> list[str]:
        """The subtree paths where the actor holds ``permission`` ("" means everywhere)."""
        return [g.path for g in self.grants if permission in PERMISSIONS[g.role]]

    def is_global(self, permission: Permission) -> bool:
        return "" in self.scopes(permission)

    def may(self, permission: Permission, target_path: str) -> Decision:
        for scope in self.scopes(permission):
            if contains(scope, target_path):
                return Decision.allow()
        if not self.scopes(permission):
            return Decision.deny(f"You do not hold a role that allows {permission.value}.")
        return Decision.deny("That organisation is outside your administrative scope.")

    def may_grant(self, role: Role, target_path: str) -> Decision:
        for grant in self.grants:
            if role in GRANTABLE.get(grant.role, frozenset()) and contains(grant.path, target_path):
                if role is Role.OPERATOR and grant.path != "":
                    continue
                return Decision.allow()
        return Decision.deny(f"You may not grant the role {role.value} there.")


def operator_grant() -> Grant:
    return Grant(Role.OPERATOR, "", "")


def effective_grants(is_admin: bool, grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """The server-admin flag is an operator grant; duplicates are dropped."""
    result = list(dict.fromkeys(grants))
    if is_admin and operator_grant() not in result:
        result.insert(0, operator_grant())
    return tuple(result)
