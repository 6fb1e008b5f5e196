"""Registered official correspondence in a real browser: one letter from draft to closed across
two organisations, every actor in a browser context of their own. The author in mof drafts it
with an attachment (uploaded with progress) and submits it; the approver approves; the
signatory creates a key and signs (the verification report says the content is unchanged);
mof's registry clerk registers it (a second, stale tab of the clerk is refused readably);
moh's clerk registers it as incoming; moh's head writes a resolution (executor, due date,
controller, picked from the directory); the executor downloads the attachment and reports
execution; the controller closes it. The journals of both organisations then show the numbers
(also in the CSV), and the pages work at 390 px."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import ADMIN, PHONE, Directory, WebServer, sign_in
from tests.support.harness import PASSWORD, User
from tests.web.test_admin_console import go, shot

ATTACHMENT = b"%PDF-1.4\n% a letter's annex\n" + b"x" * 4000
LETTER_SUBJECT = "О представлении отчёта за III квартал"


def official(
    directory: Directory, number: str, name_cyr: str, name_lat: str, org: str
) -> tuple[User, str]:
    """An official who activated their account; returns the user and the person id."""
    made = directory.request(
        "POST", f"{ADMIN}/people", directory.root,
        json={"personnel_number": number, "org_code": org, "name_cyr": name_cyr,
              "name_lat": name_lat},
    )  # fmt: skip
    issued = directory.request(
        "POST", f"{ADMIN}/activation-codes", directory.root,
        json={"person_ids": [made["person_id"]]},
    )["codes"][0]  # fmt: skip
    body = directory.request(
        "POST", "/register", None,
        json={"password": PASSWORD,
              "auth": {"type": "m.login.registration_token", "token": issued["code"]}},
    )  # fmt: skip
    user = User(body["user_id"], body["access_token"], body["device_id"])
    directory.people[name_lat] = user
    return user, str(made["person_id"])


def grant(directory: Directory, user: User, role: str, org: str) -> None:
    directory.request(
        "POST", f"{ADMIN}/roles", directory.root,
        json={"user_id": user.user_id, "role": role, "org_code": org},
    )  # fmt: skip


def open_as(
    open_tab: Callable[..., Page],
    server: WebServer,
    user: User,
    viewport: dict[str, int] | None = None,
) -> Page:
    page = open_tab(viewport)
    sign_in(page, server, user)
    return page


def letter_page(page: Page, server: WebServer, letter_id: str) -> None:
    go(page, server, f"/letters/{letter_id}")
    expect(page.locator("h2.lt-subject-title")).to_have_text(LETTER_SUBJECT)


def act(page: Page, button: str, confirm: str | None = None) -> None:
    """Press an action button and confirm its dialog."""
    page.locator(".lt-actions, .lt-recipients").get_by_role("button", name=button).first.click()
    dialog = page.locator("dialog.lt-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=confirm or button, exact=True).click()
    expect(dialog).to_have_count(0)


def pick(page: Page, legend: str, search_label: str, term: str, shown: str) -> None:
    """Find a person in the directory through a picker and choose them."""
    box = page.locator(f"fieldset.lt-picker:has(legend:text-is('{legend}'))")
    box.get_by_label(search_label).fill(term)
    box.locator("button.lt-result", has_text=shown).click()
    expect(box.locator("ol.lt-chosen li", has_text=shown)).to_have_count(1)


def status(page: Page) -> str:
    return page.locator(".lt-facts .lt-status").first.inner_text()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_letter_from_draft_to_closed_across_two_organisations(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page], tmp_path: Path
) -> None:
    root = directory.root
    directory.request(
        "POST", f"{ADMIN}/orgs", root,
        json={"code": "moh", "parent_code": "gov", "kind": "ministry", "name_kk": "ДСМ",
              "name_ru": "Минздрав", "name_en": "Ministry of Health"},
    )  # fmt: skip
    author, _ = official(directory, "7001", "Айгерим Абенова", "Aigerim Abenova", "mof")
    approver, _ = official(directory, "7002", "Нурлан Беков", "Nurlan Bekov", "mof")
    signer, _ = official(directory, "7003", "Серик Досов", "Serik Dosov", "mof")
    clerk_mof, _ = official(directory, "7004", "Гульнар Есенова", "Gulnar Yesenova", "mof")
    clerk_moh, _ = official(directory, "8001", "Асель Жумабаева", "Assel Zhumabayeva", "moh")
    head, head_person = official(directory, "8002", "Ерлан Ибраев", "Yerlan Ibrayev", "moh")
    executor, _ = official(directory, "8003", "Дана Касымова", "Dana Kassymova", "moh")
    controller, _ = official(directory, "8004", "Марат Лекеров", "Marat Lekerov", "moh")
    grant(directory, signer, "signatory", "mof")
    grant(directory, clerk_mof, "registry_clerk", "mof")
    grant(directory, clerk_moh, "registry_clerk", "moh")
    directory.request("PATCH", f"{ADMIN}/orgs/moh", root, json={"head_person_id": head_person})

    # ---- the author drafts with an attachment and submits ------------------------------------
    a = open_as(open_tab, server, author)
    a.locator("#main-nav a", has_text="Переписка").click()
    expect(a.locator("h1")).to_have_text("Входящие")
    a.locator(".adm-tabs a", has_text="Новое письмо").click()
    expect(a.locator("h1")).to_have_text("Новое письмо")
    expect(a.get_by_label("Организация-отправитель (код)")).to_have_value("mof")
    a.get_by_label("Найти организацию (название или код)").fill("moh")
    a.get_by_label("Найти организацию (название или код)").press("Enter")
    expect(a.locator("ol[aria-label='Организации-получатели'] li")).to_have_count(1)
    a.get_by_label("Тема").fill(LETTER_SUBJECT)
    a.get_by_label("Текст письма", exact=False).fill("Прошу представить отчёт **до 10 октября**.")
    annex = tmp_path / "prilozhenie.pdf"
    annex.write_bytes(ATTACHMENT)
    a.locator("#lt-attach").set_input_files(str(annex))
    expect(a.locator(".lt-files li[data-done]", has_text="prilozhenie.pdf")).to_have_count(1)
    pick(a, "Согласующие", "Найти согласующего", "Беков", "Нурлан Беков")
    pick(a, "Подписант", "Найти подписанта", "Досов", "Серик Досов")
    shot(a, "letters-draft-1280")
    a.get_by_role("button", name="Сохранить и отправить на согласование").click()
    expect(a.locator("h1")).to_have_text("Письмо")
    expect(a.locator(".lt-facts .lt-status").first).to_have_text("На согласовании")
    letter_id = a.url.split("#/letters/")[1]
    expect(a.locator(".lt-body strong")).to_have_text("до 10 октября")
    with a.expect_download() as got:
        a.get_by_role("button", name="Скачать prilozhenie.pdf").click()
    assert Path(got.value.path()).read_bytes() == ATTACHMENT

    # ---- the approver finds it among their tasks and approves --------------------------------
    b = open_as(open_tab, server, approver)
    go(b, server, "/letters/tasks")
    group = b.locator("section.lt-task-group[data-task=approve]")
    expect(group).to_contain_text(LETTER_SUBJECT)
    group.get_by_role("link", name=LETTER_SUBJECT).click()
    act(b, "Согласовать")
    expect(b.locator(".lt-facts .lt-status").first).to_have_text("Согласовано")

    # ---- the signatory creates a key, signs, and verifies ------------------------------------
    s = open_as(open_tab, server, signer)
    letter_page(s, server, letter_id)
    s.locator(".lt-actions").get_by_role("button", name="Подписать", exact=True).click()
    dialog = s.locator("dialog.lt-dialog")
    dialog.get_by_role("button", name="Создать ключ Ed25519").click()
    expect(dialog.get_by_label("Ключ подписи")).to_be_visible()
    dialog.get_by_role("button", name="Подписать", exact=True).click()
    expect(s.locator(".lt-facts .lt-status").first).to_have_text("Подписано")
    s.get_by_role("button", name="Проверить подписи").click()
    expect(s.locator(".lt-report .lt-verdict")).to_have_text(
        "Подписи действительны, содержимое не изменялось после подписания."
    )
    expect(s.locator(".lt-report-files")).to_contain_text("prilozhenie.pdf: не изменялось")
    shot(s, "letters-verify-1280")

    # ---- mof's clerk registers it; a stale second tab is refused readably --------------------
    c = open_as(open_tab, server, clerk_mof)
    stale = open_as(open_tab, server, clerk_mof)
    letter_page(c, server, letter_id)
    letter_page(stale, server, letter_id)
    act(c, "Зарегистрировать исходящее")
    expect(c.locator(".lt-facts .lt-status").first).to_have_text("Зарегистрировано")
    outgoing = c.locator(".lt-facts dd").nth(3).inner_text()
    assert outgoing and outgoing != "—"
    act(stale, "Зарегистрировать исходящее")
    refusal = stale.locator(".lt-errors [role=alert]")
    expect(refusal).to_be_visible()
    assert "TUMAR_" not in refusal.inner_text() and len(refusal.inner_text()) > 10
    shot(stale, "letters-refusal-1280")
    stale.reload()
    expect(stale.locator(".lt-facts dd").nth(3)).to_have_text(outgoing)  # one number, unchanged

    # ---- moh's clerk registers it as incoming ------------------------------------------------
    m = open_as(open_tab, server, clerk_moh)
    go(m, server, "/letters")
    m.get_by_role("link", name=LETTER_SUBJECT).click()
    act(m, "Зарегистрировать входящее")
    row = m.locator("table.lt-recipients tbody tr").first
    expect(row.locator(".lt-status")).to_have_text("Зарегистрировано")
    incoming = row.locator("td").nth(2).inner_text()
    assert incoming and incoming != "—" and incoming != outgoing

    # ---- moh's head writes a resolution ------------------------------------------------------
    hd = open_as(open_tab, server, head)
    letter_page(hd, server, letter_id)
    hd.locator(".lt-recipients").get_by_role("button", name="Наложить резолюцию").click()
    dialog = hd.locator("dialog.lt-dialog")
    dialog.get_by_label("Текст резолюции").fill("Подготовить отчёт, доложить.")
    pick(hd, "Исполнители", "Найти исполнителя", "Касымова", "Дана Касымова")
    dialog.get_by_label("Срок исполнения").fill("2099-10-10")
    pick(hd, "Контролёр", "Найти контролёра", "Лекеров", "Марат Лекеров")
    dialog.get_by_role("button", name="Наложить резолюцию").click()
    expect(dialog).to_have_count(0)
    row = hd.locator("table.lt-recipients tbody tr").first
    expect(row.locator(".lt-status")).to_have_text("Резолюция наложена")
    expect(row).to_contain_text("Дана Касымова")

    # ---- the executor reports execution and downloads the attachment -------------------------
    e = open_as(open_tab, server, executor)
    go(e, server, "/letters/tasks")
    tasks = e.locator("section.lt-task-group[data-task=reply]")
    tasks.get_by_role("link", name=LETTER_SUBJECT).click()
    e.locator(".lt-recipients").get_by_role("button", name="Доложить об исполнении").click()
    dialog = e.locator("dialog.lt-dialog")
    dialog.get_by_label("Текст", exact=True).fill("Отчёт подготовлен и направлен.")
    dialog.get_by_role("button", name="Доложить об исполнении").click()
    expect(dialog).to_have_count(0)
    row = e.locator("table.lt-recipients tbody tr").first
    expect(row.locator(".lt-status")).to_have_text("Исполнено")

    # The executor did not upload the attachment: it comes through the letters API.
    with e.expect_download() as got:
        e.get_by_role("button", name="Скачать prilozhenie.pdf").click()
    assert Path(got.value.path()).read_bytes() == ATTACHMENT

    # ---- the controller closes it ------------------------------------------------------------
    k = open_as(open_tab, server, controller)
    letter_page(k, server, letter_id)
    act(k, "Снять с контроля")
    expect(k.locator(".lt-facts .lt-status").first).to_have_text("Закрыто")
    history = k.locator("table.lt-history tbody tr")
    expect(history.first).to_be_visible()
    assert history.count() >= 8

    # ---- both journals show the numbers, also in the CSV ------------------------------------
    go(c, server, "/letters/journal?direction=out")
    expect(c.locator("table.lt-journal-table")).to_contain_text(outgoing)
    go(m, server, "/letters/journal")
    journal = m.locator("table.lt-journal-table")
    expect(journal).to_contain_text(incoming)
    expect(journal).to_contain_text(outgoing)
    with m.expect_download() as got:
        m.get_by_role("button", name="Скачать CSV").click()
    text = Path(got.value.path()).read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2 and incoming in rows[1] and outgoing in rows[1]  # header, the letter
    shot(m, "letters-journal-1280")
    go(m, server, "/letters/control")
    expect(m.locator("h1")).to_have_text("Контроль исполнения")

    # ---- the letter and the inbox at 390 px --------------------------------------------------
    phone = open_as(open_tab, server, clerk_moh, PHONE)
    letter_page(phone, server, letter_id)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, width
    shot(phone, "letters-view-390")
