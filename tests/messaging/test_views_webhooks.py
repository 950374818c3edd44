"""Settings → Webhooks through the test client: the signing secret (masked, revealed to admins, rotated), rules
added, edited, toggled, tested and deleted with URL refusals shown on the field, the delivery log with its status
filter and a pinned query count, untrusted text escaped, viewers kept to reading, other workspaces' rules 404."""

import re

import pytest
from django.utils import timezone

from smsportal.messaging import netguard, outbound
from smsportal.messaging import services_webhooks as hooks
from smsportal.messaging.models import WebhookDelivery, WebhookRule, WebhookSecret
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db

PAGE = "/settings/webhooks/"


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    answers = {}
    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: answers.get(host, ["93.184.216.34"]))
    return answers


@pytest.fixture
def admin_client(client, main_account):
    client.force_login(MemberFactory(account=main_account).user)
    return client


@pytest.fixture
def viewer(client, main_account, user_with_role):
    client.force_login(user_with_role("viewer", account=main_account))
    return client


def text_of(response) -> str:
    return response.content.decode()


def add(account, kind="receipt", url="https://crm.example.com/hook", **data):
    return hooks.webhook_rule_save(account=account, kind=kind, data={"url": url, **data})


def test_page_shows_the_secret_masked_with_a_reveal_and_the_nav_link(admin_client, main_account):
    html = text_of(admin_client.get(PAGE))
    secret = WebhookSecret.objects.get(account=main_account).secret  # made on first use
    masked = re.search(r'data-testid="masked-secret">([^<]+)<', html).group(1)
    assert secret not in masked and masked.startswith("whsec_") and masked.endswith(secret[-4:])
    assert re.search(r"<details[^>]*>\s*<summary>Reveal</summary>", html)
    assert f'data-testid="secret">{secret}<' in html
    assert 'href="/settings/webhooks/" aria-current="page">Webhooks</a>' in html
    assert 'data-testid="rules-empty"' in html and 'data-testid="log-empty"' in html


def test_rotating_the_secret(admin_client, main_account):
    admin_client.get(PAGE)
    old = WebhookSecret.objects.get().secret
    response = admin_client.post("/settings/webhooks/secret/rotate/")
    assert response.status_code == 302
    secret = WebhookSecret.objects.get()
    assert secret.secret != old and secret.rotated_at is not None


def test_add_a_receipt_rule_and_see_it_listed(admin_client, main_account):
    form = text_of(admin_client.get("/settings/webhooks/new/", {"kind": "receipt"}))
    assert 'name="url"' in form and 'name="message_search_type"' not in form
    response = admin_client.post("/settings/webhooks/new/", {"kind": "receipt", "name": "CRM",
                                                             "url": "https://crm.example.com/dlr", "enabled": "on"})
    assert response.status_code == 302
    rule = WebhookRule.objects.get()
    assert (rule.account, rule.kind, rule.name, rule.url, rule.enabled) == (
        main_account, "receipt", "CRM", "https://crm.example.com/dlr", True)
    html = text_of(admin_client.get(PAGE))
    assert re.findall(r'data-testid="rule-url">([^<]+)<', html) == ["https://crm.example.com/dlr"]


def test_add_an_inbound_rule_with_its_filter(admin_client):
    form = text_of(admin_client.get("/settings/webhooks/new/", {"kind": "inbound"}))
    assert 'name="message_search_type"' in form and "Does not contain" in form
    response = admin_client.post("/settings/webhooks/new/", {
        "kind": "inbound", "name": "Refunds", "url": "https://crm.example.com/in", "enabled": "on",
        "dedicated_number": "", "message_search_type": "2", "message_search_term": "refund",
    })
    assert response.status_code == 302
    rule = WebhookRule.objects.get()
    assert (rule.dedicated_number, rule.message_search_type, rule.message_search_term) == ("*", 2, "refund")
    assert "contains “refund”" in text_of(admin_client.get(PAGE))


@pytest.mark.parametrize("url, answers, message", [
    ("http://127.0.0.1:8000/admin", {}, "loopback"),
    ("https://intranet.example.com/hook", {"intranet.example.com": ["10.0.0.7"]}, "private"),
    ("ftp://example.com/x", {}, "must start with https://"),
])
def test_a_refused_url_is_shown_on_its_field(admin_client, dns, url, answers, message):
    dns.update(answers)
    response = admin_client.post("/settings/webhooks/new/", {"kind": "receipt", "name": "X", "url": url})
    assert response.status_code == 400
    html = text_of(response)
    field = re.search(r'<div class="field field-invalid">(.*?)</div>', html, re.S).group(1)
    assert 'name="url"' in field and message in field
    assert not WebhookRule.objects.exists()


def test_a_missing_search_term_is_shown_on_its_field(admin_client):
    response = admin_client.post("/settings/webhooks/new/", {"kind": "inbound", "name": "X",
                                                             "url": "https://crm.example.com/in",
                                                             "message_search_type": "1", "message_search_term": ""})
    assert response.status_code == 400
    field = re.search(r'<div class="field field-invalid">(.*?)</div>', text_of(response), re.S).group(1)
    assert 'name="message_search_term"' in field and "Enter the text to search for" in field


