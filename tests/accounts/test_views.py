"""The accounts UI through the test client, against the real database."""

import base64
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from smsportal.accounts import services
from smsportal.accounts.models import Account, ApiKey, LedgerEntry, Member, Role, User
from smsportal.accounts.workspace import SESSION_KEY
from tests.factories import PASSWORD, AccountFactory, MemberFactory, SubaccountFactory, api_key_for

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"sp_[A-Za-z0-9_-]{20,}")

GET_PAGES = [
    "dashboard",
    "contacts:index",
    "campaigns:index",
    "inbox:index",
    "reports:index",
    "settings-profile",
    "settings-api",
    "settings-members",
    "settings-billing",
    "settings-subaccounts",
    "settings-subaccount-new",
]


def basic_auth(account, raw_key):
    token = base64.b64encode(f"{account.api_username}:{raw_key}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def api_status(client, account, raw_key) -> int:
    return client.get("/v3/account", **basic_auth(account, raw_key)).status_code


def current_workspace(response) -> str:
    match = re.search(r'data-testid="current-workspace">([^<]*)<', response.content.decode())
    return match.group(1) if match else ""


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def client_for(client, user):
    client.force_login(user)
    return client


# --- Login, logout and the login requirement ------------------------------------------------------------


def test_login_page_asks_for_email_and_password(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<label for="id_username">Email', html)
    assert 'type="email"' in html and 'type="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_login_with_email_and_password_opens_the_dashboard(client, admin_user, main_account):
    response = client.post(reverse("login"), {"username": admin_user.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert current_workspace(response) == main_account.name


def test_login_with_a_wrong_password_is_refused(client, admin_user):
    response = client.post(reverse("login"), {"username": admin_user.email, "password": "wrong-password-1"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(admin_client):
    assert admin_client.get(reverse("logout")).status_code == 405
    response = admin_client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in admin_client.session


@pytest.mark.parametrize("name", GET_PAGES)
def test_every_page_requires_login(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(
    "name, args",
    [
        ("workspace-switch", []),
        ("settings-api-rotate", []),
        ("settings-billing-top-up", []),
        ("settings-member-add", []),
        ("settings-subaccount-rotate", [1]),
        ("settings-subaccount-transfer", [1]),
        ("settings-subaccount-status", [1]),
    ],
)
def test_every_action_requires_login(client, name, args):
    response = client.post(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_admin_sees_every_page(admin_client, sub_account):
    for name in GET_PAGES:
        assert admin_client.get(reverse(name)).status_code == 200, name
    assert admin_client.get(reverse("settings-subaccount", args=[sub_account.pk])).status_code == 200


# --- Roles and access flags --------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, name, status",
    [
        ("viewer", "dashboard", 200),
        ("viewer", "contacts:index", 200),
        ("viewer", "settings-profile", 200),
        ("viewer", "settings-api", 200),
        ("viewer", "settings-subaccounts", 403),
        ("viewer", "settings-members", 403),
        ("viewer", "settings-billing", 403),
        ("agent", "inbox:index", 200),
        ("agent", "contacts:index", 200),
        ("agent", "campaigns:index", 403),
        ("agent", "reports:index", 403),
        ("marketer", "contacts:index", 200),
        ("marketer", "campaigns:index", 200),
        ("marketer", "reports:index", 200),
        ("marketer", "settings-billing", 200),
        ("marketer", "settings-subaccounts", 403),
    ],
)
def test_roles_are_enforced_per_page(client, user_with_role, role, name, status):
    response = client_for(client, user_with_role(role)).get(reverse(name))
    assert response.status_code == status
    if status == 403:
        assert b"have access to this page" in response.content


def test_viewer_cannot_rotate_the_api_key(client, user_with_role, main_account):
    old_key = api_key_for(main_account)
    response = client_for(client, user_with_role("viewer")).post(reverse("settings-api-rotate"))
    assert response.status_code == 403
    assert not KEY_RE.search(response.content.decode())
    assert api_status(client, main_account, old_key) == 200
    assert b"Rotate API key" not in client.get(reverse("settings-api")).content


def test_viewer_sees_the_profile_but_cannot_change_it(client, user_with_role, main_account):
    client_for(client, user_with_role("viewer"))
    assert b"Save changes" not in client.get(reverse("settings-profile")).content
    response = client.post(reverse("settings-profile"), {"name": "Hijacked", "default_region": "US", "timezone": "UTC"})
    assert response.status_code == 403
    main_account.refresh_from_db()
    assert main_account.name != "Hijacked"


def test_marketer_cannot_top_up(client, user_with_role, main_account):
    client_for(client, user_with_role("marketer"))
    assert b"Add credit" not in client.get(reverse("settings-billing")).content
    assert client.post(reverse("settings-billing-top-up"), {"amount": "10"}).status_code == 403
    assert not LedgerEntry.objects.filter(account=main_account).exists()


def test_navigation_shows_only_what_the_role_may_open(client, user_with_role):
    html = client_for(client, user_with_role("agent")).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("inbox:index")}"' in html
    assert f'href="{reverse("campaigns:index")}"' not in html
    assert f'href="{reverse("reports:index")}"' not in html


def test_a_subaccount_flag_switched_off_closes_the_page_to_its_members(client, user_with_role, sub_account):
    services.subaccount_update(subaccount=sub_account, data={"access_contacts": False})
    client_for(client, user_with_role("admin", account=sub_account))
    assert client.get(reverse("contacts:index")).status_code == 403
    assert f'href="{reverse("contacts:index")}"' not in client.get(reverse("dashboard")).content.decode()


def test_members_of_a_suspended_subaccount_get_no_workspace(client, user_with_role, sub_account):
    user = user_with_role("admin", account=sub_account)
    services.account_set_status(account=sub_account, status=Account.Status.SUSPENDED)
    response = client_for(client, user).get(reverse("dashboard"))
    assert response.status_code == 403
    assert b"No workspace available" in response.content


def test_a_subaccount_admin_is_told_subaccounts_belong_to_main_accounts(client, user_with_role, sub_account):
    response = client_for(client, user_with_role("admin", account=sub_account)).get(reverse("settings-subaccounts"))
    assert response.status_code == 200
    assert b"cannot have subaccounts of their own" in response.content
    assert client.post(reverse("settings-subaccount-new"), {"api_username": "nested"}).status_code == 200
    assert not Account.objects.filter(api_username="nested").exists()


# --- Isolation between workspaces ----------------------------------------------------------------


def test_a_subaccount_admin_cannot_open_or_enter_a_sibling(client, user_with_role, main_account, sub_account):
    sibling = SubaccountFactory(parent=main_account)
    client_for(client, user_with_role("admin", account=sub_account))
    assert client.get(reverse("settings-subaccount", args=[sibling.pk])).status_code == 404
    assert client.post(reverse("settings-subaccount-rotate", args=[sibling.pk])).status_code == 404
    assert client.post(reverse("workspace-switch"), {"account_id": sibling.pk}).status_code == 404
    assert client.session[SESSION_KEY] == sub_account.pk


def test_a_main_admin_cannot_touch_another_main_accounts_subaccount(admin_client):
    stranger = SubaccountFactory()
    old_key = api_key_for(stranger)
    assert admin_client.get(reverse("settings-subaccount", args=[stranger.pk])).status_code == 404
    response = admin_client.post(reverse("settings-subaccount-transfer", args=[stranger.pk]), {"amount": "1"})
    assert response.status_code == 404
    assert admin_client.post(reverse("workspace-switch"), {"account_id": stranger.pk}).status_code == 404
    assert admin_client.post(reverse("workspace-switch"), {"account_id": "nonsense"}).status_code == 404
    assert api_status(admin_client, stranger, old_key) == 200


def test_the_404_page_is_the_sites_own(admin_client):
    response = admin_client.get(reverse("settings-subaccount", args=[999999]))
    assert response.status_code == 404
    assert b"Page not found" in response.content


# --- Workspace switcher -----------------------------------------------------------------------------


def test_the_switcher_lists_subaccounts_and_switches_into_one(admin_client, main_account, sub_account):
    dashboard = admin_client.get(reverse("dashboard"))
    assert current_workspace(dashboard) == main_account.name
    assert f"{sub_account.name} (subaccount)" in dashboard.content.decode()

    response = admin_client.post(reverse("workspace-switch"), {"account_id": sub_account.pk}, follow=True)
    assert response.redirect_chain == [(reverse("dashboard"), 302)]
    assert current_workspace(response) == sub_account.name
    assert admin_client.session[SESSION_KEY] == sub_account.pk


def test_switch_only_accepts_post(admin_client, sub_account):
    assert admin_client.get(reverse("workspace-switch")).status_code == 405


# --- A parent admin runs a subaccount -------------------------------------------------------------------


def edit_payload(subaccount, **overrides):
    data = {
        "name": subaccount.name,
        "email": subaccount.email,
        "phone_number": "",
        "api_rate_limit": subaccount.api_rate_limit,
        "notes": "",
        "access_sms": "on",
        "access_contacts": "on",
        "access_reporting": "on",
        "access_billing": "on",
        "access_users": "on",
        "access_settings": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_parent_admin_edits_a_subaccounts_details_and_flags(admin_client, sub_account):
    url = reverse("settings-subaccount", args=[sub_account.pk])
    # A checkbox left out of the POST is an unticked flag.
    payload = edit_payload(
        sub_account, name="Renamed", api_rate_limit=7, notes="VIP", access_billing=None, access_sms=None
    )
    response = admin_client.post(url, payload)
    assert response.status_code == 302 and response.url == url
    sub_account.refresh_from_db()
    assert (sub_account.name, sub_account.api_rate_limit, sub_account.notes) == ("Renamed", 7, "VIP")
    assert not sub_account.access_billing and not sub_account.access_sms and sub_account.access_contacts


def test_a_bad_phone_number_shows_on_its_field_and_saves_nothing(admin_client, sub_account):
    url = reverse("settings-subaccount", args=[sub_account.pk])
    response = admin_client.post(url, edit_payload(sub_account, name="Changed", phone_number="12"))
    assert response.status_code == 200
    assert "phone_number" in response.context["edit_form"].errors
    sub_account.refresh_from_db()
    assert sub_account.name != "Changed"


def test_parent_admin_rotates_a_subaccounts_key_and_sees_it_once(admin_client, sub_account):
    old_key = api_key_for(sub_account)
    response = admin_client.post(reverse("settings-subaccount-rotate", args=[sub_account.pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    keys = set(KEY_RE.findall(response.content.decode()))
    assert len(keys) == 1
    new_key = keys.pop()
    assert api_status(admin_client, sub_account, new_key) == 200
    assert api_status(admin_client, sub_account, old_key) == 401
    # Only its hash is kept, and it is not shown again.
    assert not ApiKey.objects.filter(key_hash=new_key).exists()
    assert new_key not in admin_client.get(reverse("settings-subaccount", args=[sub_account.pk])).content.decode()
    assert new_key not in str(dict(admin_client.session))


def test_own_key_rotation_shows_the_key_once_and_revokes_the_old_one(admin_client, main_account):
    old_key = api_key_for(main_account)
    response = admin_client.post(reverse("settings-api-rotate"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "stopped working" in html and 'data-copy-target="new-api-key"' in html
    new_key = KEY_RE.search(html).group(0)
    assert api_status(admin_client, main_account, old_key) == 401
    assert api_status(admin_client, main_account, new_key) == 200
    again = admin_client.get(reverse("settings-api")).content.decode()
    assert new_key not in again and new_key[:10] in again
    assert new_key not in str(dict(admin_client.session))


def test_parent_admin_transfers_credit_both_ways(admin_client, admin_user, main_account, sub_account):
    services.credit_top_up(account=main_account, amount="100")
    url = reverse("settings-subaccount-transfer", args=[sub_account.pk])
    response = admin_client.post(url, {"direction": "to_subaccount", "amount": "30", "memo": "June budget"})
    assert response.status_code == 302
    response = admin_client.post(url, {"direction": "to_parent", "amount": "5.5", "memo": ""})
    assert response.status_code == 302
    main_account.refresh_from_db()
    sub_account.refresh_from_db()
    assert (main_account.balance, sub_account.balance) == (Decimal("75.5"), Decimal("24.5"))
    entry = LedgerEntry.objects.filter(account=sub_account, kind=LedgerEntry.Kind.TRANSFER_IN).get()
    assert entry.memo == "June budget" and entry.created_by == admin_user


@pytest.mark.parametrize("amount", ["-5", "0", "abc"])
def test_a_bad_transfer_amount_shows_on_its_field_and_moves_nothing(admin_client, main_account, sub_account, amount):
    services.credit_top_up(account=main_account, amount="100")
    url = reverse("settings-subaccount-transfer", args=[sub_account.pk])
    response = admin_client.post(url, {"direction": "to_subaccount", "amount": amount})
    assert response.status_code == 200
    assert "amount" in response.context["transfer_form"].errors
    assert LedgerEntry.objects.count() == 1
    sub_account.refresh_from_db()
    assert sub_account.balance == 0


def test_a_transfer_beyond_the_balance_is_refused_on_the_amount_field(admin_client, main_account, sub_account):
    url = reverse("settings-subaccount-transfer", args=[sub_account.pk])
    response = admin_client.post(url, {"direction": "to_subaccount", "amount": "10"})
    assert response.status_code == 200
    assert "Insufficient credit" in response.context["transfer_form"].errors["amount"][0]
    assert not LedgerEntry.objects.exists()


def test_parent_admin_suspends_and_reactivates_a_subaccount(client, admin_user, user_with_role, sub_account):
    member = user_with_role("admin", account=sub_account)
    key = api_key_for(sub_account)
    client_for(client, admin_user)
    url = reverse("settings-subaccount-status", args=[sub_account.pk])
    assert client.post(url, {"status": "suspended"}).status_code == 302
    sub_account.refresh_from_db()
    assert sub_account.status == Account.Status.SUSPENDED
    assert b"Reactivate subaccount" in client.get(reverse("settings-subaccount", args=[sub_account.pk])).content
    assert api_status(client, sub_account, key) in (401, 403)

    client_for(client, member)
    assert client.get(reverse("dashboard")).status_code == 403

    client_for(client, admin_user)
    assert client.post(url, {"status": "active"}).status_code == 302
    sub_account.refresh_from_db()
    assert sub_account.status == Account.Status.ACTIVE
    client_for(client, member)
    assert client.get(reverse("dashboard")).status_code == 200


def test_parent_admin_manages_a_subaccounts_members(admin_client, sub_account):
    add_url = reverse("settings-subaccount-member-add", args=[sub_account.pk])
    new_person = {"email": "new.person@example.test", "role": "marketer", "password": PASSWORD}
    response = admin_client.post(add_url, new_person)
    assert response.status_code == 302
    member = Member.objects.get(account=sub_account, user__email="new.person@example.test")
    assert member.role == Role.MARKETER and member.user.check_password(PASSWORD)

    role_url = reverse("settings-subaccount-member-role", args=[sub_account.pk, member.pk])
    assert admin_client.post(role_url, {"role": "agent"}).status_code == 302
    member.refresh_from_db()
    assert member.role == Role.AGENT

    remove_url = reverse("settings-subaccount-member-remove", args=[sub_account.pk, member.pk])
    assert admin_client.post(remove_url).status_code == 302
    assert not Member.objects.filter(pk=member.pk).exists()


def test_adding_an_unknown_email_without_a_password_is_refused_on_the_password_field(admin_client):
    response = admin_client.post(reverse("settings-member-add"), {"email": "ghost@example.test", "role": "viewer"})
    assert response.status_code == 200
    assert "password" in response.context["member_add_form"].errors
    assert not User.objects.filter(email="ghost@example.test").exists()


def test_members_of_another_account_are_not_found(admin_client):
    stranger = MemberFactory(account=AccountFactory())
    response = admin_client.post(reverse("settings-member-role", args=[stranger.pk]), {"role": "viewer"})
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == Role.ADMIN


def test_the_last_admin_cannot_be_demoted_or_removed(admin_client, admin_user, main_account):
    member = Member.objects.get(account=main_account, user=admin_user)
    response = admin_client.post(reverse("settings-member-role", args=[member.pk]), {"role": "viewer"})
    assert response.status_code == 200
    assert "at least one admin" in response.content.decode()
    response = admin_client.post(reverse("settings-member-remove", args=[member.pk]))
    assert response.status_code == 200
    assert "at least one admin" in response.content.decode()
    member.refresh_from_db()
    assert member.role == Role.ADMIN


# --- Creating subaccounts ----------------------------------------------------------------------------


def test_creating_a_subaccount_shows_its_key_once(client, admin_client, main_account):
    response = admin_client.post(
        reverse("settings-subaccount-new"),
        {"api_username": "acme-eu", "name": "Acme EU", "email": "eu@acme.test", "password": PASSWORD,
         "access_sms": "on", "access_contacts": "on"},
    )
    assert response.status_code == 200
    sub = Account.objects.get(api_username="acme-eu")
    assert sub.parent == main_account and sub.access_sms and not sub.access_billing
    key = KEY_RE.search(response.content.decode()).group(0)
    assert api_status(client, sub, key) == 200
    assert Member.objects.filter(account=sub, user__email="eu@acme.test", role=Role.ADMIN).exists()


def test_a_taken_api_username_is_refused_on_its_field_and_creates_nothing(admin_client, sub_account):
    before = Account.objects.count()
    response = admin_client.post(reverse("settings-subaccount-new"), {"api_username": sub_account.api_username.upper()})
    assert response.status_code == 200
    assert "already taken" in response.context["form"].errors["api_username"][0]
    assert Account.objects.count() == before


def test_the_subaccount_list_query_count_does_not_grow_with_rows(
    admin_client, main_account, django_assert_max_num_queries
):
    for _ in range(3):
        MemberFactory(account=SubaccountFactory(parent=main_account))
    admin_client.get(reverse("dashboard"))  # the first request of a session also picks and stores the workspace
    # session, user, access (account, member), switcher (memberships, children), page count, page rows; the inbox
    # badge in the navigation.
    with django_assert_max_num_queries(9):
        small = admin_client.get(reverse("settings-subaccounts"))
    for _ in range(25):
        MemberFactory(account=SubaccountFactory(parent=main_account))
    with django_assert_max_num_queries(9):
        large = admin_client.get(reverse("settings-subaccounts"))
    assert small.status_code == large.status_code == 200
    assert large.content.decode().count('class="status status-active"') == 28


# --- Profile and billing ---------------------------------------------------------------------------


def test_admin_edits_the_account_profile(admin_client, main_account):
    payload = {"name": "Acme Ltd", "email": "billing@acme.test", "phone_number": "+1 415 555 2671",
               "default_region": "gb", "timezone": "Europe/London"}
    assert admin_client.post(reverse("settings-profile"), payload).status_code == 302
    main_account.refresh_from_db()
    assert main_account.name == "Acme Ltd"
    assert (main_account.default_region, main_account.timezone) == ("GB", "Europe/London")
    assert main_account.phone_number == "+14155552671"


def test_a_bad_region_shows_on_its_field(admin_client, main_account):
    payload = {"name": "Acme Ltd", "default_region": "ZZ", "timezone": "UTC"}
    response = admin_client.post(reverse("settings-profile"), payload)
    assert response.status_code == 200
    assert "default_region" in response.context["form"].errors
    main_account.refresh_from_db()
    assert main_account.name != "Acme Ltd"


def test_top_up_and_a_paginated_ledger_newest_first(admin_client, main_account):
    assert admin_client.post(reverse("settings-billing-top-up"), {"amount": "-1"}).status_code == 200
    assert admin_client.post(reverse("settings-billing-top-up"), {"amount": "1", "memo": "first"}).status_code == 302
    for n in range(2, 61):
        services.credit_top_up(account=main_account, amount="1", memo=f"top-up {n}")
    first = admin_client.get(reverse("settings-billing"))
    assert len(first.context["ledger"]["entries"]) == 50
    assert first.context["ledger"]["entries"][0].memo == "top-up 60"
    second = admin_client.get(reverse("settings-billing"), {"page": 2})
    assert [e.memo for e in second.context["ledger"]["entries"]][-1] == "first"
    assert len(second.context["ledger"]["entries"]) == 10
    fragment = admin_client.get(reverse("settings-billing"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'id="ledger"' in fragment.content


def test_dashboard_shows_figures_and_honest_empty_states(admin_client, main_account, sub_account):
    html = admin_client.get(reverse("dashboard")).content.decode()
    assert main_account.name in html
    assert "No messages yet" in html
    assert "Subaccounts" in html


@pytest.mark.parametrize("name, text", [
    ("contacts:index", "No contacts yet"),
    ("campaigns:index", "No campaigns yet"),
    ("inbox:index", "No conversations yet"),
    ("reports:index", "Nothing in this period"),
])
def test_module_pages_show_an_empty_state(admin_client, name, text):
    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    assert text in response.content.decode()


def test_settings_pages_show_times_in_the_workspaces_zone(admin_client, main_account):
    import datetime

    main_account.timezone = "Australia/Sydney"
    main_account.save(update_fields=["timezone"])
    entry = services.credit_top_up(account=main_account, amount=Decimal("5"), memo="Zoned top-up")
    LedgerEntry.objects.filter(pk=entry.pk).update(
        created_at=datetime.datetime(2030, 12, 23, 22, 30, tzinfo=datetime.timezone.utc))
    html = admin_client.get(reverse("settings-billing")).content.decode()
    assert "Date (Australia/Sydney)" in html and "24 Dec 2030, 09:30" in html
    services.api_key_rotate(account=main_account)
    ApiKey.objects.filter(account=main_account).update(
        created_at=datetime.datetime(2030, 12, 23, 22, 30, tzinfo=datetime.timezone.utc))
    assert "created 24 Dec 2030, 09:30 AEDT" in admin_client.get(reverse("settings-api")).content.decode()
