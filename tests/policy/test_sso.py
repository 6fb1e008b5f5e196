"""Where login tokens may go, MFA requirements, and the stage after the first factor."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tumar.policy import sso
from tumar.policy.sso import Stage

ALLOW = ["https://chat.gov.kz/", "element://", "https://app.example"]


@pytest.mark.parametrize(
    ("url", "allowlist", "allowed", "confirm"),
    [
        ("https://chat.gov.kz/#/login", ALLOW, True, False),
        ("element://vector/webapp/", ALLOW, True, False),
        ("https://app.example", ALLOW, True, False),
        ("https://app.example/x?y=1", ALLOW, True, False),
        ("https://app.example.evil.com/", ALLOW, False, False),
        ("https://app.example@evil.com/", ALLOW, False, False),
        ("https://chat.gov.kz.evil.com/", ALLOW, False, False),
        ("https://evil.example/", ALLOW, False, False),
        ("https://any.example/", [], True, True),
        ("io.element.app:/callback", [], True, True),
        ("javascript:alert(1)", [], False, False),
        ("JavaScript:alert(1)", [], False, False),
        ("data:text/html,hi", [], False, False),
        ("https:///nohost", [], False, False),
        ("https://a.example/<script>", [], False, False),
        ("https://a.example/ x", [], False, False),
        ("//evil.example/", [], False, False),  # no scheme
        ("https://chat.gov.kz@evil.example/", [], False, False),  # user@host
        ("https://a.example:99999/", [], False, False),
        ("", [], False, False),
        ("https://a.example/" + "x" * 2000, [], False, False),
    ],
)
def test_redirect_urls(url: str, allowlist: list[str], allowed: bool, confirm: bool) -> None:
    check = sso.check_redirect_url(url, allowlist)
    assert bool(check.decision) is allowed and check.confirm is confirm
    if not allowed:
        assert check.decision.reason


def test_login_token_is_added_to_the_query() -> None:
    url = sso.with_login_token("https://c.example/p?a=1&loginToken=old#frag", "T+1")
    parts = urlsplit(url)
    assert parse_qs(parts.query) == {"a": ["1"], "loginToken": ["T+1"]}
    assert parts.fragment == "frag" and parts.path == "/p"


def test_ancestor_paths() -> None:
    assert sso.ancestor_paths("/gov/mof/dep/") == ["/gov/", "/gov/mof/", "/gov/mof/dep/"]
    assert sso.ancestor_paths("") == []


@pytest.mark.parametrize(
    ("org", "totp", "trust", "stage"),
    [
        (False, False, False, None),
        (True, False, False, Stage.ENROL),
        (True, True, False, Stage.TOTP),
        (False, True, False, Stage.TOTP),
        (True, False, True, None),
        (True, True, True, None),
    ],
)
def test_stage_after_first_factor(org: bool, totp: bool, trust: bool, stage: Stage | None) -> None:
    assert sso.stage_after_first_factor(org, totp, trust) == stage
    assert bool(sso.mfa_required(org, totp)) is (not org and not totp)
