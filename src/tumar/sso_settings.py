"""Typed settings of upstream OpenID Connect identity providers (the ``oidc_providers`` option;
see ``docs/config.md`` and ``docs/directory.md``)."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

IDP_ID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
RESERVED_IDP_IDS = frozenset({"local"})  # tumar's own password page


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url(url: str) -> bool:
    """https, or http to this machine's loopback (a provider started by tests or a sidecar)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))


class OidcUserMapping(BaseModel):
    """Which claim names the person, and what it is matched against. Unknown people are
    refused: accounts come from the HR import, never from a first login."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: str = Field("sub", min_length=1, max_length=200)
    """The ID-token (or userinfo) claim to read, e.g. ``personnel_number``, ``email``."""

    match: Literal["personnel_number", "email", "localpart"] = "personnel_number"
    """``personnel_number``: the person with that personnel number; ``email``: the one person
    with that e-mail address (the provider must mark it ``email_verified``); ``localpart``: the
    account ``@VALUE:server_name``."""


class OidcProvider(BaseModel):
    """One upstream identity provider, reached with the authorization code flow and PKCE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """Stable id, shown to clients in ``identity_providers`` and used in
    ``/login/sso/redirect/{id}``: letters, digits, ``.``, ``_``, ``~``, ``-``."""

    name: str = Field(min_length=1, max_length=200)
    """Name on the login button."""

    issuer: str
    """The provider's issuer URL; its discovery document is ``ISSUER/.well-known/
    openid-configuration``. https, except for a loopback address."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr = SecretStr("")
    client_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    user_mapping: OidcUserMapping = OidcUserMapping()

    trust_mfa: bool = False
    """True: the provider's own second factor is enough. False (default): a user whose
    organisation requires MFA, or who has an authenticator, also enters tumar's one-time code."""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not IDP_ID.match(value) or value in RESERVED_IDP_IDS:
            raise ValueError(
                "an identity provider id has 1-64 letters, digits, '.', '_', '~' or '-', "
                "and is not 'local'"
            )
        return value

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        if not secure_url(value):
            raise ValueError("the issuer must be an https URL (http only on a loopback address)")
        return value

    @model_validator(mode="after")
    def _check_scopes(self) -> OidcProvider:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include 'openid'")
        return self
