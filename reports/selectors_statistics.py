"""Reads behind GET /v3/statistics/sms: a workspace's outbound, bounced and inbound SMS per day of its own time zone.

Outbound and bounced figures come from messaging's stats rollup (hour buckets, UTC), inbound ones from one grouped
count of inbound messages; the messages table is never counted here, whatever its size.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count
from django.db.models.functions import TruncDate

from inbox.models import InboundMessage
from smsportal.accounts.models import Account
from smsportal.messaging import statuses
from smsportal.messaging.selectors import message_stats

DEFAULT_DAYS = 30  # ClickSend's window: the last 30 days, today included
MAX_DAYS = 366
NEVER_SENT = frozenset({statuses.CANCELLED, statuses.BLOCKED})  # left out of outbound: they never left us
BOUNCED = frozenset({statuses.UNDELIVERED, statuses.FAILED})


@dataclass(frozen=True)
class Tally:
    count: int = 0
    price: Decimal = Decimal(0)

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.count + other.count, self.price + other.price)


@dataclass(frozen=True)
class SmsDay:
    start: datetime  # the day's local midnight (aware)
    outbound: Tally
    inbound: Tally
    bounced: Tally


@dataclass(frozen=True)
class SmsStatistics:
    days: list[SmsDay]  # oldest first, one per day, empty days included
    total: SmsDay  # its `start` is the first day's


def day_start(day: date, tz) -> datetime:
    """Local midnight; where a DST jump skips midnight, zoneinfo lands on the jump itself, the day's real start."""
    return datetime.combine(day, time.min, tzinfo=tz)


def inbound_per_day(*, account_id: int, tz, since: datetime, until: datetime) -> dict[date, int]:
    """Inbound messages received in [since, until), by local day of `tz`: one grouped query."""
    rows = (
        InboundMessage.objects.filter(account_id=account_id, received_at__gte=since, received_at__lt=until)
        .annotate(day=TruncDate("received_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")  # not the model's -id, which would split the groups
    )
    return {row["day"]: row["n"] for row in rows}


def sms_statistics(*, account: Account, first: date, last: date) -> SmsStatistics:
    """The account's SMS from local day `first` to `last`, both included.

    outbound: messages created that day in any status but cancelled and blocked, and the sum of their prices;
    bounced: those of them now undelivered or failed (by the day they were created); inbound: messages received
    that day, price 0. An hour bucket counts for the local day it starts in: exact wherever the offset is whole
    hours; in other zones (India, Adelaide…) outbound messages of the minutes from local midnight to the next UTC
    hour count for the day before (inbound ones are exact)."""
    tz = account.zone
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    since, until = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    outbound = dict.fromkeys(days, Tally())
    bounced = dict.fromkeys(days, Tally())
    for row in message_stats(account_ids=[account.pk], since=since, until=until, group_by=("day", "status"), tz=tz):
        if row["status"] in NEVER_SENT:
            continue
        day = row["day"]
        tally = Tally(row["messages"], row["cost"])
        outbound[day] += tally
        if row["status"] in BOUNCED:
            bounced[day] += tally
    inbound = inbound_per_day(account_id=account.pk, tz=tz, since=since, until=until)
    rows = [SmsDay(day_start(d, tz), outbound[d], Tally(inbound.get(d, 0)), bounced[d]) for d in days]
    total = SmsDay(
        since,
        sum((r.outbound for r in rows), Tally()),
        sum((r.inbound for r in rows), Tally()),
        sum((r.bounced for r in rows), Tally()),
    )
    return SmsStatistics(days=rows, total=total)
