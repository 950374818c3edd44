"""Usage for a main account's admins: per account (the main one and its subaccounts) and calendar month in the main
account's time zone — messages, segments and spend from messaging's stats rollup, credit transfers from the ledger.

Three queries whatever the volume: the accounts, one read of the rollup, one grouped read of the ledger. The
messages table itself is never read.

Spend agrees with the ledger: a message's price is reserved when it is accepted, settled when it reaches the
carrier (sent, delivered or undelivered: `statuses.CHARGEABLE`) and refunded otherwise, so the cost of the
chargeable messages is exactly what the ledger kept. It is dated by the month the message was created (the
rollup's hour), so a message scheduled across a month end counts in the month it was accepted; credit still
held for messages waiting to go out is not spend yet.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from contacts.exporting import escape_cell
from smsportal.accounts.models import Account, LedgerEntry
from smsportal.accounts.permissions import Access
from smsportal.errors import Forbidden, NotFound
from smsportal.messaging import statuses
from smsportal.messaging.selectors import message_stats

MONTHS_DEFAULT = 6
MONTHS_MAX = 24
MONTH_CHOICES = (1, 3, 6, 12, 24)
_MONEY = Decimal("0.0001")  # the ledger's places; SQLite's sums are floating point
CSV_COLUMNS = ("month", "account_id", "account", "messages", "charged", "segments", "spend", "credit_in",
               "credit_out", "currency")


@dataclass(frozen=True)
class UsageFilter:
    months: int = MONTHS_DEFAULT
    subaccount_id: int | None = None

    def query(self) -> str:
        """The filter as a query string, for the CSV link and bookmarks."""
        text = f"months={self.months}"
        return text + (f"&subaccount={self.subaccount_id}" if self.subaccount_id is not None else "")


def usage_filter(params: Mapping[str, str]) -> UsageFilter:
    """?months=N (default 6, 1 to 24; out of range is clamped, not refused, so an old bookmark still opens) and
    ?subaccount=<id>. A subaccount id that is not a number is kept as is, for `usage_table` to refuse with 404."""
    try:
        months = min(max(int(params.get("months", MONTHS_DEFAULT)), 1), MONTHS_MAX)
    except (TypeError, ValueError):
        months = MONTHS_DEFAULT
    raw = (params.get("subaccount") or "").strip()
    if not raw:
        return UsageFilter(months=months)
    try:
        return UsageFilter(months=months, subaccount_id=int(raw))
    except ValueError:
        raise NotFound(f"No subaccount with id {raw}.", field="subaccount") from None


@dataclass
class UsageRow:
    month: date  # the first day of the month, in the main account's time zone
    account: Account | None  # None on a total row
    messages: int = 0  # every outbound message created, blocked and failed ones included
    charged: int = 0  # those that reached the carrier
    segments: int = 0  # the charged ones' segments
    spend: Decimal = Decimal(0)
    credit_in: Decimal = Decimal(0)
    credit_out: Decimal = Decimal(0)  # positive: what left the account

    FIGURES = ("messages", "charged", "segments", "spend", "credit_in", "credit_out")

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in self.FIGURES)

    def add(self, other: "UsageRow") -> None:
        for name in self.FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class UsageMonth:
    month: date
    rows: list[UsageRow]
    total: UsageRow


@dataclass
class UsageTable:
    parent: Account
    accounts: list[Account]  # in scope, the main account first
    choices: list[Account]  # the filter's subaccounts
    filter: UsageFilter
    tz: str
    since: datetime
    first_month: date  # `since` as a local date: the template's date filter would show it in UTC
    months: list[UsageMonth] = field(default_factory=list)  # newest first
    total: UsageRow | None = None


def _month_starts(now_local: datetime, count: int) -> list[date]:
    """The first days of the last `count` months up to and including the current one, oldest first."""
    year, month = now_local.year, now_local.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _accounts(parent: Account) -> list[Account]:
    # Closed subaccounts too: their history stays in the ledger and the stats, and the main account's transfers
    # from them (a closure returns their credit) would otherwise have no counterpart.
    children = Account.objects.filter(parent=parent).order_by("name", "id")
    return [parent, *children]


def usage_table(*, access: Access, flt: UsageFilter, now: datetime | None = None) -> UsageTable:
    """The usage table of the caller's main account, or of one of its subaccounts with `flt.subaccount_id`."""
    parent = access.account
    if not parent.is_main:
        raise Forbidden("Usage is shown to the main account's admins.")
    accounts = _accounts(parent)
    scope = accounts
    if flt.subaccount_id is not None:
        scope = [a for a in accounts if a.pk == flt.subaccount_id]
        if not scope:
            raise NotFound(f"No subaccount with id {flt.subaccount_id}.", field="subaccount")
    tz = parent.zone
    starts = _month_starts(timezone.localtime(now or timezone.now(), tz), flt.months)
    since = datetime(starts[0].year, starts[0].month, 1, tzinfo=tz)
    table = UsageTable(parent=parent, accounts=scope, choices=accounts[1:], filter=flt, tz=str(tz), since=since,
                       first_month=starts[0])

    by_id = {a.pk: a for a in scope}
    cells: dict[tuple[date, int], UsageRow] = {}

    def cell(month: date, account_id: int) -> UsageRow:
        key = (month, account_id)
        if key not in cells:
            cells[key] = UsageRow(month=month, account=by_id[account_id])
        return cells[key]

    # Hours are UTC; each goes to the local month its start falls in. In a zone whose offset is not whole hours
    # (India, Nepal) the first minutes of a month can share an hour with the previous month's last ones and are
    # counted there: the rollup cannot tell them apart.
    for row in message_stats(account_ids=list(by_id), since=since, group_by=("account_id", "month", "status"), tz=tz):
        target = cell(row["month"], row["account_id"])
        target.messages += row["messages"]
        if row["status"] in statuses.CHARGEABLE:
            target.charged += row["messages"]
            target.segments += row["segments"]
            target.spend += row["cost"]

    transfers = (
        LedgerEntry.objects.filter(
            account_id__in=list(by_id), created_at__gte=since,
            kind__in=(LedgerEntry.Kind.TRANSFER_IN, LedgerEntry.Kind.TRANSFER_OUT),
        )
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("account_id", "month", "kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in transfers:
        local = timezone.localtime(row["month"], tz)
        target = cell(date(local.year, local.month, 1), row["account_id"])
        amount = Decimal(row["total"]).quantize(_MONEY)
        if row["kind"] == LedgerEntry.Kind.TRANSFER_IN:
            target.credit_in += amount
        else:
            target.credit_out -= amount

    order = {a.pk: i for i, a in enumerate(scope)}
    table.total = UsageRow(month=starts[0], account=None)
    for start in reversed(starts):
        rows = sorted((c for (m, _), c in cells.items() if m == start and not c.is_empty),
                      key=lambda c: order[c.account.pk])
        total = UsageRow(month=start, account=None)
        for r in rows:
            r.spend = r.spend.quantize(_MONEY)
            total.add(r)
        table.months.append(UsageMonth(month=start, rows=rows, total=total))
        table.total.add(total)
    return table


def usage_csv_rows(table: UsageTable) -> Iterator[list[str]]:
    """The table's account rows (no totals, so a spreadsheet can sum them), newest month first."""
    yield list(CSV_COLUMNS)
    for month in table.months:
        for row in month.rows:
            yield [
                f"{row.month:%Y-%m}", str(row.account.pk), escape_cell(row.account.name),
                str(row.messages), str(row.charged), str(row.segments),
                f"{row.spend:.4f}", f"{row.credit_in:.4f}", f"{row.credit_out:.4f}", table.parent.currency,
            ]
