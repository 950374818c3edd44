"""Reads of the inbox, scoped to the caller's workspace: the conversation list (unread first, then most recent,
by tab and search), one thread (inbound, outbound and notes interleaved), the unread badge, templates."""

from __future__ import annotations

import datetime
import operator
from dataclasses import dataclass
from functools import reduce

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Count, Q, QuerySet
from django.db.models.expressions import RawSQL

from contacts.filters import ContactFilter, contacts_filtered
from contacts.models import Contact, OptOut
from smsportal.accounts.models import Member
from smsportal.accounts.permissions import ROLE_CAPABILITIES, Access
from smsportal.errors import one_or_not_found
from smsportal.messaging.models import Message

from .models import Conversation, ConversationNote, InboundMessage, InboxSettings, Template

TABS = ("unassigned", "mine", "all", "closed")
PAGE = 50
THREAD = 200  # newest items of a thread shown
SEARCH_IDS = 10_000  # matches a search passes back to the list as values (see _search)


def conversation_queryset(*, access: Access) -> QuerySet[Conversation]:
    return Conversation.objects.filter(account=access.account)


def conversation_get(*, access: Access, conversation_id) -> Conversation:
    return one_or_not_found(conversation_queryset(access=access).select_related("assigned_to"), conversation_id,
                            field="conversation_id", message=f"No conversation with id {conversation_id}.")


def conversations(*, access: Access, tab: str = "all", query: str = "", user=None) -> QuerySet[Conversation]:
    """A tab of the list, unread first then most recent (the order of the list's indexes)."""
    rows = conversation_queryset(access=access)
    if tab == "closed":
        rows = rows.filter(status=Conversation.Status.CLOSED)
    else:
        rows = rows.filter(status=Conversation.Status.OPEN)
        if tab == "unassigned":
            rows = rows.filter(assigned_to__isnull=True)
        elif tab == "mine":
            rows = rows.filter(assigned_to=user)
    query = (query or "").strip()
    if query:
        rows = rows.filter(_search(access=access, query=query))
    return rows.select_related("assigned_to").order_by("-has_unread", "-last_message_at", "-id")


def _search(*, access: Access, query: str) -> Q:
    """Conversations whose last text, contact (name or number) or any inbound message matches `query`.

    Each way of matching is its own indexed query (trigrams on PostgreSQL; the contacts page's own search for
    people). On PostgreSQL their ids are fetched first and passed back as one array, which is hashed: inside the
    list's query, a semi-join's plan rests on statistics, and on tables autovacuum had not analysed yet (a new
    workspace's first minute) the planner re-ran the whole search for every row of the list. A search matching
    more than SEARCH_IDS is tested row by row instead, in the list's order: at that density the first page is
    found after a few hundred rows."""
    own = conversation_queryset(access=access)
    digits = "".join(c for c in query if c.isdigit())
    people = contacts_filtered(access=access, flt=ContactFilter(search=query), ordered=False).order_by().values("id")
    inbound = InboundMessage.objects.filter(account=access.account, body__icontains=query)
    own_ways = [Q(last_text__icontains=query)]  # tested on the conversation's own columns
    if len(digits) >= 3:
        own_ways.append(Q(contact_number__contains=digits))
    ways = [*own_ways, Q(contact_id__in=people)]
    if connection.vendor != "postgresql":  # SQLite materialises an IN subquery once
        return Q(pk__in=own.filter(reduce(operator.or_, ways)).values("id")) | Q(
            pk__in=inbound.values("conversation_id"))
    found = [own.filter(way).values_list("id", flat=True).order_by() for way in ways]
    found.append(inbound.values_list("conversation_id", flat=True).order_by())  # no default orderings in a UNION
    ids = list(found[0].union(*found[1:], all=True)[:SEARCH_IDS + 1])
    table = Conversation._meta.db_table
    if len(ids) > SEARCH_IDS:
        return _row_by_row(own_ways, people=people, inbound=inbound, table=table)
    return Q(RawSQL(f'"{table}"."id" = ANY(%s::bigint[])', (sorted(set(ids)),), output_field=BooleanField()))


