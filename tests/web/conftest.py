"""Fixtures of the real-browser tests: one Chromium per session, a live tumar per test (SQLite
unless a test asks for ``backend``), officials built through the admin API, and a watch on
every page that fails the test on any browser console or page error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import need
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Directory,
    Watch,
    WebServer,
    build_directory,
    missing,
    open_page,
    start_server,
)
from tumar.config import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture
def backend() -> str:
    """Browser tests run on SQLite; a test parametrizes ``backend`` to run on PostgreSQL too."""
    return "sqlite"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Playwright's sync API keeps its event loop running on the
    main thread while it is started, which async tests (pytest-asyncio) cannot share; stopping
    it at the end of each module lets async tests run in other modules, in any order."""
    reason = missing()
    need(reason is None, reason or "")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def server_factory(settings: Settings) -> Iterator[Callable[..., WebServer]]:
    started: list[WebServer] = []

    def make(**overrides: Any) -> WebServer:
        server = start_server(settings.model_copy(update=overrides))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(browser: Browser, server_factory: Callable[..., WebServer]) -> WebServer:
    return server_factory()


@pytest.fixture
def directory(server: WebServer) -> Directory:
    return build_directory(server)


@pytest.fixture
def watch() -> Iterator[Watch]:
    w = Watch()
    yield w
    w.check()


@pytest.fixture
def open_tab(browser: Browser, watch: Watch) -> Iterator[Callable[..., Page]]:
    """Open a page in a new browser context (a separate person); closed after the test."""
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] | None = None) -> Page:
        context, page = open_page(browser, watch, viewport)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()
