"""Fifty /v3/sms/send calls at once, over HTTP to a live server, against a balance that pays for exactly twenty:
twenty are accepted, thirty answer ClickSend's INSUFFICIENT_CREDIT, and the balance ends at zero, never below.
They are the workspace's first sends, so they also race to create its sandbox gateway connection."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
import requests
from django.db.models import Sum

from smsportal.accounts import services as accounts
from smsportal.accounts.models import DEFAULT_RATES, LedgerEntry
from smsportal.messaging import statuses
from smsportal.messaging.models import GatewayConnection, Message

from ..factories import AccountFactory, api_key_for
from .conftest import au, books

pytestmark = pytest.mark.postgres

SENDS, AFFORDABLE = 50, 20
RATE = DEFAULT_RATES["AU"]  # one segment to an Australian mobile on the default rate card


def test_fifty_concurrent_sends_against_credit_for_twenty(live_server, transactional_db):
    account = AccountFactory(default_region="AU", api_rate_limit=1000)  # the throttle is not what is under test
    accounts.credit_top_up(account=account, amount=RATE * AFFORDABLE)
    key = api_key_for(account)
    barrier = threading.Barrier(SENDS)
    answers: list = [None] * SENDS

    def send(i: int) -> None:
        try:
            with requests.Session() as http:
                # Connected before the barrier (keep-alive): fifty connects at once would overflow the test server's
                # listen backlog, which is not what is under test.
                assert http.get(f"{live_server.url}/v3/account", auth=(account.api_username, key),
                                timeout=60).status_code == 200
                barrier.wait(timeout=60)
                r = http.post(f"{live_server.url}/v3/sms/send", auth=(account.api_username, key), timeout=60,
                              json={"messages": [{"to": au(i), "body": f"Flash sale, today only ({i})"}]})
                answers[i] = (r.status_code, r.json())
        except Exception as exc:  # shown by the assertion below, with the others
            answers[i] = ("error", repr(exc))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(SENDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    odd = [a for a in answers if a is None or a[0] != 200 or a[1]["http_code"] != 200]
    assert odd == []
    per_message = Counter(body["data"]["messages"][0]["status"] for _, body in answers)
    assert per_message == {"SUCCESS": AFFORDABLE, "INSUFFICIENT_CREDIT": SENDS - AFFORDABLE}
    assert sum(body["data"]["queued_count"] for _, body in answers) == AFFORDABLE
    accepted = [body for _, body in answers if body["data"]["queued_count"]]
    assert {body["data"]["messages"][0]["message_price"] for body in accepted} == {f"{RATE:.4f}"}

    ledger = books(account)  # every ledger row's balance_after ≥ 0, and each reservation matches its message
    assert ledger.balance == Decimal(0) and ledger.reserved == RATE * AFFORDABLE == ledger.still_held
    assert LedgerEntry.objects.filter(account=account, kind="reserve").count() == AFFORDABLE
    # The workspace had no gateway: its first sends, all at once, made it one sandbox connection, not one each.
    assert list(GatewayConnection.objects.filter(account=account).values_list("kind", flat=True)) == ["sandbox"]
    stored = Counter(Message.objects.filter(account=account).values_list("status", "blocked_reason"))
    assert stored == {(statuses.QUEUED, ""): AFFORDABLE, (statuses.BLOCKED, "no_credit"): SENDS - AFFORDABLE}
    assert Message.objects.filter(account=account, status=statuses.BLOCKED).aggregate(p=Sum("price"))["p"] == 0
    print(f"\n  API race: {SENDS} concurrent sends, balance for {AFFORDABLE} ({RATE * AFFORDABLE}): "
          f"{per_message['SUCCESS']} accepted, {per_message['INSUFFICIENT_CREDIT']} INSUFFICIENT_CREDIT, "
          f"balance {ledger.balance}")
