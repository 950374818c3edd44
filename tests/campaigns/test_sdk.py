"""The published clicksend-client SDK's SmsCampaignsApi against a live smsportal: every call deserializes into the
SDK's strict models and the values are ours."""

import time
from decimal import Decimal

import clicksend
import pytest
from clicksend.models import CalculateSmsCampaignPriceRequest, SendSmsCampaignRequest

from campaigns import services
from campaigns.models import Campaign
from smsportal.accounts import services as accounts
from smsportal.accounts.models import DEFAULT_RATES
from smsportal.messaging import statuses
from smsportal.messaging.models import Message
from tests.api.test_clicksend_sdk import sdk_client
from tests.factories import AccountFactory, MemberFactory, api_key_for

from ..messaging.conftest import balance, run_engine
from .conftest import au, make_contacts, make_list

AU_RATE = DEFAULT_RATES["AU"]


@pytest.fixture
def sdk(live_server, transactional_db, settings):
    settings.SANDBOX_DLR_DELAY = 0
    settings.SMS_RETRY_BASE = 0
    account = AccountFactory(api_username="sdk-campaigns", default_region="AU", api_rate_limit=1000)
    MemberFactory(account=account)
    accounts.credit_top_up(account=account, amount="20")
    people = make_contacts(account, [au(i) for i in range(6)], first_name="Ava")
    contact_list = make_list(account, "Regulars", people)
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, contact_list, clicksend.SmsCampaignsApi(client)


def test_sdk_prices_sends_lists_views_and_cancels_campaigns(sdk):
    account, contact_list, api = sdk
    body = "Hi {{first_name}}, {fresh bread|warm rolls} at 7"

    quote = api.calculate_sms_campaign_price(calculate_sms_campaign_price_request=CalculateSmsCampaignPriceRequest(
        list_id=str(contact_list.pk), name="Morning", var_from="Bakery", body=body))
    assert quote.http_code == 200 and quote.response_code == "SUCCESS"
    assert quote.data.total_count == 6 and quote.data.total_price == f"{6 * AU_RATE:.4f}"
    assert (quote.data.data.var_from, quote.data.data.body, quote.data.data.schedule) == ("Bakery", body, 0)
    assert quote.data.currency.currency_name_short == "USD"
    assert not Campaign.objects.exists()

    sent = api.send_sms_campaign(send_sms_campaign_request=SendSmsCampaignRequest(
        list_id=contact_list.pk, name="Morning", var_from="Bakery", body=body, senders=[], source="sdk-test"))
    assert sent.http_code == 200 and sent.response_msg == "Your new campaign has been added."
    campaign = sent.data
    assert isinstance(campaign.sms_campaign_id, int) and campaign.status == "Sending"
    assert (campaign.list_id, campaign.list_name, campaign.var_from, campaign.body) == (
        contact_list.pk, "Regulars", "Bakery", body)
    assert campaign.user_id == account.pk and campaign.subaccount_id == account.pk and campaign.source == "sdk-test"
    assert campaign.total_count == 6 and isinstance(campaign.schedule, int) and isinstance(campaign.date_added, int)
    assert balance(account) == Decimal("20") - 6 * AU_RATE
    # The live server committed the launch and handed its fan-out to the broker; write and send it here, without
    # the quiet hours the SDK cannot switch off (the real clock may be in Sydney's night).
    Campaign.objects.filter(pk=campaign.sms_campaign_id).update(quiet_hours=False)
    while services.campaign_prepare(campaign_id=campaign.sms_campaign_id)["more"]:
        pass
    run_engine()
    assert Message.objects.filter(campaign_id=campaign.sms_campaign_id, status=statuses.DELIVERED).count() == 6
    assert {m.body.split(",")[0] for m in Message.objects.filter(campaign_id=campaign.sms_campaign_id)} == {"Hi Ava"}

    later = int(time.time()) + 86_400
    scheduled = api.send_sms_campaign(send_sms_campaign_request=SendSmsCampaignRequest(
        list_id=contact_list.pk, name="Tomorrow", var_from="Bakery", body="Croissants tomorrow", schedule=later,
        senders=[]))
    assert scheduled.data.status == "Scheduled" and scheduled.data.schedule == later

    draft = services.campaign_save(account=account, data={"name": "Later", "body": "Draft words",
                                                          "list_id": contact_list.pk})

    listed = api.view_sms_campaigns(limit=15)
    assert listed.data.total == 3 and listed.data.per_page == 15 and listed.data.current_page == 1
    assert listed.data.var_from == 1 and listed.data.to == 3 and listed.data.next_page_url is None
    assert [c.name for c in listed.data.data] == ["Later", "Tomorrow", "Morning"]
    assert [c.status for c in listed.data.data] == ["Draft", "Scheduled", "Sending"]
    only_scheduled = api.view_sms_campaigns(q="status:Scheduled", order_by="date_added:asc",
                                            date_from=int(time.time()) - 600, date_to=int(time.time()) + 60)
    assert [c.sms_campaign_id for c in only_scheduled.data.data] == [scheduled.data.sms_campaign_id]

    one = api.view_specific_sms_campaign(sms_campaign_id=str(campaign.sms_campaign_id))
    assert one.response_code == "SUCCESS" and one.data.sms_campaign_id == campaign.sms_campaign_id
    assert one.data.total_count == 6 and one.data.list_name == "Regulars"

    updated = api.update_sms_campaign(
        sms_campaign_id=str(draft.pk),
        calculate_sms_campaign_price_request=CalculateSmsCampaignPriceRequest(
            list_id=str(contact_list.pk), name="Later today", var_from="Bakery", body="Fresh at five"))
    assert updated.response_code == "SUCCESS" and updated.data.status == "Draft"
    assert (updated.data.name, updated.data.body, updated.data.var_from) == ("Later today", "Fresh at five", "Bakery")
    with pytest.raises(clicksend.exceptions.ApiException) as launched:
        api.update_sms_campaign(sms_campaign_id=str(campaign.sms_campaign_id),
                                calculate_sms_campaign_price_request=CalculateSmsCampaignPriceRequest(name="No"))
    assert launched.value.status == 400 and '"status"' in launched.value.body

    before = balance(account)
    cancelled = api.cancel_sms_campaign(sms_campaign_id=str(scheduled.data.sms_campaign_id))
    assert cancelled.response_code == "SUCCESS" and cancelled.data.status == "Cancelled"
    assert balance(account) == before + 6 * AU_RATE  # its whole reservation comes back
    with pytest.raises(clicksend.exceptions.NotFoundException):
        api.view_specific_sms_campaign(sms_campaign_id="999999")