def _row_by_row(own_ways: list[Q], *, people, inbound, table: str) -> Q:
    """A dense search, tested on each row of the list in its order: the first page takes a few hundred rows.

    The person and inbound tests are probes of one row's contact (by its key) and inbound messages (by their
    conversation), each fenced by OFFSET 0 so that nothing but that key picks the rows: left to itself the planner
    hashed every match first (75,000 inbound rows, every contact of a big workspace: 0.1 to 0.5 s), or, on tables
    not analysed yet, scanned the workspace's whole index on every probe."""
    probes = []
    for rows, key, outer in ((people, "id", "contact_id"), (inbound, "conversation_id", "id")):
        model_table = rows.model._meta.db_table
        try:
            where, params = rows.query.get_compiler(connection=connection).compile(rows.query.where)
        except EmptyResultSet:  # e.g. a number search with no digits: no person matches
            continue
        probes.append(Q(RawSQL(
            f'EXISTS (SELECT 1 FROM (SELECT * FROM "{model_table}" WHERE "{model_table}"."{key}" = "{table}"."{outer}"'
            f' OFFSET 0) AS "{model_table}" WHERE {where})', params, output_field=BooleanField())))
    return reduce(operator.or_, [*own_ways, *probes])


@dataclass
class Row:
    conversation: Conversation
    name: str
    opted_out: bool


def rows_for(*, access: Access, conversations) -> list[Row]:
    """The list's rows with each contact's name and opt-out state (two queries for the page)."""
    conversations = list(conversations)
    ids = {c.contact_id for c in conversations if c.contact_id}
    names = {pk: f"{first} {last}".strip() for pk, first, last in
             Contact.objects.filter(account=access.account, pk__in=ids).values_list("pk", "first_name", "last_name")}
    opted = set(OptOut.objects.filter(account=access.account, phone_number__in={c.contact_number for c in conversations})
                .values_list("phone_number", flat=True))
    return [Row(c, names.get(c.contact_id, ""), c.contact_number in opted) for c in conversations]


def tab_counts(*, access: Access, user) -> dict[str, int]:
    """Unread conversations per tab (the list's badges)."""
    unread = conversation_queryset(access=access).filter(has_unread=True, status=Conversation.Status.OPEN)
    mine = {"mine": Count("id", filter=Q(assigned_to=user.pk))} if getattr(user, "pk", None) else {}
    counts = unread.aggregate(  # one pass over the unread part of the list's index, not one per tab
        unassigned=Count("id", filter=Q(assigned_to__isnull=True)), all=Count("id"), **mine)
    return {"mine": 0, **counts}


def unread_total(*, access: Access) -> int:
    """The navigation's badge: open conversations with something unread."""
    return conversation_queryset(access=access).filter(has_unread=True, status=Conversation.Status.OPEN).count()


@dataclass
class Item:
    """One line of a thread: an inbound or outbound message, or an internal note."""

    kind: str  # in | out | note
    at: datetime.datetime
    body: str
    status: str = ""
    obj: object = None


def thread(*, conversation: Conversation, limit: int = THREAD) -> list[Item]:
    """The newest `limit` messages and notes of a conversation, oldest first: what the customer sent us, what we
    sent them (campaigns and replies alike, with their delivery status) and the agents' notes."""
    inbound = conversation.inbound.order_by("-id")[:limit]
    outbound = (Message.objects.filter(account_id=conversation.account_id, to=conversation.contact_number)
                .order_by("-id").only("id", "body", "status", "created_at", "campaign_id", "source", "sender")[:limit])
    notes = ConversationNote.objects.filter(conversation=conversation).select_related("author").order_by("-id")[:limit]
    items = [Item("in", m.received_at, m.body, obj=m) for m in inbound]
    items += [Item("out", m.created_at, m.body, status=m.status, obj=m) for m in outbound]
    items += [Item("note", n.created_at, n.body, obj=n) for n in notes]
    items.sort(key=lambda item: item.at)
    return items[-limit:]


def opted_out(*, conversation: Conversation) -> bool:
    return OptOut.objects.filter(account_id=conversation.account_id, phone_number=conversation.contact_number).exists()


def members(*, access: Access):
    """Who a conversation can be assigned to: the members whose role replies in the inbox."""
    roles = [role for role, capabilities in ROLE_CAPABILITIES.items() if "inbox.reply" in capabilities]
    return (Member.objects.filter(account=access.account, role__in=roles).select_related("user")
            .order_by("user__email"))


def inbox_settings(*, access: Access) -> InboxSettings:
    """The workspace's keyword replies and contact creation: its saved row, else the defaults (unsaved)."""
    return InboxSettings.objects.filter(account=access.account).first() or InboxSettings(account=access.account)


def template_queryset(*, access: Access) -> QuerySet[Template]:
    return Template.objects.filter(account=access.account)


def template_get(*, access: Access, template_id) -> Template:
    return one_or_not_found(template_queryset(access=access), template_id, field="template_id",
                            message=f"No template with id {template_id}.")


def inbound_queryset(*, access: Access) -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(account=access.account).order_by("-id")
