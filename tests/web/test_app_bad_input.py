"""Bad input and bad luck in the browser: empty and oversized messages, a file over the
upload limit, an expired session, a server that goes away and comes back, a refused
classification change. Each time the app says what happened in plain words and nothing the
person typed is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

from tests.support.browser import Directory, Watch, WebServer, screenshot, sign_in
from tests.support.harness import User


def messages_in(directory: Directory, user: User, room: str) -> list[str]:
    got = directory.request(
        "GET", f"/rooms/{quote(room, safe='')}/messages", user, params={"dir": "b", "limit": 50}
    )
    return [e["content"].get("body", "") for e in got["chunk"] if e["type"] == "m.room.message"]


def open_room(page: Page, name: str) -> Locator:
    page.locator(".room-link", has_text=name).click()
    expect(page.locator("#room-title")).to_have_text(name)
    return page.locator("textarea.composer-input")


def test_empty_and_oversized_messages_are_refused_in_plain_words(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    room = directory.request("POST", "/createRoom", alice, json={"name": "Отчёты"})["room_id"]
    page = open_tab()
    sign_in(page, server, alice)
    composer = open_room(page, "Отчёты")
    composer.fill("   \n  ")
    composer.press("Enter")
    expect(page.locator(".composer-error")).to_contain_text("Сообщение пустое")
    huge = "Отчёт " * 12_000  # 72 000 bytes in UTF-8: over the server's event limit
    composer.fill(huge)
    composer.press("Enter")
    expect(page.locator(".composer-error")).to_contain_text("Сообщение слишком длинное")
    assert composer.input_value() == huge  # kept, so it can be shortened
    assert messages_in(directory, alice, room) == []
    # Shortened, it goes.
    composer.fill("Отчёт за квартал")
    expect(page.locator(".composer-error")).to_be_empty()
    composer.press("Enter")
    expect(page.locator("li.event.message", has_text="Отчёт за квартал")).to_be_visible()
    expect(page.locator("li.event.message.pending")).to_have_count(0)  # the server has it
    assert messages_in(directory, alice, room) == ["Отчёт за квартал"]


def test_a_file_over_the_limit_is_refused_before_uploading(
    server_factory: Callable[..., WebServer],
    open_tab: Callable[..., Page],
    tmp_path: Path,
) -> None:
    from tests.support.browser import build_directory

    server = server_factory(media_max_upload_bytes=2048)
    directory = build_directory(server)
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    room = directory.request("POST", "/createRoom", alice, json={"name": "Файлы"})["room_id"]
    page = open_tab()
    sign_in(page, server, alice)
    composer = open_room(page, "Файлы")
    composer.fill("Смета во вложении")
    big = tmp_path / "smeta.pdf"
    big.write_bytes(b"%PDF" + b"0" * 5000)
    page.locator(".composer input[type=file]").set_input_files(str(big))
    error = page.locator(".composer-error")
    expect(error).to_contain_text("«smeta.pdf» слишком большой")
    expect(error).to_contain_text("2 КБ")
    assert composer.input_value() == "Смета во вложении"
    small = tmp_path / "memo.txt"
    small.write_text("служебная записка")
    page.locator(".composer input[type=file]").set_input_files(str(small))
    card = page.locator(".file-card", has_text="memo.txt")
    expect(card).to_be_visible()
    expect(page.locator("li.event.message.pending")).to_have_count(0)
    assert composer.input_value() == "Смета во вложении"
    with page.expect_download() as got:
        card.get_by_role("button").click()
    assert Path(got.value.path()).read_text() == "служебная записка"
    assert messages_in(directory, alice, room) == ["memo.txt"]


def test_an_expired_session_returns_to_sign_in_and_keeps_the_draft(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    room = directory.request("POST", "/createRoom", alice, json={"name": "Приказы"})["room_id"]
    page = open_tab()
    sign_in(page, server, alice)
    composer = open_room(page, "Приказы")
    draft = "Проект приказа №12:\nутвердить график отпусков"
    composer.fill(draft)
    # The session ends elsewhere (an administrator, or another device, signs it out).
    token = page.evaluate("JSON.parse(sessionStorage.getItem('tumar.session')).accessToken")
    directory.request("POST", "/logout", User(alice.user_id, token, ""), json={})
    # The live sync notices at once (or the next send would): back to sign-in, with a reason.
    expect(page.locator(".signin-status")).to_contain_text("Сеанс завершён")
    assert page.evaluate("sessionStorage.getItem('tumar.session')") is None
    screenshot(page, "session-expired-1280")
    page.locator("input[name=username]").fill(alice.user_id)
    page.locator("input[name=password]").fill(alice.password)
    page.locator("form button[type=submit]").click()
    composer = open_room(page, "Приказы")
    expect(composer).to_have_value(draft)
    assert messages_in(directory, alice, room) == []


def test_the_app_recovers_when_the_server_goes_away_and_returns(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page], watch: Watch
) -> None:
    watch.network_expected = True  # connection refused while the server is down
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    bob = directory.official("bob", "Bolat Bekov", "Болат Беков", "2002")
    room = directory.request(
        "POST", "/createRoom", alice, json={"name": "Оперативка", "invite": [bob.user_id]}
    )["room_id"]
    directory.request("POST", f"/rooms/{quote(room, safe='')}/join", bob, json={})
    page = open_tab()
    sign_in(page, server, alice)
    composer = open_room(page, "Оперативка")

    def while_down() -> None:
        expect(page.locator("#offline-banner")).to_be_visible(timeout=20_000)
        composer.fill("Совещание переносится на 15:00")
        composer.press("Enter")
        expect(page.locator(".composer-error")).to_contain_text("не отправлено")
        expect(composer).to_have_value("Совещание переносится на 15:00")
        screenshot(page, "offline-1280")

    server.restart(while_down)
    expect(page.locator("#offline-banner")).to_be_hidden(timeout=30_000)
    # Live updates work again: a message from Bob arrives without a reload.
    directory.request(
        "PUT",
        f"/rooms/{quote(room, safe='')}/send/m.room.message/back1",
        bob,
        json={"msgtype": "m.text", "body": "Я на связи"},
    )
    expect(page.locator("li.event.message", has_text="Я на связи")).to_be_visible()
    composer.press("Enter")
    expect(page.locator("li.event.message", has_text="переносится на 15:00")).to_be_visible()
    expect(page.locator("li.event.message.pending")).to_have_count(0)
    assert messages_in(directory, alice, room) == [
        "Совещание переносится на 15:00",
        "Я на связи",
    ]


def test_a_refused_classification_change_is_explained(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    bob = directory.official("bob", "Bolat Bekov", "Болат Беков", "2002")
    room = directory.request(
        "POST", "/createRoom", alice, json={"name": "Закупки", "invite": [bob.user_id]}
    )["room_id"]
    directory.request("POST", f"/rooms/{quote(room, safe='')}/join", bob, json={})
    label_path = f"/rooms/{quote(room, safe='')}/state/kz.tumar.classification/"
    before = directory.request("GET", label_path, alice)
    page = open_tab()
    sign_in(page, server, bob)
    open_room(page, "Закупки")
    expect(page.locator("#classification-banner")).to_be_visible()
    page.locator("#settings-button").click()
    picker = page.locator("#label-picker")
    choice = "public" if before.get("label") != "public" else "official-use"
    picker.select_option(choice)
    page.locator("#save-label").click()
    status = page.locator("dialog .dialog-status .error")
    expect(status).not_to_be_empty()
    # The server's own words, not a code.
    text = status.inner_text()
    assert "M_" not in text and "TUMAR_" not in text and len(text) > 15
    screenshot(page, "label-refused-1280")
    assert directory.request("GET", label_path, alice) == before
