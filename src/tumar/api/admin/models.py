"""Request and response models of the admin API; they are also its OpenAPI document."""

from __future__ import annotations

import datetime
from typing import ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tumar.api.http import RequestBody
from tumar.policy.directory import ORG_KINDS, PERSON_KINDS, PERSON_STATUSES
from tumar.policy.roles import Role

OrgKind = Literal[
    "government",
    "ministry",
    "committee",
    "department",
    "unit",
    "regional_administration",
    "local_administration",
    "state_company",
]
PersonKind = Literal["official", "external"]
PersonStatus = Literal["active", "departed"]
RoleName = Literal[
    "operator", "org_admin", "security_officer", "comms_officer", "registry_clerk", "signatory"
]
# The literals above are the policy's own lists, spelt out for the type checker.
assert get_args(OrgKind) == ORG_KINDS
assert get_args(PersonKind) == PERSON_KINDS
assert get_args(PersonStatus) == PERSON_STATUSES
assert get_args(RoleName) == tuple(r.value for r in Role)
Name = Field(min_length=1, max_length=500)
Short = Field(default=None, max_length=500)


class AdminBody(RequestBody):
    """Admin request bodies refuse unknown keys, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PatchBody(AdminBody):
    """A partial update: absent fields stay; ``null`` clears, allowed only where a field may
    be empty (``NOT_NULL`` lists those that may not)."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchBody:
        nulls = [
            f for f in self.NOT_NULL if f in self.model_fields_set and getattr(self, f) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self


def _iso_date(value: str | None) -> str | None:
    if value is not None:
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date written YYYY-MM-DD") from None
        if len(value) != 10:
            raise ValueError("must be a date written YYYY-MM-DD")
    return value


class OrgIn(AdminBody):
    code: str = Field(min_length=1, max_length=64)
    parent_code: str | None = None
    kind: OrgKind
    name_kk: str = Name
    name_ru: str = Name
    name_en: str = Name
    region: str | None = Short
    head_person_id: str | None = Short
    register_by: str | None = None
    transition_by: str | None = None
    mfa_required: bool = False

    _dates = field_validator("register_by", "transition_by")(_iso_date)


class OrgPatch(PatchBody):
    NOT_NULL = ("kind", "name_kk", "name_ru", "name_en", "mfa_required")

    parent_code: str | None = None
    kind: OrgKind | None = None
    name_kk: str | None = Field(default=None, min_length=1, max_length=500)
    name_ru: str | None = Field(default=None, min_length=1, max_length=500)
    name_en: str | None = Field(default=None, min_length=1, max_length=500)
    region: str | None = Short
    head_person_id: str | None = Short
    register_by: str | None = None
    transition_by: str | None = None
    mfa_required: bool | None = None

    _dates = field_validator("register_by", "transition_by")(_iso_date)


class OrgOut(BaseModel):
    code: str
    parent_code: str | None
    path: str
    kind: str
    name_kk: str
    name_ru: str
    name_en: str
    region: str | None
    head_person_id: str | None
    register_by: str | None
    transition_by: str | None
    mfa_required: bool
    created_ts: int
    updated_ts: int


class OrgList(BaseModel):
    organisations: list[OrgOut]


class PersonIn(AdminBody):
    personnel_number: str = Field(min_length=1, max_length=64)
    org_code: str = Field(min_length=1, max_length=64)
    name_cyr: str = Name
    name_lat: str = Name
    position: str | None = Short
    email: str | None = Short
    phone: str | None = Short
    clearance: str | None = Field(default=None, max_length=64)
    kind: PersonKind = "official"


class PersonPatch(PatchBody):
    NOT_NULL = ("org_code", "name_cyr", "name_lat", "clearance", "kind", "status")

    org_code: str | None = Field(default=None, min_length=1, max_length=64)
    name_cyr: str | None = Field(default=None, min_length=1, max_length=500)
    name_lat: str | None = Field(default=None, min_length=1, max_length=500)
    position: str | None = Short
    email: str | None = Short
    phone: str | None = Short
    clearance: str | None = Field(default=None, max_length=64)
    kind: PersonKind | None = None
    status: PersonStatus | None = None
    user_id: str | None = Field(
        default=None, max_length=255, description="Link an existing account (null: unlink)"
    )


class PersonOut(BaseModel):
    person_id: str
    personnel_number: str
    org_code: str
    position: str | None
    name_cyr: str
    name_lat: str
    email: str | None
    phone: str | None
    clearance: str
    kind: str
    status: str
    user_id: str | None
    created_ts: int
    updated_ts: int


class PeoplePage(BaseModel):
    people: list[PersonOut]
    total: int


class GrantIn(AdminBody):
    user_id: str = Field(min_length=1, max_length=255)
    role: RoleName
    org_code: str = Field(default="", max_length=64)


class GrantOut(BaseModel):
    user_id: str
    role: str
    org_code: str
    granted_by: str
    created_ts: int


class GrantList(BaseModel):
    grants: list[GrantOut]


class WhoAmI(BaseModel):
    user_id: str
    grants: list[dict[str, str]]
    permissions: list[str] = Field(
        description="Every permission that some grant carries (somewhere in its scope)"
    )


class AuditOut(BaseModel):
    seq: int
    ts: int
    actor: str
    action: str
    target_type: str
    target_id: str
    org_code: str | None
    ip: str | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    prev_hash: str
    row_hash: str


class AuditPage(BaseModel):
    entries: list[AuditOut]
    next_before: int | None
