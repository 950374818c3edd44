"""A worker process SIGKILLed in the middle of a 10,000-message campaign, then restarted: every message is texted
at most once — exactly once through an upstream that dedupes on our idempotency key — none is lost, none stays
unfinished after the lease sweep, and the credit ledger balances to the cent (PRODUCT.md §3 Sending, Pricing).

The worker (tests/resilience/children.py) is a separate interpreter looping the Celery tasks' functions: the
campaign fan-out, the tick's release and recovery sweep, and dispatch. The gateway is another process, counting
what it receives per idempotency key. It stops answering after 3,333 submissions, so the kill lands while a
batch is on the wire: some of its messages submitted with no answer yet, the rest of the claim not submitted.
"""

import time
from collections import Counter

import pytest
from django.db.models import Sum

from campaigns.models import Campaign
from campaigns.services import campaigns_tick
from smsportal.messaging import statuses
from smsportal.messaging.models import Message, MessageEvent

from .conftest import books, http_connection, launched_campaign

pytestmark = pytest.mark.postgres

RECIPIENTS = 10_000  # fixed by the issue
RULE_RECIPIENTS, RULE_HOLD_AFTER = 2_000, 1_111  # the non-deduping upstream's rule needs no more to show
BATCH, CONCURRENCY = 20, 8  # the connection's messages per request and parallel requests
HOLD_AFTER = 3_333  # submissions answered before the gateway goes quiet; mid-chunk, mid-claim
LEASE = 1  # second (SMS_SENDING_LEASE in the workers): after it, the restarted worker's sweep takes over
# Fan-out batches of 1,000 (not 5,000), so the kill lands mid-fan-out too; claims of the production size.
WORKER = {"prepare_limit": 1_000, "dispatch_limit": 500, "deadline": 60}


def kill_mid_batch(spawn, upstream, campaign) -> dict:
    """Run a worker until the gateway holds its requests, SIGKILL it, and say what it left."""
    worker = spawn("worker", {"campaign_id": campaign.pk, **WORKER}, name="worker-killed", SMS_SENDING_LEASE=LEASE)
    assert worker.line() == "ready"
    worker.send("go")
    deadline = time.monotonic() + 60
    while not upstream.stats()["held"]:
        assert worker.proc.poll() is None, f"the worker ended before the kill:\n{worker.tail()}"
        assert time.monotonic() < deadline, f"the gateway never went quiet:\n{worker.tail()}"
        time.sleep(0.02)
    worker.sigkill()
    campaign.refresh_from_db()
    messages = Message.objects.filter(campaign_id=campaign.pk)
    return {
        "gateway": upstream.stats(),
        "in_flight": set(messages.filter(status=statuses.SENDING).values_list("idempotency_key", flat=True)),
        "sent": messages.filter(status=statuses.SENT).count(),
        "prepared": campaign.prepared,
    }


def restart(spawn, upstream, campaign) -> dict:
    upstream.resume()
    worker = spawn("worker", {"campaign_id": campaign.pk, **WORKER}, name="worker-restarted", SMS_SENDING_LEASE=LEASE)
    assert worker.line() == "ready"
    worker.send("go")
    return worker.finish()


def outcome(campaign) -> dict[str, tuple[str, str, str]]:
    """{idempotency key: (status, error code, gateway's message id)} for every message of the campaign."""
    return {key: (status, code, ref) for key, status, code, ref in Message.objects.filter(campaign_id=campaign.pk)
            .values_list("idempotency_key", "status", "error_code", "gateway_message_id")}


def interrupted_events(campaign) -> Counter:
    """The recovery sweep's events, counted by (idempotency key, status moved to)."""
    keys = dict(Message.objects.filter(campaign_id=campaign.pk).values_list("id", "idempotency_key"))
    return Counter((keys[m], status) for m, status in MessageEvent.objects
                   .filter(message_id__in=keys, code="interrupted").values_list("message_id", "status"))


def price_of(campaign, **filters):
    return Message.objects.filter(campaign_id=campaign.pk, **filters).aggregate(p=Sum("price"))["p"]


