"""Accepting, dispatching and reporting through the sandbox, as PRODUCT.md §5 promises for each magic suffix."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.models import OptOut
from smsportal.accounts.models import DEFAULT_RATES, LedgerEntry
from smsportal.messaging import dispatch, reports, statuses
from smsportal.messaging.models import DeliveryReport, GatewayConnection, Message
from smsportal.messaging.services import SmsRequest, messages_cancel, messages_price, messages_send

from .conftest import balance, run_engine

AU_RATE = DEFAULT_RATES["AU"]


def send(account, *numbers, body="Hello from the sandbox", **extra):
    return messages_send(account=account, requests=[SmsRequest(to=n, body=body, **extra) for n in numbers])


def history(message_id):
    message = Message.objects.get(pk=message_id)
    return message, [(e.status, e.via, e.code) for e in message.events.all()]


def test_each_magic_suffix_ends_as_promised(funded):
    result = send(funded, "0412 345 678", "+61412340000", "+61412340001", "+61412340002", "+61412340003")
    assert [o.code for o in result.outcomes] == ["SUCCESS"] * 5
    assert result.total_price == 5 * AU_RATE and balance(funded) == Decimal("50") - 5 * AU_RATE

    run_engine()

    final = {o.to: Message.objects.get(pk=o.message_id) for o in result.outcomes}
    assert final["+61412345678"].status == statuses.DELIVERED
    assert final["+61412340000"].status == statuses.FAILED and final["+61412340000"].error_code == "21610"
    assert final["+61412340001"].status == statuses.UNDELIVERED
    assert final["+61412340002"].status == statuses.DELIVERED and final["+61412340002"].attempts == 3
    assert final["+61412340003"].status == statuses.SENT  # accepted, never reported
    # Charged for the four that reached the carrier; the refused one refunded.
    assert balance(funded) == Decimal("50") - 4 * AU_RATE


def test_two_429s_then_success_shows_attempts_and_backoff(funded, settings):
    settings.SMS_RETRY_BASE = 2.0
    outcome = send(funded, "+61412340002").outcomes[0]

    dispatch.dispatch_batch()
    message, events = history(outcome.message_id)
    assert message.status == statuses.QUEUED and message.attempts == 1 and message.error_code == "429"
    first_wait = (message.next_attempt_at - message.updated_at).total_seconds()
    assert 1.6 <= first_wait <= 2.4  # 2 s × jitter 0.8–1.2
    assert dispatch.dispatch_batch()["claimed"] == 0  # not due yet

    later = timezone.now() + timedelta(seconds=3)
    dispatch.dispatch_batch(now=later)
    message, _ = history(outcome.message_id)
    assert message.attempts == 2 and message.status == statuses.QUEUED
    second_wait = (message.next_attempt_at - message.updated_at).total_seconds()
    assert 3.2 <= second_wait <= 4.8  # doubled

    dispatch.dispatch_batch(now=later + timedelta(seconds=5))
    reports.reports_apply(now=later + timedelta(seconds=60))
    message, events = history(outcome.message_id)
    assert message.status == statuses.DELIVERED and message.attempts == 3
    assert events == [
        ("queued", "user", ""),
        ("queued", "dispatch", "429"),
        ("queued", "dispatch", "429"),
        ("sent", "dispatch", ""),
        ("delivered", "report", "DELIVRD"),
    ]
    retry_notes = [e.detail for e in message.events.filter(code="429")]
    assert retry_notes[0].startswith("Attempt 1 of 5 via Sandbox") and "Next attempt in" in retry_notes[0]


def test_retries_exhausted_fail_and_refund(funded, settings):
    settings.SMS_MAX_ATTEMPTS = 2
    outcome = send(funded, "+61412340002").outcomes[0]
    run_engine()
    message, _ = history(outcome.message_id)
    assert message.status == statuses.FAILED and message.attempts == 2
    assert "retries exhausted" in message.error_text
    assert balance(funded) == Decimal("50")


def test_blocked_messages_are_never_charged(funded):
    OptOut.objects.create(account=funded, phone_number="+61412345679", source="ui")
    result = send(funded, "+61412345679", "not a number", "+1 212 555 0123")
    by_code = [(o.code, o.status) for o in result.outcomes]
    assert by_code[0] == ("OPTED_OUT", "blocked")
    assert by_code[1] == ("INVALID_RECIPIENT", "blocked")
    assert by_code[2] == ("SUCCESS", "queued")  # US is on the default card
    assert result.blocked_count == 2 and result.queued_count == 1
    blocked = Message.objects.filter(status=statuses.BLOCKED)
    assert sorted(blocked.values_list("blocked_reason", flat=True)) == ["invalid_number", "opted_out"]
    assert all(m.price == 0 and m.reservation_id is None for m in blocked)


def test_without_credit_for_all_none_is_sent_or_charged(funded):
    result = send(funded, *[f"+6141234{i:04d}" for i in range(10, 20)], body="x" * 700)  # 5 segments each
    assert {o.code for o in result.outcomes} == {"SUCCESS"} and result.total_price == 10 * 5 * AU_RATE
    poor = send(funded, *[f"+6141234{i:04d}" for i in range(20, 200)], body="x" * 700)
    assert {o.code for o in poor.outcomes} == {"INSUFFICIENT_CREDIT"}
    assert balance(funded) == Decimal("50") - 10 * 5 * AU_RATE


def test_price_is_a_dry_run_with_the_same_figures(funded):
    quote = messages_price(account=funded, requests=[SmsRequest(to="+61412345678", body="€" * 160)])
    assert quote.outcomes[0].segments == 3 and quote.total_price == 3 * AU_RATE
    assert Message.objects.count() == 0 and balance(funded) == Decimal("50")


def test_unroutable_country_is_blocked(funded):
    GatewayConnection.objects.create(account=funded, name="AU only", kind="sandbox", countries=["AU"])
    result = send(funded, "+1 212 555 0123")
    assert result.outcomes[0].code == "NO_ROUTE"


def test_a_route_gone_by_dispatch_time_blocks_and_refunds(funded):
    outcome = send(funded, "+61412345678").outcomes[0]
    GatewayConnection.objects.filter(account=funded).update(enabled=False)
    assert dispatch.dispatch_batch() == {"claimed": 1, "blocked": 1}
    message, events = history(outcome.message_id)
    assert message.status == statuses.BLOCKED and message.blocked_reason == "no_route" and message.attempts == 0
    assert events[-1] == ("blocked", "dispatch", "NO_ROUTE")
    assert balance(funded) == Decimal("50")


def test_scheduled_messages_wait_for_the_tick_and_can_be_cancelled(funded):
    at = timezone.now() + timedelta(hours=1)
    first, second = send(funded, "+61412345678", "+61412345680", schedule=at).outcomes
    assert first.status == statuses.SCHEDULED
    assert balance(funded) == Decimal("50") - 2 * AU_RATE  # reserved on acceptance
    assert dispatch.release_due() == 0
    assert messages_cancel(account=funded, message_ids=[second.message_id]) == 1
    assert balance(funded) == Decimal("50") - AU_RATE
    assert dispatch.release_due(now=at + timedelta(seconds=1)) == 1
    dispatch.dispatch_batch(now=at + timedelta(seconds=2))
    assert Message.objects.get(pk=first.message_id).status == statuses.SENT
    assert messages_cancel(account=funded, message_ids=[first.message_id]) == 0  # too late
    assert Message.objects.get(pk=second.message_id).status == statuses.CANCELLED


def test_duplicate_and_late_reports_change_nothing_backwards(funded):
    outcome = send(funded, "+61412345678").outcomes[0]
    run_engine()
    message = Message.objects.get(pk=outcome.message_id)
    assert message.status == statuses.DELIVERED
    DeliveryReport.objects.create(
        gateway=message.gateway, gateway_message_id=message.gateway_message_id, status=statuses.SENT,
        received_at=timezone.now(), available_at=timezone.now(),
    )
    counts = reports.reports_apply()
    assert counts == {"ignored": 1}
    assert Message.objects.get(pk=outcome.message_id).status == statuses.DELIVERED


def test_report_before_the_send_is_recorded_waits_then_applies(funded):
    outcome = send(funded, "+61412345678").outcomes[0]
    connection = GatewayConnection.objects.get(account=funded)
    early = DeliveryReport.objects.create(
        gateway=connection, gateway_message_id="EARLY-1", status=statuses.DELIVERED,
        received_at=timezone.now(), available_at=timezone.now(),
    )
    assert reports.reports_apply() == {"waiting": 1}
    Message.objects.filter(pk=outcome.message_id).update(status=statuses.SENT, gateway=connection,
                                                         gateway_message_id="EARLY-1")
    assert reports.reports_apply(now=timezone.now() + timedelta(seconds=6)) == {"applied": 1}
    early.refresh_from_db()
    assert early.message_id == outcome.message_id and early.outcome == "applied"
    assert Message.objects.get(pk=outcome.message_id).status == statuses.DELIVERED


def test_ledger_rows_explain_every_cent(funded):
    send(funded, "+61412345678", "+61412340000", "+61412340001")
    run_engine()
    kinds = list(LedgerEntry.objects.filter(account=funded).order_by("id").values_list("kind", "amount", "covers"))
    assert kinds[1] == ("reserve", -3 * AU_RATE, 0)
    closures = kinds[2:]
    assert sum(c[2] for c in closures) == 3 * AU_RATE  # the whole reservation resolved
    assert sum(c[1] for c in closures if c[0] == "refund") == AU_RATE  # …0000 refused at submit
    assert balance(funded) == sum(LedgerEntry.objects.filter(account=funded).values_list("amount", flat=True))


@pytest.mark.parametrize("sender", ["ThisIsTooLongASender", "bad!sender"])
def test_bad_sender_is_refused_per_message(funded, sender):
    outcome = send(funded, "+61412345678", sender=sender).outcomes[0]
    assert outcome.code == "INVALID_SENDER_ID" and outcome.price == 0


def test_reports_for_one_message_in_one_batch_apply_in_the_order_they_happened(funded):
    """They arrive shuffled and doubled; applied by when the gateway says they happened, each move once."""
    outcome = send(funded, "+61412345678").outcomes[0]
    connection = GatewayConnection.objects.get(account=funded)
    Message.objects.filter(pk=outcome.message_id).update(status=statuses.SENDING, gateway=connection,
                                                         gateway_message_id="REF-9")
    now = timezone.now()
    for status, seconds_ago, code in [(statuses.UNDELIVERED, 1, "30005"), (statuses.SENT, 30, ""),
                                      (statuses.DELIVERED, 10, "DELIVRD"), (statuses.SENT, 30, "")]:
        DeliveryReport.objects.create(gateway=connection, gateway_message_id="REF-9", status=status, code=code,
                                      reported_at=now - timedelta(seconds=seconds_ago), raw={"s": status},
                                      received_at=now, available_at=now)

    assert reports.reports_apply() == {"applied": 3, "ignored": 1}

    message = Message.objects.get(pk=outcome.message_id)
    assert message.status == statuses.UNDELIVERED and message.final_at is not None
    timeline = [(e.status, e.code, e.raw) for e in message.events.filter(via=statuses.REPORT).order_by("at", "id")]
    assert timeline == [("sent", "", {"s": "sent"}), ("delivered", "DELIVRD", {"s": "delivered"}),
                        ("undelivered", "30005", {"s": "undelivered"})]
    assert set(DeliveryReport.objects.values_list("message_id", flat=True)) == {outcome.message_id}
    # It reached the carrier only by the reports' word: its credit was settled, not refunded.
    assert balance(funded) == Decimal("50") - AU_RATE
