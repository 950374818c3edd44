"""Isolation between workspaces and roles on every endpoint."""

import pytest

from smsportal.accounts.models import Account, ApiKey
from tests.factories import AccountFactory, MemberFactory, SubaccountFactory, UserFactory


@pytest.fixture
def family(main_account):
    """A main account with two subaccounts, and an unrelated main account with one."""
    return {
        "main": main_account,
        "sub_a": SubaccountFactory(parent=main_account, access_users=True),
        "sub_b": SubaccountFactory(parent=main_account),
        "stranger_sub": SubaccountFactory(parent=AccountFactory()),
    }


@pytest.mark.parametrize(
    "method,suffix", [("get", ""), ("put", ""), ("delete", ""), ("put", "/regen-api-key")]
)
def test_subaccount_gets_404_for_sibling_and_parent(api_for, family, method, suffix):
    client = api_for(family["sub_a"])
    for target in (family["sub_b"], family["main"]):
        r = getattr(client, method)(f"/v3/subaccounts/{target.pk}{suffix}", {}, format="json")
        assert r.status_code == 404, (target, r.json())
        assert r.json()["response_code"] == "NOT_FOUND"
    assert client.get("/v3/subaccounts").json()["data"]["total"] == 0
    family["sub_b"].refresh_from_db()
    assert family["sub_b"].status == Account.Status.ACTIVE


def test_main_account_gets_404_for_another_accounts_subaccount(api_for, family):
    client = api_for(family["main"])
    assert client.get(f"/v3/subaccounts/{family['stranger_sub'].pk}").status_code == 404
    listed = client.get("/v3/subaccounts").json()["data"]
    assert {s["subaccount_id"] for s in listed["data"]} == {family["sub_a"].pk, family["sub_b"].pk}


def test_subaccount_cannot_create_subaccounts(api_for, family):
    r = api_for(family["sub_a"]).post("/v3/subaccounts", {"api_username": "grandchild"}, format="json")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"
    assert not Account.objects.filter(api_username="grandchild").exists()


def test_parent_key_manages_children(api_for, family):
    client = api_for(family["main"])
    sub = family["sub_b"]
    r = client.put(f"/v3/subaccounts/{sub.pk}", {"access_contacts": 0, "notes": "hi", "api_rate_limit": 5}, format="json")
    assert r.status_code == 200
    sub.refresh_from_db()
    assert (sub.access_contacts, sub.notes, sub.api_rate_limit) == (False, "hi", 5)
    key = client.put(f"/v3/subaccounts/{sub.pk}/regen-api-key").json()["data"]["api_key"]
    assert ApiKey.objects.filter(account=sub, revoked_at=None).count() == 1
    assert key.startswith("sp_")


def test_delete_returns_credit_to_parent_and_frees_the_username(api_for, family):
    main, sub = family["main"], family["sub_b"]
    Account.objects.filter(pk=main.pk).update(balance=10)
    from smsportal.accounts.services import credit_transfer

    main.refresh_from_db()
    credit_transfer(source=main, destination=sub, amount="4")
    client = api_for(main)
    body = client.delete(f"/v3/subaccounts/{sub.pk}").json()
    assert body["data"] is True
    main.refresh_from_db()
    sub.refresh_from_db()
    assert main.balance == 10 and sub.balance == 0 and sub.status == Account.Status.CLOSED
    assert client.get(f"/v3/subaccounts/{sub.pk}").status_code == 404
    recreated = client.post("/v3/subaccounts", {"api_username": sub.api_username.split("~")[0]}, format="json")
    assert recreated.status_code == 200


@pytest.mark.parametrize(
    "role,get_account,put_account,list_subaccounts",
    [
        ("admin", 200, 200, 200),
        ("marketer", 200, 403, 403),
        ("agent", 200, 403, 403),
        ("viewer", 200, 403, 403),
    ],
)
def test_roles_on_endpoints(client, main_account, role, get_account, put_account, list_subaccounts):
    user = MemberFactory(account=main_account, role=role, user=UserFactory()).user
    client.force_login(user)
    assert client.get("/v3/account").status_code == get_account
    r = client.put("/v3/account", {"account_name": "Renamed"}, content_type="application/json")
    assert r.status_code == put_account
    assert client.get("/v3/subaccounts").status_code == list_subaccounts
    main_account.refresh_from_db()
    assert (main_account.name == "Renamed") == (put_account == 200)


def test_user_of_no_account_is_forbidden(client, db):
    client.force_login(UserFactory())
    r = client.get("/v3/account")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"


def test_parent_admin_session_in_child_ignores_childs_flags(client, main_account):
    child = SubaccountFactory(parent=main_account, access_settings=False)
    admin = MemberFactory(account=main_account, role="admin", user=UserFactory()).user
    client.force_login(admin)
    session = client.session
    session["workspace_id"] = child.pk
    session.save()
    r = client.put("/v3/account", {"account_name": "Child renamed"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["data"]["user_id"] == child.pk


def test_session_cannot_enter_a_sibling(client, main_account):
    sub_a, sub_b = SubaccountFactory(parent=main_account), SubaccountFactory(parent=main_account)
    member = MemberFactory(account=sub_a, role="admin", user=UserFactory()).user
    client.force_login(member)
    session = client.session
    session["workspace_id"] = sub_b.pk  # forged: falls back to the user's own workspace
    session.save()
    assert client.get("/v3/account").json()["data"]["user_id"] == sub_a.pk


def test_admin_of_a_suspended_main_account_cannot_enter_its_subaccounts(client, main_account):
    child = SubaccountFactory(parent=main_account)
    admin = MemberFactory(account=main_account, role="admin", user=UserFactory()).user
    Account.objects.filter(pk=main_account.pk).update(status=Account.Status.SUSPENDED)
    client.force_login(admin)
    session = client.session
    session["workspace_id"] = child.pk
    session.save()
    r = client.get("/v3/account")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"


def test_api_username_is_unique_regardless_of_case(api_for, main_account):
    r = api_for(main_account).post("/v3/subaccounts", {"api_username": main_account.api_username.upper()}, format="json")
    assert r.status_code == 400 and "api_username" in r.json()["error"]["fields"]
