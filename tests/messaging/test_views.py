"""The messaging UI through the test client, against the real database: Send SMS with its live counter and cost, the
message log and its export, one message's timeline, the sandbox phones and the gateway settings."""

import re
import zoneinfo
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts import services as contacts
from contacts.models import Contact
from smsportal.accounts import services as accounts
from smsportal.accounts.models import DEFAULT_RATES
from smsportal.messaging import statuses
from smsportal.messaging.models import GatewayConnection, Message
from smsportal.messaging.services import SmsRequest, messages_send
from tests.factories import AccountFactory, MemberFactory

from .conftest import run_engine

pytestmark = pytest.mark.django_db

AU_RATE = DEFAULT_RATES["AU"]
SEND = "/messages/send/"
PREVIEW = "/messages/send/preview"


@pytest.fixture
def admin_client(client, funded):
    client.force_login(MemberFactory(account=funded).user)
    return client


@pytest.fixture
def client_as(client, funded, user_with_role):
    def login(role):
        client.force_login(user_with_role(role, account=funded))
        return client

    return login


def send(account, *numbers, body="Hello from the sandbox", **extra):
    return messages_send(account=account, requests=[SmsRequest(to=n, body=body, **extra) for n in numbers])


def preview(client, body, **data):
    return client.post(PREVIEW, {"mode": "numbers", "numbers": "", "body": body, **data}, HTTP_HX_REQUEST="true")


def text_of(response) -> str:
    return response.content.decode()


def shown(html: str, name: str) -> str:
    """The text inside the element with data-testid=`name`, tags stripped and whitespace squeezed."""
    match = re.search(rf'data-testid="{name}"[^>]*>(.*?)</(?:span|p|div|dd|ul)>', html, re.S)
    assert match, f"no data-testid={name}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def log_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-message-id="(\d+)"', text_of(response))]


def post_send(client, **data):
    fields = {"mode": "numbers", "numbers": "", "contact_list": "", "sender": "", "body": "Hi", "schedule": "",
              "send_token": ""}
    fields.update(data)
    return client.post(SEND, fields)


def flash(client) -> list[str]:
    html = text_of(client.get(reverse("messaging:sandbox")))
    return [" ".join(m.split()) for m in re.findall(r'<div class="message message-\w+">(.*?)</div>', html, re.S)]


# --- The Send SMS page and its live counter ------------------------------------------------------------------------


def test_send_page_renders_with_the_live_counter_wired(admin_client):
    response = admin_client.get(SEND)
    html = text_of(response)
    assert response.status_code == 200
    assert f'hx-post="{PREVIEW}"' in html and 'hx-trigger="input changed delay:200ms' in html
    assert 'name="numbers"' in html and 'name="contact_list"' in html and 'type="datetime-local"' in html
    assert shown(html, "meter-segments") == "0 segments"
    assert "0000" in html and reverse("messaging:sandbox") in html  # the hint to try the failing numbers
    assert re.search(r'name="send_token" value="[0-9a-f]{32}"', html)


@pytest.mark.parametrize(
    "body, encoding, segments, left",
    [
        ("a" * 160, "GSM-7", "1 segment", "0 left in this part"),
        ("a" * 161, "GSM-7", "2 segments", "145 left in this part"),  # 2 × 153 − 161
        ("€" * 80, "GSM-7", "1 segment", "0 left in this part"),  # the euro sign takes two septets
        ("é" * 70 + "ł", "UCS-2", "2 segments", "63 left in this part"),
    ],
)
def test_preview_counts_segments_with_the_engines_analyze(admin_client, body, encoding, segments, left):
    response = preview(admin_client, body)
    html = text_of(response)
    assert response.status_code == 200 and "<html" not in html
    assert shown(html, "meter-encoding") == encoding
    assert shown(html, "meter-segments") == segments
    assert shown(html, "meter-left") == left


def test_preview_counts_a_crlf_newline_once(admin_client):
    html = text_of(preview(admin_client, "a" * 79 + "\r\n" + "b" * 80))
    assert shown(html, "meter-chars") == "160 characters" and shown(html, "meter-segments") == "1 segment"


