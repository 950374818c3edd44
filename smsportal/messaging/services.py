"""Writes of the SMS engine: accepting messages (and pricing them as a dry run), cancelling, marking receipts
read. Dispatch lives in dispatch.py and delivery reports in reports.py; all three share `release_credit`."""

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from contacts.models import OptOut
from contacts.phones import InvalidNumber, normalize_number
from smsportal.accounts import services as accounts
from smsportal.accounts.models import Account
from smsportal.errors import DomainError, InsufficientCredit

from . import encoding, statuses
from .bulk import Event, execute, insert_events, insert_rows, update_messages
from .models import GatewayConnection, Message, MessageEvent
from .routing import Router
from .selectors import pricing_card_for

# Per-message result codes, ClickSend's where it has one.
SUCCESS = "SUCCESS"
CODES = {
    "invalid_number": "INVALID_RECIPIENT",
    "empty_body": "EMPTY_MESSAGE",
    "invalid_sender": "INVALID_SENDER_ID",
    "opted_out": "OPTED_OUT",
    "no_route": "NO_ROUTE",
    "no_credit": "INSUFFICIENT_CREDIT",
}
REASON_TEXT = {
    "opted_out": "The number opted out of messages from this workspace.",
    "no_route": "No rate or enabled gateway connection serves this country.",
    "no_credit": "Not enough credit for this send.",
    "empty_body": "The message body is empty.",
}
MAX_BODY = 1600  # characters: ClickSend's limit, 10+ segments
_SENDER = re.compile(r"^(\+?\d{3,15}|[A-Za-z0-9 \-_.&]{1,11})$")


@dataclass
class SmsRequest:
    to: str
    body: str
    sender: str = ""
    schedule: datetime | None = None
    custom_string: str = ""
    country: str = ""  # the region national numbers are read in; default: the account's
    contact_id: int | None = None
    campaign_id: int | None = None
    variant_key: str = ""


@dataclass
class SmsOutcome:
    request: SmsRequest
    to: str
    country: str
    body: str
    encoding: str
    segments: int
    price: Decimal
    status: str
    code: str = SUCCESS
    reason: str = ""  # blocked_reason
    detail: str = ""
    message_id: int | None = None
    idempotency_key: str = ""


@dataclass
class SendResult:
    outcomes: list[SmsOutcome] = field(default_factory=list)
    currency: str = "USD"

    @property
    def total_price(self) -> Decimal:
        return sum((o.price for o in self.outcomes if o.code == SUCCESS), Decimal("0.0000"))

    @property
    def queued_count(self) -> int:
        return sum(1 for o in self.outcomes if o.code == SUCCESS)

    @property
    def blocked_count(self) -> int:
        return len(self.outcomes) - self.queued_count


def _assess(account: Account, requests: list[SmsRequest], now: datetime) -> list[SmsOutcome]:
    """Number, encoding, segments, price and any reason to block, for each request; writes nothing."""
    card = pricing_card_for(account=account)
    router = Router(account.pk, now=now)
    outcomes = []
    for request in requests:
        body = request.body or ""
        info_encoding, segments = encoding.encoding_of(body), encoding.segment_count(body)
        reason, detail, to, country = "", "", (request.to or "").strip()[:32], ""
        try:
            number = normalize_number(request.to or "", request.country or account.default_region)
            to, country = number.e164, number.country
        except InvalidNumber as exc:
            reason, detail = "invalid_number", str(exc)
        if not reason and not body.strip():
            reason = "empty_body"
        elif not reason and len(body) > MAX_BODY:
            reason, detail = "empty_body", f"The body has {len(body)} characters; at most {MAX_BODY}."
        if not reason and request.sender and not _SENDER.match(request.sender):
            reason, detail = "invalid_sender", "The sender must be a phone number or 1–11 letters, digits and spaces."
        price = Decimal("0.0000")
        if not reason:
            cost = card.cost(country=country, segments=segments)
            if cost is None or not router.can_route(country):
                reason = "no_route"
            else:
                price = cost
        scheduled = request.schedule is not None and request.schedule > now
        outcomes.append(SmsOutcome(
            request=request, to=to, country=country, body=body, encoding=info_encoding, segments=segments,
            price=price, status=statuses.BLOCKED if reason else (statuses.SCHEDULED if scheduled else statuses.QUEUED),
            code=CODES[reason] if reason else SUCCESS, reason=reason, detail=detail or REASON_TEXT.get(reason, ""),
        ))
    opted_out = set(
        OptOut.objects.filter(account=account, phone_number__in={o.to for o in outcomes if not o.reason})
        .values_list("phone_number", flat=True)
    )
    for outcome in outcomes:
        if not outcome.reason and outcome.to in opted_out:
            _block(outcome, "opted_out")
    return outcomes


