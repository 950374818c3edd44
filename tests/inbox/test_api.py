"""The inbox over /v3 through the client with an API key: ClickSend's inbound SMS and templates in the JSON types
of the SDK's strict models, smsportal's conversations, the envelope, pagination with pinned query counts, 400s
naming the field, other workspaces' ids answering 404 and changing nothing, what agents and viewers may do, the
test inbound webhook reaching a loopback receiver, and untrusted text returned verbatim as data."""

import json
import time
from datetime import timedelta
from itertools import count

import pytest
from clicksend.models import (
    InboundSms,
    InboundSmsTest,
    MarkInboundSmsAsRead,
    SmsTemplate,
    ViewASpecificSmsTemplateData,
    ViewInboundSmsData,
    ViewSmsTemplatesData,
)
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from contacts.models import OptOut
from inbox import services
from inbox.models import Conversation, ConversationNote, InboundMessage, Template
from smsportal.messaging import outbound
from smsportal.messaging.gateways.base import InboundSms as GatewayInboundSms
from smsportal.messaging.models import Message, WebhookSecret
from smsportal.messaging.routing import connections_for
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory

from ..messaging.fakes import Canned, FakeUpstream
from .conftest import OUR_NUMBER

pytestmark = pytest.mark.django_db
CUSTOMER = "+61412345678"
EVIL = '<script>alert("x")</script> & "quotes" <img src=x onerror=alert(1)>'
_other_ids = count(1)


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
    """Another workspace with a conversation, an inbound message answering its own outbound one, and a template."""
    stranger = AccountFactory(default_region="AU", api_rate_limit=1000)
    from smsportal.accounts import services as accounts
    from smsportal.messaging import services as messaging

    accounts.credit_top_up(account=stranger, amount="5")
    sent = messaging.messages_send(account=stranger, requests=[messaging.SmsRequest(to=CUSTOMER, body="Theirs")])
    deliver(stranger, "Not for you", sender=CUSTOMER)
    inbound = InboundMessage.objects.get(account=stranger)
    template = services.template_save(account=stranger, name="Theirs", body="Their canned reply")
    return {"account": stranger, "conversation": inbound.conversation, "inbound": inbound, "template": template,
            "message_id": sent.outcomes[0].message_id}


def deliver(account, *texts, sender=CUSTOMER, to=OUR_NUMBER):
    """Inbound SMS for any workspace, as its sandbox's webhook would hand them over, then the worker."""
    connection = connections_for(account.pk)[0]
    services.inbound_receive(connection=connection, messages=[
        GatewayInboundSms(sender=sender, to=to, body=text, gateway_message_id=f"OTHER{next(_other_ids)}",
                          at=timezone.now()) for text in texts
    ])
    services.inbound_apply()


def ok(response):
    body = response.json()
    assert response.status_code == 200, body
    assert body["http_code"] == 200 and body["response_code"] == "SUCCESS" and body["response_msg"]
    return body["data"]


def refused(response, status, field=None, code=None):
    body = response.json()
    assert response.status_code == status, body
    assert body["http_code"] == status and body["data"] is None and body["error"]["description"]
    if code is not None:
        assert body["response_code"] == body["error"]["code"] == code
    if field is not None:
        assert field in body["error"]["fields"], body["error"]
    return body


def send(api, to, body, **extra):
    data = ok(api.post("/v3/sms/send", {"messages": [{"to": to, "body": body, **extra}]}, format="json"))
    return data["messages"][0]["message_id"]


# --- ClickSend's inbound SMS -----------------------------------------------------------------------------------


