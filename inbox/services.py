"""Writes of the inbox: inbound SMS from the webhooks to conversations (keywords, contacts, campaign replies),
agents' replies, assignment, closing, reading, notes, and canned templates. The UI and /v3 call these."""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts import services as contacts
from contacts.models import Contact, OptOut, OptOutSource
from contacts.phones import InvalidNumber, normalize_number
from contacts.selectors import merge_values
from smsportal.accounts.models import Account, Member, User
from smsportal.accounts.permissions import Access
from smsportal.errors import DomainError
from smsportal.messaging import merge
from smsportal.messaging import services as messaging
from smsportal.messaging.bulk import GroupWriter, insert_rows, update_rows
from smsportal.messaging.gateways.base import InboundSms
from smsportal.messaging.models import Message

from .models import KEYWORD_WIRE, Conversation, ConversationNote, InboundMessage, InboundRaw, InboxSettings, Template

# PRODUCT.md §3: a single word, any case.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
PART_WAIT = datetime.timedelta(seconds=60)  # how long the parts of a long message may take to all arrive
MAX_NOTE = 4000
MAX_TEMPLATE = 1600


def keyword_of(body: str) -> str:
    """The keyword an inbound body is, if it is exactly one (punctuation around it allowed: "Stop." is STOP)."""
    word = (body or "").strip().strip(".!?,;:'\"()[]").upper()
    if not word or any(c.isspace() for c in word):
        return InboundMessage.Keyword.NONE
    if word in OPT_OUT_WORDS:
        return InboundMessage.Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return InboundMessage.Keyword.OPT_IN
    if word in HELP_WORDS:
        return InboundMessage.Keyword.HELP
    return InboundMessage.Keyword.NONE


# --- Receiving ---------------------------------------------------------------------------------------------------

_RAW_COLUMNS = ("gateway_id", "account_id", "gateway_message_id", "sender", "to", "body", "sent_at", "raw",
                "part_ref", "part_number", "part_count", "received_at")
_RAW_CASTS = ("bigint", "bigint", "text", "text", "text", "text", "timestamptz", "jsonb", "text", "smallint",
              "smallint", "timestamptz")


def _write_raw(rows: list) -> None:
    insert_rows(InboundRaw, _RAW_COLUMNS, _RAW_CASTS, rows)
    from .tasks import inbound_kick

    transaction.on_commit(inbound_kick)  # once per group of webhooks written together, after their commit


_raw_writer = GroupWriter(_write_raw)


def inbound_receive(*, connection, messages: list[InboundSms]) -> int:
    """SMS_INBOUND_HANDLER: keep what the webhook carried (one INSERT shared by concurrent webhooks) and wake a
    worker; nothing else happens inside the webhook's request."""
    now = timezone.now()
    rows = [
        (connection.pk, connection.account_id, (m.gateway_message_id or "")[:100], (m.sender or "")[:64],
         (m.to or "")[:64], m.body or "", m.at, m.raw, (m.part_ref or "")[:64], m.part_number, m.part_count, now)
        for m in messages if (m.sender or "").strip()
    ]
    if not rows:
        return 0
    _raw_writer.submit(rows)
    return len(rows)


def _joined(raws: list[InboundRaw], now) -> tuple[list[tuple[InboundRaw, str]], list[int]]:
    """(raw, body) ready to store — a long message's parts joined in order, under its first part — and the ids of
    the parts still waiting for the rest (they stay pending up to PART_WAIT, then go with what came)."""
    ready, waiting, parts = [], [], defaultdict(list)
    for raw in raws:
        if raw.part_ref and raw.part_count and raw.part_count > 1:
            parts[(raw.account_id, raw.gateway_id, raw.sender, raw.part_ref)].append(raw)
        else:
            ready.append((raw, raw.body))
    for group in parts.values():
        complete = {p.part_number for p in group} >= set(range(1, group[0].part_count + 1))
        if complete or now - min(p.received_at for p in group) > PART_WAIT:
            ordered = sorted({p.part_number: p for p in group}.values(), key=lambda p: p.part_number or 0)
            ready.append((ordered[0], "".join(p.body for p in ordered)))
        else:
            waiting.extend(p.pk for p in group)
    return ready, waiting


