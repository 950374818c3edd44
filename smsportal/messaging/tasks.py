"""Celery tasks of the SMS engine: thin, idempotent, batch-sized. Schedules live in the database and `tick`
releases them; no task waits on a long broker countdown."""

import math

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import dispatch, outbound, reports, stats, statuses
from .models import DeliveryReport, Message

MAX_PARALLEL_BATCHES = 4  # dispatch tasks kicked at once; each re-kicks itself while there is more
STATS_SQUASH_LIMIT = 5000  # delta rows a tick folds (their groups, at most as many): more than 2 s of writes leave


@shared_task(name="messaging.dispatch", acks_late=True, ignore_result=True)
def dispatch_task() -> dict:
    counts = dispatch.dispatch_batch()
    if counts.get("claimed", 0) >= settings.SMS_DISPATCH_BATCH:
        dispatch_task.delay()
    return counts


@shared_task(name="messaging.apply_reports", acks_late=True, ignore_result=True)
def reports_task() -> dict:
    limit = 2000
    counts = reports.reports_apply(limit=limit)
    if sum(counts.values()) - counts.get("waiting", 0) >= limit:
        reports_task.delay()
    return counts


def dispatch_kick(queued: int) -> None:
    for _ in range(min(MAX_PARALLEL_BATCHES, math.ceil(queued / settings.SMS_DISPATCH_BATCH))):
        dispatch_task.delay()


def reports_kick(*, delay: float = 0) -> None:
    reports_task.apply_async(countdown=min(delay, 10) if delay > 0 else None)


@shared_task(name="messaging.deliver_webhooks", acks_late=True, ignore_result=True)
def deliver_webhooks() -> dict:
    """POST a batch of due outbound webhooks; a full batch wakes another task for the rest."""
    counts = outbound.deliver_batch()
    if counts.get("claimed", 0) >= outbound.BATCH:
        deliver_webhooks.delay()
    return counts


def webhooks_kick() -> None:
    deliver_webhooks.delay()


@shared_task(name="messaging.tick", ignore_result=True)
def tick() -> dict:
    """Every few seconds: release due schedules, recover interrupted batches, wake the workers if work waits (messages,
    delivery reports, outbound webhooks), and squash the message stats' delta rows."""
    if not cache.add("messaging:tick", 1, timeout=30):
        return {"skipped": "another tick is running"}
    try:
        now = timezone.now()
        released = dispatch.release_due(now=now)
        recovered = dispatch.recover_interrupted(now=now)
        due = Message.objects.filter(status=statuses.QUEUED, next_attempt_at__lte=now).exists()
        if due:
            dispatch_kick(settings.SMS_DISPATCH_BATCH)
        waiting = DeliveryReport.objects.filter(applied_at__isnull=True, available_at__lte=now).exists()
        if waiting:
            reports_kick()
        webhooks = outbound.deliveries_due(now=now)
        if webhooks:
            webhooks_kick()
        squashed = stats.stats_squash(limit=STATS_SQUASH_LIMIT)
        return {"released": released, **recovered, "due": due, "reports": waiting, "webhooks": webhooks,
                "squashed": squashed}
    finally:
        cache.delete("messaging:tick")
