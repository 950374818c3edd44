"""/v3/automations through the client and through the published SDK on a live server: ClickSend's receipt and
inbound rules in their strict JSON types, 400s naming the field as ClickSend names it, the SSRF guard on
`action_address`, the delivery log with its filters and a pinned query count, the signing secret, test pings,
workspace isolation and capabilities."""

import clicksend
import pytest
from clicksend.models import CreateSmsDeliveryReceiptRuleRequest, CreateSmsInboundAutomationRequest
from clicksend.models import UpdateSmsInboundAutomationRequest

from smsportal.messaging import netguard, outbound
from smsportal.messaging import services_webhooks as hooks
from smsportal.messaging.models import WebhookDelivery, WebhookRule, WebhookSecret
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import AccountFactory, MemberFactory, api_key_for

RECEIPTS, INBOUND = "/v3/automations/sms/receipts", "/v3/automations/sms/inbound"
PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """No network: every name is public, except those a test maps elsewhere."""
    answers = {}
    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: answers.get(host, [PUBLIC]))
    return answers


@pytest.fixture
def account(main_account):
    main_account.api_rate_limit = 1000
    main_account.save(update_fields=["api_rate_limit"])
    return main_account


@pytest.fixture
def api(api_for, account):
    return api_for(account)


def ok(response):
    body = response.json()
    assert response.status_code == 200, body
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS"
    return body["data"]


