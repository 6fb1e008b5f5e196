"""Audiences of government notifications: pure decisions, no I/O.

An audience spec names who should receive a notification:

- ``everyone``: every active official with an account;
- ``orgs``: organisation subtrees (codes of their roots);
- ``roles``: holders of administrative roles (``comms_officer``, ...); with ``orgs`` it narrows
  the subtrees to those holders, without ``orgs`` it means the holders within the author's
  scope;
- ``exclude_orgs``: subtrees taken out again;
- ``people``: person ids named one by one (added last; exclusions do not apply to them).

Organisation and role selections reach officials only (``kind = official``); an external
partner receives a notification only when named in ``people``.

:func:`plan` checks a spec against the directory facts the caller read (organisation paths,
the named people's paths) and the author's ``notify`` scopes, and returns a :class:`Plan`: the
set-based description the store turns into one query (:mod:`tumar.store.gov_notices`), and
that :func:`matches` evaluates for one person at delivery time. Both read the same plan, so the
preview count, the report and the delivery agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tumar.policy.roles import Role, contains

MAX_ENTRIES = 1000  # orgs + exclusions + people in one spec


@dataclass(frozen=True, slots=True)
class AudienceSpec:
    everyone: bool = False
    orgs: tuple[str, ...] = ()
    exclude_orgs: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    people: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "everyone": self.everyone,
            "orgs": list(self.orgs),
            "exclude_orgs": list(self.exclude_orgs),
            "roles": list(self.roles),
            "people": list(self.people),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> AudienceSpec:
        def strings(key: str) -> tuple[str, ...]:
            raw = value.get(key) or []
            assert isinstance(raw, list)
            return tuple(str(v) for v in raw)

        return cls(
            everyone=bool(value.get("everyone", False)),
            orgs=strings("orgs"),
            exclude_orgs=strings("exclude_orgs"),
            roles=strings("roles"),
            people=strings("people"),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Who receives: people whose organisation path is under one of ``include_paths`` ("" =
    everywhere) and under none of ``exclude_paths``, officials only, holding one of ``roles``
    when roles are given; plus the ``person_ids`` named explicitly."""

    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    scope_paths: tuple[str, ...] = field(default=())
    """The subtrees the notification concerns: who may read its report."""

    def as_json(self) -> dict[str, object]:
        return {
            "include_paths": list(self.include_paths),
            "exclude_paths": list(self.exclude_paths),
            "roles": list(self.roles),
            "person_ids": list(self.person_ids),
            "scope_paths": list(self.scope_paths),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> Plan:
        def strings(key: str) -> tuple[str, ...]:
            raw = value.get(key) or []
            assert isinstance(raw, list)
            return tuple(str(v) for v in raw)

        return cls(
            include_paths=strings("include_paths"),
            exclude_paths=strings("exclude_paths"),
            roles=strings("roles"),
            person_ids=strings("person_ids"),
            scope_paths=strings("scope_paths"),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a spec cannot be sent: ``errcode`` and plain words."""

    status: int
    errcode: str
    reason: str


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """What delivery knows about one recipient candidate."""

    person_id: str
    org_path: str
    kind: str  # official | external
    status: str  # active | departed
    roles: frozenset[str] = frozenset()


def _refuse(errcode: str, reason: str, status: int = 400) -> Refusal:
    return Refusal(status, errcode, reason)


def plan(
    spec: AudienceSpec,
    *,
    org_paths: Mapping[str, str],
    people_paths: Mapping[str, str],
    author_scopes: Sequence[str],
) -> Plan | Refusal:
    """Check ``spec`` and turn it into a :class:`Plan`.

    ``org_paths``: the paths of the organisations the spec names (missing = unknown);
    ``people_paths``: the organisation paths of the named people (missing = unknown);
    ``author_scopes``: the subtrees where the author holds ``notify`` ("" = everywhere).
    """
    if not author_scopes:
        return _refuse("TUMAR_OUT_OF_SCOPE", "You do not hold a role that allows notify.", 403)
    if not (spec.everyone or spec.orgs or spec.roles or spec.people):
        return _refuse(
            "TUMAR_EMPTY_AUDIENCE",
            "The audience is empty: choose everyone, organisations, roles or people.",
        )
    if len(spec.orgs) + len(spec.exclude_orgs) + len(spec.people) > MAX_ENTRIES:
        return _refuse(
            "M_INVALID_PARAM",
            f"An audience names at most {MAX_ENTRIES} organisations and people together.",
        )
    if spec.everyone and spec.orgs:
        return _refuse("M_INVALID_PARAM", "Choose either everyone or organisations, not both.")
    unknown_roles = [r for r in spec.roles if r not in {x.value for x in Role}]
    if unknown_roles:
        return _refuse("M_INVALID_PARAM", f"Unknown role: {unknown_roles[0]}.")
    for code in (*spec.orgs, *spec.exclude_orgs):
        if code not in org_paths:
            return _refuse("TUMAR_UNKNOWN_ORG", f"There is no organisation with the code {code}.")
    for person_id in spec.people:
        if person_id not in people_paths:
            return _refuse("TUMAR_UNKNOWN_PERSON", f"There is no person with the id {person_id}.")

    def in_scope(path: str) -> bool:
        return any(contains(scope, path) for scope in author_scopes)

    if spec.everyone and "" not in author_scopes:
        return _refuse(
            "TUMAR_OUT_OF_SCOPE",
            "Only a communications officer for the whole government may notify everyone.",
            403,
        )
    for code in spec.orgs:
        if not in_scope(org_paths[code]):
            return _refuse(
                "TUMAR_OUT_OF_SCOPE", f"The organisation {code} is outside your scope.", 403
            )
    for person_id in spec.people:
        if not in_scope(people_paths[person_id]):
            return _refuse(
                "TUMAR_OUT_OF_SCOPE", f"The person {person_id} is outside your scope.", 403
            )

    if spec.everyone:
        include: tuple[str, ...] = ("",)
    elif spec.orgs:
        include = _roots(org_paths[c] for c in spec.orgs)
    elif spec.roles:
        include = _roots(author_scopes)
    else:
        include = ()
    exclude = _roots(org_paths[c] for c in spec.exclude_orgs)
    scope = _roots((*include, *(people_paths[p] for p in spec.people)))
    return Plan(
        include_paths=include,
        exclude_paths=exclude,
        roles=tuple(sorted(set(spec.roles))),
        person_ids=tuple(sorted(set(spec.people))),
        scope_paths=scope,
    )


def _roots(paths: object) -> tuple[str, ...]:
    """The distinct paths with those inside another one dropped, sorted."""
    assert not isinstance(paths, str)
    unique = sorted(set(paths))  # type: ignore[call-overload]
    out: list[str] = []
    for path in unique:
        if not any(contains(kept, path) for kept in out):
            out.append(path)
    return tuple(out)


def matches(p: Plan, person: PersonFacts) -> bool:
    """Whether ``person`` is in the audience (the same rule as the store's query)."""
    if person.status != "active":
        return False
    if person.person_id in p.person_ids:
        return True
    if person.kind != "official":
        return False
    if not any(contains(root, person.org_path) for root in p.include_paths):
        return False
    if any(contains(root, person.org_path) for root in p.exclude_paths):
        return False
    return not p.roles or bool(person.roles & set(p.roles))


def may_read(p: Plan, scopes: Sequence[str]) -> bool:
    """Whether someone holding ``notify`` on ``scopes`` may see the notification's report:
    every subtree it concerns lies in their scope."""
    if not scopes:
        return False
    return all(any(contains(s, path) for s in scopes) for path in p.scope_paths)