def test_edit_toggle_ping_and_delete(admin_client, main_account):
    rule = add(main_account)
    page = text_of(admin_client.get(f"{PAGE}{rule.pk}/"))
    assert 'value="https://crm.example.com/hook"' in page and "Send a test event" in page
    response = admin_client.post(f"{PAGE}{rule.pk}/", {"name": "Renamed", "url": "https://crm.example.com/v2",
                                                       "enabled": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.url) == ("Renamed", "https://crm.example.com/v2")
    assert admin_client.post(f"{PAGE}{rule.pk}/toggle/").status_code == 302
    rule.refresh_from_db()
    assert rule.enabled is False
    assert admin_client.post(f"{PAGE}{rule.pk}/ping/").status_code == 302
    ping = WebhookDelivery.objects.get()
    assert (ping.event, ping.rule_id, ping.status) == ("ping", rule.pk, "pending")
    assert "Test ping" in text_of(admin_client.get(PAGE))
    assert admin_client.post(f"{PAGE}{rule.pk}/delete/").status_code == 302
    assert not WebhookRule.objects.exists() and not WebhookDelivery.objects.exists()


def test_the_log_filters_by_status_and_escapes_what_receivers_said(admin_client, main_account):
    rule = add(main_account)
    outbound.webhooks_emit(kind="receipt", events=[(main_account.pk, {"message_id": str(i), "note": "<i>x</i>"})
                                                   for i in range(3)])
    WebhookDelivery.objects.filter(payload__message_id="0").update(
        status="failed", attempts=10, last_status_code=None, next_attempt_at=None,
        last_error="connection_error: <script>alert(1)</script>", last_response="<script>alert('answer')</script>")
    WebhookDelivery.objects.filter(payload__message_id="1").update(status="delivered", attempts=1,
                                                                   last_status_code=204, delivered_at=timezone.now())
    html = text_of(admin_client.get(PAGE))
    assert len(re.findall(r"data-delivery-id=", html)) == 3
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#x27;answer&#x27;)&lt;/script&gt;" in html and "&lt;i&gt;x&lt;/i&gt;" in html
    failed = text_of(admin_client.get(PAGE, {"status": "failed"}))
    assert re.findall(r'data-testid="delivery-status">(\w+)<', failed) == ["Failed"]
    by_rule = text_of(admin_client.get(PAGE, {"rule": rule.pk, "status": "delivered"}))
    assert re.findall(r'data-testid="delivery-status">(\w+)<', by_rule) == ["Delivered"]
    bad = text_of(admin_client.get(PAGE, {"status": "lost"}))
    assert "status must be one of" in bad and len(re.findall(r"data-delivery-id=", bad)) == 3


def test_the_log_pages_and_keeps_its_query_count(admin_client, main_account, django_assert_max_num_queries):
    add(main_account)
    add(main_account, kind="inbound")
    admin_client.get(PAGE)  # the session and the secret settle
    outbound.webhooks_emit(kind="receipt", events=[(main_account.pk, {"message_id": str(i)}) for i in range(5)])
    with django_assert_max_num_queries(12) as few:
        admin_client.get(PAGE)
    outbound.webhooks_emit(kind="receipt", events=[(main_account.pk, {"message_id": str(i)}) for i in range(60)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = text_of(admin_client.get(PAGE))
    assert len(re.findall(r"data-delivery-id=", html)) == 25
    older = re.search(r'href="(\?[^"]*before=\d+[^"]*)"', html).group(1).replace("&amp;", "&")
    second = text_of(admin_client.get(PAGE + older.split("#")[0]))
    ids = [int(i) for i in re.findall(r'data-delivery-id="(\d+)"', html)]
    more = [int(i) for i in re.findall(r'data-delivery-id="(\d+)"', second)]
    assert len(more) == 25 and max(more) < min(ids)


def test_viewers_see_rules_but_not_the_secret_or_edits(viewer, main_account):
    rule = add(main_account)
    secret = WebhookSecret.objects.get().secret
    html = text_of(viewer.get(PAGE))
    assert "crm.example.com/hook" in html and secret not in html and "Reveal" not in html
    assert "Send a test event" not in html
    assert "disabled" in text_of(viewer.get(f"{PAGE}{rule.pk}/"))
    assert viewer.post(f"{PAGE}{rule.pk}/", {"name": "Mine", "url": "https://x.example.com/"}).status_code == 403
    for action in ("toggle", "ping", "delete"):
        assert viewer.post(f"{PAGE}{rule.pk}/{action}/").status_code == 403
    assert viewer.post("/settings/webhooks/secret/rotate/").status_code == 403
    assert viewer.get("/settings/webhooks/new/?kind=receipt").status_code == 403
    rule.refresh_from_db()
    assert rule.name == "Delivery receipts" and WebhookSecret.objects.get().secret == secret


def test_another_workspaces_rule_is_404(admin_client):
    theirs = add(AccountFactory())
    assert admin_client.get(f"{PAGE}{theirs.pk}/").status_code == 404
    for action in ("toggle", "ping", "delete"):
        assert admin_client.post(f"{PAGE}{theirs.pk}/{action}/").status_code == 404
    assert WebhookRule.objects.get(pk=theirs.pk).enabled and not WebhookDelivery.objects.exists()
    assert "crm.example.com" not in text_of(admin_client.get(PAGE))
