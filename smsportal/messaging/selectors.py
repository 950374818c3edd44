"""Reads for the SMS engine."""

from smsportal.accounts.models import DEFAULT_RATES, Account, RateCard

from . import pricing


def pricing_card_for(*, account: Account) -> pricing.RateCard:
    """The prices `account` pays: its main account's card (the defaults until edited) plus a subaccount's markup."""
    main_id = account.parent_id or account.pk
    card = RateCard.objects.filter(account_id=main_id).prefetch_related("rates").first()
    if card is None:
        rates, fallback = dict(DEFAULT_RATES), None
    else:
        rates, fallback = {r.country: r.per_segment for r in card.rates.all()}, card.fallback_rate
    return pricing.RateCard(
        rates=rates,
        fallback=fallback,
        markup_percent=account.markup_percent if account.parent_id else 0,
        currency=account.currency,
    )
