"""Celery tasks of the inbox: thin and batch-sized."""

from celery import shared_task
from django.core.cache import cache

from . import services

BATCH = 500
KICKED = "inbox:kicked"  # set while a task is queued and not yet started: webhooks meanwhile need not queue another
KICK_TTL = 10  # a lost task stops suppressing kicks after this; the tick covers the gap


@shared_task(name="inbox.apply_inbound", acks_late=True, ignore_result=True)
def inbound_task() -> dict:
    # Cleared before reading: a webhook committed from here on queues the next task, one committed before is read now.
    cache.delete(KICKED)
    counts = services.inbound_apply(limit=BATCH)
    if sum(v for k, v in counts.items() if k != "waiting") >= BATCH:
        inbound_kick()
    return counts


def inbound_kick() -> None:
    """One queued task at a time, not one per webhook: at a thousand inbound a second the broker and the worker
    would spend themselves on tasks that each find a handful of rows."""
    if cache.add(KICKED, 1, timeout=KICK_TTL):
        inbound_task.delay()


@shared_task(name="inbox.tick", ignore_result=True)
def tick() -> dict:
    """Every few seconds: what a lost kick left pending, and long messages whose parts stopped arriving."""
    from .models import InboundRaw

    if not InboundRaw.objects.filter(processed_at__isnull=True).exists():
        return {}
    return services.inbound_apply(limit=BATCH)