def test_preview_highlights_the_characters_forcing_ucs2_and_escapes_the_body(admin_client):
    html = text_of(preview(admin_client, "Don’t <script>alert(1)</script> ok"))
    assert shown(html, "meter-encoding") == "UCS-2"
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    highlight = re.search(r'data-testid="body-highlight">(.*?)</div>', html, re.S).group(1)
    mark = '<mark class="forced" title="U+2019 RIGHT SINGLE QUOTATION MARK">’</mark>'
    assert f"Don{mark}t &lt;script&gt;" in highlight
    assert "U+2019 RIGHT SINGLE QUOTATION MARK" in html


def test_preview_offers_smart_encoding_only_when_it_helps(admin_client):
    html = text_of(preview(admin_client, "It’s “great” — really…"))
    assert 'data-testid="smart-offer"' in html
    button = re.search(r'<button[^>]*data-smart-body="([^"]*)"[^>]*>Use smart encoding</button>', html)
    assert button and button.group(1) == "It&#x27;s &quot;great&quot; - really..."
    assert "Result: <strong>GSM-7</strong>, <strong>1</strong> segment" in html

    # An emoji stays UCS-2 whatever smart encoding does, and the segments do not drop: no offer.
    assert 'data-testid="smart-offer"' not in text_of(preview(admin_client, "It’s fine 😀"))
    # A GSM-7 body needs nothing.
    assert 'data-testid="ucs-note"' not in text_of(preview(admin_client, "Plain text"))


def test_preview_prices_typed_numbers_and_names_bad_rows(admin_client, funded):
    contacts.contacts_opt_out(
        account=funded,
        contacts=Contact.objects.filter(pk=contacts.contact_create(account=funded, phone_number="0412 000 009").pk),
        source="ui",
    )
    numbers = "0412 345 678, +61412340001\n0412 345 678\nnot-a-number\n0412 000 009"
    html = text_of(preview(admin_client, "a" * 161, numbers=numbers))
    assert shown(html, "summary-recipients") == "4"  # the repeated number once
    assert shown(html, "summary-sendable") == "2"
    assert shown(html, "summary-blocked") == "2"
    assert shown(html, "summary-cost") == f"USD {2 * 2 * AU_RATE:.2f}"
    assert "Line 3: <span class=\"phone\">“not-a-number”</span> — not a phone number" in html
    reasons = re.search(r'<ul class="blocked-reasons">(.*?)</ul>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", reasons) == "1 invalid number1 opted out"
    assert "1 repeated number will be texted once" in html
    assert 'hx-swap-oob="true"' in html  # the summary card updates alongside the counter


def test_preview_prices_a_list_by_country(admin_client, funded):
    people = contacts.list_create(account=funded, name="People")
    for number in ("0412 111 001", "0412 111 002", "+44 7400 123456", "+1 650 253 0000"):
        contact = contacts.contact_create(account=funded, phone_number=number)
        contacts.list_add_contacts(contact_list=people, contacts=Contact.objects.filter(pk=contact.pk))
    html = text_of(preview(admin_client, "Hello", mode="list", contact_list=str(people.pk)))
    assert shown(html, "summary-recipients") == "4" and shown(html, "summary-sendable") == "4"
    expected = 2 * DEFAULT_RATES["AU"] + DEFAULT_RATES["GB"] + DEFAULT_RATES["US"]
    assert Decimal(shown(html, "summary-cost").split()[1]) == expected


def test_preview_of_another_workspaces_list_prices_nothing(admin_client):
    theirs = contacts.list_create(account=AccountFactory(), name="Theirs")
    html = text_of(preview(admin_client, "Hello", mode="list", contact_list=str(theirs.pk)))
    assert "Choose a list" in html and "Theirs" not in html


# --- Sending ----------------------------------------------------------------------------------------------------


def test_send_creates_messages_and_redirects_to_the_log_with_a_summary(admin_client, funded):
    response = post_send(admin_client, numbers="0412 345 678\n+61412340001, 0412 345 678", body="Hello\r\nthere",
                         sender="Acme")
    assert response.status_code == 302 and response["Location"] == reverse("messaging:log")
    sent = list(Message.objects.filter(account=funded).order_by("id"))
    assert [m.to for m in sent] == ["+61412345678", "+61412340001"]
    assert {m.source for m in sent} == {"ui"} and {m.status for m in sent} == {statuses.QUEUED}
    assert sent[0].body == "Hello\nthere" and sent[0].sender == "Acme"
    assert flash(admin_client) == ["2 queued. 1 repeated number sent once."]


def test_send_reports_blocked_messages_with_their_reasons(admin_client, funded):
    contacts.contacts_opt_out(
        account=funded,
        contacts=Contact.objects.filter(pk=contacts.contact_create(account=funded, phone_number="0412 000 009").pk),
        source="ui",
    )
    response = post_send(admin_client, numbers="0412 345 678\n0412 000 009")
    assert response.status_code == 302
    assert flash(admin_client) == ["1 queued, 1 blocked (1 opted out)."]
    blocked = Message.objects.get(account=funded, to="+61412000009")
    assert blocked.status == statuses.BLOCKED and blocked.blocked_reason == "opted_out"


def test_an_invalid_number_is_refused_row_by_row_and_nothing_is_sent(admin_client, funded):
    response = post_send(admin_client, numbers="0412 345 678\n12\nhello there")
    html = text_of(response)
    assert response.status_code == 400
    assert "Line 2: “12” — too short for its country." in html
    assert "Line 3: “hello there” — not a phone number." in html
    assert 'id="id_numbers"' in html and "field-invalid" in html
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"numbers": ""}, "numbers", "Enter at least one phone number."),
        ({"numbers": "0412 345 678", "body": "  \r\n "}, "body", "Write the message to send."),
        ({"numbers": "0412 345 678", "sender": "Shop!"}, "sender", "Use a phone number"),
        ({"mode": "list"}, "contact_list", "Choose the list to send to."),
        ({"numbers": "0412 345 678", "schedule": "2001-01-01T10:00"}, "schedule", "Pick a time in the future"),
        ({"numbers": "0412 345 678", "schedule": "tomorrow"}, "schedule", "Enter a date and time"),
    ],
)
def test_bad_input_names_the_field_and_sends_nothing(admin_client, data, field, message):
    response = post_send(admin_client, **data)
    html = text_of(response)
    assert response.status_code == 400
    block = re.search(rf'<div class="field[^"]*field-invalid[^"]*">\s*<label for="id_{field}">.*?</div>', html, re.S)
    if field == "body":
        block = re.search(r'<div class="field body-field field-invalid">.*?<p class="error">[^<]*</p>', html, re.S)
    assert block and message in block.group(0)
    assert not Message.objects.exists()


