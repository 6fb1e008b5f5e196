"""The device-policy pages in a real browser: a security officer of mof sees the devices of
their ministry counted per organisation, the policy with its schedule preview and pilot list,
filters the device list by verdict, opens a non-compliant device (its check-in history), sends
it a message command, and finds its open violation. Two officials' devices check in through the
reference agent (one compliant, one with the camera on)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import ADMIN, Directory, WebServer, sign_in
from tests.support.harness import User
from tests.web.test_admin_console import go, shot
from tumar.cli_device_agent import Agent, Simulated


def policy(pilot: str) -> dict[str, object]:
    return {
        "name": "Телефоны в здании министерства",
        "audience": {"orgs": ["mof"], "people": [pilot]},
        "schedules": [
            {"tz": "Asia/Almaty",
             "hours": [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]}
        ],
        "restrictions": {"active": ["camera", "screen_capture"]},
        "grace_seconds": 0,
        "gate": {"labels": ["official-use"]},
    }  # fmt: skip


def enrol_and_check_in(server: WebServer, user: User, restricted: set[str], state: Path) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(base_url=server.url) as client:
            agent = Agent(client, state, out=lambda _: None)
            token = await agent.own_token(user.token)
            await agent.enrol(token, user.token, Simulated(), model="Pixel 8")
            await agent.checkin(Simulated(restricted=restricted))

    server.call(run())


def test_officer_reads_the_device_dashboard_and_sends_a_command(
    server: WebServer, directory: Directory, open_tab: Callable[..., Page], tmp_path: Path
) -> None:
    alice = directory.official("alice", "Alice Abenova", "Алиса Абенова", "4001")
    bob = directory.official("bob", "Bob Berikov", "Бауыржан Бериков", "4002")
    officer = directory.official("sec", "Saule Sec", "Сауле Сейтова", "4003", org_code="gov")
    directory.request(
        "POST", f"{ADMIN}/roles", directory.root,
        json={"user_id": officer.user_id, "role": "security_officer", "org_code": "mof"},
    )  # fmt: skip
    directory.request("POST", f"{ADMIN}/device-policies", officer, json=policy(bob.user_id))
    enrol_and_check_in(server, alice, {"camera", "screen_capture"}, tmp_path / "alice.json")
    enrol_and_check_in(server, bob, {"screen_capture"}, tmp_path / "bob.json")

    page = open_tab()
    sign_in(page, server, officer)
    page.locator("#main-nav a", has_text="Устройства").click()
    expect(page.locator("h1")).to_have_text("Устройства по организациям")
    mof = page.locator("table.dev-summary tbody tr", has_text="(mof)")
    expect(mof.locator("td").nth(1)).to_have_text("2")  # enrolled
    expect(mof.locator("td").nth(2)).to_have_text("1")  # compliant
    expect(mof.locator("td").nth(3)).to_have_text("1")  # non-compliant
    shot(page, "devices-overview")

    tabs = page.get_by_role("navigation", name="Политика устройств")
    tabs.get_by_role("link", name="Политики").click()
    section = page.locator(".dev-policy")
    expect(section).to_contain_text("Телефоны в здании министерства")
    expect(section.locator(".dev-now")).to_contain_text("Сейчас ограничено")
    expect(section).to_contain_text("камера, снимки экрана")
    section.get_by_role("link", name="Телефоны в здании министерства").click()
    expect(page.locator("ul.dev-pilot")).to_contain_text(bob.user_id)
    shot(page, "devices-policy")

    tabs.get_by_role("link", name="Устройства").click()
    expect(page.locator("table.dev-devices tbody tr")).to_have_count(2)
    page.get_by_label("Статус").select_option("non_compliant")
    page.get_by_role("button", name="Показать").click()
    rows = page.locator("table.dev-devices tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Бауыржан Бериков")
    expect(rows).to_contain_text("Не соответствует")
    rows.get_by_role("link").click()

    expect(page.locator("h1")).to_have_text("Устройство")
    expect(page.locator("table.dev-history tbody tr")).to_have_count(1)
    expect(page.locator(".dev-facts")).to_contain_text("Pixel 8")
    page.get_by_label("Команда", exact=True).select_option("show_message")
    page.get_by_label("Сообщение").fill("Выключите камеру")
    page.get_by_role("button", name="Отправить").click()
    commands = page.locator("table.dev-commands tbody tr")
    expect(commands).to_have_count(1)
    expect(commands).to_contain_text("Показать сообщение")
    expect(commands).to_contain_text("ожидает")
    shot(page, "devices-device")

    tabs.get_by_role("link", name="Нарушения").click()
    violations = page.locator("table.dev-violations tbody tr")
    expect(violations).to_have_count(1)
    expect(violations).to_contain_text("Бауыржан Бериков")

    # An official without the role has no device pages.
    other = open_tab()
    sign_in(other, server, alice)
    expect(other.locator("#main-nav a", has_text="Устройства")).to_have_count(0)
    go(other, server, "/devices")
    expect(other.locator("h1")).not_to_have_text("Устройства по организациям")
