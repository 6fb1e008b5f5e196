"""A direct chat started from the directory: the colleague is found by name, gets the
invitation live, accepts it, and both see the chat as a direct one."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.support.browser import Directory, WebServer, screenshot, sign_in


def test_direct_chat_from_the_directory(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    bob = directory.official("bob", "Bolat Bekov", "Болат Беков", "2002")
    a = open_tab()
    b = open_tab()
    sign_in(a, server, alice)
    sign_in(b, server, bob)

    a.locator("#new-chat").click()
    dialog = a.locator("dialog")
    expect(dialog.locator("h2")).to_have_text("Личный чат")
    dialog.locator("input[type=search]").fill("Беков")
    person = dialog.locator("button.person", has_text="Болат Беков")
    expect(person).to_be_visible()
    expect(dialog.locator("button.person")).to_have_count(1)  # not Alice herself
    screenshot(a, "direct-search-1280")
    person.click()
    expect(a.locator("dialog")).to_have_count(0)
    expect(a.locator("#room-title")).to_have_text("Болат Беков")
    a.locator("textarea.composer-input").fill("Болат, добрый день! Есть минута?")
    a.locator("textarea.composer-input").press("Enter")

    # Bob gets the invitation live, named after Alice, and accepts it.
    invite = b.locator("li.room.invite", has_text="Алиса Абенова")
    expect(invite).to_be_visible()
    invite.get_by_role("button", name="Принять приглашение в «Алиса Абенова»").click()
    expect(b.locator("#room-title")).to_have_text("Алиса Абенова")
    expect(b.locator("li.event.message", has_text="Есть минута?")).to_be_visible()
    b.locator("textarea.composer-input").fill("Да, слушаю")
    b.locator("textarea.composer-input").press("Enter")
    expect(a.locator("li.event.message", has_text="Да, слушаю")).to_be_visible()

    # Both keep the room as a direct chat (m.direct account data).
    for user, other in ((alice, bob), (bob, alice)):
        direct = directory.request("GET", f"/user/{user.user_id}/account_data/m.direct", user)
        assert list(direct) == [other.user_id]
    # Starting a chat with the same person again opens the existing one.
    a.locator(".back-link").evaluate("el => el.click()")
    a.locator("#new-chat").click()
    a.locator("dialog input[type=search]").fill("Болат")
    a.locator("dialog button.person", has_text="Болат Беков").click()
    expect(a.locator("li.event.message", has_text="Да, слушаю")).to_be_visible()
    assert len(directory.request("GET", "/joined_rooms", alice)["joined_rooms"]) == 1


def test_create_a_room_invite_scroll_back_and_leave(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    bob = directory.official("bob", "Bolat Bekov", "Болат Беков", "2002")
    old = directory.request("POST", "/createRoom", bob, json={"name": "Архив"})["room_id"]
    for i in range(70):
        directory.request(
            "PUT",
            f"/rooms/{quote(old, safe='')}/send/m.room.message/old{i}",
            bob,
            json={"msgtype": "m.text", "body": f"Запись номер {i}"},
        )
    directory.request(
        "POST", f"/rooms/{quote(old, safe='')}/invite", bob, json={"user_id": alice.user_id}
    )
    a = open_tab()
    sign_in(a, server, alice)

    # Create a room, invite Bolat from the directory.
    a.locator("#new-room").click()
    a.get_by_label("Название").fill("Рабочая группа")
    a.get_by_label("Тема").fill("Подготовка к совещанию")
    a.locator("dialog button[type=submit]").click()
    expect(a.locator("#room-title")).to_have_text("Рабочая группа")
    expect(a.locator(".room-topic")).to_have_text("Подготовка к совещанию")
    a.locator("#invite-button").click()
    a.locator("dialog input[type=search]").fill("Болат")
    a.locator("dialog button.person", has_text="Болат Беков").click()
    expect(a.locator("dialog .dialog-status")).to_contain_text("Болат Беков")
    a.keyboard.press("Escape")
    expect(a.locator(".event.state", has_text="приглашает в комнату: Болат Беков")).to_be_visible()

    # The room list filter.
    search = a.get_by_label("Поиск по чатам")
    search.fill("рабоч")
    expect(a.locator("#sidebar .room")).to_have_count(1)
    search.fill("нет такого")
    expect(a.locator("#sidebar")).to_contain_text("Ничего не найдено.")
    search.fill("")

    # Accept the invitation to a long room and scroll back to its beginning.
    a.get_by_role("button", name="Принять приглашение в «Архив»").click()
    expect(a.locator("#room-title")).to_have_text("Архив")
    expect(a.locator("li.event.message", has_text="Запись номер 69")).to_be_visible()
    expect(a.locator("li.event.message", has_text="Запись номер 0")).to_have_count(0)
    timeline = a.locator(".timeline")
    for _ in range(10):
        timeline.evaluate("el => { el.scrollTop = 0; }")
        if a.locator(".timeline-top", has_text="Начало переписки").count():
            break
        a.wait_for_timeout(300)
    expect(a.locator(".timeline-top")).to_have_text("Начало переписки")
    expect(a.locator("li.event.message", has_text="Запись номер 0")).to_have_count(1)
    assert a.locator("li.event.message").count() == 70  # each exactly once

    # Leave it.
    a.locator("#leave-room").click()
    a.locator("dialog button.primary").click()
    expect(a.locator(".room-link", has_text="Архив")).to_have_count(0)
    joined = directory.request("GET", "/joined_rooms", alice)["joined_rooms"]
    assert old not in joined and len(joined) == 1
