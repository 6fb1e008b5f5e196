"""Profile and sessions in the browser: display name, password change, the list of sessions
and signing one out with the password (a wrong password is refused and changes nothing)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import CLIENT, Directory, WebServer, screenshot, sign_in


def test_profile_name_password_and_sessions(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    page = open_tab()
    sign_in(page, server, alice)
    page.locator("#me-link").click()
    expect(page.locator("h1")).to_have_text("Профиль и сеансы")

    page.get_by_label("Отображаемое имя").fill("Алиса А.")
    page.locator("#save-name").click()
    expect(page.get_by_text("Имя сохранено.")).to_be_visible()
    assert directory.request("GET", f"/profile/{alice.user_id}", None)["displayname"] == "Алиса А."

    # Two sessions: the activation's (from the API) and this tab's.
    sessions = page.locator("li.session")
    expect(sessions).to_have_count(2)
    expect(page.locator("li.session.current")).to_contain_text("этот сеанс")
    screenshot(page, "profile-1280")
    other = page.locator(f"li.session[data-device-id='{alice.device_id}']")
    other.get_by_role("button").click()
    page.locator("dialog input[type=password]").fill("wrong password")
    page.locator("dialog button[type=submit]").click()
    expect(page.locator(".form-status .error")).to_be_visible()
    expect(sessions).to_have_count(2)
    other.get_by_role("button").click()
    page.locator("dialog input[type=password]").fill(alice.password)
    page.locator("dialog button[type=submit]").click()
    expect(sessions).to_have_count(1)
    with httpx.Client(base_url=server.url) as client:
        gone = client.get(
            f"{CLIENT}/account/whoami", headers={"Authorization": f"Bearer {alice.token}"}
        )
    assert gone.status_code == 401

    # Password change: the wrong current password is refused; the right one works.
    page.get_by_label("Текущий пароль").fill("nope nope nope")
    page.get_by_label("Новый пароль").fill("Новый-пароль-2025!")
    page.get_by_label("Повторите пароль").fill("Новый-пароль-2025!")
    page.get_by_role("button", name="Сменить пароль").click()
    expect(page.locator(".form-status .error")).to_be_visible()
    page.get_by_label("Текущий пароль").fill(alice.password)
    page.get_by_role("button", name="Сменить пароль").click()
    expect(page.get_by_text("Пароль изменён.")).to_be_visible()
    # Signing out, then in with the new password.
    page.locator("#sign-out").click()
    expect(page.locator(".signin-status")).to_contain_text("Вы вышли")
    page.locator("input[name=username]").fill(alice.user_id)
    page.locator("input[name=password]").fill("Новый-пароль-2025!")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#sidebar h2")).to_have_text("Чаты")
