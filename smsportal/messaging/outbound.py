"""Outbound webhooks: delivery receipts and inbound messages POSTed to a workspace's own URLs, signed, retried and
logged (README, "Outbound webhooks").

Emitting is set-based and cheap when nobody listens: `webhooks_emit` looks up the enabled rules of the events'
workspaces in one query and, only when some match, inserts one WebhookDelivery per (event, rule) in one statement
and wakes the delivery task after commit. Delivering claims due rows in batches (`FOR UPDATE SKIP LOCKED`), POSTs
them side by side through the gateways' keep-alive transport with short timeouts, and records each outcome:
2xx delivered; anything else, or no answer, retried later with backoff and jitter until RETRY_DELAYS runs out,
then failed. A claim moves `next_attempt_at` a lease ahead, so rows of a worker that dies come due again; a
delivered row is never claimed again. A receiver may therefore see a delivery twice (a worker died after POSTing
and before recording): `X-Smsportal-Delivery` is the id to dedupe on.

Signature: `X-Smsportal-Signature: t=<unix seconds>,v1=<hex>`, hex = HMAC-SHA256(key=the workspace's secret as
UTF-8, msg=b"<t>." + the raw body bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import netguard, statuses
from .bulk import insert_rows, update_rows
from .gateways import transport
from .models import DeliveryReport, Message, WebhookDelivery, WebhookRule, WebhookSecret

RECEIPT, INBOUND, PING = WebhookDelivery.Event.RECEIPT, WebhookDelivery.Event.INBOUND, WebhookDelivery.Event.PING
PENDING, DELIVERED, FAILED = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.DELIVERED,
                              WebhookDelivery.Status.FAILED)
USER_AGENT = "smsportal-webhooks"
TIMEOUT = (3.0, 10.0)  # seconds to connect, and to wait for each read
BATCH = 64  # deliveries one task claims
LANES = 16  # of them in flight at once
# Seconds before the next attempt after attempt 1, 2, …; ±20 % jitter. 10 attempts over about 16 hours.
RETRY_DELAYS = (15, 60, 180, 600, 1800, 3600, 7200, 14400, 28800)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# How long a claim holds its rows: longer than a batch can take (BATCH / LANES requests in a row, each at most
# connect + read timeouts); past it the rows come due again.
LEASE = timedelta(seconds=120)
MAX_RESPONSE = 64 * 1024  # bytes of a receiver's answer read; the log keeps the first 500 characters
SNIPPET = 500

# ClickSend's gateway status codes of a receipt (the same table /v3/sms/receipts answers with).
STATUS_CODES = {
    statuses.SENT: (200, "Success: Message sent to the network."),
    statuses.DELIVERED: (201, "Success: Message received on handset."),
    statuses.FAILED: (300, "Failed: The message was not accepted for delivery."),
    statuses.UNDELIVERED: (301, "Failed: The message could not be delivered to the handset."),
}


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


# --- Payloads -------------------------------------------------------------------------------------------------


def receipt_payload(*, message_id: int, account_id: int, status: str, to: str, custom_string: str,
                    sent_at: datetime | None, at: datetime | None, code: str = "", text: str = "") -> dict:
    """A delivery receipt in ClickSend's SmsReceipt shape and types, then smsportal's own fields — the same object
    GET /v3/sms/receipts/{message_id} answers. `sent_at`: when the gateway took it (else when it was accepted);
    `at`: when the outcome was recorded; `code`/`text`: the gateway's error, if any."""
    status_code, status_text = STATUS_CODES.get(status, (None, status.capitalize()))
    code, text = ("", "") if status == statuses.DELIVERED else (code or "", text or "")
    return {
        "timestamp_send": _unix(sent_at),
        "timestamp": _unix(at),
        "message_id": str(message_id),
        "status_code": status_code,
        "status_text": status_text,
        "error_code": int(code) if code.isdigit() else None,
        "error_text": text or None,
        "custom_string": custom_string,
        "subaccount_id": account_id,
        "message_type": "sms",
        "to": to,
        "status": status,
        "gateway_error_code": code,
    }