def test_inbound_list_answers_clicksends_inbound_sms_newest_first(api, account, receive):
    order = send(api, CUSTOMER, "Your order has shipped", custom_string="order-42")
    receive("Thanks! When will it arrive?")
    receive("STOP", sender="+61412345601")
    receive("start", sender="+61412345602")
    receive("Help", sender="+61412345603")
    data = ok(api.get("/v3/sms/inbound"))
    page = ViewInboundSmsData.from_dict(data)  # the SDK's strict types
    assert (page.total, page.per_page, page.current_page, page.last_page, page.var_from, page.to) == (4, 25, 1, 1, 1, 4)
    assert data["page"] == {"count": 1, "number": 1}
    assert [m.body for m in page.data] == ["Help", "start", "STOP", "Thanks! When will it arrive?"]
    assert [m.keyword for m in page.data] == ["help", "start", "stop", ""]
    reply = page.data[-1]
    stored = InboundMessage.objects.get(body="Thanks! When will it arrive?")
    assert reply.message_id == str(stored.pk) and reply.var_from == CUSTOMER and reply.to == OUR_NUMBER
    assert reply.original_message_id == order and reply.original_body == "Your order has shipped"
    assert reply.custom_string == "order-42" and reply.timestamp == int(stored.received_at.timestamp())
    raw = data["data"][-1]
    assert raw["subaccount_id"] == account.pk and raw["conversation_id"] == stored.conversation_id
    assert raw["contact_id"] == stored.contact_id and raw["read_at"] is None
    # A message that answers nothing of ours has empty original fields, as the inbound webhook's payload does.
    assert (page.data[0].original_message_id, page.data[0].original_body, page.data[0].custom_string) == ("", "", "")


def test_inbound_text_with_markup_is_returned_verbatim_as_json(api, receive):
    receive(EVIL)
    response = api.get("/v3/sms/inbound")
    assert response["Content-Type"].startswith("application/json")
    assert ok(response)["data"][0]["body"] == EVIL
    conversation = Conversation.objects.get()
    detail = ok(api.get(f"/v3/conversations/{conversation.pk}"))
    assert detail["last_text"] == EVIL and detail["thread"][-1]["text"] == EVIL
    assert ok(api.get("/v3/conversations"))["data"][0]["last_text"] == EVIL
    template = ok(api.post("/v3/sms/templates", {"template_name": EVIL, "body": EVIL}, format="json"))
    assert template["template_name"] == EVIL and template["body"] == EVIL


def test_inbound_list_pages_with_a_pinned_query_count(api, receive, django_assert_max_num_queries):
    send(api, CUSTOMER, "Anyone there?")
    receive(*[f"Reply {n}" for n in range(1, 8)])
    receive(*[f"Other {n}" for n in range(1, 6)], sender="+61412345699")
    with django_assert_max_num_queries(4):  # the key, the count, the page, the messages they answer
        data = ok(api.get("/v3/sms/inbound", {"limit": 5, "page": 2}))
    assert (data["total"], data["per_page"], data["current_page"], data["last_page"]) == (12, 5, 2, 3)
    assert (data["from"], data["to"], len(data["data"])) == (6, 10, 5)
    assert "page=3" in data["next_page_url"]
    assert "page=1" in data["prev_page_url"] and data["page"] == {"count": 3, "number": 2}
    with django_assert_max_num_queries(4):
        assert len(ok(api.get("/v3/sms/inbound", {"limit": 100}))["data"]) == 12
    refused(api.get("/v3/sms/inbound", {"page": "x"}), 400, field="page")
    refused(api.get("/v3/sms/inbound", {"unread": "maybe"}), 400, field="unread")


def test_one_inbound_by_the_message_it_answers(api, receive, other):
    first = send(api, CUSTOMER, "Coffee?")
    receive("Yes please")
    receive("A flat white")
    data = ok(api.get(f"/v3/sms/inbound/{first}"))
    model = InboundSms.from_dict(data)
    assert model.body == "Yes please" and model.original_message_id == first  # the first reply, as ClickSend
    assert model.original_body == "Coffee?"
    refused(api.get("/v3/sms/inbound/999999"), 404, field="original_message_id", code="NOT_FOUND")
    for odd in ("not-a-number", "²", "9" * 30):  # a superscript is a digit to str.isdigit, not to int()
        refused(api.get(f"/v3/sms/inbound/{odd}"), 404, code="NOT_FOUND")
    refused(api.get(f"/v3/sms/inbound/{other['message_id']}"), 404, code="NOT_FOUND")  # another workspace's


