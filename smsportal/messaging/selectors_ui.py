"""Reads the browser UI needs beyond selectors.py: the sandbox phones, a list's audience by country, and the
message log's keyset pages. Scoped to the caller's workspace like every selector."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, QuerySet

from contacts.models import Contact, ContactList
from smsportal.accounts.permissions import Access

from .models import GatewayConnection, Message

SANDBOX_PHONES = 24  # numbers shown on the sandbox page
SANDBOX_THREAD = 20  # latest messages shown per number
SANDBOX_SHARED_NUMBER = "Sandbox"  # what a phone replies to when it was texted without a sender


# --- The sandbox's phones --------------------------------------------------------------------------------------


@dataclass
class SandboxPhone:
    number: str
    country: str
    last_id: int
    messages: list[Message] = field(default_factory=list)  # newest first (the page shows them bottom-up, like a phone)

    @property
    def replies_to(self) -> str:
        """The number a reply from this phone goes to: the sender of the last text it got."""
        return (self.messages[0].sender if self.messages else "") or SANDBOX_SHARED_NUMBER


def sandbox_phones(*, access: Access, limit: int = SANDBOX_PHONES,
                   per_number: int = SANDBOX_THREAD) -> list[SandboxPhone]:
    """Every number the workspace texted through a sandbox connection (its own or its main account's), the most
    recently texted first, each with the latest `per_number` messages it received."""
    sent = Message.objects.filter(account=access.account, gateway__kind=GatewayConnection.Kind.SANDBOX)
    latest = list(sent.values("to").annotate(last_id=Max("id")).order_by("-last_id")[:limit])
    if not latest:
        return []
    phones = {row["to"]: SandboxPhone(number=row["to"], country="", last_id=row["last_id"]) for row in latest}
    threads: dict[str, list[Message]] = defaultdict(list)
    # Newest first, so each thread keeps its latest messages; a number that received thousands reads only its share.
    rows = sent.filter(to__in=list(phones)).only(
        "id", "to", "country", "body", "status", "created_at", "final_at", "submitted_at", "error_text", "sender"
    ).order_by("-id")[: limit * per_number]
    for message in rows:
        thread = threads[message.to]
        if len(thread) < per_number:
            thread.append(message)
    for number, phone in phones.items():
        phone.messages = threads[number]
        phone.country = phone.messages[0].country if phone.messages else ""
    return list(phones.values())


def sandbox_phone(*, access: Access, number: str) -> SandboxPhone | None:
    """One number the workspace texted through a sandbox connection, with its latest message; None if it never did."""
    last = (Message.objects.filter(account=access.account, gateway__kind=GatewayConnection.Kind.SANDBOX, to=number)
            .only("id", "to", "country", "sender").order_by("-id").first())
    if last is None:
        return None
    return SandboxPhone(number=number, country=last.country, last_id=last.pk, messages=[last])


# --- A contact list's audience, for pricing a send without reading its rows ---------------------------------------


@dataclass
class ListAudience:
    by_country: dict[str, int]  # contacts that can be texted, by their number's country
    opted_out: int
    total: int


def list_audience(*, contact_list: ContactList) -> ListAudience:
    """One grouped query: how many of the list's contacts are in each country, and how many opted out."""
    rows = (
        Contact.objects.filter(account_id=contact_list.account_id, memberships__contact_list=contact_list)
        .values("country")
        .annotate(
            sendable=Count("id", filter=Q(opted_out_at__isnull=True)),
            opted_out=Count("id", filter=Q(opted_out_at__isnull=False)),
        )
        .order_by("country")
    )
    by_country, opted_out = {}, 0
    for row in rows:
        if row["sendable"]:
            by_country[row["country"]] = row["sendable"]
        opted_out += row["opted_out"]
    return ListAudience(by_country=by_country, opted_out=opted_out, total=sum(by_country.values()) + opted_out)


def list_recipients(*, contact_list: ContactList) -> QuerySet:
    """(id, phone_number, country) of every contact in the list, in id order; opted-out ones included, so the
    send records them as blocked rather than dropping them silently."""
    return (
        Contact.objects.filter(account_id=contact_list.account_id, memberships__contact_list=contact_list)
        .order_by("id")
        .values_list("id", "phone_number", "country")
    )


# --- The message log's pages ------------------------------------------------------------------------------------


@dataclass
class LogPage:
    rows: list[Message]
    newer_id: int | None  # continue with ?before=<id> for newer messages
    older_id: int | None  # continue with ?after=<id> for older ones


LOG_COLUMNS = (
    "id", "created_at", "to", "country", "body", "status", "segments", "price", "campaign_id", "schedule_at",
    "blocked_reason", "source",
)


def message_log_page(qs: QuerySet[Message], *, after: int | None = None, before: int | None = None,
                     size: int = 50) -> LogPage:
    """A keyset page of `qs` (newest first): rows older than `after`, or the page just newer than `before`. Served
    by the (account, …, -id) indexes whatever the page number; no OFFSET and no count."""
    qs = qs.only(*LOG_COLUMNS)
    if before is not None and after is None:
        rows = list(qs.filter(pk__gt=before).order_by("id")[: size + 1])
        if len(rows) > size:
            rows = rows[:size][::-1]
            return LogPage(rows, rows[0].pk, rows[-1].pk)
        # Back at the newest messages: show the full first page rather than a short one.
    if after is not None:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer_id = rows[0].pk if after is not None and rows else None
    return LogPage(rows, newer_id, rows[-1].pk if more_older and rows else None)