def inbound_apply(*, limit: int = 500, now=None) -> dict:
    """Turn pending inbound webhooks into messages of conversations, in one transaction: each stored once (by the
    gateway's id), its conversation opened or reopened, its contact found or made, its keyword applied, its reply
    credited to the campaign it answers."""
    now = now or timezone.now()
    counts = defaultdict(int)
    with transaction.atomic():
        raws = list(InboundRaw.objects.filter(processed_at__isnull=True).order_by("id")
                    .select_for_update(skip_locked=True)[:limit])
        if not raws:
            return {}
        ready, waiting = _joined(raws, now)
        by_account = defaultdict(list)
        for raw, body in ready:
            by_account[raw.account_id].append((raw, body))
        stored = []
        for account in Account.objects.filter(pk__in=list(by_account)):
            stored.extend(_store(account, by_account[account.pk], now, counts))
        InboundRaw.objects.filter(pk__in=[r.pk for r in raws if r.pk not in set(waiting)]).update(processed_at=now)
        if waiting:
            counts["waiting"] = len(waiting)
        _emit(stored)
    return dict(counts)


def _sender(raw_sender: str, region: str) -> str:
    try:
        return normalize_number(raw_sender, region).e164
    except InvalidNumber:
        return raw_sender.strip()[:32]


def _store(account: Account, items: list[tuple[InboundRaw, str]], now, counts) -> list[InboundMessage]:
    """One workspace's share of a batch, set-based: a few statements whatever its size, then the keywords (rare)
    one by one."""
    settings_ = InboxSettings.objects.filter(account=account).first() or InboxSettings(account=account)
    known = set(InboundMessage.objects.filter(
        gateway_id__in={raw.gateway_id for raw, _ in items},
        gateway_message_id__in={raw.gateway_message_id for raw, _ in items if raw.gateway_message_id},
    ).values_list("gateway_id", "gateway_message_id"))
    fresh, seen = [], set()
    for raw, body in items:
        key = (raw.gateway_id, raw.gateway_message_id)
        if raw.gateway_message_id and (key in known or key in seen):
            counts["duplicate"] += 1
            continue
        seen.add(key)
        fresh.append((raw, body, _sender(raw.sender, account.default_region)))
    if not fresh:
        return []
    numbers = {number for _, _, number in fresh}
    people = contacts.contacts_for_numbers(account=account, numbers=numbers, create=settings_.create_contacts)
    conversations = _conversations(account, {(n, raw.to) for raw, _, n in fresh}, people, now)
    answered = _answered(account, numbers, before=max(raw.received_at for raw, _, _ in fresh))
    messages = []
    for raw, body, number in fresh:
        reply_to = answered.get(number, {})
        messages.append(InboundMessage(
            account=account, conversation=conversations[(number, raw.to)], gateway_id=raw.gateway_id,
            gateway_message_id=raw.gateway_message_id, sender=number, to=raw.to, body=body,
            keyword=keyword_of(body), contact_id=people.get(number), raw=raw.raw, received_at=raw.received_at,
            reply_to_message_id=reply_to.get("id"), campaign_id=reply_to.get("campaign_id"),
        ))
    InboundMessage.objects.bulk_create(messages)
    _conversations_touch(messages, now)
    for message in messages:
        if message.keyword:
            _keyword(account, settings_, message, counts)
    from campaigns.services import campaign_attribute_replies

    campaign_attribute_replies(account_id=account.pk, replies=[
        (m.sender, m.received_at, m.keyword == InboundMessage.Keyword.OPT_OUT) for m in messages if m.campaign_id])
    counts["stored"] += len(messages)
    return messages


def _answered(account: Account, numbers: set[str], *, before) -> dict[str, dict]:
    """{number: the id and campaign of the last message we sent it before its reply came}: what a reply answers."""
    latest = (Message.objects.filter(account=account, to__in=numbers, created_at__lte=before)
              .values("to").annotate(last=Max("id")).values_list("last", flat=True))
    return {row["to"]: row for row in Message.objects.filter(pk__in=list(latest)).values("id", "to", "campaign_id")}


def _conversations_touch(messages: list[InboundMessage], now) -> None:
    """Each conversation once: its unread count up by its new messages, its preview the latest of them, open."""
    latest, added = {}, defaultdict(int)
    for message in messages:
        key = message.conversation.pk
        added[key] += 1
        if key not in latest or message.received_at >= latest[key].received_at:
            latest[key] = message
    update_rows(
        Conversation,
        ids_values=[(key, added[key], m.received_at, m.received_at, m.body[:200], m.contact_id)
                    for key, m in latest.items()],
        columns=("unread", "last_message_at", "last_inbound_at", "last_text", "contact_id"),
        casts=("integer", "timestamptz", "timestamptz", "text", "bigint"), increments=("unread",),
        set_sql="has_unread = %s, status = %s, last_direction = %s, updated_at = %s",
        set_params=[True, Conversation.Status.OPEN, "in", now],
    )