def test_too_many_typed_numbers_point_to_a_list(admin_client, monkeypatch):
    from smsportal.messaging import forms

    monkeypatch.setattr(forms, "MAX_TYPED_NUMBERS", 3)
    response = post_send(admin_client, numbers="\n".join(f"0412 345 67{i}" for i in range(4)))
    assert response.status_code == 400 and "4 numbers: at most 3 at a time here" in text_of(response)
    assert not Message.objects.exists()


def test_not_enough_credit_sends_nothing(client, main_account):
    main_account.default_region = "AU"
    main_account.save()
    client.force_login(MemberFactory(account=main_account).user)
    response = post_send(client, numbers="0412 345 678")
    assert response.status_code == 400 and "Not enough credit" in text_of(response)
    assert not Message.objects.exists()


def test_a_scheduled_send_waits_and_says_when(admin_client, funded):
    funded.timezone = "Australia/Sydney"
    funded.save()
    when = timezone.localtime(timezone.now() + timedelta(days=2), timezone=zoneinfo.ZoneInfo("Australia/Sydney"))
    response = post_send(admin_client, numbers="0412 345 678", schedule=when.strftime("%Y-%m-%dT%H:%M"))
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.status == statuses.SCHEDULED
    assert message.schedule_at == when.replace(second=0, microsecond=0)
    assert flash(admin_client) == [f"1 scheduled for {when:%-d %b %Y, %H:%M}."]


def test_the_same_form_is_never_sent_twice(admin_client):
    token = re.search(r'name="send_token" value="(\w+)"', text_of(admin_client.get(SEND))).group(1)
    assert post_send(admin_client, numbers="0412 345 678", send_token=token).status_code == 302
    again = post_send(admin_client, numbers="0412 345 678", send_token=token)
    assert again.status_code == 302 and Message.objects.count() == 1
    assert "already sent" in flash(admin_client)[-1]


