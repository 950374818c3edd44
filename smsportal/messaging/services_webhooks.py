"""Writes of outbound webhooks ("automations"): a workspace's rules, its signing secret, test pings. The Settings
page and /v3/automations call these; delivery itself is outbound.py's.

Errors name the rule's own fields (`name`, `url`, `message_search_term`, …); the API renames them to ClickSend's
(`rule_name`, `action_address`) for its answers.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from smsportal.accounts.models import Account
from smsportal.errors import DomainError

from . import netguard, outbound
from .models import WebhookDelivery, WebhookRule, WebhookSecret, _signing_secret

MAX_RULES = 25  # of each kind per workspace: every event is POSTed once per rule
Search = WebhookRule.SearchType


def _text(data: dict, key: str, current: str, *, maximum: int, required: bool = False, label: str) -> str:
    value = data.get(key, current)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{label} must be text.", field=key)
    value = value.strip()
    if required and not value:
        raise DomainError(f"{label} is required.", field=key)
    if len(value) > maximum:
        raise DomainError(f"{label} is too long (at most {maximum} characters).", field=key)
    return value


def _whole(data: dict, key: str, current: int, *, allowed, label: str) -> int:
    value = data.get(key, current)
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise DomainError(f"{label} must be one of {', '.join(str(a) for a in allowed)}.", field=key)
    return value


def webhook_rule_save(*, account: Account, data: dict, kind: str | None = None,
                      rule: WebhookRule | None = None) -> WebhookRule:
    """Create a rule of `kind` (or change `rule`; fields left out keep their values). The URL must be http(s)
    with a host whose every address is public (netguard; WEBHOOK_ALLOW_PRIVATE lifts that). Keys of `data`: name,
    url, enabled, match_type (receipts: 0), dedicated_number, message_search_type, message_search_term, body."""
    kind = rule.kind if rule else kind
    if kind not in WebhookRule.Kind.values:
        raise DomainError(f"kind must be one of {', '.join(WebhookRule.Kind.values)}.", field="kind")
    default_name = "Delivery receipts" if kind == WebhookRule.Kind.RECEIPT else "Inbound messages"
    values = {
        "name": _text(data, "name", rule.name if rule else default_name, maximum=100, required=True, label="The name"),
        "enabled": bool(data.get("enabled", rule.enabled if rule else True)),
        "body": _text(data, "body", rule.body if rule else "", maximum=1600, label="body"),
    }
    url = data.get("url", rule.url if rule else None)
    if rule is None or "url" in data:
        try:
            url = netguard.check_url(url)
        except netguard.Refused as exc:
            raise DomainError(str(exc), field="url") from None
    values["url"] = url
    if kind == WebhookRule.Kind.RECEIPT:
        values["match_type"] = _whole(data, "match_type", rule.match_type if rule else 0, allowed=(0,),
                                      label="match_type (0: every report)")
    else:
        number = _text(data, "dedicated_number", rule.dedicated_number if rule else "*", maximum=32,
                       label="The number")
        values["dedicated_number"] = number or "*"
        search = _whole(data, "message_search_type", rule.message_search_type if rule else Search.ANY,
                        allowed=Search.values, label="message_search_type")
        term = _text(data, "message_search_term", rule.message_search_term if rule else "", maximum=200,
                     label="The search term")
        if search != Search.ANY and not term:
            raise DomainError(f"Enter the text to search for ({Search(search).label.lower()}).",
                              field="message_search_term")
        values.update(message_search_type=search, message_search_term=term if search != Search.ANY else "")
    with transaction.atomic():
        if rule is None:
            if WebhookRule.objects.filter(account=account, kind=kind).count() >= MAX_RULES:
                raise DomainError(f"A workspace has at most {MAX_RULES} rules of each kind.", field="kind")
            rule = WebhookRule.objects.create(account=account, kind=kind, **values)
        else:
            for attr, value in values.items():
                setattr(rule, attr, value)
            rule.save()
        webhook_secret_get(account=account)  # receivers need it from the first delivery on
    return rule


def webhook_rule_delete(*, rule: WebhookRule) -> None:
    """The rule stops firing at once; its deliveries (pending ones included) and their log go with it."""
    rule.delete()


def webhook_secret_get(*, account: Account) -> WebhookSecret:
    return WebhookSecret.objects.get_or_create(account_id=account.pk)[0]


def webhook_secret_rotate(*, account: Account) -> WebhookSecret:
    """A new signing secret, used from the next attempt on (pending retries included); the old one stops at once."""
    now = timezone.now()
    secret, created = WebhookSecret.objects.get_or_create(account_id=account.pk)
    if not created:
        fresh = _signing_secret()
        while secrets.compare_digest(fresh, secret.secret):  # pragma: no cover - 256 random bits
            fresh = _signing_secret()
        secret.secret, secret.rotated_at = fresh, now
        secret.save(update_fields=["secret", "rotated_at"])
    return secret


def webhook_ping(*, rule: WebhookRule) -> WebhookDelivery:
    """A signed test event for `rule` (enabled or not), queued and delivered like any event."""
    now = timezone.now()
    WebhookSecret.objects.get_or_create(account_id=rule.account_id)
    delivery = WebhookDelivery.objects.create(
        rule=rule, account_id=rule.account_id, event=WebhookDelivery.Event.PING, url=rule.url,
        payload=outbound.ping_payload(rule=rule, at=now), next_attempt_at=now, created_at=now,
    )
    transaction.on_commit(outbound.kick)
    return delivery