def refused(response, status, field=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status and body["data"] is None
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


RECEIPT_RULE = {"rule_name": "To our CRM", "match_type": 0, "action": "URL",
                "action_address": "https://crm.example.com/hooks/dlr", "enabled": 1}
INBOUND_RULE = {"dedicated_number": "*", "rule_name": "Replies", "message_search_type": 2,
                "message_search_term": "refund", "action": "URL", "action_address": "https://crm.example.com/hooks/in",
                "enabled": 1, "webhook_type": "json"}


def test_receipt_rules_crud_in_clicksends_types(api, account):
    created = ok(api.post(RECEIPTS, RECEIPT_RULE, format="json"))
    assert created == {"receipt_rule_id": created["receipt_rule_id"], "rule_name": "To our CRM", "match_type": 0,
                       "action": "URL", "action_address": "https://crm.example.com/hooks/dlr", "enabled": 1}
    rule = WebhookRule.objects.get(pk=created["receipt_rule_id"])
    assert (rule.account, rule.kind, rule.url) == (account, "receipt", "https://crm.example.com/hooks/dlr")
    assert WebhookSecret.objects.filter(account=account).exists()  # made with the first rule

    url = f"{RECEIPTS}/{rule.pk}"
    assert ok(api.get(url)) == created
    updated = ok(api.put(url, {"enabled": 0, "rule_name": "Paused"}, format="json"))
    assert (updated["enabled"], updated["rule_name"], updated["action_address"]) == (
        0, "Paused", "https://crm.example.com/hooks/dlr")  # left out: kept
    listed = ok(api.get(RECEIPTS))
    assert listed["total"] == 1 and listed["data"] == [updated] and listed["page"] == {"count": 1, "number": 1}
    assert ok(api.get(INBOUND))["total"] == 0  # a receipt rule is not an inbound one
    refused(api.get(f"{INBOUND}/{rule.pk}"), 404, "inbound_rule_id")

    response = api.delete(url)
    assert ok(response) == [] and response.json()["response_msg"] == "Your SMS receipt rule has been deleted."
    refused(api.get(url), 404, "receipt_rule_id")


def test_inbound_rules_crud_in_clicksends_types(api):
    created = ok(api.post(INBOUND, INBOUND_RULE, format="json"))
    rule_id = created.pop("inbound_rule_id")
    assert isinstance(rule_id, int)
    assert created == {**{k: v for k, v in INBOUND_RULE.items()}, "body": ""}
    url = f"{INBOUND}/{rule_id}"
    changed = ok(api.put(url, {"message_search_type": 0, "dedicated_number": "+61400000001"}, format="json"))
    assert (changed["message_search_type"], changed["message_search_term"], changed["dedicated_number"]) == (
        0, "", "+61400000001")
    assert ok(api.delete(url)) == []
    assert not WebhookRule.objects.exists()


@pytest.mark.parametrize("path, payload, field", [
    (RECEIPTS, {**RECEIPT_RULE, "action_address": "http://127.0.0.1:8000/steal"}, "action_address"),
    (RECEIPTS, {**RECEIPT_RULE, "action_address": "http://169.254.169.254/latest/meta-data"}, "action_address"),
    (RECEIPTS, {**RECEIPT_RULE, "action_address": "ftp://crm.example.com/x"}, "action_address"),
    (RECEIPTS, {k: v for k, v in RECEIPT_RULE.items() if k != "action_address"}, "action_address"),
    (RECEIPTS, {**RECEIPT_RULE, "action": "EMAIL_FIXED"}, "action"),
    (RECEIPTS, {**RECEIPT_RULE, "match_type": 3}, "match_type"),
    (RECEIPTS, {**RECEIPT_RULE, "match_type": "0"}, "match_type"),
    (RECEIPTS, {**RECEIPT_RULE, "enabled": 2}, "enabled"),
    (RECEIPTS, {**RECEIPT_RULE, "rule_name": ""}, "rule_name"),
    (RECEIPTS, {**RECEIPT_RULE, "colour": "red"}, "colour"),
    (INBOUND, {**INBOUND_RULE, "message_search_type": 9}, "message_search_type"),
    (INBOUND, {**INBOUND_RULE, "message_search_term": ""}, "message_search_term"),
    (INBOUND, {**INBOUND_RULE, "webhook_type": "post"}, "webhook_type"),
    (INBOUND, {**INBOUND_RULE, "action_address": "https://internal.example.com/x"}, "action_address"),
])
def test_bad_values_are_400_naming_the_field(api, dns, path, payload, field):
    dns["internal.example.com"] = ["10.1.2.3"]
    body = refused(api.post(path, payload, format="json"), 400, field)
    assert body["response_code"] == "BAD_REQUEST"
    assert not WebhookRule.objects.exists()


def test_a_private_address_is_refused_on_update_too(api):
    rule_id = ok(api.post(RECEIPTS, RECEIPT_RULE, format="json"))["receipt_rule_id"]
    body = refused(api.put(f"{RECEIPTS}/{rule_id}", {"action_address": "http://[::ffff:10.0.0.1]/x"}, format="json"),
                   400, "action_address")
    assert "private" in body["error"]["description"]
    assert WebhookRule.objects.get().url == RECEIPT_RULE["action_address"]


def test_another_workspaces_rules_and_deliveries_are_not_found(api, api_for, account):
    other = AccountFactory(api_rate_limit=1000)
    theirs = ok(api_for(other).post(RECEIPTS, RECEIPT_RULE, format="json"))["receipt_rule_id"]
    url = f"{RECEIPTS}/{theirs}"
    refused(api.get(url), 404, "receipt_rule_id")
    refused(api.put(url, {"rule_name": "Mine now"}, format="json"), 404, "receipt_rule_id")
    refused(api.delete(url), 404, "receipt_rule_id")
    refused(api.post("/v3/automations/ping", {"rule_id": theirs}, format="json"), 404, "rule_id")
    assert ok(api.get(RECEIPTS))["total"] == 0
    outbound.webhooks_emit(kind="receipt", events=[(other.pk, {"message_id": "1"})])
    assert ok(api.get("/v3/automations/deliveries"))["total"] == 0
    assert ok(api.get("/v3/automations/deliveries", {"rule_id": theirs}))["total"] == 0
    assert WebhookRule.objects.get(pk=theirs).name == "To our CRM"


def test_delivery_log_filters_pages_and_keeps_its_query_count(api, account, django_assert_max_num_queries):
    first = hooks.webhook_rule_save(account=account, kind="receipt", data={"url": "https://a.example.com/"})
    second = hooks.webhook_rule_save(account=account, kind="inbound", data={"url": "https://b.example.com/"})
    outbound.webhooks_emit(kind="receipt", events=[(account.pk, {"message_id": str(i)}) for i in range(30)])
    outbound.webhooks_emit(kind="inbound", events=[(account.pk, {"body": "hi", "to": "+1"})])
    WebhookDelivery.objects.filter(rule=first, payload__message_id="0").update(
        status="failed", attempts=10, last_status_code=500, last_error="HTTP 500 Internal Server Error",
        last_response="<b>boom</b>", next_attempt_at=None)

    with django_assert_max_num_queries(8):
        page = ok(api.get("/v3/automations/deliveries", {"limit": 100}))
    assert page["total"] == 31 and len(page["data"]) == 31
    newest = page["data"][0]
    assert newest["rule_id"] == second.pk and newest["event"] == "inbound" and newest["rule_kind"] == "inbound"
    assert newest["status"] == "pending" and isinstance(newest["next_attempt_at"], int)
    assert newest["payload"] == {"body": "hi", "to": "+1"} and newest["url"] == "https://b.example.com/"
    with django_assert_max_num_queries(8):
        ok(api.get("/v3/automations/deliveries", {"limit": 5}))

    failed = ok(api.get("/v3/automations/deliveries", {"status": "failed"}))
    assert failed["total"] == 1
    row = failed["data"][0]
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_response"], row["next_attempt_at"]) == (
        "failed", 10, 500, "<b>boom</b>", None)
    assert ok(api.get("/v3/automations/deliveries", {"rule_id": second.pk}))["total"] == 1
    paged = ok(api.get("/v3/automations/deliveries", {"rule_id": first.pk, "limit": 10, "page": 3}))
    assert (paged["total"], paged["current_page"], paged["last_page"], len(paged["data"])) == (30, 3, 3, 10)
    refused(api.get("/v3/automations/deliveries", {"status": "lost"}), 400, "status")
    refused(api.get("/v3/automations/deliveries", {"rule_id": "x"}), 400, "rule_id")


