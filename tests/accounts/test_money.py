from decimal import Decimal

import pytest

from smsportal.accounts.templatetags.money import money


@pytest.mark.parametrize(
    "value,shown",
    [
        (Decimal("40"), "40.00"),
        (Decimal("210.5"), "210.50"),
        (Decimal("0.0425"), "0.0425"),
        (Decimal("12.3456"), "12.3456"),
        (Decimal("-7.1"), "-7.10"),
        (Decimal("1234567.891"), "1,234,567.891"),
        (None, ""),
    ],
)
def test_money_shows_cents_and_never_rounds_away_fractions(value, shown):
    assert money(value) == shown
