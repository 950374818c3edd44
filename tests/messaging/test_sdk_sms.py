"""The published clicksend-client SDK's SmsApi against a live smsportal: every call deserializes into the SDK's strict
models and the values are ours. The engine runs in between, so receipts exist."""

import time
import urllib.request

import clicksend
import pytest
from clicksend.models import (
    CalculateSmsPriceRequest,
    CalculateSmsPriceRequestMessagesInner,
    CancelAllSmsRequest,
    MarkSmsReceiptAsReadRequest,
    SendSmsRequest,
    SendSmsRequestMessagesInner,
)

from contacts import services as contacts
from smsportal.accounts import services as accounts
from smsportal.accounts.models import DEFAULT_RATES
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import AccountFactory, MemberFactory, api_key_for

from .conftest import run_engine

AU_RATE = DEFAULT_RATES["AU"]


@pytest.fixture
def sdk(live_server, transactional_db, settings):
    settings.SANDBOX_DLR_DELAY = 0
    settings.SMS_RETRY_BASE = 0
    account = AccountFactory(api_username="sdk-sms", default_region="AU", api_rate_limit=1000)
    MemberFactory(account=account)
    accounts.credit_top_up(account=account, amount="20")
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, clicksend.SmsApi(client)


def message(to, body="Hello from the SDK", **extra):
    return SendSmsRequestMessagesInner(to=to, body=body, source="sdk-test", **extra)


def test_sdk_sends_prices_reads_and_cancels(sdk):
    account, api = sdk
    contact_list = contacts.list_create(account=account, name="VIPs")
    vip = contacts.contact_create(account=account, phone_number="+61412340050", contact_list=contact_list)

    quote = api.calculate_sms_price(calculate_sms_price_request=CalculateSmsPriceRequest(messages=[
        CalculateSmsPriceRequestMessagesInner(to="+61412345678", body="€" * 160, var_from="Acme"),
    ]))
    assert quote.http_code == 200 and quote.response_code == "SUCCESS"
    assert quote.data.total_count == 1 and quote.data.queued_count == 1 and quote.data.blocked_count == 0
    assert quote.data.total_price == pytest.approx(float(3 * AU_RATE))
    priced = quote.data.messages[0]
    assert priced.message_parts == 3 and priced.message_price == f"{3 * AU_RATE:.4f}" and priced.var_from == "Acme"
    assert priced.message_id is None and priced.status == "SUCCESS" and priced.var_date.isdigit()
    assert quote.data.currency.currency_name_short == "USD"
    assert Message.objects.count() == 0

    later = int(time.time()) + 3600
    sent = api.send_sms(send_sms_request=SendSmsRequest(messages=[
        message("+61412345678", custom_string="first"),
        message("+61412340001"),
        message("0412 345 679", schedule=later),
        SendSmsRequestMessagesInner(list_id=str(contact_list.pk), body="For VIPs only"),
        message("not a number"),
    ]))
    assert sent.response_msg == "Messages queued for delivery."
    data = sent.data
    assert (data.total_count, data.queued_count, data.blocked_count) == (5, 4, 1)
    assert data.total_price == pytest.approx(float(4 * AU_RATE))
    first, second, scheduled, from_list, invalid = data.messages
    assert first.direction == "out" and isinstance(first.var_date, int) and first.to == "+61412345678"
    assert first.custom_string == "first" and first.status == "SUCCESS" and first.message_id.isdigit()
    assert first.user_id == account.pk and first.subaccount_id == account.pk and first.schedule is None
    assert scheduled.schedule == later and scheduled.to == "+61412345679"
    assert from_list.list_id == str(contact_list.pk) and from_list.contact_id == str(vip.pk)
    assert invalid.status == "INVALID_RECIPIENT" and invalid.message_price == "0.0000"

    run_engine()

    history = api.view_sms_history(q="status:delivered", limit=15)
    assert history.data.total == 2 and history.data.per_page == 15 and history.data.current_page == 1
    assert {item.message_id for item in history.data.data} == {first.message_id, from_list.message_id}
    item = next(i for i in history.data.data if i.message_id == first.message_id)
    assert (item.status, item.status_code, item.direction, item.message_parts) == ("delivered", "201", "out", 1)
    assert item.var_from == "" and item.custom_string == "first" and item.api_username == "sdk-sms"
    everything = api.view_sms_history(date_from=int(time.time()) - 600, date_to=int(time.time()) + 60,
                                      order_by="date:asc")
    assert [i.message_id for i in everything.data.data] == [m.message_id for m in data.messages]

    receipts = api.view_sms_receipts()
    assert receipts.data.total == 3
    by_id = {r.message_id: r for r in receipts.data.data}
    assert by_id[first.message_id].status_code == 201 and by_id[first.message_id].error_code is None
    assert by_id[second.message_id].status_code == 301 and by_id[second.message_id].error_code == 30003
    one = api.view_specific_sms_receipt(message_id=first.message_id)
    assert one.data.message_id == first.message_id and one.data.custom_string == "first"
    assert isinstance(one.data.timestamp, int) and one.data.subaccount_id == account.pk
    marked = api.mark_sms_receipt_as_read(
        mark_sms_receipt_as_read_request=MarkSmsReceiptAsReadRequest(date_before=int(time.time()) + 60)
    )
    assert marked.response_code == "SUCCESS" and marked.data == {"count": 3}

    cancelled = api.cancel_sms(message_id=scheduled.message_id)
    assert cancelled.response_code == "SUCCESS" and cancelled.data is None
    assert Message.objects.get(pk=int(scheduled.message_id)).status == statuses.CANCELLED
    with pytest.raises(clicksend.exceptions.ApiException) as again:
        api.cancel_sms(message_id=scheduled.message_id)
    assert again.value.status == 400 and "cannot be cancelled" in again.value.body
    assert api.cancel_all_sms(cancel_all_sms_request=CancelAllSmsRequest()).data.count == 0

    export = api.export_sms_history(filename="delivered.csv", q="status:delivered")
    with urllib.request.urlopen(export.data.url) as download:
        text = download.read().decode("utf-8-sig")
        assert download.headers["Content-Disposition"] == 'attachment; filename="delivered.csv"'
    lines = text.strip().splitlines()
    assert lines[0].startswith("message_id,") and len(lines) == 3
