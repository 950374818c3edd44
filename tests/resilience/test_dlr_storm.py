"""A storm of delivery-report webhooks — duplicated, shuffled out of order, POSTed from eight threads at once to a
live server while two appliers run — leaves every message in the state its reports' precedence gives, whatever
order they came in (PRODUCT.md §3 Statuses), applies no report twice, and the stats rollups still agree with
the message rows."""

import random
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.db.models import Count, Sum

from smsportal.messaging import dispatch, statuses
from smsportal.messaging.models import DeliveryReport, Message, MessageEvent
from smsportal.messaging.reports import reports_apply
from smsportal.messaging.selectors import message_stats
from smsportal.messaging.services import SmsRequest, messages_send
from smsportal.messaging.stats import stats_squash

from .conftest import au, books, http_connection

pytestmark = pytest.mark.postgres

MESSAGES, POSTERS, APPLIERS = 180, 8, 2
# What the upstream reports for a message, by its index mod 6, before duplication and shuffling.
STORIES = (
    ("sent", "delivered"),
    ("delivered",),
    ("sent", "delivered", "undelivered"),  # a late failure after a delivery: the failure is the final word
    ("sent",),
    ("delivered", "failed"),  # "failed" once the carrier had it means undelivered
    ("undelivered", "sent", "delivered"),
)


def final_status(story) -> str:
    """The precedence rule: any failure after the carrier wins, else delivered, else it stays sent."""
    if {"undelivered", "failed"} & set(story):
        return statuses.UNDELIVERED
    return statuses.DELIVERED if "delivered" in story else statuses.SENT


def rollup_and_rows_agree(account) -> dict:
    dims = ("country", "gateway_id", "status", "error_code")
    rolled = {tuple(r[d] for d in dims): (r["messages"], r["segments"], r["cost"])
              for r in message_stats(account_ids=[account.pk], group_by=dims)}
    counted = {
        (r["country"], r["gateway_id"] or 0, r["status"], r["error_code"]): (r["n"], r["s"], r["c"])
        for r in Message.objects.filter(account=account).values(*dims).annotate(n=Count("id"), s=Sum("segments"),
                                                                                 c=Sum("price"))
    }
    assert rolled == counted
    return counted


def test_duplicated_reordered_concurrent_reports_end_in_the_right_state(live_server, account, upstream_process):
    upstream = upstream_process(dedupe=False)
    gateway = http_connection(account, upstream.url, dedupes=False)
    sent = messages_send(account=account, requests=[SmsRequest(to=au(i), body=f"Your order {i} has shipped")
                                                    for i in range(MESSAGES)])
    while dispatch.dispatch_batch().get("claimed"):
        pass
    refs = dict(Message.objects.filter(pk__in=[o.message_id for o in sent.outcomes])
                .values_list("id", "gateway_message_id"))
    assert len(refs) == MESSAGES and all(refs.values())
    before = books(account)

    rng = random.Random(8)
    expected, reports = {}, []
    for i, message_id in enumerate(sorted(refs)):
        story = STORIES[i % len(STORIES)]
        expected[message_id] = final_status(story)
        for status in story:
            reports += [{"id": refs[message_id], "status": status, "code": status.upper()}] * rng.randint(1, 3)
    rng.shuffle(reports)
    bodies, at = [], 0
    while at < len(reports):  # one report per POST, or a few in a JSON list
        n = rng.choice((1, 1, 2, 4))
        bodies.append(reports[at] if n == 1 else reports[at:at + n])
        at += n

    url = f"{live_server.url}/hooks/gateways/{gateway.pk}/status?secret={gateway.webhook_secret}"
    answers, errors, lock = Counter(), [], threading.Lock()
    posting = threading.Event()
    posting.set()

    def post(share) -> None:
        try:
            with requests.Session() as http:
                for body in share:
                    code = http.post(url, json=body, timeout=30).status_code
                    with lock:
                        answers[code] += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    def apply() -> None:
        try:
            deadline = time.monotonic() + 120
            while posting.is_set() or DeliveryReport.objects.filter(applied_at__isnull=True).exists():
                if not reports_apply(limit=50):
                    time.sleep(0.01)  # nothing stored yet: let the webhooks catch up
                assert time.monotonic() < deadline, "reports still unapplied after 120 s"
        except Exception as exc:  # a deadlock or a constraint broken would land here
            errors.append(exc)
        finally:
            connection.close()

    appliers = [threading.Thread(target=apply) for _ in range(APPLIERS)]
    posters = [threading.Thread(target=post, args=(bodies[k::POSTERS],)) for k in range(POSTERS)]
    for thread in appliers + posters:
        thread.start()
    for thread in posters:
        thread.join(timeout=120)
    posting.clear()
    for thread in appliers:
        thread.join(timeout=120)

    assert errors == [] and answers == {200: len(bodies)}
    assert DeliveryReport.objects.count() == len(reports)  # every report stored, duplicates too
    assert not DeliveryReport.objects.filter(applied_at__isnull=True).exists()
    final = dict(Message.objects.filter(pk__in=refs).values_list("id", "status"))
    assert final == expected
    assert not Message.objects.filter(pk__in=refs, status__in=(statuses.DELIVERED, statuses.UNDELIVERED),
                                      final_at__isnull=True).exists()
    # No report applied twice, none moved a message backwards: a message's report events are delivered and/or
    # undelivered, once each, in that order, ending where the message is.
    moves = defaultdict(list)
    for message_id, status in (MessageEvent.objects.filter(message_id__in=refs, via=statuses.REPORT)
                               .order_by("id").values_list("message_id", "status")):
        moves[message_id].append(status)
    for message_id, status in final.items():
        path = moves.get(message_id, [])
        assert path in ([], [statuses.DELIVERED], [statuses.UNDELIVERED], [statuses.DELIVERED, statuses.UNDELIVERED])
        assert (path[-1] if path else statuses.SENT) == status, (message_id, path)
    outcomes = Counter(DeliveryReport.objects.values_list("outcome", flat=True))
    assert outcomes["applied"] == sum(len(p) for p in moves.values()) and set(outcomes) <= {"applied", "ignored"}

    counted = rollup_and_rows_agree(account)  # from the rollup's delta rows
    stats_squash()
    assert rollup_and_rows_agree(account) == counted  # and once folded
    after = books(account)  # reports about messages already sent move no money
    assert (after.balance, after.settled, after.refunded) == (before.balance, before.settled, Decimal(0))
    by_status = Counter(final.values())
    print(f"\n  DLR storm: {len(reports):,} reports ({len(set(map(str, reports))):,} distinct) in {len(bodies):,} "
          f"POSTs from {POSTERS} threads, {APPLIERS} appliers; {outcomes['applied']} applied, "
          f"{outcomes['ignored']:,} ignored; final {dict(by_status)}")
