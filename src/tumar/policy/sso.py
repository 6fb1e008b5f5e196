"""Decisions of the single sign-on login: pure functions, no I/O.

Where a login token may be sent (the ``redirectUrl`` a client names), whether a user needs a
second factor, and which stage of the login page comes after the first factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tumar.policy.decision import Decision

MAX_REDIRECT_URL = 2000
# Schemes that would run or smuggle content in the browser instead of opening a client.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})
LOCAL_IDP = "local"  # the id of tumar's own password (+ code) page among identity providers


class Stage(StrEnum):
    PASSWORD = "password"  # tumar's page asks for the user name and password
    OIDC = "oidc"  # waiting for the identity provider to send the browser back
    TOTP = "totp"  # first factor done; asks for the code of the enrolled authenticator
    ENROL = "enrol"  # first factor done; MFA required but no authenticator yet: enrol one


@dataclass(frozen=True, slots=True)
class RedirectCheck:
    decision: Decision
    confirm: bool  # True: show a page naming where the token goes before sending it


def check_redirect_url(url: str, allowlist: Sequence[str]) -> RedirectCheck:
    """Whether a login token may be sent to ``url``.

    With an allow-list, ``url`` must start with one of its prefixes at a boundary (the prefix
    ends with ``/``, or the URL continues with ``/``, ``?``, ``#`` or ends), so that
    ``https://app.example`` does not admit ``https://app.example.evil``. Without one, any client
    URL is allowed but the user confirms where the token goes, as Synapse does.
    """
    if not url or len(url) > MAX_REDIRECT_URL:
        return RedirectCheck(Decision.deny("The redirect URL is missing or too long."), False)
    if any(ord(c) < 0x21 or c in '"<>\\`' or ord(c) == 0x7F for c in url):
        return RedirectCheck(Decision.deny("The redirect URL contains invalid characters."), False)
    try:
        parts = urlsplit(url)
    except ValueError:
        return RedirectCheck(Decision.deny("The redirect URL is not a URL."), False)
    scheme = parts.scheme.lower()
    if not scheme or scheme in FORBIDDEN_SCHEMES:
        return RedirectCheck(Decision.deny("The redirect URL must name a client's address."), False)
    if scheme in ("http", "https") and not parts.hostname:
        return RedirectCheck(Decision.deny("The redirect URL has no host."), False)
    if "@" in parts.netloc:  # user@host reads as another host to a person
        return RedirectCheck(Decision.deny("The redirect URL must not contain a user name."), False)
    try:
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return RedirectCheck(Decision.deny("The redirect URL has an invalid port."), False)
    if not allowlist:
        return RedirectCheck(Decision.allow(), True)
    for prefix in allowlist:
        if _has_prefix(url, prefix):
            return RedirectCheck(Decision.allow(), False)
    return RedirectCheck(
        Decision.deny("This client's address is not on the server's list of allowed clients."),
        False,
    )


def _has_prefix(url: str, prefix: str) -> bool:
    if not prefix or not url.startswith(prefix):
        return False
    if prefix.endswith(("/", "?", "#", ":")):
        return True
    rest = url[len(prefix) :]
    return rest == "" or rest[0] in "/?#"


def with_login_token(url: str, token: str) -> str:
    """``url`` with ``loginToken`` added to its query (replacing one already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "loginToken"]
    query.append(("loginToken", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def ancestor_paths(path: str) -> list[str]:
    """Every materialised path from the root down to ``path``: ``/a/b/`` -> ``/a/``, ``/a/b/``."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def mfa_required(org_requires: bool, has_confirmed_totp: bool) -> Decision:
    """A user needs a second factor when their organisation (or any organisation above it)
    requires one, or when they already have an authenticator: once enrolled, a password alone
    never logs them in, even after the organisation drops the requirement."""
    if org_requires:
        return Decision.deny("Your organisation requires a one-time code from an authenticator.")
    if has_confirmed_totp:
        return Decision.deny("Your account is protected by a one-time code from an authenticator.")
    return Decision.allow()


def stage_after_first_factor(
    org_requires: bool, has_confirmed_totp: bool, idp_satisfies_mfa: bool
) -> Stage | None:
    """The next stage once the user is known (None: the login is complete).

    ``idp_satisfies_mfa``: the operator trusts the upstream identity provider's own second
    factor for this provider, so tumar asks for no code of its own.
    """
    if idp_satisfies_mfa:
        return None
    if has_confirmed_totp:
        return Stage.TOTP
    if org_requires:
        return Stage.ENROL
    return None
