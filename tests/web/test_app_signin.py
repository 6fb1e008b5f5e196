"""Signing in to the web app in a real browser: password, wrong password, activation code,
and the way to the SSO page when the organisation requires a second factor."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import Directory, WebServer, screenshot
from tests.support.harness import PASSWORD
from tumar.policy.totp import code_at


def test_sign_in_with_password_shows_the_room_list(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    page = open_tab()
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_have_text("Вход")
    screenshot(page, "signin-1280")
    page.locator("input[name=username]").fill(alice.user_id)
    page.locator("input[name=password]").fill("not the password")
    page.locator("form button[type=submit]").click()
    expect(page.locator(".signin-status")).to_contain_text("Неверное имя пользователя или пароль")
    assert page.evaluate("sessionStorage.getItem('tumar.session')") is None
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("#sidebar h2")).to_have_text("Чаты")
    session = page.evaluate("JSON.parse(sessionStorage.getItem('tumar.session'))")
    assert session["userId"] == alice.user_id
    # The token lives in this tab's sessionStorage only: nothing sensitive in localStorage.
    local = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert session["accessToken"] not in local
    screenshot(page, "home-1280")


def test_first_sign_in_with_an_activation_code(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    code, user_id = directory.code_for("Dana Nurova", "Дана Нурова", "3001")
    page = open_tab()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Первый вход по коду").click()
    page.locator("input[name=code]").fill("AAAA-BBBB-CCCC-DDDD")
    page.locator("input[name=password]").fill("Весна-2025-пароль")
    page.locator("input[name=again]").fill("Весна-2025-пароль")
    page.locator("form button[type=submit]").click()
    refused = page.locator(".signin-status .error")
    expect(refused).not_to_be_empty()
    expect(refused).to_contain_text("Код активации не принят")
    page.locator("input[name=again]").fill("другой пароль")
    page.locator("input[name=code]").fill(code)
    page.locator("form button[type=submit]").click()
    expect(refused).to_have_text("Пароли не совпадают.")
    page.locator("input[name=again]").fill("Весна-2025-пароль")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#sidebar h2")).to_have_text("Чаты")
    session = page.evaluate("JSON.parse(sessionStorage.getItem('tumar.session'))")
    assert session["userId"] == user_id
    profile = directory.request("GET", f"/profile/{user_id}", None)
    assert profile["displayname"] == "Дана Нурова"


def test_second_factor_goes_through_the_sso_page(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    directory.request(
        "POST",
        "/_tumar/admin/v1/orgs",
        directory.root,
        json={
            "code": "kgd",
            "parent_code": "gov",
            "kind": "ministry",
            "name_kk": "kgd kk",
            "name_ru": "kgd ru",
            "name_en": "kgd en",
            "mfa_required": True,
        },
    )
    erlan = directory.official("erlan", "Erlan Ospanov", "Ерлан Оспанов", "4001", "kgd")
    page = open_tab()
    page.goto(server.url + "/")
    page.locator("input[name=username]").fill(erlan.user_id)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    # The server's reason in plain words, and the way on: the SSO button, focused.
    expect(page.locator(".signin-status")).to_contain_text("единый вход")
    sso = page.locator("#sso-button")
    expect(sso).to_be_focused()
    screenshot(page, "signin-mfa-1280")
    sso.click()
    # tumar's own SSO page: password, then enrolment of an authenticator, then back.
    page.locator("#username").fill(erlan.user_id)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    secret = page.locator(".key").inner_text()
    page.locator("#code").fill(code_at(secret, int(time.time() * 1000)))
    page.locator("form button[type=submit]").click()
    page.locator("a.button").click()  # "continue to <this app>"
    expect(page.locator("#sidebar h2")).to_have_text("Чаты")
    assert "loginToken" not in page.url
    session = page.evaluate("JSON.parse(sessionStorage.getItem('tumar.session'))")
    assert session["userId"] == erlan.user_id
