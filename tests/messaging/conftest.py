from decimal import Decimal

import pytest

from smsportal.accounts import services as accounts
from smsportal.messaging import dispatch, reports


@pytest.fixture
def funded(main_account, settings):
    """A main account in Australia with $50, a sandbox that reports at once, and retries without waiting."""
    settings.SANDBOX_DLR_DELAY = 0
    settings.SMS_RETRY_BASE = 0
    main_account.default_region = "AU"
    main_account.save(update_fields=["default_region"])
    accounts.credit_top_up(account=main_account, amount="50")
    main_account.refresh_from_db()
    return main_account


def balance(account) -> Decimal:
    account.refresh_from_db(fields=["balance"])
    return account.balance


def run_engine(rounds: int = 6) -> None:
    """What the worker does over a few ticks: dispatch what is due, then apply the reports that came back."""
    for _ in range(rounds):
        dispatch.dispatch_batch()
        reports.reports_apply()