def test_send_to_a_list_records_each_contact(admin_client, funded):
    people = contacts.list_create(account=funded, name="People")
    for number in ("0412 111 001", "0412 111 002", "0412 111 003"):
        contact = contacts.contact_create(account=funded, phone_number=number)
        contacts.list_add_contacts(contact_list=people, contacts=Contact.objects.filter(pk=contact.pk))
    contacts.contacts_opt_out(account=funded, contacts=Contact.objects.filter(phone_number="+61412111003"), source="ui")
    response = post_send(admin_client, mode="list", contact_list=str(people.pk), body="Hi {{first_name}}")
    assert response.status_code == 302
    rows = Message.objects.filter(account=funded).order_by("to")
    assert [(m.to, m.status) for m in rows] == [
        ("+61412111001", statuses.QUEUED), ("+61412111002", statuses.QUEUED), ("+61412111003", statuses.BLOCKED)
    ]
    assert all(m.contact_id for m in rows)
    assert flash(admin_client) == ["2 queued, 1 blocked (1 opted out)."]


def test_a_list_over_the_cap_is_refused_on_its_field(admin_client, funded, monkeypatch):
    from smsportal.messaging import views

    monkeypatch.setattr(views, "MAX_LIST_SEND", 1)
    people = contacts.list_create(account=funded, name="People")
    for number in ("0412 111 001", "0412 111 002"):
        contact = contacts.contact_create(account=funded, phone_number=number)
        contacts.list_add_contacts(contact_list=people, contacts=Contact.objects.filter(pk=contact.pk))
    response = post_send(admin_client, mode="list", contact_list=str(people.pk))
    assert response.status_code == 400
    assert "People has 2 contacts; a send from this page takes at most 1" in text_of(response)
    assert not Message.objects.exists()


def test_viewer_cannot_send(client_as):
    viewer = client_as("viewer")
    assert viewer.get(SEND).status_code == 403
    assert post_send(viewer, numbers="0412 345 678").status_code == 403
    assert preview(viewer, "Hi").status_code == 403
    assert not Message.objects.exists()
    assert viewer.get(reverse("messaging:log")).status_code == 200  # reading the log is a viewer's right


def test_an_agent_sends_and_lands_back_on_the_send_page(client_as):
    agent = client_as("agent")  # may send, may not read reports
    response = post_send(agent, numbers="0412 345 678")
    assert response.status_code == 302 and response["Location"] == SEND
    assert agent.get(reverse("messaging:log")).status_code == 403


def test_logged_out_visitors_are_sent_to_log_in(client):
    response = client.get(SEND)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- The message log --------------------------------------------------------------------------------------------


@pytest.fixture
def history(funded):
    """Five messages through the sandbox: delivered, failed, undelivered, sent, plus one blocked (opted out)."""
    contacts.contacts_opt_out(
        account=funded,
        contacts=Contact.objects.filter(pk=contacts.contact_create(account=funded, phone_number="0412 000 009").pk),
        source="ui",
    )
    send(funded, "0412 345 678", "+61412340000", "+61412340001", "+61412340003", "0412 000 009", body="Sale <b>now</b>")
    run_engine()
    return {m.to: m for m in Message.objects.filter(account=funded)}


def test_log_shows_messages_newest_first_with_status_segments_and_price(admin_client, history):
    response = admin_client.get(reverse("messaging:log"))
    html = text_of(response)
    assert response.status_code == 200
    assert log_ids(response) == sorted((m.pk for m in history.values()), reverse=True)
    assert "Sale &lt;b&gt;now&lt;/b&gt;" in html and "<b>now</b>" not in html
    assert re.findall(r'data-testid="status">(\w+)<', html) == ["Blocked", "Sent", "Undelivered", "Failed", "Delivered"]
    assert f'<td class="num">{AU_RATE:.4f}'.rstrip("0") in html
    assert 'href="/messages/send/"' in html and "Send SMS" in html
    assert reverse("messaging:export") in html


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"status": "failed"}, ["+61412340000"]),
        ({"status": "delivered"}, ["+61412345678"]),
        ({"number": "+6141234000"}, ["+61412340003", "+61412340001", "+61412340000"]),
        ({"number": "340003"}, ["+61412340003"]),
        ({"status": "blocked", "number": "0009"}, ["+61412000009"]),
    ],
)
def test_log_filters(admin_client, history, params, expected):
    response = admin_client.get(reverse("messaging:log"), params)
    assert response.status_code == 200
    assert [Message.objects.get(pk=i).to for i in log_ids(response)] == expected


