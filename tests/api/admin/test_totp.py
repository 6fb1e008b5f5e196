"""An administrator's view and reset of a person's authenticator, scope-checked and audited."""

from __future__ import annotations

from tests.support.admin import ADMIN, grant, person
from tests.support.harness import PASSWORD
from tests.support.sso import (
    audit_rows,
    code,
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


async def test_reset_lets_the_person_enrol_again(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=True)
        _, pid = await official(api, root, "alice", "1001")
        status = await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=root)
        assert status["enrolled"] is False and status["mfa_required"] is True

        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        first = enrol_secret(page)
        status = await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=root)
        assert status["pending"] is True and status["enrolled"] is False
        done = await code(env.browser, page, totp_now(first, env.clock))
        await token_login(api, done.login_token)
        status = await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=root)
        assert status["enrolled"] is True and status["confirmed_ts"] == env.clock.now_ms()

        before = await api.call("POST", f"{ADMIN}/people/{pid}/totp/reset", user=root)
        assert before["enrolled"] is True
        status = await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=root)
        assert status["enrolled"] is False and status["pending"] is False
        rows = await audit_rows(api, root, "totp.reset")
        assert len(rows) == 1 and rows[0]["target_id"] == pid and rows[0]["org_code"] == "dep"
        assert rows[0]["actor"] == root.user_id and rows[0]["before"]["enrolled"] is True

        # The lost authenticator no longer works; the next login enrols a new one.
        env.clock.advance(30)
        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        second = enrol_secret(page)
        assert second != first
        done = await code(env.browser, page, totp_now(second, env.clock))
        await token_login(api, done.login_token)
        assert len(await audit_rows(api, root, "totp.enrol")) == 2


async def test_reset_during_a_login_ends_that_login(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=True)
        _, pid = await official(api, root, "alice", "1001")
        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        secret = enrol_secret(page)
        await api.call("POST", f"{ADMIN}/people/{pid}/totp/reset", user=root)
        step = await code(env.browser, page, totp_now(secret, env.clock))
        assert step.final is None and step.page is not None and step.page.status_code == 400


async def test_an_admin_of_one_ministry_cannot_touch_anothers_people(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=True)
        _, pid = await official(api, root, "alice", "1001")  # in mof > dep
        mof_admin = await api.register("mofadmin")
        moh_admin = await api.register("mohadmin")
        await grant(api, root, mof_admin.user_id, "org_admin", "mof")
        await grant(api, root, moh_admin.user_id, "org_admin", "moh")
        page = await password(env.browser, await start(env.browser), "alice", PASSWORD)
        done = await code(env.browser, page, totp_now(enrol_secret(page), env.clock))
        await token_login(api, done.login_token)

        for method, path in (("GET", "totp"), ("POST", "totp/reset")):
            await api.error(
                method, f"{ADMIN}/people/{pid}/{path}", 403, "TUMAR_OUT_OF_SCOPE", user=moh_admin
            )
        status = await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=mof_admin)
        assert status["enrolled"] is True  # nothing changed
        assert await audit_rows(api, root, "totp.reset") == []

        # A security officer may look but not reset; a plain user may do neither.
        officer = await api.register("officer")
        await grant(api, root, officer.user_id, "security_officer", "mof")
        await api.call("GET", f"{ADMIN}/people/{pid}/totp", user=officer)
        await api.error(
            "POST", f"{ADMIN}/people/{pid}/totp/reset", 403, "TUMAR_OUT_OF_SCOPE", user=officer
        )
        plain = await api.register("plain")
        await api.error("GET", f"{ADMIN}/people/{pid}/totp", 403, "M_FORBIDDEN", user=plain)
        await api.error("POST", f"{ADMIN}/people/{pid}/totp/reset", 403, "M_FORBIDDEN", user=plain)
        # The ministry's own administrator may reset.
        await api.call("POST", f"{ADMIN}/people/{pid}/totp/reset", user=mof_admin)
        assert len(await audit_rows(api, root, "totp.reset")) == 1


async def test_reset_of_unknown_or_unregistered_people(settings: Settings) -> None:
    async with sso_env(settings) as env:
        api = env.api
        root = await tree(api, mfa=False)
        await api.error(
            "POST", f"{ADMIN}/people/p_nobody/totp/reset", 404, "M_NOT_FOUND", user=root
        )
        created = await person(api, root, "3003", "dep")
        await api.error(
            "POST", f"{ADMIN}/people/{created['person_id']}/totp/reset", 409, "TUMAR_NO_ACCOUNT",
            user=root,
        )  # fmt: skip
        assert await audit_rows(api, root, "totp.reset") == []


async def test_openapi_document_lists_the_totp_routes(settings: Settings) -> None:
    async with sso_env(settings) as env:
        doc = await env.api.call("GET", f"{ADMIN}/openapi.json")
    paths = doc["paths"]
    status = paths[f"{ADMIN}/people/{{person_id}}/totp"]["get"]
    reset = paths[f"{ADMIN}/people/{{person_id}}/totp/reset"]["post"]
    for operation in (status, reset):
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/TotpStatusOut"}
    assert "enrolled" in doc["components"]["schemas"]["TotpStatusOut"]["properties"]