def inbound_payload(*, account_id: int, message_id, sender: str, to: str, body: str, at: datetime,
                    original_body: str = "", original_message_id=None, custom_string: str = "",
                    keyword: str = "") -> dict:
    """An inbound SMS in ClickSend's InboundSms shape and types (ids are strings, timestamp Unix seconds), plus
    `subaccount_id`. `message_id`: the inbound message's own id; `original_message_id`/`original_body`: the
    outbound message it answers, when known (the threading key); `custom_string`: that outbound's; `keyword`:
    `_keyword` as GET /v3/sms/inbound answers it (the keyword applied: stop, start, help or "")."""
    return {
        "timestamp": _unix(at),
        "from": sender,
        "to": to,
        "body": body,
        "original_body": original_body or "",
        "original_message_id": "" if original_message_id is None else str(original_message_id),
        "message_id": str(message_id),
        "custom_string": custom_string or "",
        "subaccount_id": account_id,
        "_keyword": keyword,
    }


def ping_payload(*, rule: WebhookRule, at: datetime) -> dict:
    return {
        "event": "ping",
        "rule_id": rule.pk,
        "rule_name": rule.name,
        "rule_kind": rule.kind,
        "timestamp": _unix(at),
        "message": "A test event from smsportal: answer 2xx and check the signature.",
    }


# --- Emitting -------------------------------------------------------------------------------------------------

_COLUMNS = ("rule_id", "account_id", "event", "url", "payload", "status", "attempts", "next_attempt_at",
            "created_at", "last_error", "last_response")
_CASTS = ("bigint", "bigint", "text", "text", "jsonb", "text", "smallint", "timestamptz", "timestamptz", "text",
          "text")
_RULE_FIELDS = ("id", "account_id", "url", "dedicated_number", "message_search_type", "message_search_term")


def _rules(kind: str, account_ids) -> dict[int, list[tuple]]:
    """{account id: its enabled rules of `kind`}, in one query."""
    by_account = defaultdict(list)
    for rule in (WebhookRule.objects.filter(account_id__in=sorted(set(account_ids)), kind=kind, enabled=True)
                 .order_by("id").values_list(*_RULE_FIELDS)):
        by_account[rule[1]].append(rule)
    return by_account


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isalnum()).lower()


def inbound_matches(*, dedicated_number: str, search_type: int, term: str, payload: dict) -> bool:
    """Whether an inbound rule fires for an inbound payload: its number (`*` for any) and its search on the body
    (0 any message, 1 starts with, 2 contains, 3 does not contain, 4 is exactly; trimmed, any case)."""
    number = (dedicated_number or "*").strip()
    if number not in ("", "*") and _digits(number) != _digits(str(payload.get("to") or "")):
        return False
    if not search_type:
        return True
    body = " ".join(str(payload.get("body") or "").split()).casefold()
    term = " ".join((term or "").split()).casefold()
    Search = WebhookRule.SearchType
    if search_type == Search.STARTS_WITH:
        return body.startswith(term)
    if search_type == Search.CONTAINS:
        return term in body
    if search_type == Search.NOT_CONTAINS:
        return term not in body
    if search_type == Search.EXACTLY:
        return body == term
    return False


def _insert(kind: str, rules: dict[int, list[tuple]], events, now) -> int:
    rows = []
    for account_id, payload in events:
        for rule_id, _account, url, number, search_type, term in rules.get(account_id, ()):
            if kind == INBOUND and not inbound_matches(dedicated_number=number, search_type=search_type, term=term,
                                                      payload=payload):
                continue
            rows.append((rule_id, account_id, kind, url, payload, PENDING, 0, now, now, "", ""))
    if rows:
        insert_rows(WebhookDelivery, _COLUMNS, _CASTS, rows)
        transaction.on_commit(kick)
    return len(rows)


def webhooks_emit(*, kind: str, events: list[tuple[int, dict]], now: datetime | None = None) -> int:
    """Queue one delivery per (event, enabled rule of its workspace for `kind`) and wake the delivery task after
    commit. `events` are (account_id, payload): for "inbound", payloads from `inbound_payload` (the rules' number
    and search filters read its `to` and `body`); for "receipt", from `receipt_payload`. One query when no
    workspace listens; one more statement when some do. Returns the number of deliveries queued."""
    if kind not in (RECEIPT, INBOUND):
        raise ValueError(f"unknown webhook kind {kind!r}")
    if not events:
        return 0
    rules = _rules(kind, (account_id for account_id, _ in events))
    if not rules:
        return 0
    return _insert(kind, rules, events, now or timezone.now())