def test_log_date_filters_are_days_in_the_account_zone(admin_client, funded, history):
    today = timezone.localdate()
    assert len(log_ids(admin_client.get(reverse("messaging:log"), {"date_from": today.isoformat()}))) == 5
    response = admin_client.get(reverse("messaging:log"), {"date_to": (today - timedelta(days=3)).isoformat()})
    assert log_ids(response) == [] and 'data-testid="log-no-match"' in text_of(response)


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"date_from": "last week"}, "date_from", "Must be Unix seconds or a date like 2026-11-23."),
        ({"status": "lost"}, "status", "Unknown status &#x27;lost&#x27;"),
        ({"campaign_id": "x1"}, "campaign_id", "Must be a whole number."),
    ],
)
def test_a_bad_filter_is_shown_by_its_field(admin_client, history, params, field, message):
    response = admin_client.get(reverse("messaging:log"), params)
    html = text_of(response)
    assert response.status_code == 400 and log_ids(response) == []
    error = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
    assert error and error.group(1).startswith(message)
    assert f'aria-describedby="id_{field}_error"' in html and 'data-testid="filter-error"' in html


def test_log_htmx_gets_the_table_and_the_export_link(admin_client, history):
    response = admin_client.get(reverse("messaging:log"), {"status": "failed", "number": ""}, HTTP_HX_REQUEST="true")
    html = text_of(response)
    assert "<html" not in html and 'id="message-log"' in html
    assert response["HX-Push-Url"] == "/messages/?status=failed"
    assert re.search(r'id="export-link"[^>]*href="/messages/export.csv\?status=failed"[^>]*hx-swap-oob="true"', html)


def test_log_pages_by_keyset(admin_client, funded, monkeypatch):
    from smsportal.messaging import views_log

    monkeypatch.setattr(views_log, "PAGE_SIZE", 2)
    send(funded, *[f"0412 345 67{i}" for i in range(5)])
    ids = sorted(Message.objects.values_list("id", flat=True), reverse=True)
    first = admin_client.get(reverse("messaging:log"))
    assert log_ids(first) == ids[:2]
    older = re.search(r'href="(/messages/\?after=\d+)"', text_of(first)).group(1)
    second = admin_client.get(older)
    assert log_ids(second) == ids[2:4]
    third = admin_client.get(re.search(r'href="(/messages/\?after=\d+)"', text_of(second)).group(1))
    assert log_ids(third) == ids[4:] and "Older →" not in text_of(third)
    newer = re.search(r'href="(/messages/\?before=\d+)"', text_of(third)).group(1)
    assert log_ids(admin_client.get(newer)) == ids[2:4]
    back_to_top = re.search(r'href="(/messages/\?before=\d+)"', text_of(second)).group(1)
    assert log_ids(admin_client.get(back_to_top)) == ids[:2]


