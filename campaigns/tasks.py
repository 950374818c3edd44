"""Celery tasks of the campaigns app: thin, idempotent, batch-sized; each re-kicks itself while there is more."""

from celery import shared_task
from django.core.cache import cache

from . import services


@shared_task(name="campaigns.prepare", acks_late=True, ignore_result=True)
def prepare_task(campaign_id: int) -> dict:
    done = services.campaign_prepare(campaign_id=campaign_id)
    if done["more"]:
        prepare_task.delay(campaign_id)
    return done


def prepare_kick(campaign_id: int) -> None:
    prepare_task.delay(campaign_id)


@shared_task(name="campaigns.replan", acks_late=True, ignore_result=True)
def replan_task(campaign_id: int, after_id: int = 0, done: int = 0) -> dict:
    result = services.campaign_replan(campaign_id=campaign_id, after_id=after_id, done=done)
    if result["next"] is not None:
        replan_task.delay(campaign_id, result["next"], result["done"])
    return result


def resume_kick(campaign_id: int) -> None:
    replan_task.delay(campaign_id)


@shared_task(name="campaigns.tick", ignore_result=True)
def tick() -> dict:
    """Every few seconds: start campaigns whose time came, finish those with nothing left to send, take samples
    for their charts, and re-kick a fan-out a lost task left unfinished."""
    if not cache.add("campaigns:tick", 1, timeout=60):
        return {"skipped": "another tick is running"}
    try:
        return services.campaigns_tick()
    finally:
        cache.delete("campaigns:tick")
