"""Audience specs to plans, and one person against a plan: table tests (pure)."""

from __future__ import annotations

import pytest

from tumar.policy.audience import (
    AudienceSpec,
    PersonFacts,
    Plan,
    Refusal,
    matches,
    may_read,
    plan,
)

ORGS = {"gov": "/gov/", "mof": "/gov/mof/", "mof-it": "/gov/mof/mof-it/", "moh": "/gov/moh/"}
PEOPLE = {"p-a": "/gov/mof/", "p-h": "/gov/moh/"}
MOF = ["/gov/mof/"]
ALL = [""]


def mk(spec: AudienceSpec, scopes: list[str]) -> Plan | Refusal:
    return plan(spec, org_paths=ORGS, people_paths=PEOPLE, author_scopes=scopes)


PLANS = [
    # spec, author scopes, expected plan (include, exclude, roles, people) or errcode
    (AudienceSpec(orgs=("mof",)), MOF, (("/gov/mof/",), (), (), ())),
    (AudienceSpec(orgs=("mof", "mof-it")), MOF, (("/gov/mof/",), (), (), ())),
    (AudienceSpec(orgs=("mof",), exclude_orgs=("mof-it",)), MOF,
     (("/gov/mof/",), ("/gov/mof/mof-it/",), (), ())),
    (AudienceSpec(roles=("comms_officer",)), MOF, (("/gov/mof/",), (), ("comms_officer",), ())),
    (AudienceSpec(people=("p-a",)), MOF, ((), (), (), ("p-a",))),
    (AudienceSpec(everyone=True), ALL, (("",), (), (), ())),
    (AudienceSpec(orgs=("moh", "mof")), ALL, (("/gov/mof/", "/gov/moh/"), (), (), ())),
    (AudienceSpec(), MOF, "TUMAR_EMPTY_AUDIENCE"),
    (AudienceSpec(exclude_orgs=("mof",)), MOF, "TUMAR_EMPTY_AUDIENCE"),
    (AudienceSpec(orgs=("moh",)), MOF, "TUMAR_OUT_OF_SCOPE"),
    (AudienceSpec(orgs=("gov",)), MOF, "TUMAR_OUT_OF_SCOPE"),
    (AudienceSpec(everyone=True), MOF, "TUMAR_OUT_OF_SCOPE"),
    (AudienceSpec(people=("p-h",)), MOF, "TUMAR_OUT_OF_SCOPE"),
    (AudienceSpec(orgs=("mof",)), [], "TUMAR_OUT_OF_SCOPE"),
    (AudienceSpec(orgs=("nowhere",)), ALL, "TUMAR_UNKNOWN_ORG"),
    (AudienceSpec(orgs=("mof",), exclude_orgs=("nowhere",)), ALL, "TUMAR_UNKNOWN_ORG"),
    (AudienceSpec(people=("p-x",)), ALL, "TUMAR_UNKNOWN_PERSON"),
    (AudienceSpec(roles=("wizard",)), ALL, "M_INVALID_PARAM"),
    (AudienceSpec(everyone=True, orgs=("mof",)), ALL, "M_INVALID_PARAM"),
    (AudienceSpec(people=tuple(f"p{i}" for i in range(1001))), ALL, "M_INVALID_PARAM"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "scopes", "expected"), PLANS)
def test_plan(spec: AudienceSpec, scopes: list[str], expected: object) -> None:
    result = mk(spec, scopes)
    if isinstance(expected, str):
        assert isinstance(result, Refusal)
        assert result.errcode == expected
        assert result.reason
        assert result.status == (403 if expected == "TUMAR_OUT_OF_SCOPE" else 400)
    else:
        assert isinstance(result, Plan)
        assert (result.include_paths, result.exclude_paths, result.roles, result.person_ids) == (
            expected
        )


def person(path: str, *, pid: str = "p-z", kind: str = "official", status: str = "active",
           roles: frozenset[str] = frozenset()) -> PersonFacts:  # fmt: skip
    return PersonFacts(pid, path, kind, status, roles)


SUBTREE = Plan(include_paths=("/gov/mof/",), exclude_paths=("/gov/mof/mof-it/",))
ROLES = Plan(include_paths=("/gov/",), roles=("comms_officer",))
NAMED = Plan(include_paths=("/gov/moh/",), exclude_paths=("/gov/mof/",), person_ids=("p-a",))
EVERYONE = Plan(include_paths=("",))

MATCHES = [
    (SUBTREE, person("/gov/mof/"), True),
    (SUBTREE, person("/gov/mof/mof-hr/"), True),
    (SUBTREE, person("/gov/mof/mof-it/"), False),  # excluded
    (SUBTREE, person("/gov/mof/mof-it/deep/"), False),
    (SUBTREE, person("/gov/mofx/"), False),  # paths end with "/": /gov/mofx/ is not under
    (SUBTREE, person("/gov/moh/"), False),
    (SUBTREE, person("/gov/mof/", kind="external"), False),
    (SUBTREE, person("/gov/mof/", status="departed"), False),
    (ROLES, person("/gov/mof/"), False),
    (ROLES, person("/gov/mof/", roles=frozenset({"comms_officer"})), True),
    (ROLES, person("/other/", roles=frozenset({"comms_officer"})), False),
    (NAMED, person("/gov/mof/", pid="p-a"), True),  # named: exclusions do not apply
    (NAMED, person("/gov/mof/", pid="p-a", kind="external"), True),
    (NAMED, person("/gov/mof/", pid="p-a", status="departed"), False),
    (NAMED, person("/gov/moh/x/"), True),
    (EVERYONE, person("/anything/"), True),
    (EVERYONE, person("/anything/", kind="external"), False),
]


@pytest.mark.parametrize(("p", "facts", "expected"), MATCHES)
def test_matches(p: Plan, facts: PersonFacts, expected: bool) -> None:
    assert matches(p, facts) is expected


READ = [
    (Plan(scope_paths=("/gov/mof/",)), ["/gov/mof/"], True),
    (Plan(scope_paths=("/gov/mof/mof-it/",)), ["/gov/mof/"], True),
    (Plan(scope_paths=("/gov/mof/", "/gov/moh/")), ["/gov/mof/"], False),
    (Plan(scope_paths=("",)), ["/gov/"], False),
    (Plan(scope_paths=("",)), [""], True),
    (Plan(scope_paths=("/gov/mof/",)), [], False),
]


@pytest.mark.parametrize(("p", "scopes", "expected"), READ)
def test_may_read(p: Plan, scopes: list[str], expected: bool) -> None:
    assert may_read(p, scopes) is expected


def test_json_round_trip() -> None:
    spec = AudienceSpec(orgs=("mof",), exclude_orgs=("mof-it",), roles=("comms_officer",),
                        people=("p-a",))  # fmt: skip
    assert AudienceSpec.from_json(spec.as_json()) == spec
    result = mk(spec, MOF)
    assert isinstance(result, Plan)
    assert Plan.from_json(result.as_json()) == result