def test_rule_lists_keep_their_query_count_and_rules_are_capped(api, account, django_assert_max_num_queries):
    for i in range(hooks.MAX_RULES):
        hooks.webhook_rule_save(account=account, kind="inbound", data={"url": f"https://h{i}.example.com/"})
    with django_assert_max_num_queries(7):
        listed = ok(api.get(INBOUND, {"limit": 100}))
    assert listed["total"] == hooks.MAX_RULES and len(listed["data"]) == hooks.MAX_RULES
    body = refused(api.post(INBOUND, INBOUND_RULE, format="json"), 400)
    assert f"at most {hooks.MAX_RULES} rules" in body["response_msg"]
    assert ok(api.post(RECEIPTS, RECEIPT_RULE, format="json"))["receipt_rule_id"]  # per kind


def test_the_signing_secret_is_shown_to_managers_and_rotates(api, account, api_for, user_with_role, client):
    shown = ok(api.get("/v3/automations/secret"))
    secret = WebhookSecret.objects.get(account=account)
    assert shown["secret"] == secret.secret and shown["header"] == "X-Smsportal-Signature"
    assert shown["rotated_at"] is None and isinstance(shown["created_at"], int)
    rotated = ok(api.put("/v3/automations/secret"))
    secret.refresh_from_db()
    assert rotated["secret"] == secret.secret != shown["secret"] and isinstance(rotated["rotated_at"], int)

    client.force_login(user_with_role("viewer", account=account))
    masked = ok(client.get("/v3/automations/secret"))
    assert secret.secret not in str(masked) and masked["secret"].startswith("whsec_") and "••••" in masked["secret"]
    refused(client.put("/v3/automations/secret"), 403)


def test_viewers_read_rules_and_the_log_but_change_nothing(api, account, client, user_with_role):
    rule_id = ok(api.post(RECEIPTS, RECEIPT_RULE, format="json"))["receipt_rule_id"]
    client.force_login(user_with_role("viewer", account=account))
    assert ok(client.get(RECEIPTS))["total"] == 1
    assert ok(client.get(f"{RECEIPTS}/{rule_id}"))["rule_name"] == "To our CRM"
    assert ok(client.get("/v3/automations/deliveries"))["total"] == 0
    refused(client.post(RECEIPTS, RECEIPT_RULE, content_type="application/json"), 403)
    refused(client.put(f"{RECEIPTS}/{rule_id}", {"enabled": 0}, content_type="application/json"), 403)
    refused(client.delete(f"{RECEIPTS}/{rule_id}"), 403)
    refused(client.post("/v3/automations/ping", {"rule_id": rule_id}, content_type="application/json"), 403)
    assert WebhookRule.objects.get().enabled


