"""Government notifications in a real browser: a communications officer picks an audience (the
live count answers), sends a notification that needs acknowledgement; an official in a second
browser context sees it unread in their inbox and acknowledges it with the button; the
officer's report page then shows the acknowledgement rolled up the tree."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import ADMIN, Directory, WebServer, sign_in
from tests.web.test_admin_console import go, shot


def test_author_sends_and_official_acknowledges(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "3001")
    directory.official("bob", "Bob Berikov", "Бауыржан Бериков", "3002")
    comms = directory.official("comms", "Saule Comms", "Сауле Сейтова", "3003", org_code="gov")
    directory.request(
        "POST", f"{ADMIN}/roles", directory.root,
        json={"user_id": comms.user_id, "role": "comms_officer", "org_code": "gov"},
    )  # fmt: skip

    author = open_tab()
    sign_in(author, server, comms)
    go(author, server, "/notices/author")
    expect(author.locator("h1")).to_have_text("Новое уведомление")
    author.get_by_label("Заголовок").fill("Учебная тревога")
    author.get_by_label("Текст", exact=False).fill("Всем выйти из здания в **10:00**.")
    author.get_by_label("Организации (с подразделениями)").select_option("mof")
    expect(author.locator(".nt-count")).to_have_text("Получат 2 человека")
    author.get_by_label("Требуется подтверждение ознакомления").check()
    author.get_by_role("button", name="Отправить").click()
    expect(author.locator("h1")).to_have_text("Отчёт по уведомлению")
    total = author.locator("table.nt-report tr.nt-total td")
    expect(total.nth(1)).to_have_text("2")  # audience
    expect(total.nth(4)).to_have_text("0")  # acknowledged
    shot(author, "notices-report-before")

    official = open_tab()
    sign_in(official, server, alice)
    official.locator("#main-nav a", has_text="Уведомления").click()
    card = official.locator(".nt-item", has_text="Учебная тревога")
    expect(card.locator(".nt-state")).to_have_text("Не прочитано")
    expect(card.locator(".nt-body")).to_contain_text("**10:00**")
    card.get_by_role("button", name="Подтвердить ознакомление").click()
    expect(card.locator(".nt-state")).to_have_text("Подтверждено")
    expect(card.get_by_role("button", name="Подтвердить ознакомление")).to_have_count(0)
    shot(official, "notices-inbox")

    author.reload()
    total = author.locator("table.nt-report tr.nt-total td")
    expect(total.nth(4)).to_have_text("1")  # acknowledged
    expect(total.nth(5)).to_have_text("1")  # pending: bob
    expect(author.locator("table.nt-pending tbody tr")).to_have_count(1)
    expect(author.locator("table.nt-pending")).to_contain_text("Бауыржан Бериков")
    mof = author.locator("table.nt-report tbody tr", has_text="(mof)")
    expect(mof.locator("td").nth(4)).to_have_text("1")

    # An official without the role does not get the authoring page.
    go(official, server, "/notices/author")
    expect(official.locator("h1")).not_to_have_text("Новое уведомление")