def test_killed_worker_through_a_deduping_upstream_texts_every_message_exactly_once(account, spawn, upstream_process):
    upstream = upstream_process(dedupe=True, hold_after=HOLD_AFTER)
    http_connection(account, upstream.url, dedupes=True, batch_size=BATCH, concurrency=CONCURRENCY)
    campaign = launched_campaign(account, RECIPIENTS)

    at_kill = kill_mid_batch(spawn, upstream, campaign)
    in_flight = at_kill["in_flight"]
    assert at_kill["prepared"] < RECIPIENTS  # the fan-out was cut short too
    assert HOLD_AFTER - 500 < at_kill["sent"] < HOLD_AFTER
    summary = restart(spawn, upstream, campaign)
    assert summary["requeued"] == len(in_flight) and summary["failed_interrupted"] == 0

    gateway, final = upstream.stats(), outcome(campaign)
    # Submitted by the killed worker with its outcome never recorded: in flight, and received from that worker.
    submitted_unanswered = in_flight & set(gateway["before_resume"])
    assert set(at_kill["gateway"]["held"]) <= submitted_unanswered
    assert len(final) == RECIPIENTS
    # Counted at the gateway: each of the 10,000 keys texted once. The messages whose submission was on the
    # wire at the kill went again with the same key after the lease, which this upstream dedupes; nothing else
    # was submitted twice.
    assert gateway["texts"] == {key: 1 for key in final}
    resent = {key for key, n in gateway["received"].items() if n > 1}
    assert resent == submitted_unanswered and max(gateway["received"].values()) == 2
    assert gateway["submissions"] == RECIPIENTS + len(resent)
    # None lost, none left unfinished: every message sent, under the id the gateway gave its key; those in flight
    # at the kill with an event saying they were resubmitted with the same key.
    assert {status for status, _, _ in final.values()} == {statuses.SENT}
    assert interrupted_events(campaign) == Counter((key, statuses.QUEUED) for key in in_flight)
    assert all(ref == gateway["ids"][key] for key, (_, _, ref) in final.items())

    ledger = books(account)
    assert ledger.reserved == campaign.reserved == price_of(campaign) == ledger.settled
    assert ledger.refunded == ledger.still_held == 0
    assert ledger.balance == ledger.topped_up - campaign.reserved >= 0
    campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.prepared == RECIPIENTS
    print(f"\n  dedupes: killed with {at_kill['sent']:,} sent, {len(in_flight)} sending "
          f"({len(submitted_unanswered)} of them submitted, {len(at_kill['gateway']['held'])} held unanswered), "
          f"{at_kill['prepared']:,}/{RECIPIENTS:,} fanned out; restart requeued {summary['requeued']}; gateway: "
          f"{gateway['submissions']:,} submissions in {gateway['requests']:,} requests, {len(gateway['texts']):,} "
          f"keys texted once each, {len(resent)} resubmitted with their key; charged {ledger.settled}, "
          f"balance {ledger.balance}")


def test_killed_worker_through_an_upstream_that_does_not_dedupe_never_texts_twice(account, spawn, upstream_process):
    """The documented rule: a message whose outcome is unknown after a crash is not resubmitted through a gateway
    that does not dedupe; it fails as `interrupted` and its credit goes back. (2,000 messages: the same path as
    the 10,000 above, with the sweep's other branch.)"""
    upstream = upstream_process(dedupe=False, hold_after=RULE_HOLD_AFTER)
    http_connection(account, upstream.url, dedupes=False, batch_size=BATCH, concurrency=CONCURRENCY)
    campaign = launched_campaign(account, RULE_RECIPIENTS)

    at_kill = kill_mid_batch(spawn, upstream, campaign)
    in_flight = at_kill["in_flight"]
    summary = restart(spawn, upstream, campaign)
    assert summary["failed_interrupted"] == len(in_flight) and summary["requeued"] == 0

    gateway, final = upstream.stats(), outcome(campaign)
    submitted_unanswered = in_flight & set(gateway["before_resume"])
    assert set(at_kill["gateway"]["held"]) <= submitted_unanswered
    assert len(final) == RULE_RECIPIENTS
    # Counted at the gateway: no key arrived twice.
    assert max(gateway["received"].values()) == 1 and gateway["submissions"] == len(gateway["received"])
    interrupted = {key for key, (status, code, _) in final.items()
                   if (status, code) == (statuses.FAILED, "interrupted")}
    sent = {key for key, (status, _, _) in final.items() if status == statuses.SENT}
    assert interrupted == in_flight and sent == set(final) - in_flight  # every message final, none lost
    assert interrupted_events(campaign) == Counter((key, statuses.FAILED) for key in in_flight)
    # What reached the gateway: every sent message once, plus the interrupted ones that were on the wire at the
    # kill; the rest of that claim never left.
    assert set(gateway["received"]) == sent | submitted_unanswered
    assert all(final[key][2] == gateway["ids"][key] for key in sent)

    ledger = books(account)
    assert ledger.reserved == campaign.reserved
    assert ledger.settled == price_of(campaign, status=statuses.SENT)
    assert ledger.refunded == price_of(campaign, status=statuses.FAILED) > 0  # we cannot prove those went out
    assert ledger.still_held == 0 and ledger.balance == ledger.topped_up - ledger.settled >= 0
    campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    print(f"\n  no dedupe: killed with {at_kill['sent']:,} sent, {len(in_flight)} sending "
          f"({len(submitted_unanswered)} of them submitted, {len(at_kill['gateway']['held'])} held unanswered); "
          f"after the sweep {len(sent):,} sent once, {len(interrupted)} failed as interrupted and refunded "
          f"({ledger.refunded}); gateway: {gateway['submissions']:,} submissions in {gateway['requests']:,} "
          f"requests, none twice; balance {ledger.balance}")