def test_marking_inbound_read_all_before_a_time_and_one(api, account, receive, other):
    receive("one", "two")
    receive("three", sender="+61412345699")
    earlier = InboundMessage.objects.filter(account=account).order_by("id")
    InboundMessage.objects.filter(pk=earlier[0].pk).update(received_at=timezone.now() - timedelta(hours=2))
    body = api.put("/v3/sms/inbound-read", {"date_before": int(time.time()) - 3600}, format="json").json()
    assert MarkInboundSmsAsRead.from_dict(body).data == {"count": 1}
    assert ok(api.get("/v3/sms/inbound", {"unread": "true"}))["total"] == 2
    three = InboundMessage.objects.get(body="three")
    marked = api.put(f"/v3/sms/inbound-read/{three.pk}").json()
    assert marked["data"] == 1 and marked["response_code"] == "SUCCESS"
    assert ok(api.put(f"/v3/sms/inbound-read/{three.pk}")) == 0  # already read
    assert not Conversation.objects.get(pk=three.conversation_id).has_unread
    assert ok(api.put("/v3/sms/inbound-read", {}, format="json")) == {"count": 1}
    assert ok(api.get("/v3/sms/inbound", {"unread": "1"}))["total"] == 0
    assert all(item["read_at"] for item in ok(api.get("/v3/sms/inbound"))["data"])
    # Another workspace's message is not found and stays unread; bad input names its field.
    refused(api.put(f"/v3/sms/inbound-read/{other['inbound'].pk}"), 404, field="message_id", code="NOT_FOUND")
    other["inbound"].refresh_from_db()
    assert other["inbound"].read_at is None and Conversation.objects.get(pk=other["conversation"].pk).has_unread
    refused(api.put("/v3/sms/inbound-read", {"date_before": "yesterday"}, format="json"), 400, field="date_before")
    refused(api.put("/v3/sms/inbound-read", {"before": 1}, format="json"), 400, field="before")


# --- The test inbound webhook ---------------------------------------------------------------------------------


