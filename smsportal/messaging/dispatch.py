"""Sending: claim due messages in a batch, route them, submit through their gateways under each connection's
cap, and record what happened — with guarded moves, so two workers or a rerun never submit a message twice.

A batch goes through three committed steps: claim (queued → sending, attempt counted, connection chosen, in
one statement), submit, record. A worker that dies between the first and the last leaves messages in
`sending`; `recover_interrupted` finds them once their lease has passed and resubmits them only through a
gateway that dedupes on our idempotency key, else fails them (refunded): an unknown outcome is never
retried into a double text. A claim's `updated_at` is its lease token: a worker renews it before submitting
rows it has held for a quarter of the lease, and drops any a sweep took back meanwhile.
"""

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import statuses, throttle
from .bulk import Event, execute, insert_events, json_rows, unpacked, update_messages
from .gateways.base import ACCEPTED, TEMPORARY, OutboundSms, SubmitResult
from .models import DeliveryReport, GatewayConnection, Message
from .routing import Router, gateway_for, record_health
from .services import release_credit

_CLAIM_FIELDS = ("id", "account_id", "to", "country", "sender", "body", "segments", "idempotency_key", "attempts",
                 "reservation_id", "price", "gateway_id")


def _gateway(connection: GatewayConnection):
    return gateway_for(connection)


@dataclass
class Claim:
    """What one claim took: rows now `sending`, each with its connection; and what it settled without sending."""

    rows: list[dict] = field(default_factory=list)
    connections: dict[int, GatewayConnection] = field(default_factory=dict)
    blocked: int = 0
    waiting: int = 0