def _conversations(account: Account, pairs: set[tuple[str, str]], people: dict, now) -> dict:
    """{(contact number, our number): Conversation}, creating those that do not exist yet."""
    numbers = {n for n, _ in pairs}
    existing = {(c.contact_number, c.our_number): c for c in
                Conversation.objects.filter(account=account, contact_number__in=numbers)}
    missing = [pair for pair in pairs if pair not in existing]
    if missing:
        Conversation.objects.bulk_create(
            [Conversation(account=account, contact_number=n, our_number=ours, contact_id=people.get(n),
                          last_message_at=now) for n, ours in missing],
            ignore_conflicts=True,
        )
        existing = {(c.contact_number, c.our_number): c for c in
                    Conversation.objects.filter(account=account, contact_number__in=numbers)}
    return existing


def _keyword(account: Account, settings_: InboxSettings, message: InboundMessage, counts) -> None:
    """STOP and friends opt the number out, START opts it back in, HELP gets the help reply: each once per
    inbound message (a duplicate webhook was never stored, so it cannot reply twice)."""
    keyword = message.keyword
    if keyword == InboundMessage.Keyword.OPT_OUT:
        if settings_.opt_out_reply:  # the confirmation goes before the opt-out that would block it
            _auto_reply(account, message, settings_.opt_out_reply)
        contacts.contacts_opt_out(account=account, phone_numbers=[message.sender], source=OptOutSource.KEYWORD)
        counts["opted_out"] += 1
    elif keyword == InboundMessage.Keyword.OPT_IN:
        contacts.contacts_opt_in(account=account, phone_numbers=[message.sender])
        if settings_.opt_in_reply:
            _auto_reply(account, message, settings_.opt_in_reply)
        counts["opted_in"] += 1
    elif keyword == InboundMessage.Keyword.HELP and settings_.help_reply:
        _auto_reply(account, message, settings_.help_reply)
        counts["help"] += 1


def _auto_reply(account: Account, message: InboundMessage, text: str) -> None:
    body = text.replace("{company}", account.name)
    messaging.messages_send(
        account=account, source=Message.Source.INBOX,
        requests=[messaging.SmsRequest(to=message.sender, body=body, sender=message.to if _is_number(message.to) else "",
                                       contact_id=message.contact_id, custom_string="keyword reply")],
    )


def _is_number(value: str) -> bool:
    return bool(value) and value.lstrip("+").isdigit()


def _emit(stored: list[InboundMessage]) -> None:
    """Push the stored messages to the workspaces' inbound webhooks (ClickSend's inbound shape), with the body and
    custom string of the message each answers (one query)."""
    if not stored:
        return
    from smsportal.messaging.outbound import inbound_payload, webhooks_emit

    answered = {row["id"]: row for row in Message.objects.filter(
        pk__in={m.reply_to_message_id for m in stored if m.reply_to_message_id}).values("id", "body", "custom_string")}
    events = []
    for m in stored:
        original = answered.get(m.reply_to_message_id, {})
        events.append((m.account_id, inbound_payload(
            account_id=m.account_id, message_id=m.pk, sender=m.sender, to=m.to, body=m.body, at=m.received_at,
            original_body=original.get("body", ""), original_message_id=m.reply_to_message_id,
            custom_string=original.get("custom_string", ""), keyword=KEYWORD_WIRE.get(m.keyword, ""),
        )))
    webhooks_emit(kind="inbound", events=events)


# --- Agents' work ------------------------------------------------------------------------------------------------


def conversation_reply(*, conversation: Conversation, body: str, by=None):
    """Send an agent's reply from the number the customer wrote to. An opted-out number is refused here, with a
    message saying so, rather than stored blocked."""
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise DomainError("Write a reply first.", field="body")
    account = conversation.account
    if "{{" in body:  # a template's merge fields, filled from the contact
        contact = Contact.objects.filter(account=account, pk=conversation.contact_id).first()
        body = merge.render(body, merge_values(contact=contact) if contact else {}).text
    if OptOut.objects.filter(account=account, phone_number=conversation.contact_number).exists():
        raise DomainError(f"{conversation.contact_number} opted out of messages from this workspace: a reply "
                          "would be blocked. They can text START to opt back in.", field="body")
    with transaction.atomic():
        result = messaging.messages_send(
            account=account, source=Message.Source.INBOX,
            requests=[messaging.SmsRequest(to=conversation.contact_number, body=body, contact_id=conversation.contact_id,
                                           sender=conversation.our_number if _is_number(conversation.our_number) else "")],
        )
        outcome = result.outcomes[0]
        if outcome.code != messaging.SUCCESS:
            raise DomainError(f"Not sent: {outcome.detail or outcome.code}", field="body")
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now, last_text=body[:200], last_direction="out", unread=0, has_unread=False,
            assigned_to=F("assigned_to") if conversation.assigned_to_id or not isinstance(by, User) else by.pk,
            updated_at=now,
        )
        InboundMessage.objects.filter(conversation=conversation, read_at=None).update(read_at=now)
    return result


