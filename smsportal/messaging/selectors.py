"""Reads for the SMS engine. Every queryset is scoped to the caller's workspace; others' ids are not found."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from datetime import timezone as dt_timezone

from decimal import Decimal

from django.conf import settings
from django.db.models import DateField, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.urls import reverse
from django.utils import timezone

from smsportal.accounts.models import DEFAULT_RATES, Account, RateCard
from smsportal.accounts.permissions import Access
from smsportal.errors import DomainError, one_or_not_found

from . import pricing, statuses
from .models import GatewayConnection, Message, MessageEvent, MessageStat, MessageStatusStat


def pricing_card_for(*, account: Account) -> pricing.RateCard:
    """The prices `account` pays: its main account's card (the defaults until edited) plus a subaccount's markup."""
    main_id = account.parent_id or account.pk
    card = RateCard.objects.filter(account_id=main_id).prefetch_related("rates").first()
    if card is None:
        rates, fallback = dict(DEFAULT_RATES), None
    else:
        rates, fallback = {r.country: r.per_segment for r in card.rates.all()}, card.fallback_rate
    return pricing.RateCard(
        rates=rates,
        fallback=fallback,
        markup_percent=account.markup_percent if account.parent_id else 0,
        currency=account.currency,
    )


def webhook_urls(connection) -> dict[str, str]:
    """The public URLs a connection's upstream calls; the secret in them is what proves the caller (Twilio also signs)."""

    urls = {}
    for name, kind in (("status_webhook_url", "status"), ("inbound_webhook_url", "inbound")):
        path = reverse("messaging:gateway-webhook", kwargs={"connection_id": connection.pk, "kind": kind})
        urls[name] = f"{settings.PUBLIC_BASE_URL}{path}?secret={connection.webhook_secret}"
    return urls


# --- Messages -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MessageFilter:
    """The message log's filters, shared by the UI, /v3/sms/history and the CSV export."""

    statuses: tuple[str, ...] = ()
    date_from: datetime | None = None  # created at or after
    date_to: datetime | None = None  # created at or before
    number: str = ""  # E.164 prefix, or digits anywhere in it
    campaign_id: int | None = None
    text: str = ""  # in the body

    @classmethod
    def from_params(cls, params, *, tz=None) -> "MessageFilter":
        """From a query string: status (repeatable or comma-separated; also ClickSend's q=status:x), date_from
        and date_to (Unix seconds or YYYY-MM-DD in `tz`), number, campaign_id, q (text). Bad values raise DomainError."""
        raw_statuses = [*params.getlist("status")] if hasattr(params, "getlist") else [params.get("status", "")]
        text = (params.get("q") or "").strip()
        for part in text.split():
            if part.lower().startswith("status:"):
                raw_statuses.append(part.split(":", 1)[1])
                text = text.replace(part, "").strip()
        wanted = tuple(s.strip().lower() for chunk in raw_statuses for s in (chunk or "").split(",") if s.strip())
        for status in wanted:
            if status not in statuses.ALL:
                raise DomainError(f"Unknown status {status!r}; one of {', '.join(statuses.ALL)}.", field="status")
        campaign = params.get("campaign_id") or None
        if campaign is not None and not str(campaign).isdigit():
            raise DomainError("campaign_id must be a whole number.", field="campaign_id")
        return cls(
            statuses=wanted,
            date_from=_parse_when(params.get("date_from"), field="date_from", tz=tz),
            date_to=_parse_when(params.get("date_to"), field="date_to", tz=tz, end_of_day=True),
            number=(params.get("number") or "").strip(),
            campaign_id=int(campaign) if campaign else None,
            text=text,
        )


def _parse_when(value, *, field: str, tz=None, end_of_day: bool = False) -> datetime | None:
    if value in (None, ""):
        return None
    value = str(value).strip()
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), tz=dt_timezone.utc)
        day = date.fromisoformat(value)
        moment = timezone.make_aware(datetime.combine(day, time.max if end_of_day else time.min),
                                     tz or timezone.get_current_timezone())
        moment.astimezone(dt_timezone.utc)  # the calendar's first and last days may have no UTC time to compare
        return moment
    except (ValueError, OverflowError, OSError):  # not a number or date, or one outside the calendar
        raise DomainError(f"{field} must be Unix seconds or a date like 2026-11-23.", field=field) from None


