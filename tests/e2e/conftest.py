"""Browser journeys: Playwright driving Debian's Chromium against pytest-django's live server."""

import itertools
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

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


@pytest.fixture
def journey_screenshots(page):
    """shots = journey_screenshots("marketer"); shots("import-errors") saves var/e2e/marketer-01-import-errors.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    counters: dict[str, itertools.count] = {}

    def for_journey(journey: str):
        numbers = counters.setdefault(journey, itertools.count(1))

        def take(step: str) -> Path:
            path = SCREENSHOT_DIR / f"{journey}-{next(numbers):02d}-{step}.png"
            page.screenshot(path=str(path), full_page=True)
            return path

        return take

    return for_journey


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-workspace")).to_be_visible()


class BackgroundWorker(threading.Thread):
    """What `celery worker` and `celery beat` do for a running instance, in a daemon thread of the test process
    (so it sees the test database and the settings the test changed): every `interval` seconds it runs the queued
    imports and campaign fan-outs, then one pass of each periodic task's work — release what is due, dispatch,
    apply delivery reports, apply inbound messages, start and finish campaigns, squash the stats. The kicks those
    functions send to the broker are never consumed; this loop does their work on its next pass."""

    def __init__(self, interval: float = 0.5):
        super().__init__(name="e2e-worker", daemon=True)
        self.interval = interval
        self.errors: list[BaseException] = []
        self._stop_event = threading.Event()

    def work_once(self) -> None:
        from django.db.models import F
        from django.utils import timezone

        from campaigns.models import Campaign
        from campaigns.services import campaign_prepare, campaigns_tick
        from contacts.importing import import_run
        from contacts.models import ImportJob
        from inbox.services import inbound_apply
        from smsportal.messaging import dispatch, reports, stats

        for job_id in ImportJob.objects.filter(status=ImportJob.Status.QUEUED).values_list("pk", flat=True):
            import_run(job_id=job_id)  # contacts.import_run
        preparing = (Campaign.objects.exclude(launched_at=None).exclude(status=Campaign.Status.CANCELLED)
                     .filter(prepared__lt=F("recipients")).values_list("pk", flat=True))
        for campaign_id in preparing:
            while campaign_prepare(campaign_id=campaign_id)["more"]:  # campaigns.prepare, re-kicking itself
                pass
        now = timezone.now()
        dispatch.release_due(now=now)  # messaging.tick
        dispatch.recover_interrupted(now=now)
        for _ in range(20):  # messaging.dispatch, re-kicking itself while it claims a batch
            if not dispatch.dispatch_batch()["claimed"]:
                break
        reports.reports_apply()  # messaging.apply_reports
        inbound_apply()  # inbox.apply_inbound
        campaigns_tick()  # campaigns.tick
        stats.stats_squash()

    def run(self) -> None:
        from django.db import connections

        try:
            while not self._stop_event.wait(self.interval):
                try:
                    self.work_once()
                except Exception as exc:  # noqa: BLE001 — kept for the test to report, as a worker would log it
                    self.errors.append(exc)
        finally:
            connections.close_all()  # this thread's connections; PostgreSQL cannot drop a database in use

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


@pytest.fixture
def worker(live_server, transactional_db):
    """A background worker running beside the live server for the whole test (see BackgroundWorker)."""
    background = BackgroundWorker()
    background.start()
    yield background
    background.stop()
    assert not background.is_alive(), "the background worker did not stop"
    assert not background.errors, f"the background worker failed: {background.errors!r}"


def rotate_api_key(page, *, previous: str) -> str:
    """Rotate the open account's key: the new one is shown once, differs from `previous`, and the page says the
    old one stopped working."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Rotate API key").click()
    key_box = page.get_by_test_id("new-api-key")
    expect(key_box).to_have_count(1)
    key = key_box.inner_text().strip()
    assert key.startswith("sp_") and key != previous
    expect(page.get_by_text("Any previous key for this account has stopped working.")).to_be_visible()
    return key
