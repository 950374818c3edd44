from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsportal.accounts.models import DEFAULT_RATES
from smsportal.messaging.pricing import PricingError, RateCard, marked_up, quote

D = Decimal


@pytest.mark.parametrize(
    "rate,markup,expected",
    [
        ("0.0425", "0", "0.0425"),
        ("0.0425", "7", "0.0455"),  # 0.045475 rounds half up
        ("0.0550", "10", "0.0605"),
        ("0.00005", "0", "0.0001"),  # half a ten-thousandth rounds up
        ("0.00004", "0", "0.0000"),
        ("0.1", "12.5", "0.1125"),
    ],
)
def test_markup_is_applied_to_the_rate_and_rounded_once(rate, markup, expected):
    assert marked_up(rate, markup) == D(expected)


def test_cost_is_segments_times_rate_and_unknown_countries_are_unpriced():
    card = RateCard(rates={"AU": D("0.0550"), "GB": D("0.0450")})
    assert card.cost(country="AU", segments=3) == D("0.1650")
    assert card.cost(country="au", segments=1) == D("0.0550")
    assert card.cost(country="FR", segments=1) is None
    assert card.cost(country="AU", segments=0) == D("0")
    assert RateCard(rates={}, fallback=D("0.2")).cost(country="FR", segments=2) == D("0.4000")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_segments_must_be_a_whole_number(bad):
    with pytest.raises(PricingError):
        RateCard(rates={"AU": D("0.05")}).cost(country="AU", segments=bad)


@pytest.mark.parametrize("rate,markup", [("-0.01", "0"), ("0.01", "-5"), ("abc", "0"), ("NaN", "0")])
def test_negative_or_non_numeric_rates_and_markups_are_refused(rate, markup):
    with pytest.raises(PricingError):
        marked_up(rate, markup)


def test_quote_groups_by_country_and_totals_exactly():
    card = RateCard(rates={"AU": D("0.0550"), "GB": D("0.0450")}, markup_percent=D("7"))
    result = quote(card, [("AU", 1), ("AU", 2), ("GB", 1), ("FR", 4)])
    assert (result.messages, result.segments, result.unpriced) == (4, 8, 1)
    au, gb, fr = result.by_country["AU"], result.by_country["GB"], result.by_country["FR"]
    assert (au.rate, au.messages, au.segments, au.cost) == (D("0.0589"), 2, 3, D("0.1767"))
    assert (gb.rate, gb.cost) == (D("0.0482"), D("0.0482"))
    assert fr.rate is None and fr.cost == 0
    assert result.total == D("0.2249")


@given(st.lists(st.tuples(st.sampled_from(sorted(DEFAULT_RATES) + ["XX"]), st.integers(0, 20)), max_size=200),
       st.decimals(min_value=0, max_value=300, places=2))
def test_quote_total_is_the_sum_of_each_message_charged_alone(messages, markup):
    """What the preview shows is exactly what charging every message one by one adds up to."""
    card = RateCard(rates=DEFAULT_RATES, markup_percent=markup)
    charged_one_by_one = sum(
        (card.cost(country=c, segments=s) or D(0) for c, s in messages), D(0)
    )
    result = quote(card, messages)
    assert result.total == charged_one_by_one
    assert result.total == result.total.quantize(D("0.0001"))
    assert sum(line.cost for line in result.by_country.values()) == result.total
