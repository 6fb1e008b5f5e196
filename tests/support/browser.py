"""Real-browser tests: Debian's Chromium driven by Playwright (sync API) against a live tumar.

The browser is launched once per test session (see ``tests/web/conftest.py``); each test opens
its own contexts (one per official). Every page is watched: a browser console error or an
uncaught page error fails the test, except the console lines Chromium writes for API answers
the app handles itself (a 4xx from ``/_matrix`` or ``/_tumar``) and, where a test cuts the
network on purpose, the network errors it causes.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import uvicorn

from tests.support.harness import PASSWORD, LiveServer, User
from tumar.app import build_app
from tumar.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

T = TypeVar("T")
CHROMIUM = os.environ.get("TUMAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ADMIN = "/_tumar/admin/v1"
CLIENT = "/_matrix/client/v3"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_HANDLED = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
_NETWORK = re.compile(
    r"net::ERR_|Failed to fetch|Failed to load resource: net::"
    r"|Failed to load resource: the server responded with a status of 5\d\d"
)


def missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright (Python) is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM}"
    return None


class WebServer(LiveServer):
    """A live server whose event loop tests can borrow (``call``) to use its services."""

    loop: asyncio.AbstractEventLoop

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self._server.serve()

        asyncio.run(main())

    def restart(self, down: Callable[[], None] | None = None) -> None:
        """Stop the server, run ``down`` while it is gone, and start it again on the same port
        and database (a new process would look the same to a browser)."""
        self.stop()
        if down is not None:
            down()
        self.app = build_app(self.settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def start_server(settings: Settings) -> WebServer:
    server = WebServer(settings)
    server.start()
    return server


# ---- people -------------------------------------------------------------------------------


@dataclass
class Directory:
    """An operator, the tree gov > mof, and officials with activated accounts."""

    server: WebServer
    root: User
    people: dict[str, User] = field(default_factory=dict)

    def request(self, method: str, path: str, user: User | None, **kwargs: Any) -> Any:
        url = path if path.startswith("/_") else CLIENT + path
        headers = {"Authorization": f"Bearer {user.token}"} if user else {}
        with self.server.http() as client:
            resp = client.request(method, url, headers=headers, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else {}

    def code_for(
        self, name_lat: str, name_cyr: str, number: str, org_code: str = "mof"
    ) -> tuple[str, str]:
        """A person with a fresh activation code: (code, the user id it creates)."""
        made = self.request(
            "POST",
            f"{ADMIN}/people",
            self.root,
            json={
                "personnel_number": number,
                "org_code": org_code,
                "name_cyr": name_cyr,
                "name_lat": name_lat,
            },
        )
        issued = self.request(
            "POST", f"{ADMIN}/activation-codes", self.root, json={"person_ids": [made["person_id"]]}
        )["codes"][0]
        return str(issued["code"]), str(issued["user_id"])

    def official(
        self, key: str, name_lat: str, name_cyr: str, number: str, org_code: str = "mof"
    ) -> User:
        """A person who activated their account with a code (an official)."""
        code, _ = self.code_for(name_lat, name_cyr, number, org_code)
        body = self.request(
            "POST",
            "/register",
            None,
            json={
                "password": PASSWORD,
                "auth": {"type": "m.login.registration_token", "token": code},
            },
        )
        user = User(body["user_id"], body["access_token"], body["device_id"])
        self.people[key] = user
        return user


def build_directory(server: WebServer) -> Directory:
    services = server.app.state.services
    server.call(services.accounts.do_create_user("root", PASSWORD, admin=True))
    with server.http() as client:
        resp = client.post(
            f"{CLIENT}/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "root"},
                "password": PASSWORD,
            },
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
    root = User(body["user_id"], body["access_token"], body["device_id"])
    directory = Directory(server, root)
    for code, parent, kind in (("gov", None, "government"), ("mof", "gov", "ministry")):
        directory.request(
            "POST",
            f"{ADMIN}/orgs",
            root,
            json={
                "code": code,
                "parent_code": parent,
                "kind": kind,
                "name_kk": f"{code} kk",
                "name_ru": f"{code} ru",
                "name_en": f"{code} en",
            },
        )
    return directory


# ---- pages --------------------------------------------------------------------------------


class Watch:
    """Console errors and page errors of the pages of one test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.network_expected = False

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type not in ("error", "assert"):
            return
        text = msg.text
        url = (msg.location or {}).get("url", "")
        if _HANDLED.search(text) and ("/_matrix/" in url or "/_tumar/" in url):
            return
        if self.network_expected and _NETWORK.search(text):
            return  # a server stopping mid-request answers a long poll with 500, then is gone
        self.errors.append(f"console {msg.type}: {text} ({url})")

    def check(self) -> None:
        assert not self.errors, "browser errors:\n" + "\n".join(self.errors)


def open_page(
    browser: Browser, watch: Watch, viewport: dict[str, int] | None = None
) -> tuple[BrowserContext, Page]:
    size = viewport or WIDE
    context = browser.new_context(
        viewport={"width": size["width"], "height": size["height"]},
        locale="ru-RU",
        timezone_id="Asia/Almaty",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch.attach(page)
    return context, page


def sign_in(page: Page, server: WebServer, user: User, password: str = PASSWORD) -> None:
    page.goto(server.url + "/")
    page.locator("input[name=username]").fill(user.user_id)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").click()
    page.locator("#sidebar").wait_for()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
