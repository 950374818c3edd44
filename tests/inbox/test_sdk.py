"""The published clicksend-client SDK's SmsApi inbound and template calls against a live smsportal: every answer
deserializes into the SDK's strict models and the values are ours."""

import time

import clicksend
import pytest
from clicksend.models import (
    CreateSmsTemplateRequest,
    CreateTestInboundSmsRequest,
    MarkSmsReceiptAsReadRequest,
    SendSmsRequest,
    SendSmsRequestMessagesInner,
)

from inbox.models import Conversation, InboundMessage, Template
from smsportal.messaging.models import Message
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import MemberFactory, api_key_for

from ..messaging.fakes import FakeUpstream
from .conftest import OUR_NUMBER

CUSTOMER = "+61412345678"


@pytest.fixture
def sdk(live_server, transactional_db, funded):
    funded.api_rate_limit = 1000
    funded.save(update_fields=["api_rate_limit"])
    MemberFactory(account=funded)
    with sdk_client(live_server.url, funded.api_username, api_key_for(funded)) as client:
        yield funded, clicksend.SmsApi(client)


def test_sdk_reads_and_marks_inbound_sms(sdk, receive):
    account, api = sdk
    sent = api.send_sms(send_sms_request=SendSmsRequest(messages=[
        SendSmsRequestMessagesInner(to=CUSTOMER, body="Your order has shipped", custom_string="order-42"),
    ])).data.messages[0]
    receive("Thanks! When will it arrive?")
    receive("And can I change the address?")
    receive("STOP", sender="+61412345699")

    inbound = api.view_inbound_sms(page=1, limit=15)
    assert inbound.http_code == 200 and inbound.response_code == "SUCCESS"
    page = inbound.data
    assert (page.total, page.per_page, page.current_page, page.last_page, page.var_from, page.to) == (3, 15, 1, 1, 1, 3)
    stop, second, first = page.data
    assert (stop.body, stop.keyword, stop.var_from, stop.original_message_id) == ("STOP", "stop", "+61412345699", "")
    stored = InboundMessage.objects.get(body="Thanks! When will it arrive?")
    assert first.message_id == str(stored.pk) and first.var_from == CUSTOMER and first.to == OUR_NUMBER
    assert first.original_message_id == sent.message_id and first.original_body == "Your order has shipped"
    assert first.custom_string == "order-42" and first.keyword == ""
    assert first.timestamp == int(stored.received_at.timestamp())
    assert second.original_message_id == sent.message_id  # both answer the same message

    one = api.view_a_specific_inbound_sms_message(original_message_id=sent.message_id)
    assert one.response_code == "SUCCESS" and one.data.message_id == first.message_id  # the first reply
    with pytest.raises(clicksend.exceptions.ApiException) as missing:
        api.view_a_specific_inbound_sms_message(original_message_id="999999")
    assert missing.value.status == 404 and "NOT_FOUND" in missing.value.body

    marked = api.mark_specific_inbound_sms_message_as_read(message_id=second.message_id)
    assert marked.response_code == "SUCCESS" and marked.data == 1
    assert api.mark_specific_inbound_sms_message_as_read(message_id=second.message_id).data == 0
    assert InboundMessage.objects.get(pk=int(second.message_id)).read_at is not None
    everything = api.mark_inbound_sms_as_read(
        mark_sms_receipt_as_read_request=MarkSmsReceiptAsReadRequest(date_before=int(time.time()) + 60)
    )
    assert everything.response_code == "SUCCESS" and everything.data == {"count": 2}
    assert not InboundMessage.objects.filter(read_at=None).exists()
    assert not Conversation.objects.filter(has_unread=True).exists()
    with pytest.raises(clicksend.exceptions.ApiException) as other:
        api.mark_specific_inbound_sms_message_as_read(message_id="999999")
    assert other.value.status == 404


def test_sdk_manages_sms_templates(sdk):
    account, api = sdk
    created = api.create_sms_template(create_sms_template_request=CreateSmsTemplateRequest(
        template_name="Welcome", body="Hi {{first_name}}, thanks for writing.\nNew line 漢字 here."))
    assert created.response_code == "SUCCESS" and created.response_msg == "New template has been saved."
    template = Template.objects.get(account=account)
    assert (created.data.template_id, created.data.template_name) == (template.pk, "Welcome")
    assert created.data.body == template.body == "Hi {{first_name}}, thanks for writing.\nNew line 漢字 here."
    api.create_sms_template(create_sms_template_request=CreateSmsTemplateRequest(template_name="Closing",
                                                                                 body="Bye!"))

    listed = api.view_sms_templates(page=1, limit=15)
    assert listed.data.total == 2 and [t.template_name for t in listed.data.data] == ["Welcome", "Closing"]
    by_name = api.view_sms_templates(q="template_name:clos", order_by="template_id:desc")
    assert [t.template_name for t in by_name.data.data] == ["Closing"]

    one = api.view_a_specific_sms_template(template_id=str(template.pk))
    assert (one.data.template_id, one.data.template_name, one.data.body) == (template.pk, "Welcome", template.body)

    updated = api.update_sms_template(template_id=str(template.pk), create_sms_template_request=CreateSmsTemplateRequest(
        template_name="Welcome back", body="Hello again"))
    assert (updated.data.template_id, updated.data.template_name, updated.data.body) == (
        template.pk, "Welcome back", "Hello again")
    template.refresh_from_db()
    assert (template.name, template.body) == ("Welcome back", "Hello again")

    deleted = api.delete_sms_template(template_id=str(template.pk))
    assert deleted.response_code == "SUCCESS" and deleted.data is None
    assert not Template.objects.filter(pk=template.pk).exists()
    with pytest.raises(clicksend.exceptions.ApiException) as gone:
        api.view_a_specific_sms_template(template_id=str(template.pk))
    assert gone.value.status == 404


def test_sdk_creates_a_test_inbound_sms_at_a_loopback_receiver(sdk, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the live server's thread reads the same settings
    account, api = sdk
    with FakeUpstream("http") as receiver:
        url = f"{receiver.url}/inbound"
        answer = api.create_test_inbound_sms(create_test_inbound_sms_request=CreateTestInboundSmsRequest(
            url=url, webhook_type="json"))
        [request] = receiver.requests
    assert answer.http_code == 200 and answer.response_code == "SUCCESS"
    sample = answer.data
    posted = request.json()
    assert request.path == "/inbound" and request.headers["x-smsportal-event"] == "inbound"
    assert (posted["message_id"], posted["from"], posted["to"], posted["body"]) == (
        sample.message_id, sample.var_from, sample.to, sample.body)
    assert posted["timestamp"] == sample.timestamp_send and sample.keyword is None
    assert posted["original_message_id"] == sample.original_message_id and posted["subaccount_id"] == account.pk
    assert not InboundMessage.objects.exists() and not Message.objects.exists()  # a sample, nothing stored
