"""The tasks are thin: they call the engine and wake more workers only when there is more to do."""

from datetime import timedelta

from django.utils import timezone

from smsportal.messaging import statuses, tasks
from smsportal.messaging.models import DeliveryReport, Message
from smsportal.messaging.services import SmsRequest, messages_send


def send(account, count, **extra):
    requests = [SmsRequest(to=f"+6141234{i:04d}", body="Hi", **extra) for i in range(10, 10 + count)]
    return messages_send(account=account, requests=requests)


def test_acceptance_wakes_the_dispatcher_after_commit(funded, django_capture_on_commit_callbacks, monkeypatch):
    kicked = []
    monkeypatch.setattr(tasks.dispatch_task, "delay", lambda: kicked.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send(funded, 3)
    assert len(callbacks) == 1 and kicked == [1]


def test_a_full_batch_rekicks_itself_and_a_partial_one_does_not(funded, settings, monkeypatch):
    settings.SMS_DISPATCH_BATCH = 2
    kicked = []
    monkeypatch.setattr(tasks.dispatch_task, "delay", lambda: kicked.append(1))
    send(funded, 3)
    assert tasks.dispatch_task()["claimed"] == 2 and kicked == [1]
    assert tasks.dispatch_task()["claimed"] == 1 and kicked == [1]


def test_tick_releases_due_schedules_and_wakes_workers(funded, monkeypatch):
    woken = []
    monkeypatch.setattr(tasks, "dispatch_kick", lambda n: woken.append("dispatch"))
    monkeypatch.setattr(tasks, "reports_kick", lambda **_: woken.append("reports"))
    outcome = send(funded, 1, schedule=timezone.now() + timedelta(hours=1)).outcomes[0]
    assert outcome.status == statuses.SCHEDULED
    Message.objects.filter(pk=outcome.message_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    DeliveryReport.objects.create(gateway_id=_sandbox(funded), gateway_message_id="x", status="delivered",
                                  received_at=timezone.now(), available_at=timezone.now())
    result = tasks.tick()
    assert result["released"] == 1 and result["due"] and result["reports"]
    assert Message.objects.get(pk=outcome.message_id).status == statuses.QUEUED
    assert woken == ["dispatch", "reports"]


def _sandbox(account):
    from smsportal.messaging.routing import connections_for

    return connections_for(account.pk)[0].pk


def test_two_ticks_never_overlap(funded):
    from django.core.cache import cache

    cache.add("messaging:tick", 1, timeout=30)
    try:
        assert tasks.tick() == {"skipped": "another tick is running"}
    finally:
        cache.delete("messaging:tick")
