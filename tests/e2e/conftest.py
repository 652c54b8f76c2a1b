"""Fixtures of the browser tests: the real app on a loopback port, and Chromium.

One store and one Streamlit server serve the whole session (see
``_e2eapp``); each test gets a fresh browser context, so a fresh Streamlit
session that is not signed in. Screenshots go to
``test-artifacts/screenshots/`` (a failing test leaves ``FAILED-<test>.png``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from _e2eapp import (
    SCREENSHOTS,
    AppServer,
    build_store,
    launch_chromium,
    save_screenshot,
)

from tracker.store import Store

VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[AppServer]:
    """The app, started on a free port against a store with the demo data and OTHER-002.

    The server boots while the store is being filled (it opens the store
    only when a browser connects).
    """
    location = tmp_path_factory.mktemp("e2e") / "store"
    server = AppServer(location)
    server.start()
    try:
        build_store(location)
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def store(app) -> Iterator[Store]:
    """The app's store, opened by the tests to read what the app should show."""
    opened = Store.open(app.store, user="e2e-check")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Debian's Chromium, headless, for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def page(app, browser, request) -> Iterator:
    """A page in a fresh browser context (a new Streamlit session); downloads allowed.

    The browser's time zone is the machine's, or the IANA name a test gives
    with ``@pytest.mark.parametrize("page", ["America/New_York"], indirect=True)``.
    When the test fails, the page is saved as ``FAILED-<test>.png`` and the
    end of the server's log is printed (pytest shows it with the failure).
    """
    timezone = getattr(request, "param", None)
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, timezone_id=timezone)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    if getattr(request.node, "e2e_failed", False):
        try:
            save_screenshot(tab, "FAILED-" + re.sub(r"[^\w.-]+", "_", request.node.name), wait=False)
        except Exception as err:  # noqa: BLE001 - the test's own failure is what matters
            print(f"no screenshot of the failed page: {err}")
        print(f"--- end of the streamlit server's log ({app.log}) ---\n{app.output()}")
    context.close()


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
