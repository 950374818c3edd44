"""A marketer composes, previews, tests and launches a campaign, then watches it finish: the audience with an
exclusion, spintax and a merge field, the UCS-2 warning and the smart-encoding fix with what it saves, an A/B
split, one contact's text, a test send, the launch, the report filling in, and the CSV."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns import services as campaigns
from campaigns.models import Campaign
from contacts import services as contacts
from contacts.models import Contact, OptOut
from smsportal.accounts import services as account_services
from smsportal.messaging import dispatch, reports, statuses
from smsportal.messaging.models import Message
from tests.factories import PASSWORD

from .conftest import SCREENSHOT_DIR

pytestmark = pytest.mark.e2e
NAMES = ["Olivia", "Noah", "Charlotte", "Jack", "Amelia", "Oliver", "Isla", "William"]


@pytest.fixture
def shot(page):
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    taken = []

    def take(step: str):
        path = SCREENSHOT_DIR / f"campaign-{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def run_the_worker():
    """What the Celery worker and beat do over the next minutes: fan out, dispatch, retry, apply reports, tick."""
    for campaign in Campaign.objects.exclude(launched_at=None):
        while campaigns.campaign_prepare(campaign_id=campaign.pk)["more"]:
            pass
    moment = timezone.now()
    for step in range(8):
        moment += timedelta(seconds=10 * (step + 1))
        dispatch.release_due(now=moment)
        dispatch.dispatch_batch(now=moment)
        reports.reports_apply(now=moment + timedelta(seconds=5))
    campaigns.campaigns_tick()


def test_compose_preview_launch_and_watch_a_campaign(page, live_server, shot, settings):
    settings.SANDBOX_DLR_DELAY = 0
    settings.SMS_RETRY_BASE = 0
    account_services.account_create(
        name="Harbour Bakery", email="owner@bakery.test", password=PASSWORD, credit="20", default_region="AU",
    )
    from smsportal.accounts.models import Account

    account = Account.objects.get(name="Harbour Bakery")
    regulars = contacts.list_create(account=account, name="Regulars")
    staff = contacts.list_create(account=account, name="Staff")
    for i, name in enumerate(NAMES * 3):
        number = f"+614123{i:03d}55"
        contacts.contact_create(account=account, phone_number=number, data={"first_name": name if i % 5 else ""},
                                contact_list=regulars)
        if i < 2:
            contacts.contact_put_in_list(account=account, contact_list=staff, phone_number=number, data={})
    # The sandbox's outcomes: …0000 refused at submit, …0001 undelivered; and one who opted out.
    for number in ("+61412340000", "+61412340001", "+61412340009"):
        contacts.contact_create(account=account, phone_number=number, data={"first_name": "Sam"}, contact_list=regulars)
    OptOut.objects.create(account=account, phone_number="+61412340009", source="keyword")
    Contact.objects.filter(phone_number="+61412340009").update(opted_out_at=timezone.now())

    page.goto("/login/")
    page.get_by_label("Email").fill("owner@bakery.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_test_id("new-campaign").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()

    page.get_by_label("Campaign name").fill("Sourdough Saturday")
    page.get_by_label("Sender").fill("Bakery")
    page.get_by_role("group", name="Send to lists").get_by_label(re.compile("Regulars")).check()
    page.get_by_role("group", name="Leave out lists").get_by_label(re.compile("Staff")).check()
    body_a = page.get_by_test_id("body-A")
    body_a.fill("{Hi|Hello|G'day} ")
    page.locator("[data-merge-field=first_name]").click()  # inserted where the cursor was
    expect(body_a).to_have_value("{Hi|Hello|G'day} {{first_name}}")
    body_a.evaluate("el => { el.value = el.value.replace('{{first_name}}', '{{first_name|friend}}')"
                    " + ', our \u201csourdough\u201d is back this Saturday \u2014 first 20 loaves half price\u2026 see you!';"
                    " el.dispatchEvent(new Event('input', {bubbles: true})); }")

    preview = page.get_by_test_id("campaign-preview")
    # 27 in Regulars, 2 of them staff (left out), 1 opted out: 24 to be sent, the opted-out one blocked.
    expect(page.get_by_test_id("preview-recipients")).to_have_text("24")
    expect(page.get_by_test_id("preview-blocked")).to_contain_text("1 blocked: opted out")
    expect(page.locator("#meter-A").get_by_test_id("meter-encoding")).to_have_text("UCS-2")
    expect(page.locator("#meter-A").get_by_test_id("body-highlight").locator("mark").first).to_be_visible()
    expect(page.get_by_test_id("smart-saves-A")).to_contain_text("Smart encoding would save")
    expect(preview.get_by_test_id("preview-samples")).to_contain_text("sourdough")
    shot("ucs2-warning-and-savings")

    page.get_by_test_id("smart-apply-A").click()
    expect(body_a).to_have_value(re.compile(r'"sourdough" is back this Saturday - first 20 loaves half price\.\.\.'))
    expect(page.locator("#meter-A").get_by_test_id("meter-encoding")).to_have_text("GSM-7")
    expect(page.get_by_test_id("smart-saves-A")).to_have_count(0)
    # 24 recipients × 1 segment × $0.055.
    expect(page.get_by_test_id("preview-cost")).to_have_text("USD 1.32")
    shot("smart-encoded")

    page.get_by_test_id("add-variant").click()
    page.get_by_test_id("body-B").fill("{{first_name|Hi there}}! Fresh sourdough Saturday, 20 loaves at half price.")
    expect(page.get_by_test_id("preview-variants")).to_contain_text("B 50 %")
    expect(page.get_by_test_id("preview-variants").locator("tbody tr")).to_have_count(2)
    charlotte = Contact.objects.filter(first_name="Charlotte").order_by("pk").first()
    page.get_by_label("Show the text for").select_option(value=str(charlotte.pk))
    expect(preview.locator(".text-bubble-chosen")).to_contain_text(re.compile(r"Charlotte"))
    shot("two-variants-and-a-chosen-contact")

    # The bakery texts its regulars whatever the hour in this test: no quiet hours (they are on by default).
    page.get_by_label("Hold messages during quiet hours (recipient's local time)").uncheck()
    page.get_by_test_id("save-button").click()
    expect(page.get_by_text("Draft “Sourdough Saturday” saved.")).to_be_visible()
    olivia = Contact.objects.filter(first_name="Olivia").order_by("pk").first()
    page.get_by_label("Show the text for").select_option(value=str(olivia.pk))
    page.get_by_placeholder("+61 412 345 678").fill("0412 999 955")
    page.get_by_test_id("test-send").click()
    expect(page.get_by_text(re.compile(r"Test sent to \+61412999955"))).to_be_visible()
    tested = Message.objects.get(to="+61412999955")
    assert "Olivia" in tested.body or "friend" in tested.body
    shot("test-sent")

    page.get_by_test_id("launch-button").click()
    expect(page.get_by_text(re.compile(r"“Sourdough Saturday” launched: 25 recipients"))).to_be_visible()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    shot("launched")

    run_the_worker()
    page.reload()
    report = page.get_by_test_id("campaign-report")
    expect(report.get_by_test_id("stat-messages")).to_have_text("25")
    expect(report.get_by_test_id("stat-blocked")).to_have_text("1")
    expect(report.get_by_test_id("stat-failed")).to_have_text("1")
    expect(report.get_by_test_id("stat-undelivered")).to_have_text("1")
    expect(report.get_by_test_id("stat-delivered")).to_have_text("22")
    # Spintax picks at random: every greeting variant A's messages were sent with has its own row.
    sent_as_a = Message.objects.filter(campaign_id=Campaign.objects.get(name="Sourdough Saturday").pk,
                                       variant_key__startswith="A")
    greetings = {body.split(" ")[0] for body in sent_as_a.values_list("body", flat=True)}
    assert greetings and greetings <= {"Hi", "Hello", "G'day"}
    for greeting in greetings:
        expect(report.get_by_test_id("variant-table")).to_contain_text(f"A · “{greeting}”")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect(page.locator("#variant-chart")).to_be_visible()
    shot("report")

    campaign = Campaign.objects.get(name="Sourdough Saturday")
    counts = {s: Message.objects.filter(campaign_id=campaign.pk, status=s).count()
              for s in (statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED, statuses.BLOCKED)}
    assert counts == {"delivered": 22, "undelivered": 1, "failed": 1, "blocked": 1}

    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    csv_text = download.value.path().read_text(encoding="utf-8-sig")
    assert csv_text.count("\n") == 26 and "variant_key" in csv_text.splitlines()[0]

    page.get_by_role("link", name="Campaigns").first.click()
    expect(page.get_by_test_id("campaign-list")).to_contain_text("Sourdough Saturday")
    shot("list")
