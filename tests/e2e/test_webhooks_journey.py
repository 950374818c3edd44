"""A developer wires smsportal's webhooks to their receiver in Chromium: the signing secret revealed, a URL into
the operator's network refused on its field, a rule added, a test event delivered, a failing receiver retried —
each outcome read in the delivery log."""

import pytest
from playwright.sync_api import expect

from smsportal.accounts import services as account_services
from smsportal.messaging import outbound
from smsportal.messaging.models import WebhookDelivery, WebhookSecret
from tests.factories import PASSWORD
from tests.messaging.fakes import Canned, FakeUpstream

from .conftest import SCREENSHOT_DIR

pytestmark = pytest.mark.e2e


@pytest.fixture
def shot(page):
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    taken = []

    def take(step: str):
        path = SCREENSHOT_DIR / f"webhooks-{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def test_add_a_webhook_test_it_and_read_the_log(page, live_server, shot, settings):
    account_services.account_create(name="Harbour Bakery", email="dev@bakery.test", password=PASSWORD, credit="5")
    page.goto("/login/")
    page.get_by_label("Email").fill("dev@bakery.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/settings/gateways/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()

    secret = WebhookSecret.objects.get().secret
    expect(page.get_by_test_id("masked-secret")).not_to_contain_text(secret)
    expect(page.get_by_test_id("secret")).not_to_be_visible()
    page.get_by_text("Reveal").click()
    expect(page.get_by_test_id("secret")).to_have_text(secret)
    shot("secret-revealed")

    # The cloud's metadata address is inside the operator's network: refused, on the field.
    settings.WEBHOOK_ALLOW_PRIVATE = False
    page.get_by_test_id("add-receipt").click()
    page.get_by_label("URL").fill("http://169.254.169.254/latest/meta-data/")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator(".field-invalid")).to_contain_text("link-local")
    shot("private-url-refused")

    settings.WEBHOOK_ALLOW_PRIVATE = True  # this receiver lives on loopback
    with FakeUpstream("http", handler=lambda request: Canned(200, "thanks")) as receiver:
        page.get_by_label("Name").fill("Bakery CRM")
        page.get_by_label("URL").fill(f"{receiver.url}/hooks/sms")
        page.get_by_role("button", name="Add webhook").click()
        expect(page.get_by_test_id("rules-table")).to_contain_text("Bakery CRM")
        expect(page.get_by_test_id("rule-url")).to_have_text(f"{receiver.url}/hooks/sms")

        page.get_by_role("button", name="Send a test event to Bakery CRM").click()
        expect(page.get_by_test_id("delivery-status")).to_have_text("Pending")
        assert outbound.deliver_batch() == {"claimed": 1, "delivered": 1}  # the worker
        page.reload()
        expect(page.get_by_test_id("delivery-status")).to_have_text("Delivered")
        assert receiver.requests[0].headers["x-smsportal-event"] == "ping"
        shot("test-event-delivered")

        receiver.enqueue(Canned(500, "<h1>Oops</h1>"))
        page.get_by_role("button", name="Send a test event to Bakery CRM").click()
        outbound.deliver_batch()
        page.reload()
        newest = page.locator("[data-delivery-id]").first
        expect(newest.get_by_test_id("delivery-status")).to_have_text("Pending")
        expect(newest.get_by_test_id("last-status")).to_have_text("HTTP 500")
        newest.get_by_text("Payload and answer").click()
        expect(newest.get_by_test_id("last-response")).to_have_text("<h1>Oops</h1>")
        shot("failing-receiver-retried")

    page.get_by_label("Status").select_option("delivered")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("delivery-status")).to_have_count(1)
    expect(page.get_by_test_id("delivery-status")).to_have_text("Delivered")
    assert WebhookDelivery.objects.filter(status="pending").count() == 1
