"""Browser journeys: Playwright driving Debian's Chromium against pytest-django's live server."""

import itertools
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "var" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}; install it (apt-get install chromium) to run e2e tests")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def browser(monkeypatch):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which makes Django refuse ORM calls
    # from the test body; the ORM is only used between browser steps, never concurrently.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Inside Playwright's greenlet the ORM opens connections Django's own teardown cannot see; close them
        # here or PostgreSQL refuses to drop the test database.
        connections.close_all()


@pytest.fixture
def page(browser, live_server, transactional_db):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # our confirm() prompts before destructive actions
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot as var/e2e/NN-<step>.png, numbered in the order taken."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)

    def take(step: str) -> Path:
        path = SCREENSHOT_DIR / f"{next(numbers):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
