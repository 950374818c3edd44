"""What a message costs: segments × the per-segment rate for its destination country. Pure, Decimal only.

A subaccount's markup applies to the rate, rounded once (half up) to the ledger's 4 decimal places; every
cost is then an exact product, so a preview, a charge and the sum of many charges always agree to the cent.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

MONEY_PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)


class PricingError(ValueError):
    pass


def _money(value, *, what: str) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise PricingError(f"{what} must be a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise PricingError(f"{what} must be zero or more, got {value!r}")
    return amount


def marked_up(rate, markup_percent=0) -> Decimal:
    """The per-segment rate after a markup, rounded half up to 4 decimal places."""
    rate = _money(rate, what="rate")
    markup = _money(markup_percent, what="markup_percent")
    return (rate * (HUNDRED + markup) / HUNDRED).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RateCard:
    """Per-segment rates by ISO country, optionally a fallback rate for countries not listed, and a markup."""

    rates: Mapping[str, Decimal]
    fallback: Decimal | None = None
    markup_percent: Decimal = Decimal(0)
    currency: str = "USD"
    _effective: dict = field(default_factory=dict, compare=False, repr=False)

    def rate_for(self, country: str) -> Decimal | None:
        """The marked-up per-segment rate for `country`, or None when the card does not price it."""
        country = (country or "").upper()
        if country not in self._effective:
            base = self.rates.get(country, self.fallback)
            self._effective[country] = None if base is None else marked_up(base, self.markup_percent)
        return self._effective[country]

    def cost(self, *, country: str, segments: int) -> Decimal | None:
        """segments × rate, exact at 4 decimal places; None when the country has no rate (unroutable)."""
        if not isinstance(segments, int) or isinstance(segments, bool) or segments < 0:
            raise PricingError(f"segments must be a whole number of 0 or more, got {segments!r}")
        rate = self.rate_for(country)
        return None if rate is None else rate * segments


@dataclass
class CountryLine:
    country: str
    rate: Decimal | None
    messages: int = 0
    segments: int = 0
    cost: Decimal = Decimal("0.0000")


@dataclass
class Quote:
    """A priced batch: the total and one line per destination country. Unpriced messages cost nothing here."""

    total: Decimal = Decimal("0.0000")
    messages: int = 0
    segments: int = 0
    unpriced: int = 0
    by_country: dict[str, CountryLine] = field(default_factory=dict)


def quote(card: RateCard, messages: Iterable[tuple[str, int]]) -> Quote:
    """Price (country, segments) pairs: the campaign preview, /v3/sms/price and the charge all call this."""
    result = Quote()
    lines = result.by_country
    for country, segments in messages:
        line = lines.get(country)
        if line is None:
            line = lines[country] = CountryLine(country=country, rate=card.rate_for(country))
        line.messages += 1
        line.segments += segments
        result.messages += 1
        result.segments += segments
        if line.rate is None:
            result.unpriced += 1
    for line in lines.values():
        if line.rate is not None:
            line.cost = line.rate * line.segments
            result.total += line.cost
    return result