def test_log_query_count_does_not_grow_with_rows(admin_client, funded, django_assert_max_num_queries):
    admin_client.get(reverse("messaging:log"))  # the first visit stores the workspace in the session
    send(funded, "0412 345 678")
    with django_assert_max_num_queries(9) as few:  # 8, and the navigation's inbox badge
        admin_client.get(reverse("messaging:log"))
    send(funded, *[f"0412 345 {i:03d}" for i in range(60)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(reverse("messaging:log"))
    assert len(log_ids(response)) == 50


def test_export_uses_the_same_filters(admin_client, history):
    response = admin_client.get(reverse("messaging:export"), {"status": "failed"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    lines = body.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("message_id,created_at,to,")
    assert len(lines) == 2 and ",'+61412340000," in lines[1] and ",failed," in lines[1]


def test_export_with_a_bad_filter_goes_back_to_the_log(admin_client, history):
    response = admin_client.get(reverse("messaging:export"), {"date_to": "soon"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("messaging:log"))


def test_log_is_scoped_to_the_workspace(admin_client, history):
    other = AccountFactory(default_region="AU")
    accounts.credit_top_up(account=other, amount="5")
    send(other, "0412 999 999")
    ids = log_ids(admin_client.get(reverse("messaging:log")))
    assert len(ids) == 5 and Message.objects.get(to="+61412999999").pk not in ids


def test_empty_log_offers_to_send(admin_client):
    html = text_of(admin_client.get(reverse("messaging:log")))
    assert 'data-testid="log-empty"' in html and "Send an SMS" in html


# --- One message ------------------------------------------------------------------------------------------------


def test_detail_shows_fields_gateway_and_timeline(admin_client, history):
    message = history["+61412345678"]
    html = text_of(admin_client.get(reverse("messaging:detail", args=[message.pk])))
    assert shown(html, "message-status") == "Delivered"
    assert "Sale &lt;b&gt;now&lt;/b&gt;" in html
    assert message.gateway_message_id and message.gateway_message_id in html
    assert "Sandbox <span class=\"subtle\">(Sandbox)</span>" in html
    timeline = re.search(r'data-testid="timeline">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r'class="status status-msg-(\w+)"', timeline) == ["queued", "sent", "delivered"]
    assert "by a delivery report" in timeline and "<code class=\"timeline-code\">DELIVRD</code>" in timeline
    assert "Accepted by Sandbox as" in timeline


def test_detail_of_a_failure_shows_the_error_and_attempts(admin_client, history):
    html = text_of(admin_client.get(reverse("messaging:detail", args=[history["+61412340000"].pk])))
    assert "21610" in html and "number refuses messages" in html
    assert re.search(r"<dt>Attempts</dt><dd[^>]*>1</dd>", html)


def test_another_workspaces_message_is_404(admin_client):
    other = AccountFactory(default_region="AU")
    accounts.credit_top_up(account=other, amount="5")
    theirs = send(other, "0412 999 999").outcomes[0].message_id
    assert admin_client.get(reverse("messaging:detail", args=[theirs])).status_code == 404
    assert admin_client.post(reverse("messaging:cancel", args=[theirs])).status_code == 404
    assert Message.objects.get(pk=theirs).status == statuses.QUEUED


def test_a_queued_message_can_be_cancelled_from_its_page(admin_client, funded):
    message_id = send(funded, "0412 345 678").outcomes[0].message_id
    html = text_of(admin_client.get(reverse("messaging:detail", args=[message_id])))
    assert "Cancel message" in html
    response = admin_client.post(reverse("messaging:cancel", args=[message_id]))
    assert response.status_code == 302
    assert Message.objects.get(pk=message_id).status == statuses.CANCELLED


# --- The sandbox's phones ---------------------------------------------------------------------------------------


def test_sandbox_lists_each_number_with_what_it_received(admin_client, history, funded):
    send(funded, "0412 345 678", body="Second one")
    run_engine()
    response = admin_client.get(reverse("messaging:sandbox"))
    html = text_of(response)
    assert response.status_code == 200
    numbers = re.findall(r'<h2 id="phone-\d+" class="phone-number"><span class="phone">(\+\d+)</span>', html)
    # Newest first; the blocked message never reached the sandbox.
    assert numbers == ["+61412345678", "+61412340003", "+61412340001", "+61412340000"]
    first_phone = html.split('data-testid="sandbox-phone"')[1]
    # Newest first in the page (the stylesheet draws the thread bottom-up, like a phone).
    assert first_phone.index("Second one") < first_phone.index("Sale &lt;b&gt;now&lt;/b&gt;")
    assert "Delivered" in first_phone
    assert "Sandbox: number refuses messages" in html.split('data-testid="sandbox-phone"')[4]


def test_sandbox_htmx_refresh_is_the_fragment(admin_client, history):
    html = text_of(admin_client.get(reverse("messaging:sandbox"), HTTP_HX_REQUEST="true"))
    assert 'id="sandbox-phones"' in html and "<html" not in html


def test_a_sandbox_phone_replies_into_the_inbox(admin_client, history, funded):
    from inbox.models import Conversation, InboundMessage
    from inbox.services import inbound_apply

    html = text_of(admin_client.get(reverse("messaging:sandbox")))
    assert html.count('data-testid="sandbox-reply"') == 4  # one reply box a phone
    response = admin_client.post(reverse("messaging:sandbox-reply"),
                                 {"phone": "+61412345678", "body": "Yes please, two <b>loaves</b>"}, follow=True)
    assert "+61412345678 replied; it is in the inbox." in text_of(response)
    inbound_apply()
    reply = InboundMessage.objects.get(account=funded)
    assert (reply.sender, reply.body) == ("+61412345678", "Yes please, two <b>loaves</b>")
    assert Conversation.objects.get(account=funded).contact_number == "+61412345678"


def test_a_sandbox_reply_needs_text_and_a_phone_the_workspace_texted(admin_client, history, funded):
    from inbox.models import InboundRaw

    blank = admin_client.post(reverse("messaging:sandbox-reply"), {"phone": "+61412345678", "body": "  "}, follow=True)
    assert "Type the reply +61412345678 sends." in text_of(blank)
    # The blocked number never reached the sandbox, and a stranger's number is no phone of this workspace.
    for number in ("+61412000009", "+61499999999"):
        assert admin_client.post(reverse("messaging:sandbox-reply"), {"phone": number, "body": "Hi"}).status_code == 404
    assert not InboundRaw.objects.exists()


def test_empty_sandbox_says_how_to_fill_it(admin_client):
    assert 'data-testid="sandbox-empty"' in text_of(admin_client.get(reverse("messaging:sandbox")))


# --- Gateway settings -------------------------------------------------------------------------------------------


GATEWAYS = "/settings/gateways/"


def test_gateways_page_lists_connections_in_priority_order_with_failover_state(admin_client, funded):
    GatewayConnection.objects.create(account=funded, name="Backup", kind="clicksend", priority=20,
                                     credentials={"username": "u", "api_key": "k" * 20}, countries=["AU", "NZ"])
    GatewayConnection.objects.create(account=funded, name="Primary", kind="twilio", priority=10, failure_streak=2,
                                     cap_segments_per_second=30)
    GatewayConnection.objects.create(account=funded, name="Resting", kind="sandbox", priority=30, enabled=False,
                                     skipped_until=timezone.now() + timedelta(minutes=1))
    html = text_of(admin_client.get(GATEWAYS))
    assert re.findall(r'class="gateway-name"[^>]*>([^<]+)<', html) == ["Primary", "Backup", "Resting"]
    assert "2 failures in a row" in html and "Skipped until" in html and "Disabled" in html
    assert ">AU</abbr>" in html and ">NZ</abbr>" in html and "Every country" in html
    assert "k" * 20 not in html
    assert 'href="/settings/gateways/" aria-current="page">Gateways</a>' in html


def test_create_a_connection_from_its_types_fields(admin_client, funded):
    chooser = text_of(admin_client.get("/settings/gateways/new/"))
    assert all(f'data-testid="type-{kind}"' in chooser for kind in ("sandbox", "twilio", "clicksend", "http"))
    form = text_of(admin_client.get("/settings/gateways/new/", {"type": "twilio"}))
    assert 'name="cred_account_sid"' in form and 'name="cred_auth_token"' in form and 'type="password"' in form
    assert 'name="config_messaging_service_sid"' in form
    response = admin_client.post("/settings/gateways/new/", {
        "type": "twilio", "name": "Twilio AU", "priority": "5", "countries": "au, nz", "cap": "10", "enabled": "on",
        "cred_account_sid": "AC" + "1" * 32, "cred_auth_token": "secret-token-1234",
        "config_default_sender": "+15005550006",
    })
    connection = GatewayConnection.objects.get(account=funded)
    assert response.status_code == 302 and response["Location"] == f"{GATEWAYS}{connection.pk}/"
    assert connection.kind == "twilio" and connection.countries == ["AU", "NZ"]
    assert connection.cap_segments_per_second == 10
    assert connection.credentials["auth_token"] == "secret-token-1234"
    assert connection.config == {"default_sender": "+15005550006"}


def test_a_missing_required_credential_names_its_field(admin_client, funded):
    response = admin_client.post("/settings/gateways/new/", {"type": "clicksend", "name": "CS", "priority": "100",
                                                             "cred_username": "me", "cred_api_key": ""})
    assert response.status_code == 400
    html = text_of(response)
    assert re.search(r'<label for="id_cred_api_key">.*?<p class="error">This field is required.</p>', html, re.S)
    assert not GatewayConnection.objects.filter(account=funded).exists()


def test_a_service_refusal_shows_on_the_config_field(admin_client, funded):
    response = admin_client.post("/settings/gateways/new/", {"type": "http", "name": "Mine", "priority": "100",
                                                             "config_url": "ftp://example.test/send"})
    assert response.status_code == 400
    assert re.search(r'<label for="id_config_url">.*?<p class="error">url must be an http', text_of(response), re.S)


def test_edit_shows_credentials_masked_and_a_blank_keeps_the_stored_one(admin_client, funded):
    connection = GatewayConnection.objects.create(
        account=funded, name="CS", kind="clicksend", credentials={"username": "me", "api_key": "abcdefgh-secret-9876"},
        failure_streak=3,
    )
    page = text_of(admin_client.get(f"{GATEWAYS}{connection.pk}/"))
    assert "abcdefgh-secret-9876" not in page and "Stored: ••••9876. Leave empty to keep it." in page
    assert 'id="status-url"' in page
    assert f"/hooks/gateways/{connection.pk}/status?secret={connection.webhook_secret}" in page
    assert 'data-copy-target="status-url"' in page and 'data-copy-target="inbound-url"' in page
    response = admin_client.post(f"{GATEWAYS}{connection.pk}/", {
        "name": "ClickSend main", "priority": "7", "countries": "", "cap": "", "enabled": "on",
        "cred_username": "", "cred_api_key": "••••9876", "config_default_sender": "Acme",
    })
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "ClickSend main" and connection.priority == 7
    assert connection.credentials == {"username": "me", "api_key": "abcdefgh-secret-9876"}
    assert connection.config == {"default_sender": "Acme"} and connection.failure_streak == 0


def test_delete_a_connection(admin_client, funded):
    connection = GatewayConnection.objects.create(account=funded, name="Old", kind="sandbox")
    page = text_of(admin_client.get(f"{GATEWAYS}{connection.pk}/"))
    assert 'data-confirm="Delete the connection' in page
    response = admin_client.post(f"{GATEWAYS}{connection.pk}/delete/")
    assert response.status_code == 302 and not GatewayConnection.objects.filter(pk=connection.pk).exists()


def test_viewers_see_connections_but_not_their_secrets_or_edits(client_as, funded):
    connection = GatewayConnection.objects.create(account=funded, name="CS", kind="clicksend",
                                                  credentials={"username": "me", "api_key": "abcdefgh-secret-9876"})
    viewer = client_as("viewer")
    assert viewer.get(GATEWAYS).status_code == 200
    page = text_of(viewer.get(f"{GATEWAYS}{connection.pk}/"))
    assert "abcdefgh-secret-9876" not in page and connection.webhook_secret not in page and "disabled" in page
    assert viewer.post(f"{GATEWAYS}{connection.pk}/", {"name": "Mine", "priority": "1"}).status_code == 403
    assert viewer.post(f"{GATEWAYS}{connection.pk}/delete/").status_code == 403
    assert viewer.get("/settings/gateways/new/").status_code == 403
    connection.refresh_from_db()
    assert connection.name == "CS"


def test_another_workspaces_connection_is_404(admin_client):
    theirs = GatewayConnection.objects.create(account=AccountFactory(), name="Theirs", kind="sandbox")
    assert admin_client.get(f"{GATEWAYS}{theirs.pk}/").status_code == 404
    assert admin_client.post(f"{GATEWAYS}{theirs.pk}/delete/").status_code == 404
    assert GatewayConnection.objects.filter(pk=theirs.pk).exists()


# --- Navigation -------------------------------------------------------------------------------------------------


def test_main_nav_has_messages_next_to_campaigns(admin_client):
    html = text_of(admin_client.get(reverse("messaging:log")))
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    labels = re.findall(r">(\w+)</a>", nav)
    assert labels.index("Messages") == labels.index("Campaigns") + 1
    assert 'href="/messages/" aria-current="page">Messages' in nav
    settings_page = text_of(admin_client.get(GATEWAYS))
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', settings_page, re.S).group(1)
    assert 'aria-current="page">Settings' in nav and 'aria-current="page">Messages' not in nav


def test_edit_keeps_setting_types_and_settings_the_form_does_not_show(admin_client, funded):
    connection = GatewayConnection.objects.create(account=funded, name="Box", kind="sandbox",
                                                  config={"dlr_delay": 2.5, "note": "set through the API"})
    page = text_of(admin_client.get(f"{GATEWAYS}{connection.pk}/"))
    assert 'name="config_dlr_delay" value="2.5"' in page
    response = admin_client.post(f"{GATEWAYS}{connection.pk}/", {"name": "Box", "priority": "100", "enabled": "on",
                                                                 "config_dlr_delay": "4"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.config == {"dlr_delay": 4, "note": "set through the API"}