def test_a_test_inbound_sms_is_posted_signed_to_the_url(api, account, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    with FakeUpstream("http") as receiver:
        url = f"{receiver.url}/hooks/sms"
        data = ok(api.post("/v3/sms/inbound", {"url": url, "webhook_type": "json"}, format="json"))
        [request] = receiver.requests
    model = InboundSmsTest.from_dict(data)
    assert model.keyword is None and isinstance(model.timestamp_send, int)
    assert data["url"] == url and data["webhook_status_code"] == 200
    assert request.method == "POST" and request.path == "/hooks/sms"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-smsportal-event"] == "inbound" and request.headers["x-smsportal-delivery"] == "0"
    sent = request.json()
    assert sent["message_id"] == model.message_id and sent["body"] == model.body and sent["from"] == model.var_from
    assert sent["timestamp"] == model.timestamp_send and sent["subaccount_id"] == account.pk
    assert sent["original_message_id"] == model.original_message_id and sent["to"] == model.to
    timestamp = int(request.headers["x-smsportal-signature"].split(",")[0].removeprefix("t="))
    secret = WebhookSecret.objects.get(account=account).secret
    assert request.headers["x-smsportal-signature"] == outbound.signature(secret=secret, timestamp=timestamp,
                                                                           body=request.body)
    assert not InboundMessage.objects.exists() and not Conversation.objects.exists()  # only a sample


def test_a_test_inbound_sms_refuses_private_addresses_and_reports_failures(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with FakeUpstream("http") as receiver:
        body = refused(api.post("/v3/sms/inbound", {"url": receiver.url}, format="json"), 400, field="url")
        assert "loopback" in body["error"]["description"] and not receiver.requests
        settings.WEBHOOK_ALLOW_PRIVATE = True
        receiver.enqueue(Canned(500, "broken"))
        body = refused(api.post("/v3/sms/inbound", {"url": receiver.url}, format="json"), 400, field="url")
        assert "HTTP 500" in body["error"]["description"] and len(receiver.requests) == 1
    refused(api.post("/v3/sms/inbound", {"url": "ftp://example.com/x"}, format="json"), 400, field="url")
    refused(api.post("/v3/sms/inbound", {}, format="json"), 400, field="url")
    refused(api.post("/v3/sms/inbound", {"url": 42}, format="json"), 400, field="url")
    refused(api.post("/v3/sms/inbound", {"url": "https://example.com", "webhook_type": "get"}, format="json"), 400,
            field="webhook_type")


# --- ClickSend's SMS templates --------------------------------------------------------------------------------


def test_templates_crud_in_clicksends_types(api, account):
    created = ok(api.post("/v3/sms/templates", {"template_name": "Welcome", "body": "Hi {{first_name}}!"},
                          format="json"))
    model = SmsTemplate.from_dict(created)
    template = Template.objects.get(account=account)
    assert (model.template_id, model.template_name, model.body) == (template.pk, "Welcome", "Hi {{first_name}}!")
    one = ViewASpecificSmsTemplateData.from_dict(ok(api.get(f"/v3/sms/templates/{template.pk}")))
    assert (one.template_id, one.template_name) == (template.pk, "Welcome")
    updated = ok(api.put(f"/v3/sms/templates/{template.pk}", {"body": "Hello again"}, format="json"))
    assert updated == {"template_id": template.pk, "template_name": "Welcome", "body": "Hello again"}
    renamed = ok(api.put(f"/v3/sms/templates/{template.pk}", {"template_name": "Greeting"}, format="json"))
    assert (renamed["template_name"], renamed["body"]) == ("Greeting", "Hello again")
    deleted = api.delete(f"/v3/sms/templates/{template.pk}").json()
    assert deleted["response_code"] == "SUCCESS" and deleted["data"] is None
    assert not Template.objects.exists()
    refused(api.get(f"/v3/sms/templates/{template.pk}"), 404, field="template_id", code="NOT_FOUND")


def test_template_list_pages_filters_and_orders(api, account, django_assert_max_num_queries):
    ids = [services.template_save(account=account, name=name, body=f"{name} body").pk
           for name in ("Zebra", "Apple", "Mango", "Banana")]
    with django_assert_max_num_queries(3):  # the key, the count, the page
        data = ok(api.get("/v3/sms/templates", {"limit": 3}))
    page = ViewSmsTemplatesData.from_dict(data)
    assert [t.template_id for t in page.data] == ids[:3] and (page.total, page.last_page) == (4, 2)
    names = [t["template_name"] for t in ok(api.get("/v3/sms/templates", {"order_by": "template_name:desc"}))["data"]]
    assert names == ["Zebra", "Mango", "Banana", "Apple"]
    assert [t["template_name"] for t in ok(api.get("/v3/sms/templates", {"q": "template_name:an"}))["data"]] == [
        "Mango", "Banana"]
    assert [t["template_id"] for t in ok(api.get("/v3/sms/templates", {"q": f"template_id:{ids[1]}"}))["data"]] == [
        ids[1]]
    assert ok(api.get("/v3/sms/templates", {"q": "body:zebra"}))["total"] == 1
    assert ok(api.get("/v3/sms/templates", {"q": "template_id:²"}))["total"] == 0
    assert ok(api.get("/v3/sms/templates", {"q": "template_name:"}))["total"] == 4  # any value, as ClickSend
    refused(api.get("/v3/sms/templates", {"q": "colour:red"}), 400, field="q")
    refused(api.get("/v3/sms/templates", {"order_by": "size:asc"}), 400, field="order_by")


def test_template_validation_names_fields(api):
    refused(api.post("/v3/sms/templates", {"body": "No name"}, format="json"), 400, field="template_name")
    refused(api.post("/v3/sms/templates", {"template_name": "No body", "body": "  "}, format="json"), 400,
            field="body")
    refused(api.post("/v3/sms/templates", {"template_name": "Long", "body": "x" * 1601}, format="json"), 400,
            field="body")
    refused(api.post("/v3/sms/templates", {"template_name": "x" * 101, "body": "Hi"}, format="json"), 400,
            field="template_name")
    refused(api.post("/v3/sms/templates", {"template_name": 7, "body": "Hi"}, format="json"), 400,
            field="template_name")
    refused(api.post("/v3/sms/templates", {"template_name": "A", "body": "Hi", "colour": "red"}, format="json"),
            400, field="colour")
    assert not Template.objects.exists()


def test_another_workspaces_template_is_not_found_and_unchanged(api, other):
    template = other["template"]
    for method, payload in (("get", None), ("put", {"template_name": "Mine now"}), ("delete", None)):
        refused(getattr(api, method)(f"/v3/sms/templates/{template.pk}", payload, format="json"), 404,
                code="NOT_FOUND")
    template.refresh_from_db()
    assert (template.name, template.body) == ("Theirs", "Their canned reply")
    assert ok(api.get("/v3/sms/templates"))["total"] == 0


# --- smsportal's conversations --------------------------------------------------------------------------------


CONVERSATION_TYPES = {
    "conversation_id": int, "contact_number": str, "our_number": str, "contact_id": int, "contact_name": str,
    "status": str, "unread": int, "last_message_at": int, "last_text": str, "last_direction": str, "opted_out": bool,
}


def test_conversation_list_by_tab_search_and_unread(api, account, receive):
    from contacts import services as contacts

    contacts.contact_create(account=account, phone_number="+61412345611",
                            data={"first_name": "Ada", "last_name": "Lovelace"})
    receive("Is the shop open?", sender="+61412345611")
    receive("Where is my parcel?", sender="+61412345622")
    receive("STOP", sender="+61412345633")
    member = MemberFactory(account=account)
    ada = Conversation.objects.get(contact_number="+61412345611")
    parcel = Conversation.objects.get(contact_number="+61412345622")
    stopped = Conversation.objects.get(contact_number="+61412345633")
    services.conversation_assign(conversation=parcel, user_id=member.user_id)
    services.conversation_close(conversation=stopped)
    services.conversation_mark_read(conversation=parcel)

    data = ok(api.get("/v3/conversations"))
    assert [c["conversation_id"] for c in data["data"]] == [ada.pk, parcel.pk]  # open ones, unread first
    first = data["data"][0]
    assert {k: type(first[k]) for k in CONVERSATION_TYPES} == CONVERSATION_TYPES
    assert (first["contact_name"], first["contact_number"], first["our_number"]) == ("Ada Lovelace",
                                                                                     "+61412345611", OUR_NUMBER)
    assert (first["status"], first["unread"], first["last_direction"], first["opted_out"]) == ("open", 1, "in", False)
    assert first["assigned_to"] is None and first["last_text"] == "Is the shop open?"
    assert data["data"][1]["assigned_to"] == {"user_id": member.user_id, "email": member.user.email}
    assert [c["conversation_id"] for c in ok(api.get("/v3/conversations", {"tab": "unassigned"}))["data"]] == [ada.pk]
    closed = ok(api.get("/v3/conversations", {"tab": "closed"}))["data"]
    assert [c["conversation_id"] for c in closed] == [stopped.pk] and closed[0]["opted_out"] is True
    assert [c["conversation_id"] for c in ok(api.get("/v3/conversations", {"unread": "true"}))["data"]] == [ada.pk]
    assert [c["conversation_id"] for c in ok(api.get("/v3/conversations", {"q": "lovelace"}))["data"]] == [ada.pk]
    assert [c["conversation_id"] for c in ok(api.get("/v3/conversations", {"q": "parcel"}))["data"]] == [parcel.pk]
    assert [c["conversation_id"] for c in ok(api.get("/v3/conversations", {"q": "345622"}))["data"]] == [parcel.pk]
    refused(api.get("/v3/conversations", {"tab": "spam"}), 400, field="tab")
    refused(api.get("/v3/conversations", {"tab": "mine"}), 400, field="tab")  # an API key is nobody


def test_conversation_list_pins_its_queries(api, account, receive, django_assert_max_num_queries):
    for n in range(12):
        receive(f"Message {n}", sender=f"+614123456{n:02d}")
    receive("STOP", sender="+61412345600")
    with django_assert_max_num_queries(5):  # the key, the count, the page, the contacts' names, the opt-outs
        data = ok(api.get("/v3/conversations", {"limit": 5, "page": 2}))
    assert (data["total"], data["current_page"], data["last_page"], len(data["data"])) == (12, 2, 3, 5)
    with django_assert_max_num_queries(5):
        assert len(ok(api.get("/v3/conversations", {"limit": 100}))["data"]) == 12


def test_a_conversation_with_its_thread(api, account, receive):
    sent = send(api, CUSTOMER, "Your table for two is booked", custom_string="booking")
    receive("Can we make it three?")
    conversation = Conversation.objects.get()
    services.note_add(conversation=conversation, body="Regular — be nice", by=MemberFactory(account=account).user)
    data = ok(api.get(f"/v3/conversations/{conversation.pk}"))
    assert data["conversation_id"] == conversation.pk and data["unread"] == 1
    assert [(i["direction"], i["text"]) for i in data["thread"]] == [
        ("out", "Your table for two is booked"), ("in", "Can we make it three?"), ("note", "Regular — be nice")]
    out, inbound, note = data["thread"]
    assert out["message_id"] == sent and out["status"] in ("queued", "sending", "sent", "delivered")
    assert out["note_id"] is None and out["author"] is None and out["keyword"] is None
    assert inbound["message_id"] == str(InboundMessage.objects.get().pk) and inbound["status"] is None
    assert inbound["keyword"] == "" and isinstance(inbound["timestamp"], int)
    assert note["message_id"] is None and note["note_id"] == ConversationNote.objects.get().pk
    assert note["author"]["email"].endswith("@example.test")
    assert ok(api.get(f"/v3/conversations/{conversation.pk}"))["unread"] == 1  # reading over the API is not opening


def test_reply_assign_close_reopen_read_unread_and_notes(api, account, receive):
    receive("Do you deliver?")
    conversation = Conversation.objects.get()
    url = f"/v3/conversations/{conversation.pk}"

    sent = ok(api.post(f"{url}/reply", {"body": "We do, {{first_name|friend}}!"}, format="json"))
    assert (sent["queued_count"], sent["total_count"]) == (1, 1)
    message = Message.objects.get(pk=int(sent["messages"][0]["message_id"]))
    assert (message.to, message.sender, message.body, message.source) == (CUSTOMER, OUR_NUMBER, "We do, friend!",
                                                                         Message.Source.INBOX)
    after = ok(api.get(url))
    assert (after["unread"], after["last_direction"], after["last_text"]) == (0, "out", "We do, friend!")
    assert after["assigned_to"] is None  # an API key is nobody: a reply does not assign it

    member = MemberFactory(account=account)
    assigned = ok(api.put(f"{url}/assign", {"user_id": member.user_id}, format="json"))
    assert assigned["assigned_to"] == {"user_id": member.user_id, "email": member.user.email}
    assert ok(api.put(f"{url}/assign", {"user_id": None}, format="json"))["assigned_to"] is None
    assert ok(api.put(f"{url}/close"))["status"] == "closed"
    assert ok(api.put(f"{url}/reopen"))["status"] == "open"
    unread = ok(api.put(f"{url}/unread"))
    assert unread["unread"] == 1 and InboundMessage.objects.get().read_at is None
    read = ok(api.put(f"{url}/read"))
    assert read["unread"] == 0 and InboundMessage.objects.get().read_at is not None

    note = ok(api.post(f"{url}/notes", {"body": "Called them back"}, format="json"))
    assert note["body"] == "Called them back" and note["author"] is None and note["conversation_id"] == conversation.pk
    notes = ok(api.get(f"{url}/notes"))
    assert notes["total"] == 1 and notes["data"][0]["note_id"] == note["note_id"]


def test_conversation_validation_names_fields(api, account, receive):
    receive("Hello?")
    conversation = Conversation.objects.get()
    url = f"/v3/conversations/{conversation.pk}"
    refused(api.post(f"{url}/reply", {"body": "   "}, format="json"), 400, field="body")
    refused(api.post(f"{url}/reply", {}, format="json"), 400, field="body")
    refused(api.post(f"{url}/reply", {"body": 5}, format="json"), 400, field="body")
    refused(api.put(f"{url}/assign", {}, format="json"), 400, field="user_id")
    refused(api.put(f"{url}/assign", {"user_id": "me"}, format="json"), 400, field="user_id")
    stranger = MemberFactory()  # a member of another workspace
    refused(api.put(f"{url}/assign", {"user_id": stranger.user_id}, format="json"), 400, field="user_id")
    refused(api.post(f"{url}/notes", {"body": ""}, format="json"), 400, field="body")
    refused(api.post(f"{url}/notes", {"body": "x" * 4001}, format="json"), 400, field="body")
    conversation.refresh_from_db()
    assert conversation.assigned_to_id is None and not ConversationNote.objects.exists()
    assert not Message.objects.exists()


def test_a_reply_to_an_opted_out_contact_is_a_400_naming_body(api, account, receive):
    receive("STOP")
    conversation = Conversation.objects.get()
    before = Message.objects.count()  # the opt-out confirmation
    body = refused(api.post(f"/v3/conversations/{conversation.pk}/reply", {"body": "Come back!"}, format="json"),
                   400, field="body", code="BAD_REQUEST")
    assert "opted out" in body["error"]["fields"]["body"][0]
    assert Message.objects.count() == before
    assert ok(api.get(f"/v3/conversations/{conversation.pk}"))["opted_out"] is True
    assert OptOut.objects.filter(account=account, phone_number=CUSTOMER).exists()


def test_another_workspaces_conversation_is_not_found_and_unchanged(api, account, other):
    conversation = other["conversation"]
    url = f"/v3/conversations/{conversation.pk}"
    member = MemberFactory(account=account)
    for method, path, payload in [
        ("get", "", None), ("post", "/reply", {"body": "Hi"}), ("put", "/assign", {"user_id": member.user_id}),
        ("put", "/close", None), ("put", "/reopen", None), ("put", "/read", None), ("put", "/unread", None),
        ("get", "/notes", None), ("post", "/notes", {"body": "Mine"}),
    ]:
        refused(getattr(api, method)(url + path, payload, format="json"), 404, field="conversation_id",
                code="NOT_FOUND")
    for odd in ("nope", "²", "9" * 30):
        refused(api.get(f"/v3/conversations/{odd}"), 404, code="NOT_FOUND")
        refused(api.put(f"/v3/sms/inbound-read/{odd}"), 404, code="NOT_FOUND")
        refused(api.get(f"/v3/sms/templates/{odd}"), 404, code="NOT_FOUND")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_to_id, conversation.unread) == ("open", None, 1)
    assert not ConversationNote.objects.exists()
    assert not Message.objects.filter(account=account).exists()
    assert ok(api.get("/v3/conversations"))["total"] == 0 and ok(api.get("/v3/sms/inbound"))["total"] == 0


# --- Who may do what ------------------------------------------------------------------------------------------


def test_an_agent_works_the_inbox_but_cannot_send_test_webhooks(account, receive, user_with_role, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receive("Hello?")
    conversation = Conversation.objects.get()
    agent = user_with_role("agent", account)
    client = APIClient()
    client.force_login(agent)
    url = f"/v3/conversations/{conversation.pk}"
    ok(client.post(f"{url}/reply", {"body": "Hi, how can I help?"}, format="json"))
    assert ok(client.get(url))["assigned_to"]["user_id"] == agent.pk  # replying took it
    assert [c["conversation_id"] for c in ok(client.get("/v3/conversations", {"tab": "mine"}))["data"]] == [
        conversation.pk]
    ok(client.post(f"{url}/notes", {"body": "Waiting on them"}, format="json"))
    ok(client.put(f"{url}/close"))
    ok(client.post("/v3/sms/templates", {"template_name": "Hi", "body": "Hello!"}, format="json"))
    with FakeUpstream("http") as receiver:
        refused(client.post("/v3/sms/inbound", {"url": receiver.url}, format="json"), 403, code="FORBIDDEN")
        assert not receiver.requests


def test_a_viewer_reads_but_changes_nothing(account, receive, user_with_role):
    receive("Hello?")
    conversation = Conversation.objects.get()
    template = services.template_save(account=account, name="Hi", body="Hello!")
    client = APIClient()
    client.force_login(user_with_role("viewer", account))
    url = f"/v3/conversations/{conversation.pk}"
    ok(client.get("/v3/conversations"))
    ok(client.get(url))
    ok(client.get(f"{url}/notes"))
    ok(client.get("/v3/sms/inbound"))
    ok(client.get("/v3/sms/templates"))
    ok(client.put(f"{url}/read"))  # reading, as opening the thread in the UI does
    for method, path, payload in [
        ("post", f"{url}/reply", {"body": "Hi"}), ("put", f"{url}/assign", {"user_id": None}),
        ("put", f"{url}/close", None), ("put", f"{url}/unread", None), ("post", f"{url}/notes", {"body": "x"}),
        ("post", "/v3/sms/templates", {"template_name": "x", "body": "y"}),
        ("put", f"/v3/sms/templates/{template.pk}", {"body": "changed"}),
        ("delete", f"/v3/sms/templates/{template.pk}", None),
        ("post", "/v3/sms/inbound", {"url": "https://example.com/hook"}),
    ]:
        refused(getattr(client, method)(path, payload, format="json"), 403, code="FORBIDDEN")
    conversation.refresh_from_db()
    template.refresh_from_db()
    assert conversation.status == "open" and template.body == "Hello!" and not ConversationNote.objects.exists()


def test_a_marketer_may_not_send_test_webhooks_and_a_subaccount_without_sms_gets_nothing(
        account, api_for, user_with_role):
    client = APIClient()
    client.force_login(user_with_role("marketer", account))
    refused(client.post("/v3/sms/inbound", {"url": "https://example.com/hook"}, format="json"), 403)
    ok(client.get("/v3/conversations"))
    no_sms = SubaccountFactory(parent=account, access_sms=False, api_rate_limit=1000)
    sub = api_for(no_sms)
    for path in ("/v3/sms/inbound", "/v3/sms/templates", "/v3/conversations"):
        refused(sub.get(path), 403, code="FORBIDDEN")


def test_no_credentials_is_401(db):
    for path in ("/v3/sms/inbound", "/v3/sms/templates", "/v3/conversations"):
        refused(APIClient().get(path), 401, code="UNAUTHORIZED")


def test_the_schema_documents_the_inbox_endpoints_without_warnings(db, tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    paths = json.loads(out.read_text())["paths"]
    for path in ("/v3/sms/inbound", "/v3/sms/inbound/{original_message_id}", "/v3/sms/inbound-read",
                 "/v3/sms/inbound-read/{message_id}", "/v3/sms/templates", "/v3/sms/templates/{template_id}",
                 "/v3/conversations", "/v3/conversations/{conversation_id}",
                 "/v3/conversations/{conversation_id}/reply", "/v3/conversations/{conversation_id}/notes"):
        assert path in paths, path
    assert set(paths["/v3/conversations/{conversation_id}/notes"]) >= {"get", "post"}
