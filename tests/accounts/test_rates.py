"""Rate cards: the Settings → Rates page and /v3/rate-cards, against the real database."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from smsportal.accounts import services
from smsportal.accounts.models import DEFAULT_RATES, Account, Rate, RateCard
from tests.factories import AccountFactory, SubaccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def client_for(client, user):
    client.force_login(user)
    return client


def row_text(html: str, country: str) -> str:
    match = re.search(rf'<tr data-country="{country}">(.*?)</tr>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def card_rates(account) -> dict:
    return {r.country: r.per_segment for r in Rate.objects.filter(card__account=account)}


# --- The page ------------------------------------------------------------------------------------------


def test_page_shows_the_default_rates_until_edited(admin_client, main_account):
    response = admin_client.get(reverse("settings-rates"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Default rates — edit any to make this card your own" in html
    assert row_text(html, "GB") == "GB United Kingdom 0.045 Remove GB"
    assert row_text(html, "US").startswith("US United States 0.01")
    assert "Blocked as unroutable" in row_text(html, "fallback")
    assert 'aria-current="page">Rates</a>' in html
    assert not RateCard.objects.filter(account=main_account).exists()


def test_editing_a_rate_materialises_the_card(admin_client, main_account):
    response = admin_client.post(reverse("settings-rates-set"), {"country": "gb", "per_segment": "0.0512"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("settings-rates")
    html = response.content.decode()
    assert "Default rates" not in html
    assert row_text(html, "GB").startswith("GB United Kingdom 0.0512")
    rates = card_rates(main_account)
    assert rates["GB"] == Decimal("0.0512")
    assert rates["US"] == DEFAULT_RATES["US"] and len(rates) == len(DEFAULT_RATES)

    admin_client.post(reverse("settings-rates-set"), {"country": "JP", "per_segment": "0.07"})
    assert row_text(admin_client.get(reverse("settings-rates")).content.decode(), "JP") == "JP 0.07 Remove JP"


@pytest.mark.parametrize(
    "data,field",
    [
        ({"country": "XX", "per_segment": "0.05"}, "country"),
        ({"country": "GB", "per_segment": "-0.01"}, "per_segment"),
        ({"country": "GB", "per_segment": "0.00001"}, "per_segment"),
    ],
)
def test_a_bad_rate_is_shown_on_its_field(admin_client, main_account, data, field):
    response = admin_client.post(reverse("settings-rates-set"), data)
    assert response.status_code == 200
    assert response.context["rate_form"].errors[field]
    assert not RateCard.objects.filter(account=main_account).exists()


def test_removing_a_rate(admin_client, main_account):
    response = admin_client.post(reverse("settings-rates-remove", args=["DE"]), follow=True)
    assert response.status_code == 200
    assert row_text(response.content.decode(), "DE") == ""
    rates = card_rates(main_account)
    assert "DE" not in rates and len(rates) == len(DEFAULT_RATES) - 1
    assert admin_client.post(reverse("settings-rates-remove", args=["DE"])).status_code == 404


def test_fallback_rate_set_and_cleared(admin_client, main_account):
    admin_client.post(reverse("settings-rates-fallback"), {"fallback_rate": "0.2"})
    assert RateCard.objects.get(account=main_account).fallback_rate == Decimal("0.2000")
    assert row_text(admin_client.get(reverse("settings-rates")).content.decode(), "fallback") == "Every other country 0.20"

    admin_client.post(reverse("settings-rates-fallback"), {"fallback_rate": ""})
    assert RateCard.objects.get(account=main_account).fallback_rate is None

    response = admin_client.post(reverse("settings-rates-fallback"), {"fallback_rate": "-1"})
    assert response.status_code == 200 and response.context["fallback_form"].errors["fallback_rate"]


def test_viewer_cannot_see_or_edit_rates(client, user_with_role, main_account):
    client_for(client, user_with_role("viewer"))
    assert client.get(reverse("settings-rates")).status_code == 403
    assert client.post(reverse("settings-rates-set"), {"country": "GB", "per_segment": "1"}).status_code == 403
    assert not RateCard.objects.filter(account=main_account).exists()


def test_marketer_sees_rates_but_cannot_edit(client, user_with_role, main_account, sub_account):
    client_for(client, user_with_role("marketer"))
    html = client.get(reverse("settings-rates")).content.decode()
    assert row_text(html, "GB") == "GB United Kingdom 0.045"
    assert reverse("settings-rates-set") not in html
    posts = [
        (reverse("settings-rates-set"), {"country": "GB", "per_segment": "1"}),
        (reverse("settings-rates-remove", args=["GB"]), {}),
        (reverse("settings-rates-fallback"), {"fallback_rate": "1"}),
        (reverse("settings-rates-markup", args=[sub_account.pk]), {"markup_percent": "10"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert not RateCard.objects.filter(account=main_account).exists()
    sub_account.refresh_from_db()
    assert sub_account.markup_percent == 0


def test_subaccount_sees_its_marked_up_rates_read_only(client, user_with_role, main_account, sub_account):
    services.rate_set(account=main_account, country="GB", per_segment="0.0400")
    services.subaccount_set_markup(subaccount=sub_account, markup_percent="12.5")
    client_for(client, user_with_role("admin", account=sub_account))
    response = client.get(reverse("settings-rates"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "12.50%" in html and "The main account sets them" in html
    assert row_text(html, "GB") == "GB United Kingdom 0.045"  # 0.0400 × 1.125
    assert "Default rates" not in html and reverse("settings-rates-set") not in html
    assert 'id="markups"' not in html
    assert client.post(reverse("settings-rates-set"), {"country": "GB", "per_segment": "0"}).status_code == 403
    assert card_rates(main_account)["GB"] == Decimal("0.0400")


def test_main_account_sets_a_subaccount_markup(admin_client, main_account, sub_account):
    html = admin_client.get(reverse("settings-rates")).content.decode()
    assert sub_account.name in html and reverse("settings-rates-markup", args=[sub_account.pk]) in html
    response = admin_client.post(reverse("settings-rates-markup", args=[sub_account.pk]), {"markup_percent": "7.5"})
    assert response.status_code == 302
    sub_account.refresh_from_db()
    assert sub_account.markup_percent == Decimal("7.50")

    response = admin_client.post(reverse("settings-rates-markup", args=[sub_account.pk]), {"markup_percent": "-3"})
    assert response.status_code == 200
    assert response.context["markup_rows"][0]["form"].errors["markup_percent"]
    sub_account.refresh_from_db()
    assert sub_account.markup_percent == Decimal("7.50")


def test_a_foreign_subaccount_markup_is_404(admin_client, main_account):
    stranger = SubaccountFactory(parent=AccountFactory())
    response = admin_client.post(reverse("settings-rates-markup", args=[stranger.pk]), {"markup_percent": "50"})
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.markup_percent == 0


# --- The API -----------------------------------------------------------------------------------------


def test_api_get_for_a_main_account_shows_the_defaults(api_for, main_account):
    r = api_for(main_account).get("/v3/rate-cards")
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["currency"] == "USD" and data["fallback_rate"] is None and data["markup_percent"] == "0.00"
    assert [rate["country"] for rate in data["rates"]] == sorted(DEFAULT_RATES)
    gb = next(rate for rate in data["rates"] if rate["country"] == "GB")
    assert gb == {"country": "GB", "per_segment": "0.0450", "effective_rate": "0.0450"}
    assert all(isinstance(rate["per_segment"], str) for rate in data["rates"])


def test_api_get_for_a_subaccount_shows_base_and_marked_up_rates(api_for, main_account, sub_account):
    services.rate_card_set_fallback(account=main_account, fallback_rate="0.2000")
    services.subaccount_set_markup(subaccount=sub_account, markup_percent="10")
    data = api_for(sub_account).get("/v3/rate-cards/").json()["data"]
    assert data["fallback_rate"] == "0.2000" and data["markup_percent"] == "10.00"
    gb = next(rate for rate in data["rates"] if rate["country"] == "GB")
    assert gb == {"country": "GB", "per_segment": "0.0450", "effective_rate": "0.0495"}


def test_api_put_and_delete_rates(api_for, main_account):
    client = api_for(main_account)
    r = client.put("/v3/rate-cards/rates/gb", {"per_segment": "0.0550"}, format="json")
    assert r.status_code == 200, r.json()
    gb = next(rate for rate in r.json()["data"]["rates"] if rate["country"] == "GB")
    assert gb["per_segment"] == "0.0550"
    assert card_rates(main_account)["GB"] == Decimal("0.0550")
    assert client.put("/v3/rate-cards/rates/JP", {"per_segment": 0.07}, format="json").status_code == 200
    assert card_rates(main_account)["JP"] == Decimal("0.0700")

    r = client.delete("/v3/rate-cards/rates/GB")
    assert r.status_code == 200
    assert "GB" not in {rate["country"] for rate in r.json()["data"]["rates"]}
    assert "GB" not in card_rates(main_account)
    assert client.delete("/v3/rate-cards/rates/GB").status_code == 404


def test_api_put_fallback(api_for, main_account):
    client = api_for(main_account)
    r = client.put("/v3/rate-cards", {"fallback_rate": "0.2000"}, format="json")
    assert r.status_code == 200 and r.json()["data"]["fallback_rate"] == "0.2000"
    r = client.put("/v3/rate-cards", {"fallback_rate": None}, format="json")
    assert r.status_code == 200 and r.json()["data"]["fallback_rate"] is None
    assert RateCard.objects.get(account=main_account).fallback_rate is None


@pytest.mark.parametrize(
    "url,body,field",
    [
        ("/v3/rate-cards/rates/XX", {"per_segment": "0.05"}, "country"),
        ("/v3/rate-cards/rates/GBR", {"per_segment": "0.05"}, "country"),
        ("/v3/rate-cards/rates/GB", {"per_segment": "-0.05"}, "per_segment"),
        ("/v3/rate-cards/rates/GB", {"per_segment": "0.00001"}, "per_segment"),
        ("/v3/rate-cards/rates/GB", {"per_segment": "cheap"}, "per_segment"),
        ("/v3/rate-cards/rates/GB", {"per_segment": True}, "per_segment"),
        ("/v3/rate-cards/rates/GB", {}, "per_segment"),
        ("/v3/rate-cards/rates/GB", {"per_segment": "0.05", "price": 1}, "price"),
        ("/v3/rate-cards", {"fallback_rate": "0.12345"}, "fallback_rate"),
        ("/v3/rate-cards", {"fallback_rate": "-1"}, "fallback_rate"),
    ],
)
def test_api_bad_input_is_a_400_naming_the_field(api_for, main_account, url, body, field):
    r = api_for(main_account).put(url, body, format="json")
    assert r.status_code == 400, r.json()
    assert r.json()["response_code"] == "BAD_REQUEST"
    assert field in r.json()["error"]["fields"]
    assert not RateCard.objects.filter(account=main_account).exists()


@pytest.mark.parametrize(
    "method,url,body",
    [
        ("put", "/v3/rate-cards/rates/GB", {"per_segment": "0"}),
        ("delete", "/v3/rate-cards/rates/GB", None),
        ("put", "/v3/rate-cards", {"fallback_rate": "0"}),
    ],
)
def test_api_subaccount_key_cannot_edit_rates(api_for, main_account, sub_account, method, url, body):
    r = getattr(api_for(sub_account), method)(url, body, format="json")
    assert r.status_code == 403 and r.json()["response_code"] == "FORBIDDEN"
    assert not RateCard.objects.filter(account=main_account).exists()


def test_api_subaccount_without_billing_access_cannot_read_rates(api_for, sub_account):
    Account.objects.filter(pk=sub_account.pk).update(access_billing=False)
    sub_account.refresh_from_db()
    assert api_for(sub_account).get("/v3/rate-cards").status_code == 403


def test_api_markup_through_the_subaccount_update(api_for, main_account, sub_account):
    client = api_for(main_account)
    r = client.put(f"/v3/subaccounts/{sub_account.pk}", {"markup_percent": "7.5", "notes": "resold"}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["data"]["markup_percent"] == "7.50"
    sub_account.refresh_from_db()
    assert (sub_account.markup_percent, sub_account.notes) == (Decimal("7.50"), "resold")
    assert client.put(f"/v3/subaccounts/{sub_account.pk}", {"markup_percent": 12}, format="json").status_code == 200
    sub_account.refresh_from_db()
    assert sub_account.markup_percent == Decimal("12.00")

    for bad in ("-1", "1.234", "lots", 5000):
        r = client.put(f"/v3/subaccounts/{sub_account.pk}", {"markup_percent": bad, "notes": "x"}, format="json")
        assert r.status_code == 400 and "markup_percent" in r.json()["error"]["fields"], bad
    sub_account.refresh_from_db()
    assert (sub_account.markup_percent, sub_account.notes) == (Decimal("12.00"), "resold")


def test_api_markup_of_a_foreign_subaccount_is_404(api_for, main_account):
    stranger = SubaccountFactory(parent=AccountFactory())
    r = api_for(main_account).put(f"/v3/subaccounts/{stranger.pk}", {"markup_percent": "50"}, format="json")
    assert r.status_code == 404
    stranger.refresh_from_db()
    assert stranger.markup_percent == 0
