"""Fixtures for the browser tests: one Chromium per session, a new context per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import Mailbox

from .support import AXE, CHROMIUM, HostSite, LiveApp, launch_chromium, serve_app, serve_host_site

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything in this folder drives the browser, so `-m "not browser"` leaves it out.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    with serve_host_site() as site:
        yield site


@pytest.fixture
def live(tmp_path: Path, mailbox: Mailbox, app_config: dict[str, Any]) -> Iterator[LiveApp]:
    # app_config (tests/conftest.py) is parametrized by tests that need other settings.
    with serve_app(tmp_path, mailbox, **app_config) as running:
        yield running
    assert not running.errors, f"the app raised: {running.errors!r}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run the tests through scripts/test.sh")
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    context.set_default_timeout(5000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` in widget/ (scripts/test.sh does)")
    return AXE.read_text(encoding="utf-8")
