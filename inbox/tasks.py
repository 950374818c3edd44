"""Celery tasks of the inbox: thin and batch-sized."""

from celery import shared_task

from . import services

BATCH = 500


@shared_task(name="inbox.apply_inbound", acks_late=True, ignore_result=True)
def inbound_task() -> dict:
    counts = services.inbound_apply(limit=BATCH)
    if sum(v for k, v in counts.items() if k != "waiting") >= BATCH:
        inbound_task.delay()
    return counts


def inbound_kick() -> None:
    inbound_task.delay()


@shared_task(name="inbox.tick", ignore_result=True)
def tick() -> dict:
    """Every few seconds: what a lost kick left pending, and long messages whose parts stopped arriving."""
    from .models import InboundRaw

    if not InboundRaw.objects.filter(processed_at__isnull=True).exists():
        return {}
    return services.inbound_apply(limit=BATCH)
