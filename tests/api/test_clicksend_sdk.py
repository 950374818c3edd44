"""The published clicksend-client SDK, pointed at a live smsportal, must work without deserialization errors."""

from contextlib import contextmanager

import clicksend
import pytest
from clicksend.models import CreateSubaccountRequest, UpdateSubaccountRequest

from tests.factories import AccountFactory, MemberFactory, api_key_for


@contextmanager
def sdk_client(host, username, password):
    """The SDK's client, with its keep-alive sockets closed afterwards so the live server can stop."""
    client = clicksend.ApiClient(clicksend.Configuration(host=host, username=username, password=password))
    try:
        yield client
    finally:
        client.rest_client.pool_manager.clear()


@pytest.fixture
def sdk(live_server, transactional_db):
    account = AccountFactory(name="SDK Co", api_username="sdk-main", balance="12.5")
    MemberFactory(account=account)
    with sdk_client(live_server.url, account.api_username, api_key_for(account)) as client:
        yield account, client


def test_sdk_reads_the_account(sdk):
    account, client = sdk
    details = clicksend.ManagementApi(client).view_account_details()
    assert details.http_code == 200 and details.response_code == "SUCCESS"
    assert details.data.username == "sdk-main"
    assert details.data.user_id == account.pk
    assert details.data.balance == "12.5000"
    assert details.data.currency.currency_name_short == "USD"
    assert details.data.subaccount.is_main == 1


def test_sdk_manages_subaccounts_end_to_end(sdk, live_server):
    account, client = sdk
    api = clicksend.SubaccountsApi(client)

    created = api.create_subaccount(
        create_subaccount_request=CreateSubaccountRequest(
            api_username="sdk-child",
            password="child-password-77",
            email="child@example.test",
            phone_number="+61411111111",
            first_name="Kid",
            last_name="Account",
            access_users=0,
            access_billing=1,
            access_reporting=1,
            access_contacts=1,
            access_settings=0,
            access_smpp=1,  # a ClickSend flag smsportal accepts and ignores
            notes="made by the SDK",
        )
    )
    child = created.data
    assert created.response_code == "SUCCESS"
    assert isinstance(child.subaccount_id, int) and child.api_username == "sdk-child"
    assert child.access_users == 0 and child.access_settings == 0 and child.is_main == 0
    assert child.phone_number == "+61411111111" and child.api_key

    listed = api.view_subaccounts()
    assert listed.data.total == 1 and listed.data.current_page == 1 and listed.data.var_from == 1
    assert [s.api_username for s in listed.data.data] == ["sdk-child"]

    fetched = api.view_specific_subaccount(subaccount_id=str(child.subaccount_id))
    assert fetched.data.email == "child@example.test" and fetched.data.notes == "made by the SDK"

    updated = api.update_subaccount(
        subaccount_id=str(child.subaccount_id),
        update_subaccount_request=UpdateSubaccountRequest(access_sms=0, email="new@example.test"),
    )
    assert updated.data.access_sms == 0 and updated.data.email == "new@example.test"

    regenerated = api.generate_new_api_key(subaccount_id=str(child.subaccount_id))
    new_key = regenerated.data.api_key
    assert new_key and new_key != child.api_key
    # The new key opens the subaccount; the old one no longer does.
    with sdk_client(live_server.url, "sdk-child", new_key) as child_client:
        assert clicksend.ManagementApi(child_client).view_account_details().data.username == "sdk-child"
    with sdk_client(live_server.url, "sdk-child", child.api_key) as old_client, pytest.raises(
        clicksend.exceptions.ApiException
    ) as denied:
        clicksend.ManagementApi(old_client).view_account_details()
    assert denied.value.status == 401

    deleted = api.delete_subaccount(subaccount_id=str(child.subaccount_id))
    assert deleted.data is True
    assert api.view_subaccounts().data.total == 0
    with pytest.raises(clicksend.exceptions.ApiException) as missing:
        api.view_specific_subaccount(subaccount_id=str(child.subaccount_id))
    assert missing.value.status == 404 and '"NOT_FOUND"' in missing.value.body
