"""Three journeys that each cross several capabilities, in Chromium against the live server, with the sandbox gateway
and a background worker (conftest.BackgroundWorker) doing what Celery's worker and beat do while the pages are open.

- marketer: CSV import with bad rows and its error report → a segment → a campaign with spintax, a merge field and an
  emoji, the UCS-2 warning and smart encoding, the cost → scheduled for the next minute but one → completes by itself
  (the clock is moved forward to the scheduled minute, see the test) → delivery chart and variant table.
- agent: a template → an inbound SMS through the sandbox's inbound endpoint shows up without a reload → reply with
  the template → the customer texts STOP → badge, and the reply box refuses.
- admin: a subaccount → its key rotated (shown once) → credit transferred → the key works over HTTP → suspended →
  the same key is refused.
"""

import csv
import datetime
import io
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign
from contacts.models import Contact, Segment
from inbox.models import Conversation
from smsportal.accounts import services as account_services
from smsportal.accounts.models import Account
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.factories import PASSWORD

from .conftest import log_in, rotate_api_key

pytestmark = pytest.mark.e2e
SYDNEY = ZoneInfo("Australia/Sydney")
CUSTOMER = "+61412777755"
OURS = "+61400000555"

# Row 1 is the header. Rows 7 and 8 cannot be imported; +61412340001 is the sandbox's "accepted, then undelivered".
CUSTOMERS_CSV = (
    "Mobile,First name,City\n"
    "0412 345 101,Olivia,Sydney\n"
    "0412 345 102,Noah,Sydney\n"
    "0412 345 103,,Sydney\n"
    "0412 340 001,Jack,Sydney\n"
    "0412 345 105,Amelia,Melbourne\n"
    "call me maybe,Broken,Sydney\n"
    "0412 34,Shorty,Sydney\n"
    "0412 345 108,Isla,Melbourne\n"
    "0412 345 109,Oliver,Sydney\n"
    "0412 345 110,Charlotte,Sydney\n"
    "0412 345 111,William,Sydney\n"
    "0412 345 112,Mia,Sydney\n"
    "0412 345 113,Henry,Sydney\n"
    "0412 345 114,Ava,Sydney\n"
    "0412 345 115,Leo,Sydney\n"
    "0412 345 116,Grace,Sydney\n"
)
# Curly quotes, an em dash and an ellipsis force UCS-2 and two segments; smart encoding makes it one GSM-7 segment.
BODY_A = ("{Hi|Hello} {{first_name|there}}, our \u201cwinter warmers\u201d are back this Saturday \u2014 "
          "a free pastry with every coffee before 9am\u2026")
# An emoji has no GSM look-alike: variant B stays UCS-2, and is kept short enough for one segment.
BODY_B = "{{first_name|Friend}}, free pastry with your coffee on Saturday \U0001F950"


