"""The dashboard's and the delivery reports' figures, scoped to the accounts the caller may see.

Outbound figures come from messaging's stats rollup (hour buckets, UTC), never from the messages table; replies
and opt-outs are counted on their own indexed tables. Days are the account's local days.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from campaigns.models import Campaign
from contacts.models import OptOut
from inbox.models import InboundMessage
from smsportal.accounts.models import Account
from smsportal.accounts.permissions import Access
from smsportal.errors import DomainError, NotFound
from smsportal.messaging import statuses
from smsportal.messaging.models import GatewayConnection, Message
from smsportal.messaging.selectors import message_stats

PERIODS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom"}
MAX_DAYS = 366
# Outcomes a delivery rate is taken over: a message still in flight is neither delivered nor not.
OUTCOMES = (statuses.DELIVERED, statuses.UNDELIVERED, statuses.FAILED)
SHOWN_STATUSES = (statuses.DELIVERED, statuses.SENT, statuses.UNDELIVERED, statuses.FAILED, statuses.BLOCKED,
                  statuses.SENDING, statuses.QUEUED, statuses.SCHEDULED, statuses.CANCELLED)
ERROR_ROWS = 20


# --- Period ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole local days [start, end] in `tz`; `since`/`until` are their UTC bounds."""

    key: str
    start: datetime.date
    end: datetime.date
    tz: ZoneInfo

    @property
    def since(self) -> datetime.datetime:
        return datetime.datetime.combine(self.start, datetime.time(), self.tz)

    @property
    def until(self) -> datetime.datetime:
        return datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time(), self.tz)

    @property
    def days(self) -> list[datetime.date]:
        return [self.start + datetime.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def label(self) -> str:
        if self.key != "custom":
            return PERIODS[self.key]
        return f"{self.start:%-d %b %Y} – {self.end:%-d %b %Y}"

    def previous(self) -> Period:
        length = self.end - self.start + datetime.timedelta(days=1)
        return Period(self.key, self.start - length, self.end - length, self.tz)

    def query(self) -> dict[str, str]:
        if self.key == "custom":
            return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"period": self.key}


def period_from(params, *, account: Account, today: datetime.date | None = None) -> Period:
    """The period a request asks for (`period` = today | 7d | 30d | custom with `start` and `end`, ISO dates);
    7 days by default. A bad value is a DomainError naming its field."""
    tz = account.zone
    today = today or timezone.now().astimezone(tz).date()
    key = params.get("period") or "7d"
    if key not in PERIODS:
        raise DomainError(f"period is one of {', '.join(PERIODS)}.", field="period")
    if key != "custom" and params.get("start") and params.get("end"):  # the form's dates, perhaps edited
        preset = period_from({"period": key}, account=account, today=today)
        if (params["start"], params["end"]) != (preset.start.isoformat(), preset.end.isoformat()):
            key = "custom"
    if key == "today":
        return Period(key, today, today, tz)
    if key in ("7d", "30d"):
        return Period(key, today - datetime.timedelta(days=int(key[:-1]) - 1), today, tz)
    dates = {}
    for name in ("start", "end"):
        try:
            dates[name] = datetime.date.fromisoformat(params.get(name) or "")
        except ValueError:
            raise DomainError(f"{name} is a date as YYYY-MM-DD.", field=name) from None
    if dates["end"] < dates["start"]:
        raise DomainError("end is on or after start.", field="end")
    if (dates["end"] - dates["start"]).days >= MAX_DAYS:
        raise DomainError(f"A period is at most {MAX_DAYS} days.", field="end")
    return Period(key, dates["start"], dates["end"], tz)


