"""Roles, permissions and scope: table tests of the pure decisions."""

from __future__ import annotations

import pytest

from tumar.policy.roles import Actor, Grant, Permission, Role, contains, effective_grants

MOF = Grant(Role.ORG_ADMIN, "mof", "/gov/mof/")
SEC = Grant(Role.SECURITY_OFFICER, "moh", "/gov/moh/")
OP = Grant(Role.OPERATOR, "", "")


@pytest.mark.parametrize(
    ("scope", "target", "inside"),
    [
        ("", "/gov/", True),
        ("/gov/mof/", "/gov/mof/", True),
        ("/gov/mof/", "/gov/mof/it/", True),
        ("/gov/mof/", "/gov/moh/", False),
        ("/gov/mof/", "/gov/mofx/", False),  # a sibling whose code starts the same
        ("/gov/mof/", "/gov/", False),  # the parent is outside
    ],
)
def test_subtree_containment(scope: str, target: str, inside: bool) -> None:
    assert contains(scope, target) is inside


@pytest.mark.parametrize(
    ("grants", "permission", "target", "allowed"),
    [
        ((MOF,), Permission.PEOPLE_WRITE, "/gov/mof/it/", True),
        ((MOF,), Permission.PEOPLE_WRITE, "/gov/moh/", False),
        ((MOF,), Permission.OPERATOR, "/gov/mof/", False),
        ((SEC,), Permission.AUDIT_READ, "/gov/moh/x/", True),
        ((SEC,), Permission.PEOPLE_WRITE, "/gov/moh/", False),
        ((SEC,), Permission.AUDIT_READ, "/gov/mof/", False),
        ((OP,), Permission.PEOPLE_WRITE, "/anything/", True),
        ((MOF, SEC), Permission.AUDIT_READ, "/gov/moh/", True),
        ((MOF, SEC), Permission.PEOPLE_WRITE, "/gov/moh/", False),
        ((Grant(Role.COMMS_OFFICER, "mof", "/gov/mof/"),), Permission.DIRECTORY_READ,
         "/gov/mof/", True),
        ((Grant(Role.REGISTRY_CLERK, "mof", "/gov/mof/"),), Permission.ACCOUNTS_MANAGE,
         "/gov/mof/", False),
    ],
)  # fmt: skip
def test_permission_in_scope(
    grants: tuple[Grant, ...], permission: Permission, target: str, allowed: bool
) -> None:
    decision = Actor("@a:x", grants).may(permission, target)
    assert decision.allowed is allowed
    assert allowed or decision.reason


@pytest.mark.parametrize(
    ("grant", "role", "target", "allowed"),
    [
        (MOF, Role.ORG_ADMIN, "/gov/mof/it/", True),
        (MOF, Role.COMMS_OFFICER, "/gov/mof/", True),
        (MOF, Role.REGISTRY_CLERK, "/gov/moh/", False),
        (MOF, Role.SECURITY_OFFICER, "/gov/mof/", False),  # operators appoint those
        (MOF, Role.OPERATOR, "/gov/mof/", False),
        (SEC, Role.COMMS_OFFICER, "/gov/moh/", False),
        (OP, Role.SECURITY_OFFICER, "/gov/moh/", True),
        (OP, Role.OPERATOR, "", True),
        (Grant(Role.OPERATOR, "mof", "/gov/mof/"), Role.OPERATOR, "/gov/mof/", False),
    ],
)
def test_who_may_grant_what(grant: Grant, role: Role, target: str, allowed: bool) -> None:
    assert Actor("@a:x", (grant,)).may_grant(role, target).allowed is allowed


def test_server_admin_flag_is_an_operator_grant() -> None:
    assert effective_grants(True, ()) == (OP,)
    assert effective_grants(True, (OP, MOF)) == (OP, MOF)
    assert effective_grants(False, (MOF, MOF)) == (MOF,)
    assert effective_grants(False, ()) == ()
    assert Actor("@a:x", effective_grants(True, ())).is_global(Permission.ROLES_GRANT)
    assert not Actor("@a:x", (MOF,)).is_global(Permission.ROLES_GRANT)
