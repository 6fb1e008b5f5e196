"""The admin console in a real browser: an administrator imports a staff CSV with one bad row
(the dry-run diff, the per-row error, the progress bar, the confirmed import), the rollout
dashboard shows the imported people (figures, SVG charts, the overdue list), activation codes
are issued and exported as CSV, a person's session is revoked, the audit log is searched, and
the console works at 390 px in all three languages. No console errors anywhere (``watch``).
Screenshots of the main screens go to ``artifacts/screenshots/admin-*.png``."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import ADMIN, PHONE, SCREENSHOTS, Directory, WebServer, sign_in
from tests.support.harness import PASSWORD

HEADER = "personnel_number,org_code,name_cyr,name_lat,position\r\n"
STAFF = [
    ("5001", "mof", "Абенова Айгерим", "Abenova Aigerim", "Главный эксперт"),
    ("5002", "mof", "Беков Нурлан", "Bekov Nurlan", "Эксперт"),
    ("5003", "mof-it", "Сериков Даурен", "Serikov Dauren", "Руководитель"),
    ("5004", "mof-it", "Жумабаева Асель", "Zhumabayeva Assel", "Аналитик"),
    ("5005", "nope", "Ошибкин Пётр", "Oshibkin Pyotr", "Нет такой организации"),  # bad row
]


def staff_csv() -> bytes:
    return (HEADER + "".join(",".join(row) + "\r\n" for row in STAFF)).encode()


def shot(page: Page, name: str) -> Path:
    """A screenshot of the whole page: the shell scrolls its main region, so let the document
    grow to the content first (style properties, which the CSP allows, not a style sheet)."""
    page.evaluate(
        """() => {
          const app = document.querySelector('.app');
          const main = document.getElementById('main');
          if (app) app.style.height = 'auto';
          if (main) main.style.overflow = 'visible';
        }"""
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"admin-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.evaluate(
        """() => {
          const app = document.querySelector('.app');
          const main = document.getElementById('main');
          if (app) app.style.height = '';
          if (main) main.style.overflow = '';
        }"""
    )
    return path


def go(page: Page, server: WebServer, route: str) -> None:
    page.goto(f"{server.url}/#{route}")


def with_ministry_it(directory: Directory) -> None:
    """mof-it below mof, and a registration deadline in the past, so people are overdue."""
    directory.request(
        "POST", f"{ADMIN}/orgs", directory.root,
        json={"code": "mof-it", "parent_code": "mof", "kind": "department",
              "name_kk": "АТ департаменті", "name_ru": "Департамент ИТ",
              "name_en": "IT Department"},
    )  # fmt: skip
    directory.request(
        "PATCH", f"{ADMIN}/orgs/mof", directory.root, json={"register_by": "2025-01-15"}
    )


def test_import_with_a_bad_row_then_dashboard_and_codes(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    with_ministry_it(directory)
    page = open_tab()
    sign_in(page, server, directory.root)
    expect(page.locator("#main-nav a", has_text="Администрирование")).to_be_visible()

    # ---- the import: dry run with the diff and the row error, then the real import ----------
    go(page, server, "/admin/import")
    expect(page.locator("h1")).to_have_text("Импорт сотрудников")
    page.get_by_label("Файл сотрудников").set_input_files(
        {"name": "staff.csv", "mimeType": "text/csv", "buffer": staff_csv()}
    )
    page.get_by_role("button", name="Проверить файл").click()
    progress = page.locator(".adm-progress")
    expect(progress).to_have_attribute("data-phase", "done")
    expect(progress).to_contain_text("Проверка завершена")
    assert int(progress.get_attribute("data-updates") or 0) >= 2  # reading, importing, ...
    assert progress.locator("progress").evaluate("p => p.value") == 100
    report = page.locator(".adm-report")
    expect(report.locator("h2")).to_have_text("Что изменится")
    expect(report.locator(".adm-counts")).to_contain_text("Новые4")
    expect(report.locator(".adm-counts")).to_contain_text("Ошибки1")
    expect(report.locator("[role=alert]")).to_contain_text("В 1 строке ошибка")
    error_row = report.locator(".adm-import-errors tbody tr")
    expect(error_row).to_have_count(1)
    expect(error_row.locator("td").nth(0)).to_have_text("6")  # the header is row 1
    expect(error_row).to_contain_text("5005")
    expect(error_row).to_contain_text("nope")
    expect(report.locator(".adm-import-new tbody tr")).to_have_count(4)
    assert people_in(directory) == {}  # the dry run changed nothing
    shot(page, "import-diff-1280")

    page.get_by_role("button", name="Импортировать").click()
    expect(page.locator(".adm-report h2", has_text="Что сделано")).to_be_visible()
    expect(progress.first).to_have_attribute("data-phase", "done")
    expect(page.locator(".adm-progress")).to_contain_text("Импорт завершён")
    imported = people_in(directory)
    assert sorted(imported) == ["5001", "5002", "5003", "5004"]
    shot(page, "import-done-1280")

    # One imported person registers with an activation code, so the dashboard has a figure.
    issued = directory.request(
        "POST", f"{ADMIN}/activation-codes", directory.root,
        json={"person_ids": [imported["5001"]["person_id"]]},
    )["codes"][0]  # fmt: skip
    directory.request(
        "POST", "/register", None,
        json={"password": PASSWORD, "auth": {"type": "m.login.registration_token",
                                             "token": issued["code"]}},
    )  # fmt: skip

    # ---- the rollout dashboard shows them -------------------------------------------------
    go(page, server, "/admin")
    expect(page.locator("h1")).to_have_text("Подключение сотрудников")
    cards = page.locator(".adm-cards")

    def card(label: str):  # type: ignore[no-untyped-def]
        return cards.locator(".adm-card", has_text=label).locator(".adm-card-value")

    expect(card("Сотрудников")).to_have_text("4")
    expect(card("Зарегистрировано")).to_have_text("1")
    expect(card("Доля")).to_have_text(re.compile(r"^25\s%$"))
    expect(card("Просрочено")).to_have_text("3")
    bars = page.locator("svg.adm-bars[role=img]")
    expect(bars).to_be_visible()
    expect(bars.locator(".adm-chart-label")).to_have_text(["mof ru"])
    expect(bars.locator(".adm-chart-value")).to_have_text([re.compile(r"^25\s% \(1 / 4\)$")])
    assert bars.locator("rect.adm-bar").get_attribute("width") == "18%"  # 25 % of 72 %
    timeline = page.locator("svg.adm-timeline[role=img]")
    expect(timeline).to_be_visible()
    expect(timeline.locator("rect.adm-day")).to_have_count(2)  # today's bar and the legend
    overdue = page.locator("table.adm-overdue tbody tr")
    expect(overdue).to_have_count(3)
    expect(page.locator("table.adm-overdue")).to_contain_text("Беков Нурлан")
    expect(page.locator("table.adm-overdue")).not_to_contain_text("Абенова Айгерим")
    shot(page, "rollout-1280")
    with page.expect_download() as got:
        page.get_by_role("button", name="Скачать список (CSV)").click()
    rows = list(csv.reader(io.StringIO(Path(got.value.path()).read_text("utf-8-sig"))))
    assert rows[0][0] == "personnel_number" and sorted(r[0] for r in rows[1:]) == [
        "5002", "5003", "5004",
    ]  # fmt: skip

    # Drill down into mof: its department is a bar of its own.
    page.locator("table.adm-table a", has_text="mof ru").click()
    expect(bars.locator(".adm-chart-label")).to_have_text(["Департамент ИТ"])

    # ---- activation codes for the rest of mof, exported as CSV ------------------------------
    go(page, server, "/admin/codes")
    page.get_by_label("Организация").select_option("mof")
    page.get_by_role("button", name="Выдать коды").click()
    dialog = page.locator("dialog.adm-dialog")
    expect(dialog).to_contain_text("mof ru")
    dialog.get_by_role("button", name="Выдать коды").click()
    expect(page.locator(".adm-codes-result [role=status]")).to_have_text("Выдано 3 кода.")
    expect(page.locator("table.adm-codes tbody tr")).to_have_count(3)
    with page.expect_download() as got:
        page.get_by_role("button", name="Сохранить CSV для писем").click()
    assert got.value.suggested_filename == "activation-codes-mof.csv"
    letters = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text("utf-8-sig"))))
    assert sorted(r["personnel_number"] for r in letters) == ["5002", "5003", "5004"]
    shown = page.locator("table.adm-codes .adm-code").all_inner_texts()
    assert sorted(r["code"] for r in letters) == sorted(shown)
    shot(page, "codes-1280")


def people_in(directory: Directory) -> dict[str, dict[str, str]]:
    page = directory.request("GET", f"{ADMIN}/people?limit=1000", directory.root)
    return {p["personnel_number"]: p for p in page["people"]}


def test_revoke_a_session_and_search_the_audit_log(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    with server.http() as client:
        phone = client.post(
            "/_matrix/client/v3/login",
            json={"type": "m.login.password", "identifier": {"type": "m.id.user",
                  "user": alice.user_id}, "password": PASSWORD,
                  "initial_device_display_name": "Телефон Алисы"},
        ).json()  # fmt: skip
    page = open_tab()
    sign_in(page, server, directory.root)
    go(page, server, "/admin/people")
    page.get_by_label("ФИО, табельный номер, должность, почта").fill("2001")
    page.get_by_role("button", name="Найти").click()
    expect(page.locator(".adm-found")).to_have_text("Найден 1 сотрудник")
    page.get_by_role("link", name="Алиса Абенова").click()
    expect(page.locator("h1")).to_have_text("Алиса Абенова")
    sessions = page.locator("table.adm-session-table tbody tr")
    expect(sessions).to_have_count(2)
    shot(page, "person-1280")

    page.get_by_role("button", name="Завершить сеанс Телефон Алисы").click()
    dialog = page.locator("dialog.adm-dialog")
    expect(dialog).to_contain_text("Телефон Алисы")
    dialog.get_by_role("button", name="Завершить").click()
    expect(page.locator("#live")).to_contain_text("Сеанс «Телефон Алисы» завершён.")
    expect(sessions).to_have_count(1)
    expect(page.locator("table.adm-session-table")).not_to_contain_text("Телефон Алисы")
    with server.http() as client:
        gone = client.get(
            "/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {phone['access_token']}"},
        )
        kept = client.get(
            "/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {alice.token}"},
        )
    assert (gone.status_code, kept.status_code) == (401, 200)

    # The audit log finds the revocation by action prefix and by the person's user id.
    go(page, server, "/admin/audit")
    page.get_by_label("Действие").fill("session.")
    page.get_by_label("Объект").fill(alice.user_id)
    page.get_by_role("button", name="Найти").click()
    entries = page.locator("table.adm-audit tbody tr")
    expect(entries).to_have_count(1)
    expect(entries).to_contain_text("session.revoke")
    expect(entries).to_contain_text(directory.root.user_id)
    entries.locator("summary").click()
    expect(entries.locator("pre")).to_contain_text(phone["device_id"])
    shot(page, "audit-1280")
    # Words match too; a search with no match says so.
    page.get_by_label("Действие").fill("")
    page.get_by_label("Объект").fill("")
    page.get_by_label("Слова").fill("no such words anywhere")
    page.get_by_role("button", name="Найти").click()
    expect(page.locator(".adm-found")).to_have_text("Показано 0 записей.")


def test_phone_width_languages_and_no_console_for_officials(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    with_ministry_it(directory)
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    page = open_tab(PHONE)
    sign_in(page, server, directory.root)
    for route, name, ready in (
        ("/admin", "rollout", "svg.adm-timeline"),
        ("/admin/orgs", "orgs", ".adm-tree li"),
        ("/admin/import", "import", "form.adm-import-form"),
    ):
        go(page, server, route)
        expect(page.locator(ready).first).to_be_visible()
        # Nothing sticks out sideways: wide tables scroll inside their own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, f"{name}-390")
    expect(page.locator(".adm-tabs a[aria-current=page]")).to_have_text("Импорт")
    expect(page.locator(".adm-tabs a[aria-current=page]")).to_be_in_viewport()
    # Keyboard: the file field is reachable and labelled.
    expect(page.get_by_label("Файл сотрудников")).to_be_enabled()

    page.locator("#lang-select").select_option("kk")
    expect(page.locator(".adm-title")).to_have_text("Қызметкерлерді импорттау")
    expect(page.locator(".adm-tabs")).to_contain_text("Белсендіру кодтары")
    page.locator("#lang-select").select_option("en")
    expect(page.locator(".adm-title")).to_have_text("Staff import")
    go(page, server, "/admin")
    expect(page.locator(".adm-cards")).to_contain_text("Share registered")
    shot(page, "rollout-390-en")
    page.locator("#lang-select").select_option("ru")

    # An official without an administrative role sees no console, even by its address.
    official = open_tab()
    sign_in(official, server, alice)
    expect(official.locator("#main-nav a", has_text="Администрирование")).to_have_count(0)
    go(official, server, "/admin/people")
    expect(official.locator(".adm-title")).to_have_count(0)
    with httpx.Client(base_url=server.url) as client:
        refused = client.get(f"{ADMIN}/people", headers={"Authorization": f"Bearer {alice.token}"})
    assert refused.status_code == 403
