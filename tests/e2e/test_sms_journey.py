"""A marketer sends SMS through the sandbox: the live counter and cost, smart encoding, the send, the log with
each magic number's outcome, a retried message's timeline, the sandbox phones, and the gateway settings."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from smsportal.accounts import services as account_services
from smsportal.messaging import dispatch, reports
from tests.factories import PASSWORD

from .conftest import SCREENSHOT_DIR

pytestmark = pytest.mark.e2e


@pytest.fixture
def shot(page):
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    taken = []

    def take(step: str):
        path = SCREENSHOT_DIR / f"sms-{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def run_the_worker():
    """What the Celery worker and beat do over the next minute: dispatch, retry the 429s, apply reports."""
    moment = timezone.now()
    for step in range(8):
        moment += timedelta(seconds=10 * (step + 1))
        dispatch.dispatch_batch(now=moment)
        reports.reports_apply(now=moment + timedelta(seconds=5))


def test_send_through_the_sandbox_and_follow_every_outcome(page, live_server, shot, settings):
    settings.SANDBOX_DLR_DELAY = 0
    account_services.account_create(
        name="Harbour Bakery", email="owner@bakery.test", password=PASSWORD, credit="20", default_region="AU",
    )
    page.goto("/login/")
    page.get_by_label("Email").fill("owner@bakery.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Harbour Bakery")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    page.get_by_role("link", name="Send SMS").first.click()
    expect(page.get_by_role("heading", name="Send SMS")).to_be_visible()

    # Four ordinary-looking numbers, each ending in one of the sandbox's magic suffixes, and one that is fine.
    page.get_by_role("textbox", name="Phone numbers").fill("0412 345 678\n+61412340000\n+61412340001\n+61412340002\nnot a number")
    body = page.get_by_role("textbox", name="Message")
    body.fill("Fresh bread at 7 \u2014 \u201cfirst come\u201d\u2026")
    expect(page.get_by_test_id("meter-encoding")).to_have_text("UCS-2")
    expect(page.get_by_test_id("body-highlight").locator("mark").first).to_be_visible()
    shot("ucs2-forced")

    page.get_by_test_id("smart-encode").click()
    expect(body).to_have_value('Fresh bread at 7 - "first come"...')
    expect(page.get_by_test_id("meter-encoding")).to_have_text("GSM-7")
    expect(page.get_by_test_id("meter-segments")).to_contain_text("1 segment")
    # 4 valid AU numbers × 1 segment × the default card's $0.055.
    expect(page.get_by_test_id("summary-cost")).to_contain_text("0.22")
    shot("smart-encoded-with-cost")

    # A line that is not a number stops the send, naming the line; nothing is sent until it is fixed.
    page.get_by_test_id("send-button").click()
    expect(page.get_by_text(re.compile(r"Line 5.*not a phone number")).first).to_be_visible()
    shot("invalid-line-named")
    page.get_by_role("textbox", name="Phone numbers").fill("0412 345 678\n+61412340000\n+61412340001\n+61412340002")
    page.get_by_role("textbox", name="Message").fill('Fresh bread at 7 - "first come"...')
    page.get_by_test_id("send-button").click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    expect(page.get_by_text(re.compile(r"4 queued"))).to_be_visible()
    shot("log-after-send")

    run_the_worker()
    page.reload()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(4)
    statuses_by_number = {}
    for i in range(4):
        row = rows.nth(i)
        statuses_by_number[row.locator(".phone").inner_text().strip()] = row.get_by_test_id("status").inner_text()
    assert statuses_by_number["+61412345678"] == "Delivered"
    assert statuses_by_number["+61412340000"] == "Failed"
    assert statuses_by_number["+61412340001"] == "Undelivered"
    assert statuses_by_number["+61412340002"] == "Delivered"
    shot("log-outcomes")

    # The retried message's timeline shows both 429s and the backoff before it went through.
    rows.filter(has_text="+61412340002").locator("a.row-link").click()
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li")).to_have_count(5)
    expect(timeline).to_contain_text("Attempt 1 of 5")
    expect(timeline).to_contain_text("Attempt 2 of 5")
    expect(timeline).to_contain_text("Next attempt in")
    expect(page.get_by_text("Delivered").first).to_be_visible()
    shot("retried-message-timeline")

    # The log filters by status.
    page.goto("/messages/?status=failed")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("export-link")).to_have_attribute("href", re.compile(r"status=failed"))

    # The sandbox phones show what each number received.
    page.goto("/sandbox/")
    phones = page.get_by_test_id("sandbox-phone")
    expect(phones.filter(has_text="+61412345678")).to_contain_text("Fresh bread at 7")
    shot("sandbox-phones")

    # The workspace's gateway: the sandbox it has used, with its webhook URLs.
    page.goto("/settings/gateways/")
    expect(page.get_by_test_id("gateways-table")).to_contain_text("Sandbox")
    shot("gateway-settings")
