import pytest

from smsportal.accounts.models import Account
from tests.factories import SubaccountFactory


def test_put_account_updates_profile(api_for, main_account):
    r = api_for(main_account).put(
        "/v3/account",
        {"account_name": "Acme Ltd", "user_phone": "0412 345 678", "country": "AU", "timezone": "Australia/Sydney"},
        format="json",
    )
    data = r.json()["data"]
    assert r.status_code == 200
    assert (data["account_name"], data["user_phone"], data["country"], data["timezone"]) == (
        "Acme Ltd", "+61412345678", "AU", "Australia/Sydney"
    )


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"country": "XX"}, "country"),
        ({"user_email": "not-an-email"}, "email"),
        ({"api_rate_limit": "fast"}, "api_rate_limit"),
        ({"account_name": ""}, "account_name"),
    ],
)
def test_put_account_rejects_bad_values_and_changes_nothing(api_for, main_account, payload, field):
    r = api_for(main_account).put("/v3/account", {"user_first_name": "Changed", **payload}, format="json")
    assert r.status_code == 400 and field in r.json()["error"]["fields"]
    main_account.refresh_from_db()
    assert main_account.first_name != "Changed"


def test_subaccount_cannot_raise_its_own_rate_limit(api_for, sub_account):
    r = api_for(sub_account).put("/v3/account", {"api_rate_limit": 1000}, format="json")
    assert r.status_code == 400 and "api_rate_limit" in r.json()["error"]["fields"]


def test_pagination_fields_and_page_block(api_for, main_account, django_assert_max_num_queries):
    SubaccountFactory.create_batch(30, parent=main_account)
    client = api_for(main_account)
    with django_assert_max_num_queries(6):
        data = client.get("/v3/subaccounts?page=2&limit=10").json()["data"]
    assert (data["total"], data["per_page"], data["current_page"], data["last_page"]) == (30, 10, 2, 3)
    assert (data["from"], data["to"]) == (11, 20) and len(data["data"]) == 10
    assert data["page"] == {"count": 3, "number": 2}
    assert "page=3" in data["next_page_url"] and "page=1" in data["prev_page_url"]

    default = client.get("/v3/subaccounts").json()["data"]
    assert default["per_page"] == 25 and len(default["data"]) == 25 and default["prev_page_url"] is None
    capped = client.get("/v3/subaccounts?limit=500").json()["data"]
    assert capped["per_page"] == 100 and len(capped["data"]) == 30 and capped["next_page_url"] is None
    beyond = client.get("/v3/subaccounts?page=9&limit=10").json()["data"]
    assert beyond["data"] == [] and beyond["from"] is None and beyond["page"]["number"] == 9


@pytest.mark.parametrize("query,field", [("page=0", "page"), ("page=two", "page"), ("limit=-5", "limit")])
def test_bad_pagination_params_are_400(api_for, main_account, query, field):
    r = api_for(main_account).get(f"/v3/subaccounts?{query}")
    assert r.status_code == 400 and field in r.json()["error"]["fields"]


def test_closed_accounts_are_not_listed(api_for, main_account):
    SubaccountFactory(parent=main_account, status=Account.Status.CLOSED)
    assert api_for(main_account).get("/v3/subaccounts").json()["data"]["total"] == 0