def _block(outcome: SmsOutcome, reason: str) -> None:
    outcome.status, outcome.code, outcome.reason = statuses.BLOCKED, CODES[reason], reason
    outcome.detail, outcome.price = REASON_TEXT[reason], Decimal("0.0000")


def messages_price(*, account: Account, requests: list[SmsRequest]) -> SendResult:
    """What `messages_send` would do and charge, without doing it (/v3/sms/price, the composer's preview)."""
    outcomes = _assess(account, requests, timezone.now())
    total = sum((o.price for o in outcomes if o.code == SUCCESS), Decimal(0))
    account.refresh_from_db(fields=["balance"])
    if total > account.balance:
        for outcome in outcomes:
            if outcome.code == SUCCESS:
                _block(outcome, "no_credit")
    return SendResult(outcomes=outcomes, currency=account.currency)


def messages_send(*, account: Account, requests: list[SmsRequest], source: str = Message.Source.API) -> SendResult:
    """Accept messages: store each (blocked ones too, with their reason), reserve their credit at once, and
    leave the queued ones for the dispatcher. All or nothing: without credit for all, none is charged."""
    now = timezone.now()
    outcomes = _assess(account, requests, now)
    total = sum((o.price for o in outcomes if o.code == SUCCESS), Decimal(0))
    with transaction.atomic():
        reservation = None
        if total > 0:
            try:
                reservation = accounts.credit_reserve(
                    account_id=account.pk, amount=total, reference=f"sms:{uuid.uuid4().hex[:12]}"
                )
            except InsufficientCredit:
                for outcome in outcomes:
                    if outcome.code == SUCCESS:
                        _block(outcome, "no_credit")
        rows = []
        for outcome in outcomes:
            request = outcome.request
            outcome.idempotency_key = uuid.uuid4().hex
            due = request.schedule if outcome.status == statuses.SCHEDULED else now
            rows.append(Message(
                account=account, contact_id=request.contact_id, campaign_id=request.campaign_id,
                variant_key=request.variant_key, to=outcome.to, country=outcome.country, sender=(request.sender or "")[:32],
                body=outcome.body, encoding=outcome.encoding, segments=outcome.segments, price=outcome.price,
                reservation=reservation if outcome.code == SUCCESS else None, status=outcome.status,
                blocked_reason=outcome.reason, error_text=outcome.detail if outcome.reason else "",
                idempotency_key=outcome.idempotency_key, custom_string=(request.custom_string or "")[:100],
                source=source, schedule_at=request.schedule, created_at=now, updated_at=now,
                queued_at=now if outcome.status == statuses.QUEUED else None,
                final_at=now if outcome.status == statuses.BLOCKED else None,
                next_attempt_at=due if outcome.code == SUCCESS else None,
            ))
        Message.objects.bulk_create(rows, batch_size=1000)
        MessageEvent.objects.bulk_create(
            [
                MessageEvent(message_id=row.pk, status=row.status, via=statuses.USER, code=o.code if o.reason else "",
                             detail=o.detail if o.reason else "Accepted.", at=now)
                for row, o in zip(rows, outcomes, strict=True)
            ],
            batch_size=1000,
        )
        for row, outcome in zip(rows, outcomes, strict=True):
            outcome.message_id = row.pk
        queued = sum(1 for o in outcomes if o.status == statuses.QUEUED)
        if queued:
            from .tasks import dispatch_kick

            transaction.on_commit(lambda: dispatch_kick(queued))
    return SendResult(outcomes=outcomes, currency=account.currency)


