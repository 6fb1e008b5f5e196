"""The interface language: Russian by default, switchable to Kazakh and English, remembered
(the preference only, in localStorage), with dates and numbers in the chosen language; and
the phone layout at 390 px."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.support.browser import PHONE, Directory, WebServer, screenshot, sign_in


def test_language_switch_changes_the_interface(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    room = directory.request("POST", "/createRoom", alice, json={"name": "Planning"})["room_id"]
    directory.request(
        "PUT",
        f"/rooms/{quote(room, safe='')}/send/m.room.message/t1",
        alice,
        json={"msgtype": "m.text", "body": "1234567 tenge"},
    )
    page = open_tab()
    sign_in(page, server, alice)
    assert page.evaluate("document.documentElement.lang") == "ru"
    expect(page.locator("#sign-out")).to_have_text("Выйти")

    page.locator("#lang-select").select_option("kk")
    expect(page.locator("#sign-out")).to_have_text("Шығу")
    expect(page.locator("#sidebar h2")).to_have_text("Чаттар")
    assert page.evaluate("document.documentElement.lang") == "kk"

    page.locator("#lang-select").select_option("en")
    expect(page.locator("#sign-out")).to_have_text("Sign out")
    page.locator(".room-link", has_text="Planning").click()
    expect(page.locator("li.day").first).to_have_text("Today")
    expect(page.locator("textarea.composer-input")).to_have_attribute("placeholder", "Message…")
    expect(page.locator("#room-title")).to_have_text("Planning")
    # The preference survives a reload; the room view is re-rendered in English.
    page.reload()
    expect(page.locator("#sign-out")).to_have_text("Sign out")
    expect(page.locator("li.day").first).to_have_text("Today")
    assert page.evaluate("localStorage.getItem('tumar.lang')") == "en"
    # Numbers and dates go through Intl for the chosen language.
    formatted = page.evaluate(
        "async () => { const m = await import('/static/lib/i18n.js');"
        " const out = [m.fmtNumber(1234567.5)]; m.setLang('ru'); out.push(m.fmtNumber(1234567.5));"
        " out.push(m.fmtDate(Date.UTC(2025, 0, 15, 9), {dateStyle: 'long', timeZone: 'UTC'}));"
        " return out; }"
    )
    assert formatted[0] == "1,234,567.5"
    assert formatted[1].replace("\u00a0", " ").replace("\u202f", " ") == "1 234 567,5"
    assert formatted[2].startswith("15 января 2025")
    expect(page.locator("#sign-out")).to_have_text("Выйти")


def test_phone_layout_shows_list_then_room(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    directory.request("POST", "/createRoom", alice, json={"name": "Совещание в пятницу"})
    page = open_tab(PHONE)
    sign_in(page, server, alice)
    link = page.locator(".room-link", has_text="Совещание в пятницу")
    expect(link).to_be_visible()
    expect(page.locator("#main")).to_be_hidden()
    screenshot(page, "rooms-390")
    link.click()
    expect(page.locator("#room-title")).to_be_visible()
    expect(page.locator("#sidebar")).to_be_hidden()
    page.locator("textarea.composer-input").fill("Буду к 10:00")
    page.locator("textarea.composer-input").press("Enter")
    expect(page.locator("li.event.message", has_text="Буду к 10:00")).to_be_visible()
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "room-390")
    page.locator(".back-link").click()
    expect(link).to_be_visible()
    # The menu button opens the navigation on a narrow screen, with the keyboard too.
    toggle = page.locator(".menu-toggle")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#main-nav")).to_be_visible()
    screenshot(page, "menu-390")
