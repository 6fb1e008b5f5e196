"""Two officials in two browser contexts exchange messages live: unread counts, typing, a
reply, an edit, a reaction, an image, read receipts, and a deletion. Runs on SQLite and on
PostgreSQL (the messaging path is the one every official uses)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import Directory, WebServer, screenshot, sign_in


def room_link(page: Page, name: str) -> Locator:
    return page.locator(".room-link", has_text=name)


def message(page: Page, text: str) -> Locator:
    return page.locator("li.event.message", has_text=text)


def act(page: Page, text: str, action: str) -> None:
    """Use one of a message's action buttons (they show on hover or keyboard focus)."""
    item = message(page, text).first
    item.hover()
    item.locator(f"[data-action='{action}']").click()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_officials_chat_live(
    server: WebServer,
    directory: Directory,
    open_tab: Callable[..., Page],
    tmp_path: Path,
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    bob = directory.official("bob", "Bolat Bekov", "Болат Беков", "2002")
    room = directory.request(
        "POST", "/createRoom", alice, json={"name": "Бюджет 2025", "invite": [bob.user_id]}
    )["room_id"]
    directory.request("POST", f"/rooms/{quote(room, safe='')}/join", bob, json={})

    a = open_tab()
    b = open_tab()
    sign_in(a, server, alice)
    sign_in(b, server, bob)
    room_link(a, "Бюджет 2025").click()
    expect(a.locator("#room-title")).to_have_text("Бюджет 2025")
    expect(a.locator(".event.state", has_text="Болат Беков входит в комнату")).to_be_visible()

    # Alice types: Bob sees the typing indicator, then the message and an unread count.
    composer_a = a.locator("textarea.composer-input")
    composer_a.fill("Коллеги, проект бюджета готов")
    composer_a.press("Shift+Enter")
    composer_a.press_sequentially("Жду замечаний")
    assert composer_a.input_value() == "Коллеги, проект бюджета готов\nЖду замечаний"
    composer_a.press("Enter")
    expect(composer_a).to_have_value("")
    expect(b.locator(".room-preview", has_text="Жду замечаний")).to_be_visible()
    expect(room_link(b, "Бюджет 2025").locator(".unread")).to_have_text("1")
    room_link(b, "Бюджет 2025").click()
    expect(message(b, "Жду замечаний")).to_be_visible()
    expect(room_link(b, "Бюджет 2025").locator(".unread")).to_have_count(0)
    # Bob has read it: Alice sees the read receipt.
    expect(message(a, "Жду замечаний").locator(".receipts")).to_contain_text("Болат Беков")

    # Bob starts typing: Alice sees it.
    b.locator("textarea.composer-input").press_sequentially("Посмотрю")
    expect(a.locator(".typing")).to_contain_text("Болат Беков")

    # Bob replies to Alice's message.
    b.locator("textarea.composer-input").fill("")
    act(b, "Жду замечаний", "reply")
    expect(b.locator(".composer-context")).to_contain_text("Алиса Абенова")
    b.locator("textarea.composer-input").fill("Замечаний нет")
    b.locator("textarea.composer-input").press("Enter")
    reply = message(a, "Замечаний нет")
    expect(reply.locator(".reply-quote")).to_contain_text("Жду замечаний")
    expect(a.locator(".typing")).to_have_text("")

    # Alice edits her message (Up arrow in an empty composer edits the last own message).
    composer_a.press("ArrowUp")
    expect(a.locator(".composer-context")).to_contain_text("Изменение сообщения")
    composer_a.fill("Коллеги, проект бюджета готов (версия 2)")
    composer_a.press("Enter")
    edited = message(b, "версия 2")
    expect(edited.locator(".edited")).to_have_text("(изменено)")
    expect(message(b, "Жду замечаний")).to_have_count(0)

    # Bob reacts with a thumbs up; Alice sees the count and adds her own.
    act(b, "версия 2", "quick-👍")
    reaction_a = message(a, "версия 2").locator(".reaction")
    expect(reaction_a).to_have_text("👍 1")
    reaction_a.click()
    expect(message(b, "версия 2").locator(".reaction")).to_have_text("👍 2")

    # Alice sends an image: the upload shows progress, Bob sees the picture.
    picture = tmp_path / "chart.png"
    Image.new("RGB", (120, 80), (11, 92, 171)).save(picture)
    a.locator(".composer input[type=file]").set_input_files(str(picture))
    image_b = b.locator("img.msg-image[alt='chart.png']")
    expect(image_b).to_be_visible()
    b.wait_for_function(
        "() => { const i = document.querySelector(\"img.msg-image[alt='chart.png']\");"
        " return i && i.complete && i.naturalWidth === 120; }"
    )
    assert (image_b.get_attribute("src") or "").startswith("blob:")  # fetched with the token

    # Bob deletes his reply; Alice sees that it was deleted.
    act(b, "Замечаний нет", "delete")
    b.locator("dialog button.primary").click()
    expect(a.locator(".msg-text.redacted")).to_have_text("Сообщение удалено")

    # Day separators and sentences are there.
    expect(a.locator("li.day").first).to_have_text("Сегодня")
    screenshot(a, "room-1280")
    screenshot(b, "room-bob-1280")
