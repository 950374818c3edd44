"""ClickSend's /v3/sms endpoints through the client: JSON types, per-message statuses, 400s naming the field,
list expansion, cancel, receipts, history filters and its CSV export, isolation and capabilities, and the sandbox
injector reaching the inbox handler."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from contacts import services as contacts
from contacts.models import Contact, OptOut
from smsportal.accounts.models import DEFAULT_RATES
from smsportal.messaging import statuses
from smsportal.messaging.models import GatewayConnection, Message
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory

from .conftest import balance, run_engine

AU_RATE = DEFAULT_RATES["AU"]
RECEIVED = []


def record_inbound(*, connection, messages):
    """settings.SMS_INBOUND_HANDLER in the sandbox tests: what the inbox would be handed."""
    RECEIVED.append((connection, list(messages)))


@pytest.fixture
def account(funded):
    funded.api_rate_limit = 1000  # these tests make many calls a second
    funded.save(update_fields=["api_rate_limit"])
    return funded


@pytest.fixture
def api(api_for, account):
    return api_for(account)


@pytest.fixture
def other(db):
    return AccountFactory(default_region="AU", api_rate_limit=1000)


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


def send(api, *messages, path="/v3/sms/send"):
    return api.post(path, {"messages": list(messages)}, format="json")


def sms(to="+61412345678", body="Hello there", **extra):
    return {"to": to, "body": body, **extra}


SENT_TYPES = {
    "direction": str, "date": int, "to": str, "body": str, "from": str, "message_id": str, "message_parts": int,
    "message_price": str, "custom_string": str, "user_id": int, "subaccount_id": int, "is_shared_system_number": bool,
    "country": str, "status": str, "encoding": str, "status_reason": str, "status_text": str,
}


def assert_types(item, types):
    for name, kind in types.items():
        assert isinstance(item[name], kind), (name, item[name])


# --- Sending ------------------------------------------------------------------------------------------------


def test_send_answers_each_message_with_clicksend_types(api, account):
    r = send(api, sms(custom_string="order-17", **{"from": "Acme"}), sms(to="0412 345 679", body="Cześć 🙂"))
    body = r.json()
    assert body["response_msg"] == "Messages queued for delivery."
    data = ok(r)
    assert (data["total_count"], data["queued_count"], data["blocked_count"]) == (2, 2, 0)
    assert isinstance(data["total_price"], float) and Decimal(str(data["total_price"])) == 2 * AU_RATE
    assert data["_currency"]["currency_name_short"] == "USD"
    first, second = data["messages"]
    assert_types(first, SENT_TYPES)
    assert (first["direction"], first["to"], first["from"], first["custom_string"]) == ("out", "+61412345678", "Acme",
                                                                                       "order-17")
    assert first["status"] == "SUCCESS" and first["schedule"] is None and first["list_id"] is None
    assert first["message_price"] == f"{AU_RATE:.4f}" and first["user_id"] == first["subaccount_id"] == account.pk
    assert abs(first["date"] - timezone.now().timestamp()) < 5
    assert second["to"] == "+61412345679" and second["encoding"] == "UCS-2" and second["country"] == "AU"
    stored = Message.objects.get(pk=int(first["message_id"]))
    assert (stored.source, stored.status, stored.sender, stored.custom_string) == ("api", "queued", "Acme", "order-17")
    assert balance(account) == Decimal("50") - 2 * AU_RATE


def test_blocked_messages_still_answer_200_each_with_its_code(api, account):
    OptOut.objects.create(account=account, phone_number="+61412345679", source="ui")
    r = send(api, sms(to="+61412345679"), sms(to="not a number"), sms(body=""), sms(**{"from": "bad!sender"}))
    assert r.json()["response_msg"] == "No message was queued: see each message's status."
    data = ok(r)
    assert [m["status"] for m in data["messages"]] == ["OPTED_OUT", "INVALID_RECIPIENT", "EMPTY_MESSAGE",
                                                       "INVALID_SENDER_ID"]
    assert [m["status_reason"] for m in data["messages"]] == ["opted_out", "invalid_number", "empty_body",
                                                              "invalid_sender"]
    assert (data["queued_count"], data["blocked_count"], data["total_price"]) == (0, 4, 0.0)
    assert all(m["message_price"] == "0.0000" and m["message_id"] for m in data["messages"])
    assert Message.objects.filter(status=statuses.BLOCKED).count() == 4
    assert balance(account) == Decimal("50")


def test_without_credit_every_message_says_so(api_for, other):
    data = ok(send(api_for(other), sms(), sms(to="+61412345679")))  # `other` has no credit
    assert {m["status"] for m in data["messages"]} == {"INSUFFICIENT_CREDIT"} and data["queued_count"] == 0
    assert balance(other) == Decimal("0")


@pytest.mark.parametrize("payload, field", [
    ({"messages": [{"to": "+61412345678"}]}, "messages.0.body"),
    ({"messages": [{"to": 61412345678, "body": "hi"}]}, "messages.0.to"),
    ({"messages": [{"to": "+61412345678", "body": 7}]}, "messages.0.body"),
    ({"messages": [sms(), {"to": "+61412345678", "body": "hi", "schedule": "1900000000"}]}, "messages.1.schedule"),
    ({"messages": [{"body": "hi"}]}, "messages.0.to"),
    ({"messages": [{"body": "hi", "to": "+61412345678", "list_id": "3"}]}, "messages.0.to"),
    ({"messages": [sms(country="Australia")]}, "messages.0.country"),
    ({"messages": [sms(colour="red")]}, "messages.0.colour"),
    ({"messages": [sms(list_id=True)]}, "messages.0.list_id"),
    ({"messages": []}, "messages"),
    ({"messages": "hello"}, "messages"),
    ({}, "messages"),
])
def test_malformed_requests_are_400_naming_the_field(api, payload, field):
    for path in ("/v3/sms/send", "/v3/sms/price"):
        body = refused(api.post(path, payload, format="json"), 400, field)
        assert body["response_code"] == "BAD_REQUEST" and field in body["response_msg"]
    assert Message.objects.count() == 0


def test_clicksend_fields_smsportal_has_no_use_for_are_accepted(api):
    payload = {"shorten_urls": False, "senders": [], "messages": [
        sms(source="php", from_email="a@example.test", contact_id=5, exclude_no_sender_id_recipients=False)
    ]}
    assert ok(api.post("/v3/sms/send", payload, format="json"))["queued_count"] == 1


def test_more_than_1000_messages_are_refused(api, account):
    refused(send(api, *[sms(to=f"+6141230{n:04}") for n in range(1001)]), 400, "messages")
    contact_list = contacts.list_create(account=account, name="Three")
    for n in range(3):
        contacts.contact_create(account=account, phone_number=f"+6141299{n:04}", contact_list=contact_list)
    over = [sms(to=f"+6141230{n:04}") for n in range(998)] + [{"list_id": contact_list.pk, "body": "hi"}]
    body = refused(send(api, *over), 400, "messages")
    assert "1001" in body["response_msg"]
    assert Message.objects.count() == 0
    exactly = [sms(to=f"+6141230{n:04}") for n in range(997)] + [{"list_id": str(contact_list.pk), "body": "hi"}]
    assert ok(send(api, *exactly))["total_count"] == 1000


def test_list_id_expands_to_the_lists_contacts(api, account):
    contact_list = contacts.list_create(account=account, name="Customers")
    ids = [contacts.contact_create(account=account, phone_number=f"+614123450{n:02}", contact_list=contact_list).pk
           for n in range(3)]
    contacts.contacts_opt_out(account=account, contacts=Contact.objects.filter(pk=ids[2]), source="ui")
    data = ok(send(api, {"list_id": str(contact_list.pk), "body": "Sale today", "custom_string": "sale"},
                   sms(to="+61412349999")))
    assert data["total_count"] == 4 and data["queued_count"] == 3 and data["blocked_count"] == 1
    from_list = data["messages"][:3]
    assert [m["contact_id"] for m in from_list] == [str(i) for i in ids]
    assert {m["list_id"] for m in from_list} == {str(contact_list.pk)} and data["messages"][3]["list_id"] is None
    assert [m["status"] for m in from_list] == ["SUCCESS", "SUCCESS", "OPTED_OUT"]
    assert set(Message.objects.filter(custom_string="sale").values_list("contact_id", flat=True)) == set(ids)


def test_another_workspaces_list_is_a_400_naming_it(api, other):
    foreign = contacts.list_create(account=other, name="Theirs")
    contacts.contact_create(account=other, phone_number="+61412345600", contact_list=foreign)
    refused(send(api, sms(), {"list_id": foreign.pk, "body": "hi"}), 400, "messages.1.list_id")
    assert Message.objects.count() == 0


def test_price_is_a_dry_run_in_the_same_shape(api, account):
    data = ok(send(api, sms(body="€" * 160), sms(to="nope"), path="/v3/sms/price"))
    assert (data["total_count"], data["queued_count"], data["blocked_count"]) == (2, 1, 1)
    priced, invalid = data["messages"]
    assert isinstance(priced["date"], str) and priced["message_id"] is None  # ClickSend's `Sms`: date is a string
    assert priced["message_parts"] == 3 and priced["message_price"] == f"{3 * AU_RATE:.4f}"
    assert Decimal(str(data["total_price"])) == 3 * AU_RATE and invalid["status"] == "INVALID_RECIPIENT"
    assert Message.objects.count() == 0 and balance(account) == Decimal("50")


# --- Scheduling and cancelling ----------------------------------------------------------------------------------


def test_scheduled_message_can_be_cancelled_once(api, account, other, api_for):
    at = int((timezone.now() + timedelta(hours=2)).timestamp())
    data = ok(send(api, sms(schedule=at), sms(to="+61412345679", schedule=at)))
    first, second = data["messages"]
    assert first["schedule"] == at and isinstance(first["schedule"], int)
    assert Message.objects.get(pk=int(first["message_id"])).status == statuses.SCHEDULED
    assert balance(account) == Decimal("50") - 2 * AU_RATE

    r = api.put(f"/v3/sms/{first['message_id']}/cancel")
    assert ok(r) is None and r.json()["response_msg"] == f"Message {first['message_id']} has been cancelled."
    assert Message.objects.get(pk=int(first["message_id"])).status == statuses.CANCELLED
    assert balance(account) == Decimal("50") - AU_RATE

    again = refused(api.put(f"/v3/sms/{first['message_id']}/cancel"), 400, "message_id")
    assert "cannot be cancelled: it is cancelled" in again["response_msg"]
    for missing in ("999999", "abc"):
        refused(api.put(f"/v3/sms/{missing}/cancel"), 404, "message_id")
    refused(api_for(other).put(f"/v3/sms/{second['message_id']}/cancel"), 404, "message_id")
    assert Message.objects.get(pk=int(second["message_id"])).status == statuses.SCHEDULED


def test_a_sent_message_can_no_longer_be_cancelled(api):
    message_id = ok(send(api, sms()))["messages"][0]["message_id"]
    run_engine()
    body = refused(api.put(f"/v3/sms/{message_id}/cancel"), 400, "message_id")
    assert "it is delivered" in body["response_msg"]


def test_cancel_all_and_by_custom_string(api, account, other, api_for):
    at = int((timezone.now() + timedelta(hours=2)).timestamp())
    ok(send(api, sms(schedule=at, custom_string="promo"), sms(to="+61412345679", schedule=at),
            sms(to="+61412345680", schedule=at)))
    theirs = AccountFactory(default_region="AU", api_rate_limit=1000, balance=Decimal("5"))
    ok(send(api_for(theirs), sms(schedule=at)))

    r = api.put("/v3/sms/cancel-all", {"custom_string": "promo"}, format="json")
    assert ok(r) == {"count": 1} and r.json()["response_msg"] == "1 sms messages have been cancelled."
    assert ok(api.put("/v3/sms/cancel-all")) == {"count": 2}
    assert ok(api.put("/v3/sms/cancel-all")) == {"count": 0}
    assert Message.objects.filter(account=theirs, status=statuses.SCHEDULED).count() == 1
    assert balance(account) == Decimal("50")


# --- Receipts ---------------------------------------------------------------------------------------------------


def test_receipts_list_one_and_mark_read(api, account, other, api_for):
    data = ok(send(api, sms(custom_string="a"), sms(to="+61412340001"), sms(to="+61412340003")))
    delivered, undelivered, silent = (m["message_id"] for m in data["messages"])
    run_engine()

    receipts = ok(api.get("/v3/sms/receipts"))
    assert receipts["total"] == 2 and receipts["per_page"] == 25
    by_id = {r["message_id"]: r for r in receipts["data"]}
    assert set(by_id) == {delivered, undelivered}  # …0003 was sent and never reported
    good, bad = by_id[delivered], by_id[undelivered]
    for receipt in (good, bad):
        assert isinstance(receipt["timestamp"], int) and isinstance(receipt["timestamp_send"], int)
        assert receipt["subaccount_id"] == account.pk and receipt["message_type"] == "sms"
    assert (good["status_code"], good["error_code"], good["custom_string"], good["status"]) == (201, None, "a",
                                                                                                "delivered")
    assert good["status_text"] == "Success: Message received on handset."
    assert (bad["status_code"], bad["error_code"], bad["gateway_error_code"]) == (301, 30003, "30003")
    assert "unreachable handset" in bad["error_text"]

    assert ok(api.get(f"/v3/sms/receipts/{undelivered}"))["error_code"] == 30003
    refused(api.get(f"/v3/sms/receipts/{silent}"), 404, "message_id")
    refused(api_for(other).get(f"/v3/sms/receipts/{delivered}"), 404, "message_id")
    assert ok(api_for(other).get("/v3/sms/receipts"))["total"] == 0

    past = int((timezone.now() - timedelta(days=1)).timestamp())
    assert ok(api.put("/v3/sms/receipts-read", {"date_before": past}, format="json")) == {"count": 0}
    refused(api.put("/v3/sms/receipts-read", {"date_before": "yesterday"}, format="json"), 400, "date_before")
    r = api.put("/v3/sms/receipts-read")
    assert ok(r) == {"count": 2} and r.json()["response_msg"] == "Receipts have been marked as read."
    assert set(Message.objects.filter(receipt_read=True).values_list("pk", flat=True)) == {int(delivered),
                                                                                           int(undelivered)}


# --- History and its export ---------------------------------------------------------------------------------


@pytest.fixture
def log(api, account):
    """Delivered, undelivered and failed messages; two of them moved a week back."""
    data = ok(send(api, sms(body="first"), sms(to="+61412340001", body="second"), sms(to="+61412340000", body="third"),
                   sms(to="+61412345679", body="fourth")))
    run_engine()
    ids = [int(m["message_id"]) for m in data["messages"]]
    week_ago = timezone.now() - timedelta(days=7)
    Message.objects.filter(pk__in=ids[:2]).update(created_at=week_ago)
    return ids, week_ago


HISTORY_TYPES = {
    "direction": str, "date": int, "to": str, "body": str, "status": str, "from": str, "message_id": str,
    "message_parts": int, "message_price": str, "custom_string": str, "user_id": int, "subaccount_id": int,
    "country": str, "_api_username": str, "encoding": str, "status_reason": str,
}


def test_history_types_and_filters(api, account, log, other, api_for):
    ids, week_ago = log
    data = ok(api.get("/v3/sms/history"))
    assert data["total"] == 4 and [int(m["message_id"]) for m in data["data"]] == ids[::-1]  # newest first
    for item in data["data"]:
        assert_types(item, HISTORY_TYPES)
        assert item["schedule"] is None and item["_api_username"] == account.api_username
    rows = {int(m["message_id"]): m for m in data["data"]}
    assert (rows[ids[0]]["status"], rows[ids[0]]["status_code"], rows[ids[0]]["error_code"]) == ("delivered", "201",
                                                                                                  None)
    assert (rows[ids[1]]["status"], rows[ids[1]]["status_code"], rows[ids[1]]["error_code"]) == ("undelivered", "301",
                                                                                                  "30003")
    assert (rows[ids[2]]["status"], rows[ids[2]]["status_code"], rows[ids[2]]["error_code"]) == ("failed", "300",
                                                                                                  "21610")

    delivered = ok(api.get("/v3/sms/history", {"q": "status:delivered"}))
    assert sorted(int(m["message_id"]) for m in delivered["data"]) == [ids[0], ids[3]]
    recent = ok(api.get("/v3/sms/history", {"date_from": int((week_ago + timedelta(days=1)).timestamp())}))
    assert sorted(int(m["message_id"]) for m in recent["data"]) == ids[2:]
    old = ok(api.get("/v3/sms/history", {"date_to": int((week_ago + timedelta(minutes=1)).timestamp()),
                                         "q": "status:delivered"}))
    assert [int(m["message_id"]) for m in old["data"]] == [ids[0]]
    assert ok(api.get("/v3/sms/history", {"q": "to:+61412340001"}))["total"] == 1
    assert ok(api.get("/v3/sms/history", {"q": "fourth"}))["total"] == 1
    oldest_first = ok(api.get("/v3/sms/history", {"order_by": "date:asc"}))
    assert [int(m["message_id"]) for m in oldest_first["data"]] == ids

    refused(api.get("/v3/sms/history", {"q": "status:lost"}), 400, "status")
    refused(api.get("/v3/sms/history", {"date_from": "last week"}), 400, "date_from")
    refused(api.get("/v3/sms/history", {"order_by": "colour:asc"}), 400, "order_by")
    assert ok(api_for(other).get("/v3/sms/history"))["total"] == 0


def test_history_pins_its_queries(api, account, django_assert_max_num_queries):
    ok(send(api, *[sms(to=f"+614123{n:05}") for n in range(10, 40)], sms(to="+61412340001")))
    run_engine()
    # Authentication (1), COUNT, the page, the page's failed messages' reports; one to spare.
    with django_assert_max_num_queries(5):
        data = ok(api.get("/v3/sms/history?limit=20&page=1"))
    assert data["total"] == 31 and len(data["data"]) == 20 and data["data"][0]["status"] == "undelivered"
    with django_assert_max_num_queries(5):
        data = ok(api.get("/v3/sms/receipts?limit=20"))
    assert data["total"] == 31 and data["last_page"] == 2


def test_export_hands_out_a_link_to_the_csv(api, account, log):
    ids, _ = log
    r = api.get("/v3/sms/history/export", {"q": "status:delivered", "filename": "my export.csv"})
    url = ok(r)["url"]
    assert url.startswith("http://testserver/v3/sms/history/export/download?token=")
    link = urlsplit(url)
    download = Client().get(f"{link.path}?{link.query}")  # no credentials: the link is the key
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert download["Content-Disposition"] == 'attachment; filename="my-export.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert sorted(int(row["message_id"]) for row in rows) == [ids[0], ids[3]]
    assert {row["status"] for row in rows} == {"delivered"} and rows[0]["body"] == "fourth"

    tampered = Client().get(f"{link.path}?{link.query[:-3]}abc")
    refused(tampered, 403)
    refused(api.get("/v3/sms/history/export", {"q": "status:lost"}), 400, "status")


# --- Capabilities --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role, can_send, can_read", [
    ("admin", True, True), ("marketer", True, True), ("agent", True, False), ("viewer", False, True),
])
def test_capabilities_by_role(client, account, role, can_send, can_read):
    user = MemberFactory(account=account, role=role, user=UserFactory()).user
    client.force_login(user)
    sent = client.post("/v3/sms/send", {"messages": [sms()]}, content_type="application/json")
    assert sent.status_code == (200 if can_send else 403)
    assert client.post("/v3/sms/price", {"messages": [sms()]}, content_type="application/json").status_code == (
        200 if can_send else 403)
    assert client.put("/v3/sms/cancel-all").status_code == (200 if can_send else 403)
    for path in ("/v3/sms/history", "/v3/sms/receipts", "/v3/sms/history/export"):
        assert client.get(path).status_code == (200 if can_read else 403), path
    assert client.put("/v3/sms/receipts-read").status_code == (200 if can_read else 403)


def test_subaccount_flags_gate_sending_and_reports(api_for, account):
    no_sms = SubaccountFactory(parent=account, access_sms=False, access_reporting=True, api_rate_limit=1000)
    r = api_for(no_sms).post("/v3/sms/send", {"messages": [sms()]}, format="json")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"
    assert api_for(no_sms).get("/v3/sms/history").status_code == 200
    no_reports = SubaccountFactory(parent=account, access_reporting=False, api_rate_limit=1000)
    assert api_for(no_reports).get("/v3/sms/receipts").status_code == 403
    assert Message.objects.count() == 0


# --- The sandbox injector ------------------------------------------------------------------------------------


@pytest.fixture
def inbox(settings):
    settings.SMS_INBOUND_HANDLER = "tests.messaging.test_api_sms.record_inbound"
    RECEIVED.clear()
    yield RECEIVED
    RECEIVED.clear()


def test_sandbox_inbound_reaches_the_inbox_handler(api, account, inbox):
    r = api.post("/v3/sandbox/inbound", {"from": "0412 345 678", "to": "+61400000000", "body": "STOP"}, format="json")
    data = ok(r)
    assert (data["from"], data["to"], data["body"]) == ("+61412345678", "+61400000000", "STOP")
    assert isinstance(data["message_id"], str) and isinstance(data["timestamp"], int)
    [(connection, [message])] = inbox
    assert connection.kind == "sandbox" and connection.account_id == account.pk and data["gateway_id"] == connection.pk
    assert (message.sender, message.to, message.body, message.gateway_message_id) == (
        "+61412345678", "+61400000000", "STOP", data["message_id"])


@pytest.mark.parametrize("payload, field", [
    ({"from": "not a phone", "to": "+61400000000", "body": "hi"}, "from"),
    ({"to": "+61400000000", "body": "hi"}, "from"),
    ({"from": "+61412345678", "to": "+61400000000"}, "body"),
    ({"from": "+61412345678", "to": 61400000000, "body": "hi"}, "to"),
])
def test_sandbox_inbound_validates(api, inbox, payload, field):
    refused(api.post("/v3/sandbox/inbound", payload, format="json"), 400, field)
    assert inbox == []


def test_sandbox_inbound_needs_a_sandbox_connection(api, account, inbox):
    GatewayConnection.objects.create(account=account, name="Twilio", kind="twilio",
                                     credentials={"account_sid": "AC1", "auth_token": "t"})
    body = refused(api.post("/v3/sandbox/inbound", {"from": "+61412345678", "to": "+61400000000", "body": "hi"},
                            format="json"), 400)
    assert "no sandbox gateway connection" in body["response_msg"] and inbox == []


def test_sandbox_inbound_uses_the_workspaces_own_sandbox_only(api_for, account, inbox):
    sub = SubaccountFactory(parent=account, api_rate_limit=1000)
    payload = {"from": "+61412345678", "to": "+61400000000", "body": "hi"}
    assert ok(api_for(sub).post("/v3/sandbox/inbound", payload, format="json"))  # nothing to inherit: its own
    assert inbox[-1][0].account_id == sub.pk
    GatewayConnection.objects.filter(account=sub).delete()
    GatewayConnection.objects.create(account=account, name="Sandbox", kind="sandbox")  # the parent's, inherited
    refused(api_for(sub).post("/v3/sandbox/inbound", payload, format="json"), 400)
    assert len(inbox) == 1