def receipts_emit(*, applied: list[tuple[int, int, int, str]], now: datetime) -> int:
    """Receipts for delivery reports just applied: (report id, message id, account id, status it moved to); only
    final outcomes (delivered, undelivered, failed) are receipts. Called inside reports_apply's transaction: one
    query when no workspace listens, and then three more statements whatever the batch size."""
    applied = [a for a in applied if a[3] in statuses.RECEIPT]
    if not applied:
        return 0
    rules = _rules(RECEIPT, (account_id for _, _, account_id, _ in applied))
    applied = [a for a in applied if a[2] in rules]
    if not applied:
        return 0
    messages = {m[0]: m[1:] for m in Message.objects.filter(pk__in={a[1] for a in applied}).values_list(
        "id", "to", "custom_string", "submitted_at", "created_at", "final_at", "updated_at", "error_code",
        "error_text")}
    reports = {r[0]: r for r in DeliveryReport.objects.filter(pk__in=[a[0] for a in applied])
               .values_list("id", "code", "text")}
    events = []
    for report_id, message_id, account_id, status in applied:
        to, custom_string, submitted_at, created_at, final_at, updated_at, error_code, error_text = messages[message_id]
        _, code, text = reports[report_id]
        events.append((account_id, receipt_payload(
            message_id=message_id, account_id=account_id, status=status, to=to, custom_string=custom_string,
            sent_at=submitted_at or created_at, at=final_at or updated_at,
            code=code or error_code, text=text or error_text,
        )))
    return _insert(RECEIPT, rules, events, now)


def kick() -> None:
    """Wake the delivery task (call after commit)."""
    from .tasks import webhooks_kick

    webhooks_kick()


# --- Signing --------------------------------------------------------------------------------------------------


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-Smsportal-Signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def secrets_for(account_ids) -> dict[int, str]:
    """Each workspace's signing secret, made for those that have none yet."""
    account_ids = set(account_ids)
    found = dict(WebhookSecret.objects.filter(account_id__in=account_ids).values_list("account_id", "secret"))
    for account_id in account_ids - set(found):
        found[account_id] = WebhookSecret.objects.get_or_create(account_id=account_id)[0].secret
    return found