# A Chart.js chart on the canvas, at its box's width, with something painted (not a canvas its refresh blanked).
CHART_DRAWN = """id => {
    const canvas = document.getElementById(id), chart = canvas && window.Chart && Chart.getChart(canvas);
    if (!chart || canvas.width <= 300 || Math.abs(canvas.width - canvas.clientWidth * devicePixelRatio) > 1) return false;
    return canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data.some(v => v !== 0);
}"""


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings):
    """A second and more per password on this machine, twice a journey, is not what these journeys are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_get_account(base_url: str, username: str, key: str) -> requests.Response:
    return requests.get(f"{base_url}/v3/account", auth=(username, key), timeout=15)


def test_marketer_imports_segments_composes_schedules_and_watches(
    page, live_server, worker, journey_screenshots, tmp_path, settings, time_machine,
):
    """The campaign is scheduled for a minute in the workspace's time zone at least 60 s away, as a user picks it
    in the date-time field. Rather than wait up to two minutes, the test moves the process's clock (time-machine,
    still ticking; the live server and the worker run in this process) to that minute once the page shows the
    campaign scheduled; the browser's own clock is untouched."""
    shot = journey_screenshots("marketer")
    settings.DATA_DIR = tmp_path
    settings.SANDBOX_DLR_DELAY = 1.5  # the sandbox reports delivery after the campaign has finished sending
    time_machine.move_to(timezone.now(), tick=True)
    account_services.account_create(name="Harbour Bakery", email="owner@bakery.test", password=PASSWORD,
                                    credit="20", default_region="AU", timezone_name="Australia/Sydney")
    csv_path = tmp_path / "winter-customers.csv"
    csv_path.write_text(CUSTOMERS_CSV, encoding="utf-8")
    log_in(page, "owner@bakery.test")

    # --- Import, with the rows that failed read on the result page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Import").click()
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_role("heading", name="Map columns")).to_be_visible()
    expect(page.get_by_label("Import column 1 (Mobile) as")).to_have_value("phone_number")
    expect(page.get_by_label("Import column 3 (City) as")).to_have_value("address_city")
    expect(page.get_by_label("Default country")).to_have_value("AU")
    expect(page.get_by_test_id("preview-invalid")).to_have_text("2 of them cannot be imported.")
    page.get_by_label("Add to list").select_option(label="A new list named…")
    page.get_by_label("Name of the new list").fill("Winter customers")
    page.get_by_role("button", name="Start import").click()
    expect(page).to_have_url(re.compile(r"/contacts/import/\d+/progress/$"))
    # The worker picks the job up; the progress page polls itself into the result.
    expect(page.get_by_test_id("import-result")).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("count-created")).to_have_text("14")
    expect(page.get_by_test_id("count-invalid")).to_have_text("2")
    expect(page.get_by_test_id("import-result")).to_contain_text("imported contacts added to Winter customers")
    errors = page.get_by_test_id("import-errors")
    expect(errors.locator("tbody tr")).to_have_count(2)
    # Each row's number in the file, its value and why it was refused.
    expect(errors.locator("tbody tr").nth(0).locator("td")).to_have_text(["7", "call me maybe", "not a phone number"])
    expect(errors.locator("tbody tr").nth(1).locator("td")).to_have_text(["8", "0412 34", re.compile(r"\w{4,}")])
    shown_reasons = [errors.locator("tbody tr").nth(i).locator("td").last.inner_text().strip() for i in range(2)]
    shot("import-errors")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download error rows (CSV)").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert [(r[0], r[1]) for r in rows[1:]] == [("7", "call me maybe"), ("8", "0412 34")]
    assert [r[2] for r in rows[1:]] == shown_reasons  # the page and the CSV give the same reasons

    # --- A segment: the Sydney customers, counted live while it is built.
    page.get_by_role("navigation", name="Contacts").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="Build the first segment").click()
    page.get_by_label("Segment name").fill("Sydney locals")
    condition = page.locator("[data-condition]").first
    condition.get_by_label("Match on").select_option("field")
    condition.get_by_label("Field", exact=True).select_option("address_city")
    condition.get_by_label("Operator").select_option("equals")
    condition.get_by_label("Value").fill("sydney")
    expect(page.locator("#segment-count")).to_contain_text("12 contacts match")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_text("Segment “Sydney locals” saved.")).to_be_visible()
    shot("segment")

    # --- The campaign: spintax and a merge field in A, an emoji in B.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    page.get_by_test_id("new-campaign").click()
    page.get_by_label("Campaign name").fill("Winter warmers")
    expect(page.get_by_role("group", name="Send to lists")).to_contain_text("Winter customers (14)")
    page.get_by_role("group", name="Send to segments").get_by_label("Sydney locals").check()
    body_a = page.get_by_test_id("body-A")
    body_a.fill(BODY_A)
    expect(page.get_by_test_id("preview-recipients")).to_have_text("12")
    meter_a = page.locator("#meter-A")
    expect(meter_a.get_by_test_id("meter-encoding")).to_have_text("UCS-2")
    expect(meter_a.get_by_test_id("ucs-note")).to_contain_text("outside the GSM alphabet")
    expect(meter_a.locator(".forcing-chars")).to_contain_text("\u201c")
    expect(meter_a.get_by_test_id("meter-segments")).to_contain_text("2 segments")
    expect(page.get_by_test_id("smart-saves-A")).to_contain_text("Smart encoding would save")
    cost_before = money(page.get_by_test_id("preview-cost").inner_text())
    shot("ucs2-warning")

    meter_a.get_by_test_id("smart-encode").click()
    expect(body_a).to_have_value(re.compile(r'"winter warmers" are back this Saturday - a free pastry .*9am\.\.\.$'))
    expect(body_a).to_have_value(re.compile(r"^\{Hi\|Hello\} \{\{first_name\|there\}\}, "))  # spintax, merge kept
    expect(meter_a.get_by_test_id("meter-encoding")).to_have_text("GSM-7")
    expect(meter_a.get_by_test_id("meter-segments")).to_contain_text("1 segment")
    expect(page.get_by_test_id("smart-saves-A")).to_have_count(0)
    # Twelve Sydney customers × one segment × the default card's USD 0.055 for Australia, half what it was.
    expect(page.get_by_test_id("preview-cost")).to_have_text("USD 0.66")
    assert cost_before == 2 * money("USD 0.66")

    page.get_by_test_id("add-variant").click()
    page.get_by_test_id("body-B").fill(BODY_B)
    meter_b = page.locator("#meter-B")
    expect(meter_b.get_by_test_id("meter-encoding")).to_have_text("UCS-2")
    expect(meter_b.locator(".forcing-chars")).to_contain_text("\U0001F950")
    expect(meter_b.get_by_test_id("smart-encode")).to_have_count(0)  # nothing to swap an emoji for
    expect(meter_b.get_by_test_id("meter-segments")).to_contain_text("1 segment")
    variants = page.get_by_test_id("preview-variants")
    expect(variants.locator("tbody tr")).to_have_count(2)
    expect(variants.locator("tbody tr").nth(1)).to_contain_text("UCS-2")
    expect(page.get_by_test_id("preview-cost")).to_have_text("USD 0.66")
    expect(page.get_by_test_id("preview-samples")).to_contain_text(re.compile(r"Olivia|Noah|Jack|there|Friend"))

    # --- Scheduled for the minute after next in the workspace's zone (60–120 s away).
    page.get_by_label("At a time in the workspace's time zone").check()
    start = (timezone.now().astimezone(SYDNEY) + datetime.timedelta(minutes=2)).replace(second=0, microsecond=0)
    page.get_by_label("Send at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    # The test runs at any hour: no quiet hours (they are on by default).
    page.get_by_label("Hold messages during quiet hours (recipient's local time)").uncheck()
    shot("smart-encoded-two-variants-scheduled")
    page.get_by_test_id("launch-button").click()
    expect(page.get_by_text(re.compile(r"“Winter warmers” scheduled: 12 recipients, USD 0\.6600 reserved"))).to_be_visible()
    status = page.get_by_test_id("campaign-status")
    expect(status).to_have_text("Scheduled")
    expect(page.get_by_test_id("campaign-report")).to_contain_text(f"Starts {start:%-d %b %Y, %H:%M}")
    campaign = Campaign.objects.get(name="Winter warmers")
    assert campaign.starts_at == start
    # The worker writes the messages, held until the start.
    expect(page.get_by_test_id("progress-text")).to_contain_text("12 waiting of 12 messages", timeout=15_000)
    assert set(Message.objects.filter(campaign_id=campaign.pk).values_list("status", flat=True)) == {statuses.SCHEDULED}
    shot("scheduled")

    # --- The scheduled minute comes: the page, polling, follows the campaign to its end without a reload.
    time_machine.shift(start - timezone.now() + datetime.timedelta(seconds=1))
    expect(status).to_have_text("Completed", timeout=30_000)
    expect(page.get_by_test_id("pause")).to_have_count(0)  # the header's buttons follow the status too
    expect(page.get_by_test_id("cancel")).to_have_count(0)
    report = page.get_by_test_id("campaign-report")
    expect(report.get_by_test_id("stat-messages")).to_have_text("12")
    # The delivery reports land after the last send; the finished campaign's page keeps refreshing for them.
    expect(report.get_by_test_id("stat-delivered")).to_have_text("11", timeout=20_000)
    expect(report.get_by_test_id("stat-undelivered")).to_have_text("1")
    expect(report.get_by_test_id("stat-spend")).to_contain_text("USD 0.66")
    table = report.get_by_test_id("variant-table")
    # Each variant's messages as sent (the split is by a hash of the contact: about half each), and A's spintax
    # choices under it.
    sent = {label: Message.objects.filter(campaign_id=campaign.pk, variant_key__startswith=label).count()
            for label in "AB"}
    assert sum(sent.values()) == 12 and all(sent.values())
    for i, label in enumerate("AB"):
        cells = table.locator("tbody tr:not(.subrow)").nth(i).locator("th, td")
        expect(cells.nth(0)).to_have_text(label)
        expect(cells.nth(1)).to_have_text(str(sent[label]))
    expect(table.locator("tr.subrow").first).to_contain_text(re.compile("A · “(Hi|Hello)”"))
    page.wait_for_function(CHART_DRAWN, arg="variant-chart")
    page.wait_for_function(CHART_DRAWN, arg="time-chart")  # statuses over time, ending where the figures stand
    over_time = json.loads(page.locator("#time-data").text_content())
    assert over_time["series"]["delivered"][-1] == 11 and over_time["series"]["undelivered"][-1] == 1
    shot("completed-chart-and-variants")

    by_status = {}
    for message in Message.objects.filter(campaign_id=campaign.pk):
        by_status[message.status] = by_status.get(message.status, 0) + 1
        # A went out smart-encoded (plain GSM text), B with its emoji.
        assert message.body.isascii() if message.variant_key.startswith("A") else "\U0001F950" in message.body
    assert by_status == {statuses.DELIVERED: 11, statuses.UNDELIVERED: 1}
    assert Contact.objects.count() == 14  # the two bad rows made no contact
    assert Segment.objects.get(name="Sydney locals").rules["conditions"][0]["field"] == "address_city"


def test_agent_answers_an_inbound_text_with_a_template_then_the_customer_opts_out(
    page, live_server, worker, journey_screenshots, settings,
):
    shot = journey_screenshots("agent")
    settings.SANDBOX_DLR_DELAY = 0.5
    account, _, api_key = account_services.account_create(
        name="Corner Cafe", email="agent@cafe.test", password=PASSWORD, credit="10", default_region="AU",
        timezone_name="Australia/Sydney")

    def customer_texts(body: str) -> None:
        """The customer's phone writes to our number: the sandbox gateway's inbound webhook, over HTTP."""
        answer = requests.post(f"{live_server.url}/v3/sandbox/inbound", auth=(account.api_username, api_key),
                               json={"from": "0412 777 755", "to": OURS, "body": body}, timeout=15)
        assert answer.status_code == 200, answer.text
        assert answer.json()["response_code"] == "SUCCESS" and answer.json()["data"]["from"] == CUSTOMER

    log_in(page, "agent@cafe.test")
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Inbox")).click()
    expect(page.get_by_role("heading", name="No conversations yet")).to_be_visible()
    page.get_by_role("link", name="Templates").click()
    new_template = page.locator("form").filter(has=page.get_by_role("heading", name="New template"))
    new_template.get_by_label("Name").fill("Opening hours")
    new_template.get_by_label("Text").fill("Hi {{first_name|there}}, we're open 7am-3pm every day, Sundays too.")
    page.get_by_test_id("template-create").click()
    expect(page.locator(".template-card input[name=template_name]")).to_have_value("Opening hours")
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Inbox")).click()
    expect(page.get_by_test_id("inbox-badge")).to_be_hidden()

    # The text arrives while the inbox is open: the list and the badge update by themselves (the worker applies it).
    customer_texts("Hi! Are you open on Sunday?")
    conversations = page.get_by_test_id("conversation-list")
    expect(conversations).to_contain_text("Are you open on Sunday?", timeout=15_000)
    expect(page.get_by_test_id("inbox-badge")).to_have_text("1")
    shot("inbound-without-reload")

    conversations.get_by_role("link", name=re.compile(re.escape(CUSTOMER))).click()
    thread = page.get_by_test_id("thread-items")
    expect(thread).to_contain_text("Are you open on Sunday?")
    page.get_by_label("Insert a template").select_option(label="Opening hours")
    expect(page.get_by_test_id("reply-body")).to_have_value(
        "Hi {{first_name|there}}, we're open 7am-3pm every day, Sundays too.")
    expect(page.get_by_test_id("reply-encoding")).to_have_text("GSM-7")
    expect(page.get_by_test_id("reply-cost")).to_contain_text("USD")
    page.get_by_test_id("reply-send").click()
    expect(page.get_by_text(re.compile(r"Reply sent to \+61412777755"))).to_be_visible()
    reply = thread.locator("li.bubble-out").filter(has_text="Hi there, we're open 7am-3pm every day, Sundays too.")
    expect(reply).to_be_visible()
    # The worker sends it through the sandbox, whose delivery report comes back: the tick follows in the thread.
    expect(reply.locator(".tick")).to_have_text(re.compile("delivered"), timeout=15_000)
    shot("template-reply-delivered")

    customer_texts("STOP")
    expect(thread.locator("li.bubble-in").filter(has_text="STOP")).to_be_visible(timeout=15_000)  # no reload
    expect(page.get_by_test_id("opted-out-badge")).to_be_visible()
    expect(page.get_by_test_id("reply-refused")).to_contain_text("opted out")
    expect(page.get_by_test_id("reply-body")).to_be_disabled()
    expect(page.get_by_test_id("reply-send")).to_be_disabled()
    # The keyword's confirmation went out before the opt-out took effect.
    expect(thread).to_contain_text("You have been unsubscribed and will receive no more messages.")
    shot("opted-out-reply-refused")

    assert Conversation.objects.filter(account=account).count() == 1  # one thread: question, reply, STOP
    outbound = list(Message.objects.filter(account=account, to=CUSTOMER).order_by("pk").values_list("body", "status"))
    assert outbound == [("Hi there, we're open 7am-3pm every day, Sundays too.", statuses.DELIVERED),
                        ("You have been unsubscribed and will receive no more messages.", outbound[1][1])]
    assert Contact.objects.get(account=account, phone_number=CUSTOMER).opted_out_at is not None


def test_admin_runs_a_subaccount_from_creation_to_suspension(page, live_server, worker, journey_screenshots):
    shot = journey_screenshots("admin")
    account_services.account_create(name="Acme Corp", email="admin@acme.test", password=PASSWORD, credit="250")
    log_in(page, "admin@acme.test")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Subaccounts").click()
    page.get_by_role("link", name="New subaccount").click()
    page.get_by_label("API username").fill("acme-eu")
    page.get_by_label("Display name").fill("Acme Europe")
    page.get_by_label("Email").fill("eu@acme.test")
    page.get_by_role("button", name="Create subaccount").click()
    expect(page.get_by_role("heading", name="Subaccount created")).to_be_visible()
    first_key = page.get_by_test_id("new-api-key").inner_text().strip()
    shot("created-key-shown-once")
    subaccount = Account.objects.get(api_username="acme-eu")

    # Rotate the key: the new one is shown once; the page opened again does not show it, and cannot.
    page.get_by_role("link", name="Open Acme Europe").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    key = rotate_api_key(page, previous=first_key)
    shot("rotated-key-shown-once")
    page.reload()  # the subaccount's page again, not a second rotation
    expect(page).to_have_url(f"{live_server.url}/settings/subaccounts/{subaccount.pk}/")
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    expect(page.get_by_text(key[:10] + "…")).to_be_visible()  # only its prefix, to recognise it
    assert key not in page.content()

    # Credit from the main account.
    page.get_by_label("Amount").fill("40")
    page.get_by_role("button", name="Transfer credit").click()
    expect(page.get_by_test_id("subaccount-balance")).to_have_text("USD 40.00")
    expect(page.get_by_test_id("current-balance")).to_have_text("USD 210.00")
    shot("credit-transferred")

    # The key works over HTTP, and sees the credit; the old one does not.
    answer = api_get_account(live_server.url, "acme-eu", key)
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["response_code"] == "SUCCESS" and envelope["data"]["username"] == "acme-eu"
    assert Decimal(str(envelope["data"]["balance"])) == Decimal("40")
    assert api_get_account(live_server.url, "acme-eu", first_key).status_code == 401

    # Suspended: the same key is refused, in the envelope.
    page.get_by_role("button", name="Suspend subaccount").click()
    expect(page.get_by_role("button", name="Reactivate subaccount")).to_be_visible()
    expect(page.get_by_text("This subaccount is suspended: its API key and members are refused.")).to_be_visible()
    shot("suspended")
    refused = api_get_account(live_server.url, "acme-eu", key)
    assert refused.status_code in (401, 403), refused.text
    envelope = refused.json()
    assert envelope["http_code"] == refused.status_code
    assert envelope["response_code"] in ("UNAUTHORIZED", "FORBIDDEN") and envelope["error"]["description"]
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Subaccounts").click()
    expect(page.get_by_role("row").filter(has_text="Acme Europe")).to_contain_text("Suspended")
    shot("subaccounts-list")


def money(text: str) -> Decimal:
    return Decimal(re.search(r"[\d.]+", text.replace(",", "")).group())