def conversation_assign(*, conversation: Conversation, user_id: int | None) -> Conversation:
    if user_id is not None:
        member = Member.objects.filter(account=conversation.account, user_id=user_id).first()
        if member is None:
            raise DomainError("Assign the conversation to a member of this workspace.", field="assigned_to")
        if not Access(account=conversation.account, role=member.role).can("inbox.reply"):
            raise DomainError(f"A {member.role} cannot reply in the inbox: assign it to an agent, marketer or "
                              "admin.", field="assigned_to")
    conversation.assigned_to_id = user_id
    conversation.save(update_fields=["assigned_to", "updated_at"])
    return conversation


def conversation_close(*, conversation: Conversation) -> Conversation:
    conversation.status = Conversation.Status.CLOSED
    conversation.save(update_fields=["status", "updated_at"])
    return conversation


def conversation_reopen(*, conversation: Conversation) -> Conversation:
    conversation.status = Conversation.Status.OPEN
    conversation.save(update_fields=["status", "updated_at"])
    return conversation


def conversation_mark_read(*, conversation: Conversation, read: bool = True) -> Conversation:
    now = timezone.now()
    with transaction.atomic():
        if read:
            InboundMessage.objects.filter(conversation=conversation, read_at=None).update(read_at=now)
            conversation.unread, conversation.has_unread = 0, False
        else:
            last = conversation.inbound.order_by("-id").first()
            if last is not None:
                InboundMessage.objects.filter(pk=last.pk).update(read_at=None)
            conversation.unread, conversation.has_unread = max(conversation.unread, 1), True
        conversation.save(update_fields=["unread", "has_unread", "updated_at"])
    return conversation


def note_add(*, conversation: Conversation, body: str, by=None) -> ConversationNote:
    body = (body or "").strip()
    if not body:
        raise DomainError("A note needs some text.", field="body")
    if len(body) > MAX_NOTE:
        raise DomainError(f"A note has at most {MAX_NOTE} characters.", field="body")
    return ConversationNote.objects.create(conversation=conversation, body=body,
                                           author=by if isinstance(by, User) else None)


def inbound_mark_read(*, account: Account, before: datetime.datetime | None = None, message_id: int | None = None) -> int:
    """ClickSend's inbound-read: every unread inbound message (or those received before a time, or one), and the
    conversations' unread counts with them."""
    now = timezone.now()
    messages = InboundMessage.objects.filter(account=account, read_at=None)
    if before is not None:
        messages = messages.filter(received_at__lte=before)
    if message_id is not None:
        messages = messages.filter(pk=message_id)
    with transaction.atomic():
        touched = list(messages.values_list("conversation_id", flat=True).distinct().order_by())
        changed = messages.update(read_at=now)
        left = (InboundMessage.objects.filter(conversation_id=OuterRef("pk"), read_at=None).order_by()
                .values("conversation_id").annotate(n=Count("id")).values("n"))
        Conversation.objects.filter(pk__in=touched).update(  # one statement, however many conversations
            unread=Coalesce(Subquery(left), 0),
            has_unread=Exists(InboundMessage.objects.filter(conversation_id=OuterRef("pk"), read_at=None)),
        )
    return changed


def inbox_settings_save(*, account: Account, data: dict) -> InboxSettings:
    settings_, _ = InboxSettings.objects.get_or_create(account=account)
    for name in ("help_reply", "opt_out_reply", "opt_in_reply"):
        if name in data:
            text = str(data[name] or "").strip()
            if len(text) > 480:
                raise DomainError(f"{name} has at most 480 characters.", field=name)
            setattr(settings_, name, text)
    if "create_contacts" in data:
        settings_.create_contacts = bool(data["create_contacts"])
    settings_.save()
    return settings_


# --- Templates ---------------------------------------------------------------------------------------------------


def template_save(*, account: Account, name: str, body: str, template: Template | None = None) -> Template:
    name, body = (name or "").strip(), (body or "").replace("\r\n", "\n").strip()
    if not name or len(name) > 100:
        raise DomainError("template_name is required (at most 100 characters).", field="template_name")
    if not body:
        raise DomainError("body is required.", field="body")
    if len(body) > MAX_TEMPLATE:
        raise DomainError(f"body has at most {MAX_TEMPLATE} characters.", field="body")
    template = template or Template(account=account)
    template.name, template.body = name, body
    template.save()
    return template


def template_delete(*, template: Template) -> None:
    template.delete()