def release_credit(moves) -> None:
    """Settle or refund the credit of messages that just reached the carrier or failed before it.

    `moves` are (reservation_id, price, reached_carrier) of messages whose guarded status move happened in the
    caller's transaction; that move is what makes this once-only.
    """
    parts: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for reservation_id, price, reached in moves:
        if reservation_id and price:
            parts[reservation_id][0 if reached else 1] += price
    for reservation_id in sorted(parts):  # one lock order: two workers never deadlock on reservations
        spent, refunded = parts[reservation_id]
        accounts.credit_release(reservation_id=reservation_id, spent=spent, refunded=refunded)


def messages_cancel(*, account: Account, message_ids=None, campaign_id: int | None = None) -> int:
    """Cancel scheduled or queued messages not yet claimed by the dispatcher: the given ids, a campaign's, or
    all of them. Their credit goes back."""
    now = timezone.now()
    cancellable = statuses.sources(statuses.CANCELLED, statuses.USER)
    with transaction.atomic():
        if campaign_id is not None and message_ids is None and db.vendor == "postgresql":
            return _cancel_campaign(account.pk, campaign_id, now)
        candidates = Message.objects.select_for_update().filter(account=account, status__in=cancellable)
        if campaign_id is not None:
            candidates = candidates.filter(campaign_id=campaign_id)
        if message_ids is not None:
            candidates = candidates.filter(pk__in=list(message_ids))
        rows = list(candidates.values_list("id", "reservation_id", "price"))
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        Message.objects.filter(pk__in=ids).update(
            status=statuses.CANCELLED, final_at=now, updated_at=now, next_attempt_at=None
        )
        insert_events(Event(i, statuses.CANCELLED, statuses.USER, now, detail="Cancelled.") for i in ids)
        release_credit((reservation_id, price, False) for _, reservation_id, price in rows)
    return len(rows)


def _cancel_campaign(account_id: int, campaign_id: int, now) -> int:
    """A whole campaign's waiting messages in one statement (a million of them is one UPDATE, not a list of ids)."""
    table, events = Message._meta.db_table, MessageEvent._meta.db_table
    cancellable = sorted(statuses.sources(statuses.CANCELLED, statuses.USER))
    rows = execute(
        f"WITH moved AS (UPDATE {table} SET status = %s, final_at = %s, updated_at = %s, next_attempt_at = NULL"
        f" WHERE account_id = %s AND campaign_id = %s AND status = ANY(%s) RETURNING id, reservation_id, price),"
        f" logged AS (INSERT INTO {events} (message_id, status, via, code, detail, raw, at)"
        f" SELECT id, %s, %s, '', 'Cancelled.', NULL, %s FROM moved)"
        f" SELECT reservation_id, sum(price), count(*) FROM moved GROUP BY reservation_id",
        [statuses.CANCELLED, now, now, account_id, campaign_id, cancellable, statuses.CANCELLED, statuses.USER, now],
    ).fetchall()
    release_credit((reservation_id, total, False) for reservation_id, total, _ in rows)
    return sum(count for _, _, count in rows)


def messages_hold(*, account: Account, campaign_id: int) -> int:
    """Hold a campaign's waiting messages (a pause): without a due time neither the release of schedules nor the
    dispatcher's claim will take them. Messages already claimed finish their send."""
    return Message.objects.filter(
        account=account, campaign_id=campaign_id, status__in=(statuses.QUEUED, statuses.SCHEDULED),
    ).exclude(next_attempt_at=None).update(next_attempt_at=None, updated_at=timezone.now())