def message_queryset(*, access: Access) -> QuerySet[Message]:
    return Message.objects.filter(account=access.account)


def message_get(*, access: Access, message_id) -> Message:
    return one_or_not_found(message_queryset(access=access).select_related("gateway"), message_id,
                            field="message_id", message=f"No message with id {message_id}.")


def messages_filtered(*, access: Access, flt: MessageFilter) -> QuerySet[Message]:
    """Newest first; every filter is served by an index leading with the account."""
    qs = message_queryset(access=access)
    if flt.statuses:
        qs = qs.filter(status__in=flt.statuses)
    if flt.date_from:
        qs = qs.filter(created_at__gte=flt.date_from)
    if flt.date_to:
        qs = qs.filter(created_at__lte=flt.date_to)
    if flt.number:
        digits = "".join(ch for ch in flt.number if ch.isdigit())
        qs = qs.filter(to__startswith="+" + digits) if flt.number.startswith("+") else qs.filter(to__contains=digits)
    if flt.campaign_id:
        qs = qs.filter(campaign_id=flt.campaign_id)
    if flt.text:
        qs = qs.filter(body__icontains=flt.text)
    return qs.order_by("-id")


def message_events(*, message: Message) -> QuerySet[MessageEvent]:
    return message.events.order_by("id")


def receipts_queryset(*, access: Access) -> QuerySet[Message]:
    """Messages with an outcome a delivery receipt reports (ClickSend's /sms/receipts), newest first."""
    return message_queryset(access=access).filter(status__in=statuses.RECEIPT).order_by("-id")


# --- Message stats ----------------------------------------------------------------------------------

STAT_DIMS = ("bucket", "campaign_id", "variant_key", "country", "gateway_id", "status", "error_code", "account_id")
NARROW_DIMS = {"account_id", "bucket", "status", "day", "month"}  # what MessageStatusStat serves
CALENDAR_DIMS = {"day": TruncDate, "month": TruncMonth}
_COST_PLACES = Decimal("0.0001")  # the column's; SQLite's sums are floating point (0.770000000000000)


def message_stats(*, account_ids=None, campaign_id: int | None = None, campaign_ids=None,
                  since: datetime | None = None, until: datetime | None = None, group_by=("status",),
                  tz=None) -> list[dict]:
    """Outbound messages, segments and cost by `group_by` (of STAT_DIMS), from the rollup rather than the
    messages: one query, whatever the volume. Scoped by `account_ids`, `campaign_id` (or several, `campaign_ids`:
    a page of campaigns in one query) or both; `since` and `until`
    pick the hours created in [since, until) (a bucket is the hour its messages were created, UTC). Campaign,
    variant and gateway read 0 or '' for none; groups with no messages are left out. `day` and `month` group by
    the local date (or month's first day) in `tz` of each hour's start, in SQL, so a page receives days, not hours."""
    group_by = tuple(dict.fromkeys(group_by))
    if set(group_by) & set(CALENDAR_DIMS) and tz is None:
        raise ValueError("grouping message stats by day or month needs tz")
    unknown = [name for name in group_by if name not in STAT_DIMS and name not in CALENDAR_DIMS]
    if unknown:
        raise ValueError(
            f"cannot group message stats by {', '.join(map(repr, unknown))}; one of {', '.join(STAT_DIMS)}")
    if account_ids is None and campaign_id is None and campaign_ids is None:
        raise ValueError("message stats need account_ids or campaign_id")
    if set(group_by) <= NARROW_DIMS and account_ids is not None and campaign_id is None and campaign_ids is None:
        return _status_stats(account_ids=account_ids, since=since, until=until, group_by=group_by, tz=tz)
    rows = MessageStat.objects.all()
    if account_ids is not None:
        rows = rows.filter(account_id__in=list(account_ids))
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    if campaign_ids is not None:
        rows = rows.filter(campaign_id__in=list(campaign_ids))
    if since is not None:
        rows = rows.filter(bucket__gte=since)
    if until is not None:
        rows = rows.filter(bucket__lt=until)
    # The totals' names differ from the columns': an annotation may not shadow a field.
    sums = {"n": Sum("messages"), "s": Sum("segments"), "c": Sum("cost")}
    if not group_by:
        total = rows.aggregate(**sums)
        if not total["n"]:
            return []
        return [{"messages": int(total["n"]), "segments": int(total["s"]), "cost": _money(total["c"])}]
    totals = _calendar(rows, group_by, tz).values(*group_by).annotate(**sums).exclude(n=0)
    return [
        {**{name: row[name] for name in group_by},
         "messages": int(row["n"]), "segments": int(row["s"]), "cost": _money(row["c"])}
        for row in totals.order_by(*group_by)
    ]


