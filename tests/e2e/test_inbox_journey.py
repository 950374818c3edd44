"""A support agent works the inbox: a customer's text appears without a reload, the agent replies with a
template, the customer sends STOP, the opt-out badge appears and the reply box refuses; hostile text stays text."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox import services as inbox
from inbox.models import Template
from smsportal.accounts import services as account_services
from smsportal.accounts.models import Account
from smsportal.messaging.gateways.base import InboundSms
from smsportal.messaging.models import Message
from smsportal.messaging.routing import connections_for
from tests.factories import PASSWORD

from .conftest import SCREENSHOT_DIR

pytestmark = pytest.mark.e2e
CUSTOMER = "+61412777755"
OURS = "+61400000555"


@pytest.fixture
def shot(page):
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    taken = []

    def take(step: str):
        path = SCREENSHOT_DIR / f"inbox-{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)

    return take


def customer_texts(account, body, ids=[0]):  # noqa: B006  (a counter shared by the calls)
    """The customer's phone texts us: the sandbox's webhook, then what the inbox worker does with it."""
    ids[0] += 1
    connection = connections_for(account.pk)[0]
    inbox.inbound_receive(connection=connection, messages=[
        InboundSms(sender=CUSTOMER, to=OURS, body=body, gateway_message_id=f"E2E{ids[0]}", at=timezone.now())])
    inbox.inbound_apply()


def test_an_agent_answers_a_customer_who_then_opts_out(page, live_server, shot, settings):
    settings.SANDBOX_DLR_DELAY = 0
    account_services.account_create(name="Corner Cafe", email="agent@cafe.test", password=PASSWORD, credit="10",
                                    default_region="AU")
    account = Account.objects.get(name="Corner Cafe")
    Template.objects.create(account=account, name="Opening hours",
                            body="Hi {{first_name|there}}, we open 7am–3pm every day.")

    page.goto("/login/")
    page.get_by_label("Email").fill("agent@cafe.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Inbox")).click()
    expect(page.get_by_role("heading", name="No conversations yet")).to_be_visible()
    expect(page.get_by_test_id("inbox-badge")).to_be_hidden()

    # The text arrives while the page is open: the list and the badge update by themselves.
    customer_texts(account, "Hi! Are you open on Sunday? <script>alert(1)</script>")
    list_ = page.get_by_test_id("conversation-list")
    expect(list_).to_contain_text("Are you open on Sunday?", timeout=5000)
    expect(list_).to_contain_text("<script>alert(1)</script>")  # shown as text, not run
    expect(page.get_by_test_id("inbox-badge")).to_have_text("1", timeout=5000)
    shot("new-message-without-reload")

    list_.get_by_role("link", name=re.compile(CUSTOMER.replace("+", r"\+"))).click()
    thread = page.get_by_test_id("thread-items")
    expect(thread).to_contain_text("Are you open on Sunday?")
    # Laid out as read: who it is, then the messages, then the reply box.
    heading, bubble = page.get_by_test_id("thread").locator("header"), thread.locator("li").first
    reply_top = page.get_by_test_id("reply-body").bounding_box()["y"]
    assert heading.bounding_box()["y"] < bubble.bounding_box()["y"] < reply_top
    expect(bubble).to_be_in_viewport(ratio=1)
    page.get_by_label("Insert a template").select_option(label="Opening hours")
    reply = page.get_by_test_id("reply-body")
    expect(reply).to_have_value("Hi {{first_name|there}}, we open 7am–3pm every day.")
    expect(page.get_by_test_id("reply-encoding")).to_have_text("UCS-2")  # the en dash
    expect(page.get_by_test_id("reply-cost")).to_contain_text("USD")
    shot("reply-with-a-template")
    page.get_by_test_id("reply-send").click()
    expect(page.get_by_text(re.compile(r"Reply sent to \+61412777755"))).to_be_visible()
    expect(thread).to_contain_text("Hi there, we open 7am–3pm every day.")
    sent = Message.objects.get(to=CUSTOMER, source="inbox")
    assert sent.body == "Hi there, we open 7am–3pm every day." and sent.sender == OURS

    customer_texts(account, "Stop")
    expect(thread).to_contain_text("Stop", timeout=5000)  # without a reload
    expect(page.get_by_test_id("opted-out-badge")).to_be_visible(timeout=5000)
    expect(page.get_by_test_id("reply-refused")).to_contain_text("opted out")
    expect(page.get_by_test_id("reply-body")).to_be_disabled()
    expect(page.get_by_test_id("reply-send")).to_be_disabled()
    expect(thread).to_contain_text("Stop")
    shot("opted-out-reply-refused")

    page.get_by_test_id("close").click()
    page.get_by_role("link", name="Closed").click()
    expect(page.get_by_test_id("conversation-list")).to_contain_text("Stop")
    shot("closed-tab")