def messages_held(*, account: Account, campaign_id: int, after_id: int = 0, limit: int = 5000):
    """(id, to, country) of a campaign's held messages, in id order, from after `after_id`."""
    return list(
        Message.objects.filter(account=account, campaign_id=campaign_id, next_attempt_at=None,
                               status__in=(statuses.QUEUED, statuses.SCHEDULED), pk__gt=after_id)
        .order_by("pk").values_list("id", "to", "country")[:limit]
    )


def messages_reschedule(*, account: Account, due: list[tuple[int, datetime]]) -> int:
    """Give held messages their due times again (a resume); those due now are queued, the others scheduled."""
    now = timezone.now()
    rows = [(message_id, at, statuses.QUEUED if at <= now else statuses.SCHEDULED) for message_id, at in due]
    with transaction.atomic():
        changed = update_messages(
            ids_values=rows, columns=("next_attempt_at", "status"), casts=("timestamptz", "text"),
            set_sql="updated_at = %s", set_params=[now],
            where="m.next_attempt_at IS NULL AND m.status IN (%s, %s) AND m.account_id = %s",
            where_params=[statuses.QUEUED, statuses.SCHEDULED, account.pk],
        )
        queued = sum(1 for _, at, status in rows if status == statuses.QUEUED)
        if queued:
            from .tasks import dispatch_kick

            transaction.on_commit(lambda: dispatch_kick(queued))
    return changed


# Columns of a message written by messages_insert, in this order.
INSERT_COLUMNS = (
    "account_id", "contact_id", "campaign_id", "variant_key", "to", "country", "sender", "body", "encoding",
    "segments", "price", "reservation_id", "status", "blocked_reason", "error_code", "error_text",
    "idempotency_key", "attempts", "next_attempt_at", "custom_string", "source", "receipt_read", "schedule_at",
    "created_at", "queued_at", "final_at", "updated_at",
)
_INSERT_CASTS = (
    "bigint", "bigint", "bigint", "text", "text", "text", "text", "text", "text", "integer", "numeric", "bigint",
    "text", "text", "text", "text", "text", "smallint", "timestamptz", "text", "text", "boolean", "timestamptz",
    "timestamptz", "timestamptz", "timestamptz", "timestamptz",
)


def messages_insert(*, rows: list[tuple]) -> int:
    """Write prepared messages (INSERT_COLUMNS, already priced, reserved and given their status) in one
    statement: a campaign's fan-out. Queued ones wake the dispatcher after commit."""
    count = insert_rows(Message, (*INSERT_COLUMNS, "gateway_message_id"), (*_INSERT_CASTS, "text"), [
        (*row[:10], str(row[10]), *row[11:], "") for row in rows  # Decimal price as exact text
    ])
    status_at = INSERT_COLUMNS.index("status")
    queued = sum(1 for row in rows if row[status_at] == statuses.QUEUED)
    if queued:
        from .tasks import dispatch_kick

        transaction.on_commit(lambda: dispatch_kick(queued))
    return count


def sender_problem(sender: str) -> str:
    """Why a sender cannot be used, or "" when it can."""
    if sender and not _SENDER.match(sender):
        return "The sender must be a phone number or 1–11 letters, digits and spaces."
    return ""


def receipts_mark_read(*, account: Account, before: datetime | None = None) -> int:
    """Mark delivery receipts read (ClickSend's receipts-read): all of them, or those received before a time."""
    receipts = Message.objects.filter(account=account, receipt_read=False, status__in=statuses.RECEIPT)
    if before is not None:
        receipts = receipts.filter(final_at__lte=before)
    return receipts.update(receipt_read=True)


# --- Gateway connections --------------------------------------------------------------------------

def _clean_countries(value) -> list[str]:
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value or [])
    countries = sorted({str(c).strip().upper() for c in items if str(c).strip()})
    for country in countries:
        if len(country) != 2 or not country.isalpha():
            raise DomainError(f"{country!r} is not a two-letter country code.", field="countries")
    return countries


