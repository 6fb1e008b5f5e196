"""The security officers' pages in a real browser: verify the audit chain, export the log as
JSON Lines, place and lift a legal hold on a room (with the refusal of a bad target shown in
plain words), and search the audit for it. An org administrator sees no security pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import ADMIN, Directory, WebServer, sign_in
from tests.web.test_admin_console import go, shot


def test_security_officer_verifies_exports_and_holds(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page]
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "2001")
    officer = directory.official("officer", "Serik Oralov", "Серик Оралов", "2002")
    admin = directory.official("admin", "Dana Omarova", "Дана Омарова", "2003")
    directory.request(
        "POST", f"{ADMIN}/roles", directory.root,
        json={"user_id": officer.user_id, "role": "security_officer", "org_code": ""},
    )  # fmt: skip
    directory.request(
        "POST", f"{ADMIN}/roles", directory.root,
        json={"user_id": admin.user_id, "role": "org_admin", "org_code": "mof"},
    )  # fmt: skip
    room = directory.request("POST", "/createRoom", alice, json={"name": "Расследование"})[
        "room_id"
    ]

    page = open_tab()
    sign_in(page, server, officer)
    page.locator("#main-nav a", has_text="Безопасность").click()
    expect(page.locator("h1")).to_have_text("Цепочка аудита")
    page.get_by_role("button", name="Проверить журнал").click()
    verdict = page.locator(".sec-verify .sec-ok")
    expect(verdict).to_contain_text("Журнал не изменён")
    expect(page.locator(".sec-key")).not_to_be_empty()

    page.get_by_label("Действие").fill("role.")
    with page.expect_download() as got:
        page.get_by_role("button", name="Выгрузить").click()
    lines = Path(got.value.path()).read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert rows and all(r["action"].startswith("role.") for r in rows)
    assert {r["target_id"] for r in rows} >= {officer.user_id, admin.user_id}
    expect(page.locator("[role=status].adm-ok")).to_contain_text(f"Выгружено {len(rows)}")
    shot(page, "security-chain-1280")

    # Labels and rules: the configured order; raising the label above a member's clearance is
    # refused in the server's words; lowering it (with a reason) goes through.
    page.locator(".adm-tabs a", has_text="Метки и правила").click()
    expect(page.locator(".sec-label-order li")).to_have_count(3)
    expect(page.locator(".sec-label-order")).to_contain_text("official-use")
    row = page.locator("table.sec-rooms tbody tr", has_text=room)
    expect(row.locator(".sec-label")).to_have_text("internal")

    def relabel(label: str) -> None:
        row.get_by_role("button", name="Изменить метку").click()
        dialog = page.locator("dialog.adm-dialog")
        dialog.get_by_label("Новая метка").select_option(label)
        dialog.get_by_label("Причина").fill("Материалы проверки")
        dialog.get_by_role("button", name="Изменить метку").click()

    relabel("official-use")
    expect(page.locator("#live")).to_contain_text("would exclude 1 current member")
    expect(row.locator(".sec-label")).to_have_text("internal")
    relabel("public")
    expect(page.locator("#live")).to_contain_text("Метка изменена на «public».")
    expect(row.locator(".sec-label")).to_have_text("public")
    shot(page, "security-labels-1280")
    state = directory.request("GET", f"/rooms/{room}/state/kz.tumar.classification/", alice)
    assert state["label"] == "public"

    # Legal hold: a bad room id is refused in the server's words, then a real one is placed.
    page.locator(".adm-tabs a", has_text="Правовые удержания").click()
    expect(page.locator("h1")).to_have_text("Правовые удержания")
    expect(page.locator("[role=status]", has_text="Удержаний нет.")).to_be_visible()
    page.get_by_label("Объект").fill("!nosuchroom:tumar.test")
    page.get_by_label("Основание").fill("Дело № 12/2026")
    page.get_by_role("button", name="Поставить удержание").click()
    expect(page.locator(".adm-error")).to_be_visible()
    page.get_by_label("Объект").fill(room)
    page.get_by_role("button", name="Поставить удержание").click()
    holds = page.locator("table.sec-holds tbody tr")
    expect(holds).to_have_count(1)
    expect(holds).to_contain_text(room)
    expect(holds).to_contain_text("Дело № 12/2026")
    expect(holds).to_contain_text("Действует")
    shot(page, "security-holds-1280")
    # Lifting needs grounds too; the dialog will not close without them.
    holds.get_by_role("button", name="Снять").click()
    dialog = page.locator("dialog.adm-dialog")
    dialog.get_by_role("button", name="Снять").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Причина").fill("Дело закрыто")
    dialog.get_by_role("button", name="Снять").click()
    expect(page.locator("#live")).to_contain_text("Удержание снято.")
    expect(page.locator("[role=status]", has_text="Удержаний нет.")).to_be_visible()
    page.get_by_label("Показывать снятые").check()
    expect(holds).to_contain_text("Дело закрыто")

    # The audit search finds both, newest first.
    page.locator(".adm-tabs a", has_text="Поиск в аудите").click()
    page.get_by_label("Действие").fill("legal_hold.")
    page.get_by_role("button", name="Найти").click()
    entries = page.locator("table.adm-audit tbody tr")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("lift")
    expect(entries.nth(1)).to_contain_text("place")

    # An org administrator has neither the security pages nor a way in by address.
    other = open_tab()
    sign_in(other, server, admin)
    expect(other.locator("#main-nav a", has_text="Администрирование")).to_be_visible()
    expect(other.locator("#main-nav a", has_text="Безопасность")).to_have_count(0)
    go(other, server, "/security/holds")
    expect(other.locator("h1", has_text="Правовые удержания")).to_have_count(0)
