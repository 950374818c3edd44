"""Reads of outbound webhooks, scoped to the caller's workspace: another workspace's ids are not found."""

from __future__ import annotations

from django.db.models import QuerySet

from smsportal.accounts.permissions import Access
from smsportal.errors import DomainError, one_or_not_found, possible_ids

from .models import WebhookDelivery, WebhookRule, WebhookSecret


def rule_queryset(*, access: Access, kind: str | None = None) -> QuerySet[WebhookRule]:
    rules = WebhookRule.objects.filter(account=access.account).order_by("id")
    return rules.filter(kind=kind) if kind else rules


def rule_get(*, access: Access, rule_id, kind: str | None = None, field: str = "rule_id") -> WebhookRule:
    noun = {"receipt": "delivery receipt rule", "inbound": "inbound rule"}.get(kind or "", "webhook rule")
    return one_or_not_found(rule_queryset(access=access, kind=kind), rule_id, field=field,
                            message=f"No {noun} with id {rule_id}.")


def delivery_queryset(*, access: Access, rule_id=None, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """The workspace's delivery log, newest first, with each row's rule name and kind (one query a page).
    `rule_id` and `status` filter it; bad values raise DomainError naming the parameter."""
    deliveries = WebhookDelivery.objects.filter(account=access.account)
    if rule_id not in (None, ""):
        if not (str(rule_id).isascii() and str(rule_id).isdigit()):
            raise DomainError("rule_id must be a whole number.", field="rule_id")
        deliveries = deliveries.filter(rule_id__in=possible_ids([int(rule_id)]))
    if status not in (None, ""):
        if status not in WebhookDelivery.Status.values:
            raise DomainError(f"status must be one of {', '.join(WebhookDelivery.Status.values)}.", field="status")
        deliveries = deliveries.filter(status=status)
    return deliveries.select_related("rule").order_by("-id")


def delivery_get(*, access: Access, delivery_id) -> WebhookDelivery:
    return one_or_not_found(delivery_queryset(access=access), delivery_id, field="delivery_id",
                            message=f"No webhook delivery with id {delivery_id}.")


def secret_for(*, access: Access) -> WebhookSecret | None:
    """The workspace's signing secret, if one was made (services_webhooks.webhook_secret_get makes it)."""
    return WebhookSecret.objects.filter(account_id=access.account.pk).first()


def mask(secret: str) -> str:
    return f"{secret[:6]}••••••••{secret[-4:]}" if len(secret) > 12 else "••••"
