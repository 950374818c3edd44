"""Two worker processes fanning out and dispatching one campaign at the same time submit every message once:
claims skip rows the other holds, the fan-out is serialised on the campaign's row, and every move is guarded."""

import pytest

from smsportal.messaging import statuses
from smsportal.messaging.models import Message

from .conftest import books, http_connection, launched_campaign

pytestmark = pytest.mark.postgres

RECIPIENTS = 2_000
# Small batches, so the two workers take turns many times over: twenty claims, eight fan-out batches between them.
WORKER = {"prepare_limit": 250, "dispatch_limit": 100, "deadline": 60}


def test_two_workers_on_one_campaign_submit_each_message_once(account, spawn, upstream_process):
    upstream = upstream_process(dedupe=False)  # every submission would be a text: a duplicate would show
    http_connection(account, upstream.url, dedupes=False, batch_size=10, concurrency=8)
    campaign = launched_campaign(account, RECIPIENTS)

    workers = [spawn("worker", {"campaign_id": campaign.pk, **WORKER}, name=f"worker-{k}") for k in (1, 2)]
    for worker in workers:
        assert worker.line() == "ready"
    for worker in workers:
        worker.send("go")
    summaries = [worker.finish() for worker in workers]

    keys = set(Message.objects.filter(campaign_id=campaign.pk).values_list("idempotency_key", flat=True))
    gateway = upstream.stats()
    assert len(keys) == RECIPIENTS
    assert gateway["received"] == {key: 1 for key in keys}  # counted at the gateway: each key once, none missing
    assert gateway["submissions"] == RECIPIENTS
    assert sum(s["prepared"] for s in summaries) == RECIPIENTS  # the fan-out wrote each recipient once
    assert sum(s.get("accepted", 0) for s in summaries) == RECIPIENTS
    assert all(s.get("accepted", 0) > 0 for s in summaries)  # both really sent
    assert set(Message.objects.filter(campaign_id=campaign.pk).values_list("status", flat=True)) == {statuses.SENT}

    ledger = books(account)
    assert ledger.settled == ledger.reserved == campaign.reserved and ledger.refunded == ledger.still_held == 0
    assert ledger.balance == ledger.topped_up - campaign.reserved >= 0
    print(f"\n  two workers: {RECIPIENTS:,} messages, accepted "
          f"{' + '.join(str(s.get('accepted', 0)) for s in summaries)} in "
          f"{' + '.join(str(s['batches']) for s in summaries)} claims; gateway {gateway['submissions']:,} submissions "
          f"in {gateway['requests']:,} requests, "
          f"{len(gateway['received']):,} keys, none twice; charged {ledger.settled}; workers busy "
          f"{' + '.join(str(s['seconds']) for s in summaries)} s")