def claim(*, limit: int, now=None) -> Claim:
    """Take up to `limit` due queued messages (rows another worker holds are skipped), route each, and move the
    routable ones to `sending` on their connection in one statement. Messages no enabled connection serves are
    blocked (refunded); those whose connections are all being skipped wait, queued, until one reopens."""
    now = now or timezone.now()
    taken = Claim()
    with transaction.atomic():
        due = list(
            Message.objects.filter(status=statuses.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id").select_for_update(skip_locked=True)
            .values_list("id", "account_id", "country")[:limit]
        )
        if not due:
            return taken
        routers: dict[int, Router] = {}
        routed, unroutable, waiting = [], [], []
        for message_id, account_id, country in due:
            router = routers.get(account_id) or routers.setdefault(account_id, Router(account_id, now=now))
            chosen = router.route(country)
            if chosen is not None:
                taken.connections[chosen.pk] = chosen
                routed.append((message_id, chosen.pk))
            elif router.can_route(country):
                waiting.append((message_id, router.next_open_at(country) or now + timedelta(seconds=5)))
            else:
                unroutable.append(message_id)
        taken.rows = _take(routed, now)
        if unroutable:
            taken.blocked = _block_unroutable(unroutable, now)
        if waiting:
            # Every connection for these countries is being skipped: no attempt is used while they wait.
            taken.waiting = update_messages(
                ids_values=waiting, columns=["next_attempt_at"], casts=["timestamptz"], set_sql="updated_at = %s",
                set_params=[now], where="m.status = %s", where_params=[statuses.QUEUED],
            )
    return taken


def _take(routed: list[tuple[int, int]], now) -> list[dict]:
    """queued → sending on the chosen connection, attempt counted; the rows as the dispatcher needs them."""
    if not routed:
        return []
    table = Message._meta.db_table
    returning = ", ".join(f'm."{name}"' for name in _CLAIM_FIELDS)
    if db.vendor == "postgresql":
        cursor = execute(
            f"UPDATE {table} AS m SET status = %s, attempts = m.attempts + 1, updated_at = %s, gateway_id = v.gw"
            f" FROM {unpacked(('bigint', 'bigint'), ('id', 'gw'))} WHERE m.id = v.id AND m.status = %s"
            f" RETURNING {returning}",
            [statuses.SENDING, now, json_rows(routed), statuses.QUEUED],
        )
        rows = [dict(zip(_CLAIM_FIELDS, row, strict=True), updated_at=now) for row in cursor.fetchall()]
        rows.sort(key=lambda r: r["id"])
        return rows
    by_connection = defaultdict(list)
    for message_id, connection_id in routed:
        by_connection[connection_id].append(message_id)
    for connection_id, ids in by_connection.items():
        Message.objects.filter(pk__in=ids, status=statuses.QUEUED).update(
            status=statuses.SENDING, attempts=F("attempts") + 1, updated_at=now, gateway_id=connection_id
        )
    return list(Message.objects.filter(pk__in=[i for i, _ in routed], status=statuses.SENDING, updated_at=now)
                .order_by("id").values(*_CLAIM_FIELDS, "updated_at"))


def dispatch_batch(*, limit: int | None = None, now=None, sleep=time.sleep) -> dict:
    """One dispatch task's work. Returns counts by outcome."""
    taken = claim(limit=limit or settings.SMS_DISPATCH_BATCH, now=now)
    counts = defaultdict(int, claimed=len(taken.rows) + taken.blocked + taken.waiting)
    if taken.blocked:
        counts["blocked"] += taken.blocked
    if taken.waiting:
        counts["waiting"] += taken.waiting
    by_connection: dict[int, list[dict]] = defaultdict(list)
    for row in taken.rows:
        by_connection[row["gateway_id"]].append(row)
    lease = _Lease()
    for connection_id, batch in by_connection.items():
        for outcome, n in _send_through(taken.connections[connection_id], batch, lease=lease, sleep=sleep).items():
            counts[outcome] += n
    return dict(counts)


class _Lease:
    """When this worker last made sure its claim still stands; renewing is needed only as it ages."""

    def __init__(self):
        self.renewed = time.monotonic()

    def keep(self, rows: list[dict]) -> list[dict]:
        if time.monotonic() - self.renewed < settings.SMS_SENDING_LEASE / 4:
            return rows
        self.renewed = time.monotonic()
        return _still_ours(rows)


def _send_through(connection: GatewayConnection, rows: list[dict], *, lease: _Lease, sleep) -> dict:
    gateway = _gateway(connection)
    counts = defaultdict(int)
    size = throttle.chunk_size(connection.cap_segments_per_second, gateway.max_batch)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        throttle.wait_for(connection.pk, sum(r["segments"] for r in chunk), connection.cap_segments_per_second,
                          sleep=sleep)
        chunk = lease.keep(chunk)
        if not chunk:
            continue
        outbound = [
            OutboundSms(message_id=r["id"], idempotency_key=r["idempotency_key"], to=r["to"], sender=r["sender"],
                        body=r["body"], segments=r["segments"], attempt=r["attempts"])
            for r in chunk
        ]
        results = gateway.send_batch(outbound)
        record_results(connection=connection, rows=chunk, results=results,
                       reports=gateway.reports_after_submit(outbound, results))
        for result in results:
            counts[result.outcome] += 1
    return counts


def _still_ours(rows: list[dict]) -> list[dict]:
    """Renew the lease on claimed rows; drop any a recovery sweep took back meanwhile (a stall past the lease),
    so it cannot go out from here and from its new claimer too."""
    now = timezone.now()
    by_token = defaultdict(list)
    for row in rows:
        by_token[row["updated_at"]].append(row["id"])
    for token, ids in by_token.items():
        Message.objects.filter(pk__in=ids, status=statuses.SENDING, updated_at=token).update(updated_at=now)
    ours = set(Message.objects.filter(pk__in=[r["id"] for r in rows], status=statuses.SENDING, updated_at=now)
               .values_list("id", flat=True))
    kept = [r for r in rows if r["id"] in ours]
    for row in kept:
        row["updated_at"] = now
    return kept


def _backoff(attempt: int, retry_after: float | None) -> float:
    delay = min(settings.SMS_RETRY_MAX, settings.SMS_RETRY_BASE * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def record_results(*, connection: GatewayConnection, rows: list[dict], results: list[SubmitResult], reports=()) -> None:
    """Store a submission's outcome: sent (settled), retry later, or failed (refunded); plus the gateway's own
    later reports (the sandbox's). One transaction; every move guarded on `sending`."""
    now = timezone.now()
    row_of = {r["id"]: r for r in rows}
    accepted, retry, failed, events, credit = [], [], [], [], []
    for result in results:
        row = row_of[result.message_id]
        code = result.error_code
        if result.outcome == ACCEPTED:
            accepted.append((row["id"], result.gateway_message_id))
            events.append(Event(row["id"], statuses.SENT, statuses.DISPATCH, now, raw=result.raw,
                                detail=f"Accepted by {connection.name} as {result.gateway_message_id}."))
            credit.append((row["reservation_id"], row["price"], True))
        elif result.outcome == TEMPORARY and row["attempts"] < settings.SMS_MAX_ATTEMPTS:
            delay = _backoff(row["attempts"], result.retry_after)
            retry.append((row["id"], now + timedelta(seconds=delay), code, (result.error_text or "")[:500]))
            events.append(Event(
                row["id"], statuses.QUEUED, statuses.DISPATCH, now, code=code, raw=result.raw,
                detail=(f"Attempt {row['attempts']} of {settings.SMS_MAX_ATTEMPTS} via {connection.name}: "
                        f"{(result.error_text or code).rstrip('.')}. Next attempt in {delay:.1f} s."),
            ))
        else:
            why = "retries exhausted: " if result.outcome == TEMPORARY else ""
            failed.append((row["id"], code, f"{why}{result.error_text}"[:500]))
            events.append(Event(row["id"], statuses.FAILED, statuses.DISPATCH, now, code=code, raw=result.raw,
                                detail=f"{why}{result.error_text or code}"))
            credit.append((row["reservation_id"], row["price"], False))
    guard = {"where": "m.status = %s", "where_params": [statuses.SENDING]}
    with transaction.atomic():
        update_messages(
            ids_values=accepted, columns=["gateway_message_id"], casts=["text"], **guard,
            set_sql="status = %s, submitted_at = %s, updated_at = %s, error_code = '', error_text = '',"
                    " next_attempt_at = NULL",
            set_params=[statuses.SENT, now, now],
        )
        update_messages(
            ids_values=retry, columns=["next_attempt_at", "error_code", "error_text"],
            casts=["timestamptz", "text", "text"], **guard,
            set_sql="status = %s, updated_at = %s", set_params=[statuses.QUEUED, now],
        )
        update_messages(
            ids_values=failed, columns=["error_code", "error_text"], casts=["text", "text"], **guard,
            set_sql="status = %s, final_at = %s, updated_at = %s, next_attempt_at = NULL",
            set_params=[statuses.FAILED, now, now],
        )
        insert_events(events)
        release_credit(credit)
        if reports:
            DeliveryReport.objects.bulk_create([
                DeliveryReport(gateway_id=connection.pk, gateway_message_id=r.gateway_message_id, status=r.status,
                               code=r.code, text=r.text, raw=r.raw, received_at=now,
                               available_at=now + timedelta(seconds=delay))
                for r, delay in reports
            ], batch_size=1000)
    record_health(
        connection,
        accepted=len(accepted),
        temporary=sum(1 for r in results if r.outcome == TEMPORARY),
    )
    if reports:
        from .tasks import reports_kick

        reports_kick(delay=min(d for _, d in reports))


def _block_unroutable(ids: list[int], now) -> int:
    """queued → blocked for messages no enabled connection serves; their credit goes back."""
    rows = list(Message.objects.filter(pk__in=ids, status__in=statuses.sources(statuses.BLOCKED, statuses.DISPATCH))
                .values_list("id", "reservation_id", "price"))
    moved = Message.objects.filter(pk__in=[r[0] for r in rows], status__in=statuses.sources(statuses.BLOCKED, statuses.DISPATCH)).update(
        status=statuses.BLOCKED, blocked_reason="no_route", error_text=_NO_ROUTE,
        final_at=now, updated_at=now, next_attempt_at=None,
    )
    insert_events(Event(i, statuses.BLOCKED, statuses.DISPATCH, now, code="NO_ROUTE", detail=_NO_ROUTE)
                  for i, _, _ in rows)
    release_credit((reservation_id, price, False) for _, reservation_id, price in rows)
    return moved


def release_due(*, now=None, limit: int = 5000) -> int:
    """Scheduled messages whose time has come join the queue."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.filter(status=statuses.SCHEDULED, next_attempt_at__lte=now)
            .select_for_update(skip_locked=True).values_list("id", flat=True)[:limit]
        )
        if not ids:
            return 0
        Message.objects.filter(pk__in=ids, status=statuses.SCHEDULED).update(
            status=statuses.QUEUED, queued_at=now, updated_at=now
        )
        insert_events(Event(i, statuses.QUEUED, statuses.DISPATCH, now, detail="Scheduled time reached.") for i in ids)
    return len(ids)


def recover_interrupted(*, now=None) -> dict:
    """Messages left in `sending` by a worker that died: resubmit where the upstream dedupes, else fail them."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.SMS_SENDING_LEASE)
    counts = {"requeued": 0, "failed": 0}
    with transaction.atomic():
        stale = list(
            Message.objects.filter(status=statuses.SENDING, updated_at__lt=stale_before)
            .select_for_update(skip_locked=True)
            .values("id", "gateway_id", "reservation_id", "price")[:5000]
        )
        if not stale:
            return counts
        connections = GatewayConnection.objects.filter(pk__in={r["gateway_id"] for r in stale})
        safe_gateways = {c.pk for c in connections if gateway_for(c).resubmit_safe}
        safe = [r["id"] for r in stale if r["gateway_id"] in safe_gateways]
        unsafe = [r for r in stale if r["gateway_id"] not in safe_gateways]
        if safe:
            counts["requeued"] = Message.objects.filter(pk__in=safe, status=statuses.SENDING).update(
                status=statuses.QUEUED, next_attempt_at=now, updated_at=now
            )
        if unsafe:
            counts["failed"] = Message.objects.filter(pk__in=[r["id"] for r in unsafe], status=statuses.SENDING).update(
                status=statuses.FAILED, error_code="interrupted", error_text=_NOT_RETRIED, final_at=now, updated_at=now
            )
            release_credit((r["reservation_id"], r["price"], False) for r in unsafe)
        insert_events(
            [Event(i, statuses.QUEUED, statuses.DISPATCH, now, code="interrupted",
                   detail="Interrupted mid-submission; resubmitting with the same idempotency key.") for i in safe]
            + [Event(r["id"], statuses.FAILED, statuses.DISPATCH, now, code="interrupted", detail=_NOT_RETRIED)
               for r in unsafe]
        )
    return counts


_NO_ROUTE = "No enabled gateway connection serves this country."
_NOT_RETRIED = "Interrupted mid-submission; not retried so the recipient cannot get it twice."