def _clean_whole(value, *, field: str, minimum: int, maximum: int, allow_none: bool = False) -> int | None:
    if value in (None, "") and allow_none:
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainError(f"{field} must be a whole number.", field=field) from None
    if not minimum <= number <= maximum:
        raise DomainError(f"{field} must be from {minimum} to {maximum}.", field=field)
    return number


def gateway_connection_save(*, account: Account, data: dict, connection: GatewayConnection | None = None) -> GatewayConnection:
    """Create a connection (data has `type`) or change one. A credential left blank, or sent back masked as
    shown, keeps its stored value, so an edit form never needs the secret again."""
    from .gateways import gateway_class

    kind = connection.kind if connection else (data.get("type") or "").strip()
    try:
        cls = gateway_class(kind)
    except LookupError:
        raise DomainError(f"type must be one of {', '.join(GatewayConnection.Kind.values)}.", field="type") from None
    name = str(data.get("name", connection.name if connection else cls.label) or "").strip()
    if not name or len(name) > 100:
        raise DomainError("name is required (at most 100 characters).", field="name")
    config = dict(connection.config if connection else {})
    if "config" in data:
        if not isinstance(data["config"], dict):
            raise DomainError("config must be an object.", field="config")
        config = {k: v for k, v in data["config"].items() if v not in (None, "")}
    credentials = dict(connection.credentials if connection else {})
    if "credentials" in data:
        if not isinstance(data["credentials"], dict):
            raise DomainError("credentials must be an object.", field="credentials")
        for key, value in data["credentials"].items():
            if value in (None, "") or str(value).startswith("••••"):
                continue
            credentials[key] = str(value)
    problems = cls.validate(config=config, credentials=credentials)
    if problems:
        key, message = next(iter(problems.items()))
        section = "credentials" if key in cls.credential_fields else "config"
        raise DomainError(message, field=f"{section}.{key}")
    values = {
        "name": name, "config": config, "credentials": credentials,
        "countries": _clean_countries(data["countries"]) if "countries" in data else (connection.countries if connection else []),
        "priority": _clean_whole(data.get("priority", connection.priority if connection else 100), field="priority",
                                 minimum=0, maximum=10000),
        "cap_segments_per_second": _clean_whole(
            data.get("throughput_cap", connection.cap_segments_per_second if connection else None),
            field="throughput_cap", minimum=1, maximum=100000, allow_none=True,
        ),
        "enabled": bool(data.get("enabled", connection.enabled if connection else True)),
    }
    if connection is None:
        return GatewayConnection.objects.create(account=account, kind=kind, **values)
    for attr, value in values.items():
        setattr(connection, attr, value)
    # An edit is a fresh start for failover: someone looked at it.
    connection.failure_streak, connection.skipped_until = 0, None
    connection.save()
    return connection


def gateway_connection_delete(*, connection: GatewayConnection) -> None:
    """Messages keep their history (their gateway becomes unknown); queued ones route elsewhere or are blocked."""
    connection.delete()


# --- The sandbox's phones writing back ------------------------------------------------------------------------------


def sandbox_inbound(*, account: Account, sender: str, to: str, body: str, source: str):
    """A message from a phone to one of the workspace's numbers, arriving through its own sandbox connection exactly
    as a real gateway's inbound webhook delivers one. `sender` is E.164 already. Returns (InboundSms, connection)."""
    from .gateways.base import InboundSms
    from .routing import connections_for
    from .webhooks import inbound_deliver

    connection = next((c for c in connections_for(account.pk)
                       if c.kind == GatewayConnection.Kind.SANDBOX and c.account_id == account.pk), None)
    if connection is None:
        raise DomainError("This workspace has no sandbox gateway connection of its own (a subaccount without "
                          "connections uses its main account's): add one in /v3/gateways to receive test messages.")
    sms = InboundSms(
        sender=sender, to=to, body=body, gateway_message_id=f"SBIN{uuid.uuid4().hex[:20].upper()}",
        at=timezone.now(), raw={"from": sender, "to": to, "body": body, "source": source},
    )
    inbound_deliver(connection=connection, messages=[sms])
    return sms, connection