def encoded(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- Delivering -----------------------------------------------------------------------------------------------


class _CappedResponse(http.client.HTTPResponse):
    """Reads at most MAX_RESPONSE bytes of an answer; a longer one closes the connection instead of being read."""

    def read(self, amt=None):
        if amt is not None:
            return super().read(amt)
        data = super().read(MAX_RESPONSE)
        if not self.isclosed():
            self.will_close = True
        return data


class _GuardedTransport(transport.Transport):
    """The gateways' keep-alive transport, connecting only to addresses netguard vetted for this very request
    (resolved again and checked before each one; a kept-alive connection goes to an address vetted when it was
    opened). No redirects are followed."""

    def __init__(self):
        super().__init__()
        self._vetted = threading.local()

    def request(self, method: str, url: str, **kwargs) -> transport.Response:
        parts = netguard.url_parts(url)
        self._vetted.addresses = netguard.vetted_addresses(parts.hostname, netguard.default_port(parts))
        return super().request(method, url, **kwargs)

    def _connect(self, parts, timeout):
        connect_timeout, read_timeout = timeout
        addresses = list(self._vetted.addresses)
        port = netguard.default_port(parts)

        def create_connection(_address, timeout=connect_timeout, source_address=None):
            error = None
            for address in addresses:
                try:
                    return socket.create_connection((address, port), timeout, source_address)
                except OSError as exc:
                    error = exc
            raise error or OSError("no address to connect to")

        if parts.scheme == "https":
            conn = transport._HTTPSConnection(parts.hostname, parts.port, timeout=connect_timeout,
                                              context=transport._tls_context())
        else:
            conn = transport._HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout)
        conn._create_connection = create_connection  # the vetted address; Host and TLS name stay the host's
        conn.response_class = _CappedResponse
        conn.connect()
        conn.sock.settimeout(read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


_transport_instance: _GuardedTransport | None = None


def webhook_transport() -> _GuardedTransport:
    global _transport_instance
    if _transport_instance is None:
        _transport_instance = _GuardedTransport()
    return _transport_instance


@dataclass
class Outcome:
    status_code: int | None = None
    error: str = ""
    response: str = ""
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(*, delivery_id: int, event: str, url: str, payload: Any, secret: str, attempt: int = 1) -> Outcome:
    """One attempt: POST the payload, signed, to `url`. Never raises for what the receiver or the network does."""
    body = encoded(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Smsportal-Event": event,
        "X-Smsportal-Delivery": str(delivery_id),
        "X-Smsportal-Attempt": str(attempt),
        "X-Smsportal-Signature": signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    try:
        response = webhook_transport().request("POST", url, content=body, headers=headers, timeout=TIMEOUT)
    except netguard.Unresolvable as exc:
        return Outcome(error=str(exc)[:SNIPPET])
    except netguard.Refused as exc:
        return Outcome(error=str(exc)[:SNIPPET], refused=True)
    except transport.TransportError as exc:
        return Outcome(error=f"{exc.code}: {exc}"[:SNIPPET])
    outcome = Outcome(status_code=response.status_code, response=response.text[:SNIPPET])
    if not outcome.ok:
        outcome.error = f"HTTP {response.status_code} {response.reason}"[:SNIPPET]
    return outcome


def backoff(attempt: int) -> float | None:
    """Seconds to wait after failed attempt number `attempt`, or None when that was the last one."""
    if attempt > len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[attempt - 1] * random.uniform(0.8, 1.2)


def _claim(limit: int, now: datetime) -> tuple[list[dict], datetime]:
    """Take up to `limit` due deliveries (rows another worker holds are skipped), count the attempt and hold them
    for LEASE; with each, the URL its rule has now."""
    lease = now + LEASE
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(status=PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id").select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return [], lease
        WebhookDelivery.objects.filter(pk__in=ids, status=PENDING).update(
            next_attempt_at=lease, attempts=F("attempts") + 1
        )
        rows = list(WebhookDelivery.objects.filter(pk__in=ids, status=PENDING, next_attempt_at=lease).order_by("id")
                    .values("id", "account_id", "event", "payload", "attempts", "rule__url"))
    return rows, lease


def deliver_batch(*, limit: int = BATCH, now: datetime | None = None) -> dict:
    """One delivery task's work: claim, POST side by side, record. Returns counts by outcome."""
    rows, lease = _claim(limit, now or timezone.now())
    if not rows:
        return {}
    secrets = secrets_for(r["account_id"] for r in rows)
    outcomes = transport.run_concurrently(
        lambda r: post(delivery_id=r["id"], event=r["event"], url=r["rule__url"], payload=r["payload"],
                       secret=secrets[r["account_id"]], attempt=r["attempts"]),
        rows, LANES,
    )
    return {"claimed": len(rows), **record(rows=rows, outcomes=outcomes, lease=lease)}


def record(*, rows: list[dict], outcomes: list[Outcome], lease: datetime | None) -> dict:
    """Store each attempt's outcome, guarded: only rows still pending under this claim's lease change."""
    now = timezone.now()
    delivered, retry, failed = [], [], []
    for row, outcome in zip(rows, outcomes, strict=True):
        common = (row["rule__url"], outcome.status_code, outcome.error, outcome.response)
        delay = None if outcome.ok or outcome.refused else backoff(row["attempts"])
        if outcome.ok:
            delivered.append((row["id"], *common))
        elif delay is not None:
            retry.append((row["id"], *common, now + timedelta(seconds=delay)))
        else:
            failed.append((row["id"], *common))
    columns = ("url", "last_status_code", "last_error", "last_response")
    casts = ("text", "smallint", "text", "text")
    guard = {"where": "m.status = %s AND m.next_attempt_at = %s", "where_params": [PENDING, lease]}
    if lease is None:
        guard = {"where": "m.status = %s", "where_params": [PENDING]}
    with transaction.atomic():
        counts = Counter(
            delivered=update_rows(WebhookDelivery, ids_values=delivered, columns=columns, casts=casts, **guard,
                                  set_sql="status = %s, delivered_at = %s, next_attempt_at = NULL",
                                  set_params=[DELIVERED, now]),
            retrying=update_rows(WebhookDelivery, ids_values=retry, columns=(*columns, "next_attempt_at"),
                                 casts=(*casts, "timestamptz"), **guard),
            failed=update_rows(WebhookDelivery, ids_values=failed, columns=columns, casts=casts, **guard,
                               set_sql="status = %s, next_attempt_at = NULL", set_params=[FAILED]),
        )
    return {k: v for k, v in counts.items() if v}


def deliveries_due(*, now: datetime | None = None) -> bool:
    return WebhookDelivery.objects.filter(status=PENDING, next_attempt_at__lte=now or timezone.now()).exists()