# --- Scope -------------------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """The accounts a report covers, and the choices the caller had (a parent's admins: all, theirs, a
    subaccount; everyone else: their own workspace only)."""

    accounts: list[Account]
    value: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)

    @property
    def account_ids(self) -> list[int]:
        return [a.pk for a in self.accounts]

    @property
    def balance(self) -> Decimal:
        return sum((a.balance for a in self.accounts), Decimal(0))


def scope_for(*, access: Access, value: str | None = None) -> Scope:
    own = access.account
    if not (own.is_main and access.can("account.manage")):
        return Scope([own])
    children = list(Account.objects.filter(parent=own).exclude(status=Account.Status.CLOSED).order_by("name"))
    choices = [("all", f"All ({1 + len(children)} accounts)"), ("own", own.name)]
    choices += [(str(child.pk), child.name) for child in children]
    value = value or "all"
    if value == "all":
        return Scope([own, *children], value, choices)
    if value == "own":
        return Scope([own], value, choices)
    chosen = next((child for child in children if str(child.pk) == value), None)
    if chosen is None:
        raise NotFound(f"No subaccount with id {value}.", field="account")
    return Scope([chosen], value, choices)


# --- Figures -----------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    """Messages by status, with segments and cost; the rates people read off them."""

    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    segments: int = 0  # of the messages charged for (they reached the carrier)
    cost: Decimal = Decimal(0)

    def add(self, row: dict) -> None:
        self.by_status[row["status"]] += row["messages"]
        if row["status"] in statuses.CHARGEABLE:
            self.segments += row["segments"]
            self.cost += row["cost"]

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def messages(self) -> int:
        return sum(self.by_status.values())

    @property
    def sent(self) -> int:
        """Messages that reached the carrier (what is charged)."""
        return sum(self[s] for s in statuses.REACHED_CARRIER)

    @property
    def outcomes(self) -> int:
        return sum(self[s] for s in OUTCOMES)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered ÷ (delivered + undelivered + failed), a fraction; None before any outcome."""
        return self[statuses.DELIVERED] / self.outcomes if self.outcomes else None

    def as_dict(self) -> dict:
        return {"messages": self.messages, "sent": self.sent, **{s: self[s] for s in statuses.ALL},
                "delivery_rate": None if self.delivery_rate is None else round(self.delivery_rate, 4),
                "segments": self.segments, "cost": self.cost}


def _counts(rows, key=lambda row: None) -> dict:
    grouped = defaultdict(Counts)
    for row in rows:
        grouped[key(row)].add(row)
    return grouped


def _stats(scope: Scope, period: Period, group_by: tuple[str, ...]) -> list[dict]:
    return message_stats(account_ids=scope.account_ids, since=period.since, until=period.until,
                         group_by=(*group_by, "status"), tz=period.tz)


