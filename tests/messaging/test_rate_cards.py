from decimal import Decimal

import pytest

from smsportal.accounts import services
from smsportal.accounts.models import DEFAULT_RATES, Rate, RateCard
from smsportal.errors import DomainError, Forbidden
from smsportal.messaging.selectors import pricing_card_for
from tests.factories import AccountFactory, SubaccountFactory

D = Decimal


def test_an_unedited_account_prices_with_the_default_card_without_writing_one(main_account):
    card = pricing_card_for(account=main_account)
    assert card.rate_for("AU") == DEFAULT_RATES["AU"] and card.rate_for("XX") is None
    assert not RateCard.objects.exists()


def test_editing_materialises_the_defaults_and_changes_one_rate(main_account):
    services.rate_set(account=main_account, country="au", per_segment="0.0600")
    assert Rate.objects.filter(card__account=main_account).count() == len(DEFAULT_RATES)
    card = pricing_card_for(account=main_account)
    assert card.rate_for("AU") == D("0.0600") and card.rate_for("GB") == DEFAULT_RATES["GB"]
    services.rate_remove(account=main_account, country="GB")
    assert pricing_card_for(account=main_account).rate_for("GB") is None
    services.rate_card_set_fallback(account=main_account, fallback_rate="0.2")
    assert pricing_card_for(account=main_account).cost(country="GB", segments=2) == D("0.4000")


def test_a_subaccount_pays_its_parents_rates_plus_its_markup(main_account):
    sub = SubaccountFactory(parent=main_account)
    services.rate_set(account=main_account, country="AU", per_segment="0.0550")
    services.subaccount_set_markup(subaccount=sub, markup_percent="7")
    sub.refresh_from_db()
    assert pricing_card_for(account=sub).rate_for("AU") == D("0.0589")  # 0.05885 half up
    assert pricing_card_for(account=main_account).rate_for("AU") == D("0.0550")
    other = AccountFactory()
    assert pricing_card_for(account=other).rate_for("AU") == DEFAULT_RATES["AU"]  # cards are per main account


@pytest.mark.parametrize(
    "country,rate,field",
    [("XX", "0.1", "country"), ("AU", "-0.01", "per_segment"), ("AU", "0.00001", "per_segment"), ("AU", "x", "per_segment")],
)
def test_bad_rates_are_refused_naming_the_field(main_account, country, rate, field):
    with pytest.raises(DomainError) as err:
        services.rate_set(account=main_account, country=country, per_segment=rate)
    assert err.value.field == field


def test_subaccounts_cannot_edit_rates_and_main_accounts_carry_no_markup(main_account):
    sub = SubaccountFactory(parent=main_account)
    with pytest.raises(Forbidden):
        services.rate_set(account=sub, country="AU", per_segment="0")
    with pytest.raises(DomainError):
        services.subaccount_set_markup(subaccount=main_account, markup_percent="5")
    for bad in ("-1", "1001", "1.234", "lots"):
        with pytest.raises(DomainError) as err:
            services.subaccount_set_markup(subaccount=sub, markup_percent=bad)
        assert err.value.field == "markup_percent"


def test_a_refused_fallback_leaves_no_card_behind(main_account):
    with pytest.raises(DomainError) as err:
        services.rate_card_set_fallback(account=main_account, fallback_rate="-1")
    assert err.value.field == "fallback_rate"
    assert not RateCard.objects.exists()


def test_markup_and_other_changes_are_saved_together_or_not_at_all(main_account):
    sub = SubaccountFactory(parent=main_account, notes="before")
    with pytest.raises(DomainError):
        services.subaccount_update(subaccount=sub, data={"notes": "after", "markup_percent": "-3"})
    sub.refresh_from_db()
    assert (sub.notes, sub.markup_percent) == ("before", 0)
