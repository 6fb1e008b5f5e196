"""The SSO login page: password, authenticator enrolment and codes, the one-time login token,
MFA enforcement on plain password logins, CSRF and redirect checks. Both backends."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from tests.support.admin import ADMIN
from tests.support.harness import PASSWORD
from tests.support.sso import (
    CLIENT_URL,
    PAGE,
    START,
    Env,
    audit_rows,
    code,
    csrf,
    enrol_secret,
    official,
    password,
    sso_env,
    start,
    token_login,
    totp_now,
    tree,
)
from tumar.config import Settings
from tumar.policy import totp as otp


async def enrol(env: Env, localpart: str) -> str:
    """Sign in through the page as ``localpart`` (whose organisation requires MFA), enrolling
    an authenticator; returns its secret."""
    page = await password(env.browser, await start(env.browser), localpart, PASSWORD)
    assert "Set up two-factor" in page.html or "двухфакторной" in page.html
    secret = enrol_secret(page)
    done = await code(env.browser, page, totp_now(secret, env.clock))
    await token_login(env.api, done.login_token)
    return secret


async def test_login_flows_offer_password_sso_and_token(settings: Settings) -> None:
    async with sso_env(settings) as env:
        flows = (await env.api.call("GET", "/login"))["flows"]
    types = [f["type"] for f in flows]
    assert types == ["m.login.password", "m.login.sso", "m.login.token"]
    assert "identity_providers" not in flows[1]  # no upstream providers configured


async def test_sso_without_mfa_gives_a_token_that_works_once(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=False)
        alice, _ = await official(api, root, "alice", "1001")
        page = await start(env.browser)
        assert page.page is not None and page.page.status_code == 200
        assert 'name="password"' in page.html
        assert page.page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.page.headers["content-security-policy"]

        done = await password(env.browser, page, "alice", PASSWORD)
        query = parse_qs(urlsplit(done.final or "").query)
        assert done.final is not None and done.final.startswith("https://client.example/done?")
        assert query["from"] == ["test"]  # the client's own query survives

        session = await token_login(api, done.login_token)
        assert session["user_id"] == alice.user_id
        who = await api.call(
            "GET", "/account/whoami", headers={"Authorization": f"Bearer {session['access_token']}"}
        )
        assert who["user_id"] == alice.user_id
        # Once and only once.
        await api.error(
            "POST",
            "/login",
            403,
            "M_FORBIDDEN",
            json={"type": "m.login.token", "token": done.login_token},
        )
        # Password login still works for people without an MFA requirement.
        await api.login("alice")
        rows = await audit_rows(api, root, "login.success")
        sso_rows = [r for r in rows if r["after"].get("method") == "sso"]
        assert len(sso_rows) == 1 and sso_rows[0]["target_id"] == alice.user_id
        assert sso_rows[0]["org_code"] == "dep"


async def test_mfa_org_enrols_then_requires_codes_and_refuses_replays(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=True)  # required on mof, inherited by dep
        alice, _ = await official(api, root, "alice", "1001")

        body = await api.error(
            "POST", "/login", 403, "TUMAR_MFA_REQUIRED",
            json={"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                  "password": PASSWORD},
        )  # fmt: skip
        assert "single sign-on" in body["error"]
        # A wrong password is still just a wrong password (no hint about MFA).
        await api.error(
            "POST", "/login", 403, "M_FORBIDDEN",
            json={"type": "m.login.password", "user": "alice", "password": "wrong"},
        )  # fmt: skip

        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        secret = enrol_secret(page)
        assert len(secret) == 32 and 'src="data:image/svg+xml' in page.html  # the QR code
        assert otp.grouped(secret) in page.html

        wrong = f"{(int(totp_now(secret, env.clock)) + 1) % 1_000_000:06d}"
        again = await code(env.browser, page, wrong)
        assert again.page is not None and again.page.status_code == 403
        assert "The code is wrong" in again.html and enrol_secret(again) == secret

        done = await code(env.browser, again, totp_now(secret, env.clock))
        session = await token_login(api, done.login_token)
        assert session["user_id"] == alice.user_id
        assert len(await audit_rows(api, root, "totp.enrol")) == 1

        # Next login: the code page; the code of the same time step is a replay.
        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        assert 'name="code"' in page.html and "otpauth://" not in page.html
        replay = await code(env.browser, page, totp_now(secret, env.clock))
        assert replay.page is not None and replay.page.status_code == 403
        assert "already used" in replay.html
        env.clock.advance(30)
        done = await code(env.browser, replay, totp_now(secret, env.clock))
        assert (await token_login(api, done.login_token))["user_id"] == alice.user_id

        failures = await audit_rows(api, root, "login.failure")
        reasons = {r["after"].get("reason") for r in failures}
        assert {"mfa_required", "totp_wrong", "totp_replayed"} <= reasons


async def test_enrolled_user_keeps_mfa_when_the_org_drops_it(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=True)
        await official(api, root, "alice", "1001")
        await enrol(env, "alice")
        await api.call("PATCH", f"{ADMIN}/orgs/mof", user=root, json={"mfa_required": False})
        await api.error(
            "POST", "/login", 403, "TUMAR_MFA_REQUIRED",
            json={"type": "m.login.password", "user": "alice", "password": PASSWORD},
        )  # fmt: skip


async def test_expired_login_token_is_refused(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=False)
        await official(env.api, root, "alice", "1001")
        done = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        env.clock.advance(env.services.settings.login_token_lifetime_s + 1)
        body = await env.api.error(
            "POST", "/login", 403, "M_FORBIDDEN",
            json={"type": "m.login.token", "token": done.login_token},
        )  # fmt: skip
        assert "expired" in body["error"]
        rows = await audit_rows(env.api, root, "login.failure")
        assert [r["after"]["reason"] for r in rows] == ["token_expired"]


async def test_bad_token_logins(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        await api.error("POST", "/login", 400, "M_BAD_JSON", json={"type": "m.login.token"})
        await api.error(
            "POST", "/login", 400, "M_BAD_JSON", json={"type": "m.login.token", "token": 5}
        )
        await api.error(
            "POST", "/login", 403, "M_FORBIDDEN", json={"type": "m.login.token", "token": "nope"}
        )


async def test_wrong_password_and_escaping_on_the_page(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=False)
        await official(env.api, root, "alice", "1001")
        page = await start(env.browser)
        evil = '<script>alert("x")</script>'
        again = await password(env.browser, page, evil, "whatever")
        assert again.page is not None and again.page.status_code == 403
        assert "Wrong user name or password" in again.html
        assert evil not in again.html and "&lt;script&gt;" in again.html
        again = await password(env.browser, again, "alice", "wrong")
        assert again.page is not None and again.page.status_code == 403
        rows = await audit_rows(env.api, root, "login.failure")
        assert len([r for r in rows if r["target_id"] == "@alice:tumar.test"]) >= 1
        done = await password(env.browser, again, "alice", PASSWORD)  # the page still works
        assert done.final is not None


async def test_csrf_and_cookie_are_required(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=False)
        await official(env.api, root, "alice", "1001")
        page = await start(env.browser)
        forged = await env.browser.post(
            f"{PAGE}/password",
            data={"csrf": "0" * 32, "username": "alice", "password": PASSWORD, "lang": "en"},
        )
        assert forged.status_code == 403 and "could not be verified" in forged.text
        assert "location" not in forged.headers
        # A form posted from another browser (no cookie) is refused too.
        async with env.new_browser() as other:
            stolen = await other.post(
                f"{PAGE}/password",
                data={"csrf": csrf(page), "username": "alice", "password": PASSWORD, "lang": "en"},
            )
        assert stolen.status_code == 400 and "expired" in stolen.text
        # Nothing moved: the original page still asks for the password, and works.
        done = await password(env.browser, page, "alice", PASSWORD)
        assert done.final is not None
        await token_login(env.api, done.login_token)


async def test_open_redirects_are_refused(settings: Settings) -> None:
    async with sso_env(settings) as env:
        for bad in (
            "https://evil.example/",
            "https://client.example.evil.com/",
            "https://client.example@evil.com/",
            "javascript:alert(1)",
            "",
        ):
            resp = await env.browser.get(START, params={"redirectUrl": bad})
            assert resp.status_code == 400, bad
            assert "does not allow" in resp.text or "не разрешает" in resp.text
            assert "set-cookie" not in resp.headers
        resp = await env.browser.get(START)  # no redirectUrl at all
        assert resp.status_code == 400
        resp = await env.browser.get(START + "/nowhere", params={"redirectUrl": CLIENT_URL})
        assert resp.status_code == 404


async def test_without_allowlist_the_person_confirms_the_client(settings: Settings) -> None:
    async with sso_env(settings, sso_client_allowlist=[]) as env:
        root = await tree(env.api, mfa=False)
        await official(env.api, root, "alice", "1001")
        resp = await env.browser.get(START, params={"redirectUrl": "javascript:alert(1)"})
        assert resp.status_code == 400  # still never a script URL
        page = await start(env.browser, "https://any.example/app")
        done = await password(env.browser, page, "alice", PASSWORD)
        assert done.page is not None and done.page.status_code == 200
        assert "<strong>any.example</strong>" in done.html
        link = done.html.split('class="button" href="')[1].split('"')[0]
        token = parse_qs(urlsplit(link.replace("&amp;", "&")).query)["loginToken"][0]
        await token_login(env.api, token)


async def test_too_many_wrong_codes_end_the_login(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=True)
        await official(env.api, root, "alice", "1001")
        secret = await enrol(env, "alice")
        env.clock.advance(30)
        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        right = totp_now(secret, env.clock)
        wrong = f"{(int(right) + 7) % 1_000_000:06d}"
        for _ in range(4):
            page = await code(env.browser, page, wrong)
            assert page.page is not None and page.page.status_code == 403
        last = await code(env.browser, page, wrong)
        assert last.page is not None and "Too many wrong codes" in last.html
        assert 'name="code"' not in last.html
        # The login is over: even the right code does not help now.
        resp = await env.browser.post(
            f"{PAGE}/code", data={"csrf": csrf(page), "code": right, "lang": "en"}
        )
        assert resp.status_code == 400 and "expired" in resp.text


async def test_language_follows_the_browser(settings: Settings) -> None:
    async with sso_env(settings) as env:
        for header, word in (("kk-KZ,kk;q=0.9", "Кіру"), ("en-GB", "Sign in"), ("", "Войти")):
            resp = await env.browser.get(
                START, params={"redirectUrl": CLIENT_URL}, headers={"Accept-Language": header}
            )
            page = await env.browser.get(resp.headers["location"])
            assert word in page.text, header


async def test_bad_form_input_changes_nothing(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=True)
        await official(env.api, root, "alice", "1001")
        page = await start(env.browser)
        token = csrf(page)
        huge = await env.browser.post(
            f"{PAGE}/password", data={"csrf": token, "username": "a" * 20_000, "password": "x"}
        )
        assert huge.status_code == 413
        as_json = await env.browser.post(
            f"{PAGE}/password", json={"csrf": token, "username": "alice", "password": PASSWORD}
        )
        assert as_json.status_code == 400  # not a form: read as an empty one
        empty = await env.browser.post(f"{PAGE}/password", data={"csrf": token, "lang": "en"})
        assert empty.status_code == 400 and 'name="password"' in empty.text
        bad_utf8 = await env.browser.post(
            f"{PAGE}/password",
            content=b"csrf=" + token.encode() + b"&username=%FF%FE",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert bad_utf8.status_code in (400, 403)
        # A code posted at the password stage does nothing; the page still asks for a password.
        early = await env.browser.post(f"{PAGE}/code", data={"csrf": token, "code": "123456"})
        assert early.status_code == 303
        assert 'name="password"' in (await env.browser.get(PAGE)).text

        page = await password(env.browser, page, "alice", PASSWORD)
        for junk in ("", "abcdef", "1234567", "12 34", "١٢٣٤٥٦"):
            step = await code(env.browser, page, junk)
            assert step.page is not None and step.page.status_code == 403, junk
            page = step
            if "Too many" in step.html:
                break
        rows = await audit_rows(env.api, root, "login.failure")
        assert {r["after"]["reason"] for r in rows} == {"totp_malformed"}
        assert await audit_rows(env.api, root, "totp.enrol") == []


async def test_concurrent_exchanges_of_one_token_log_in_once(settings: Settings) -> None:
    async with sso_env(settings) as env:
        root = await tree(env.api, mfa=False)
        await official(env.api, root, "alice", "1001")
        done = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        body = {"type": "m.login.token", "token": done.login_token}
        results = await asyncio.gather(
            *(env.api.raw("POST", "/login", json=body) for _ in range(4))
        )
        assert sorted(r.status_code for r in results) == [200, 403, 403, 403]