@dataclass
class Figure:
    key: str
    label: str
    value: object
    previous: object
    kind: str = "count"  # count | percent | money
    better: str = "up"  # which way is good news; "" when neither is

    @property
    def change(self) -> float | None:
        """Against the previous period, in % (percentage points for a rate); None when there is nothing to
        compare."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "percent":
            return round(100.0 * (self.value - self.previous), 1)
        if not self.previous:
            return None
        return round(100.0 * (float(self.value) - float(self.previous)) / float(self.previous), 1)

    @property
    def good(self) -> bool | None:
        if not self.change or not self.better:
            return None
        return (self.change > 0) == (self.better == "up")


def _replies(scope: Scope, period: Period) -> int:
    return InboundMessage.objects.filter(account_id__in=scope.account_ids, received_at__gte=period.since,
                                         received_at__lt=period.until).count()


def _opt_outs(scope: Scope, period: Period) -> int:
    return OptOut.objects.filter(account_id__in=scope.account_ids, created_at__gte=period.since,
                                 created_at__lt=period.until).count()


def summary(*, scope: Scope, period: Period) -> dict:
    """The key figures for the period and the one before, in one pass over the rollup."""
    before = period.previous()
    rows = message_stats(account_ids=scope.account_ids, since=before.since, until=period.until,
                         group_by=("day", "status"), tz=period.tz)
    now, then = Counts(), Counts()
    for row in rows:
        (now if row["day"] >= period.start else then).add(row)
    pairs = [
        ("sent", "Sent", now.sent, then.sent, "count", "up"),
        ("delivery_rate", "Delivered", now.delivery_rate, then.delivery_rate, "percent", "up"),
        ("undelivered", "Undelivered", now[statuses.UNDELIVERED], then[statuses.UNDELIVERED], "count", "down"),
        ("failed", "Failed", now[statuses.FAILED], then[statuses.FAILED], "count", "down"),
        ("blocked", "Blocked", now[statuses.BLOCKED], then[statuses.BLOCKED], "count", "down"),
        ("replies", "Replies", _replies(scope, period), _replies(scope, before), "count", "up"),
        ("opt_outs", "Opt-outs", _opt_outs(scope, period), _opt_outs(scope, before), "count", "down"),
        ("segments", "Segments", now.segments, then.segments, "count", ""),
        ("spend", "Spend", now.cost, then.cost, "money", ""),
    ]
    return {"figures": [Figure(*pair) for pair in pairs], "messages": now.messages, "counts": now,
            "previous": then, "balance": scope.balance}


def daily(*, scope: Scope, period: Period) -> list[dict]:
    """Per local day: messages by status, delivery rate, segments and cost (the charts' data, oldest first)."""
    by_day = _counts(_stats(scope, period, ("day",)), key=lambda row: row["day"])
    return [{"day": day, **by_day.get(day, Counts()).as_dict()} for day in period.days]


def _rows(grouped: dict, names: dict, *, order_by_messages: bool = True) -> list[dict]:
    rows = [{"key": key, "name": names.get(key, key), **counts.as_dict()} for key, counts in grouped.items()]
    if order_by_messages:
        rows.sort(key=lambda row: (-row["messages"], str(row["name"])))
    return rows


def by_country(*, scope: Scope, period: Period) -> list[dict]:
    grouped = _counts(_stats(scope, period, ("country",)), key=lambda row: row["country"])
    return _rows(grouped, {"": "Unknown"})


def by_gateway(*, scope: Scope, period: Period) -> list[dict]:
    grouped = _counts(_stats(scope, period, ("gateway_id",)), key=lambda row: row["gateway_id"])
    names = dict(GatewayConnection.objects.filter(pk__in=[k for k in grouped if k]).values_list("pk", "name"))
    names[0] = "None (never routed)"
    return _rows(grouped, names)


def by_campaign(*, scope: Scope, period: Period) -> list[dict]:
    """Campaigns and their variants: one row per (campaign, variant), most messages first within a campaign."""
    rows = [row for row in _stats(scope, period, ("campaign_id", "variant_key")) if row["campaign_id"]]
    grouped = _counts(rows, key=lambda row: (row["campaign_id"], row["variant_key"]))
    names = dict(Campaign.objects.filter(account_id__in=scope.account_ids, pk__in={k[0] for k in grouped})
                 .values_list("pk", "name"))
    result = [{"key": f"{cid}:{variant}", "campaign_id": cid, "variant": variant or "—",
               "name": names.get(cid, f"Campaign {cid}"), **counts.as_dict()}
              for (cid, variant), counts in grouped.items()]
    totals = defaultdict(int)
    for row in result:
        totals[row["campaign_id"]] += row["messages"]
    result.sort(key=lambda row: (-totals[row["campaign_id"]], row["campaign_id"], row["variant"]))
    return result


def top_campaigns(*, scope: Scope, period: Period, limit: int = 5) -> list[dict]:
    grouped = _counts([row for row in _stats(scope, period, ("campaign_id",)) if row["campaign_id"]],
                      key=lambda row: row["campaign_id"])
    names = dict(Campaign.objects.filter(account_id__in=scope.account_ids, pk__in=list(grouped))
                 .values_list("pk", "name"))
    return _rows(grouped, names)[:limit]


def errors(*, scope: Scope, period: Period) -> list[dict]:
    """Error codes of undelivered and failed messages, most frequent first, each with a recent message's text."""
    grouped = defaultdict(lambda: defaultdict(int))
    for row in _stats(scope, period, ("error_code",)):
        if row["error_code"]:
            grouped[row["error_code"]][row["status"]] += row["messages"]
    rows = sorted(({"code": code, "messages": sum(by.values()), **{s: by.get(s, 0) for s in OUTCOMES}}
                   for code, by in grouped.items()), key=lambda row: (-row["messages"], row["code"]))[:ERROR_ROWS]
    for row in rows:  # one indexed probe per code shown (the partial index of messages with an error)
        text = (Message.objects.filter(account_id__in=scope.account_ids, error_code=row["code"])
                .order_by().values_list("error_text", flat=True)[:1])
        row["text"] = next(iter(text), "")
    return rows


def recent_inbound(*, scope: Scope, limit: int = 5) -> list[InboundMessage]:
    return list(InboundMessage.objects.filter(account_id__in=scope.account_ids).order_by("-id")[:limit])