def test_a_ping_is_queued_as_a_delivery(api, account):
    rule_id = ok(api.post(INBOUND, INBOUND_RULE, format="json"))["inbound_rule_id"]
    queued = ok(api.post("/v3/automations/ping", {"rule_id": rule_id}, format="json"))
    assert (queued["event"], queued["rule_id"], queued["status"], queued["attempts"]) == ("ping", rule_id, "pending", 0)
    assert queued["payload"]["event"] == "ping" and queued["payload"]["rule_kind"] == "inbound"
    refused(api.post("/v3/automations/ping", {"rule_id": "1"}, format="json"), 400, "rule_id")


# --- The published SDK on a live server ------------------------------------------------------------------------


@pytest.fixture
def sdk(live_server, transactional_db):
    account = AccountFactory(api_username="sdk-hooks", api_rate_limit=1000)
    MemberFactory(account=account)
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, clicksend.SmsApi(client)


def test_sdk_round_trip_of_receipt_and_inbound_rules(sdk):
    account, api = sdk
    created = api.create_sms_delivery_receipt_rule(
        create_sms_delivery_receipt_rule_request=CreateSmsDeliveryReceiptRuleRequest(
            rule_name="DLRs", match_type=0, action="URL", action_address="https://crm.example.com/dlr", enabled=1))
    assert created.http_code == 200 and created.response_code == "SUCCESS"
    receipt_id = created.data.receipt_rule_id
    assert isinstance(receipt_id, int) and created.data.action == "URL" and created.data.enabled == 1
    viewed = api.view_sms_delivery_receipt_rule(receipt_rule_id=str(receipt_id))
    assert viewed.data.rule_name == "DLRs" and viewed.data.action_address == "https://crm.example.com/dlr"
    updated = api.update_sms_delivery_receipt_rule(
        receipt_rule_id=str(receipt_id),
        create_sms_delivery_receipt_rule_request=CreateSmsDeliveryReceiptRuleRequest(
            rule_name="DLRs (paused)", match_type=0, action="URL", action_address="https://crm.example.com/dlr2",
            enabled=0))
    assert (updated.data.rule_name, updated.data.enabled, updated.data.action_address) == (
        "DLRs (paused)", 0, "https://crm.example.com/dlr2")
    listed = api.view_sms_delivery_receipt_rules()
    assert listed.data.total == 1 and listed.data.data[0].receipt_rule_id == receipt_id

    inbound = api.create_sms_inbound_automation(
        create_sms_inbound_automation_request=CreateSmsInboundAutomationRequest(
            dedicated_number="*", rule_name="Refunds", message_search_type=2, message_search_term="refund",
            action="URL", action_address="https://crm.example.com/in", enabled=1))
    inbound_id = inbound.data.inbound_rule_id
    assert isinstance(inbound_id, int) and inbound.data.webhook_type == "json"
    assert inbound.data.message_search_type == 2 and inbound.data.message_search_term == "refund"
    changed = api.update_sms_inbound_automation(
        inbound_rule_id=str(inbound_id),
        update_sms_inbound_automation_request=UpdateSmsInboundAutomationRequest(message_search_type=1,
                                                                                message_search_term="REFUND"))
    assert changed.data.message_search_type == 1 and changed.data.rule_name == "Refunds"
    assert api.view_sms_inbound_automation(inbound_rule_id=str(inbound_id)).data.message_search_term == "REFUND"
    assert [r.inbound_rule_id for r in api.view_sms_inbound_automations().data.data] == [inbound_id]

    with pytest.raises(clicksend.exceptions.ApiException) as bad:
        api.create_sms_inbound_automation(create_sms_inbound_automation_request=CreateSmsInboundAutomationRequest(
            rule_name="Sneaky", action="URL", action_address="http://127.0.0.1:5432/"))
    assert bad.value.status == 400 and "action_address" in bad.value.body

    assert api.delete_sms_delivery_receipt_rule(receipt_rule_id=str(receipt_id)).data == []
    assert api.delete_sms_inbound_automation(inbound_rule_id=str(inbound_id)).data == []
    with pytest.raises(clicksend.exceptions.NotFoundException):
        api.view_sms_inbound_automation(inbound_rule_id=str(inbound_id))
    assert not WebhookRule.objects.filter(account=account).exists()