def _calendar(rows: QuerySet, group_by, tz) -> QuerySet:
    wanted = {name: CALENDAR_DIMS[name]("bucket", tzinfo=tz, output_field=DateField())
              for name in group_by if name in CALENDAR_DIMS}
    return rows.annotate(**wanted) if wanted else rows


def _status_stats(*, account_ids, since, until, group_by, tz) -> list[dict]:
    """message_stats by (account, hour, status) or fewer: the narrow rollup plus the deltas the squasher has not
    folded into it yet (two queries on small tables, instead of one over every dims group)."""
    totals = defaultdict(lambda: [0, 0, Decimal(0)])
    for model, extra in ((MessageStatusStat, {}), (MessageStat, {"squashed": False})):
        rows = model.objects.filter(account_id__in=list(account_ids), **extra)
        if since is not None:
            rows = rows.filter(bucket__gte=since)
        if until is not None:
            rows = rows.filter(bucket__lt=until)
        sums = {"n": Sum("messages"), "s": Sum("segments"), "c": Sum("cost")}
        grouped = _calendar(rows, group_by, tz).values(*group_by).annotate(**sums) if group_by else [
            rows.aggregate(**sums)]
        for row in grouped:
            if row["n"] is None:
                continue
            total = totals[tuple(row[name] for name in group_by)]
            total[0] += row["n"]
            total[1] += row["s"]
            total[2] += Decimal(row["c"])
    return [
        {**dict(zip(group_by, key)), "messages": int(n), "segments": int(segments), "cost": _money(cost)}
        for key, (n, segments, cost) in sorted(totals.items()) if n
    ]


def _money(value) -> Decimal:
    return Decimal(value).quantize(_COST_PLACES)


# --- Gateway connections --------------------------------------------------------------------------

def connection_queryset(*, access: Access) -> QuerySet[GatewayConnection]:
    return GatewayConnection.objects.filter(account=access.account).order_by("priority", "id")


def connection_get(*, access: Access, connection_id) -> GatewayConnection:
    return one_or_not_found(connection_queryset(access=access), connection_id, field="gateway_id",
                            message=f"No gateway connection with id {connection_id}.")


def mask_secret(value) -> str:
    """Enough to recognise a credential, never enough to use it."""
    text = str(value or "")
    if not text:
        return ""
    return "••••" + text[-4:] if len(text) > 8 else "••••"


def connection_public(connection: GatewayConnection) -> dict:
    """A connection as shown in the UI and the API: credentials masked, webhook URLs spelled out."""
    return {
        "gateway_id": connection.pk,
        "name": connection.name,
        "type": connection.kind,
        "config": dict(connection.config),
        "credentials": {k: mask_secret(v) for k, v in connection.credentials.items()},
        "countries": list(connection.countries),
        "priority": connection.priority,
        "throughput_cap": connection.cap_segments_per_second,
        "enabled": connection.enabled,
        "failure_streak": connection.failure_streak,
        "skipped_until": int(connection.skipped_until.timestamp()) if connection.skipped_until else None,
        **webhook_urls(connection),
    }
