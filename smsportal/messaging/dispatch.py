"""Sending: claim due messages in a batch, route them, submit through their gateways under each connection's
cap, and record what happened — with guarded moves, so two workers or a rerun never submit a message twice.

A batch goes through three committed steps: claim (queued → sending, attempt counted), submit, record. A
worker that dies between the first and the last leaves messages in `sending`; `recover_interrupted` finds
them once their lease has passed and resubmits them only through a gateway that dedupes on our idempotency
key, else fails them (refunded): an unknown outcome is never retried into a double text.
"""

import random
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import statuses, throttle
from .gateways.base import ACCEPTED, TEMPORARY, OutboundSms, SubmitResult
from .models import DeliveryReport, GatewayConnection, Message, MessageEvent
from .routing import Router, gateway_for, record_health
from .services import release_credit

_CLAIM_FIELDS = ("id", "account_id", "to", "country", "sender", "body", "segments", "idempotency_key", "attempts",
                 "reservation_id", "price")
_sessions: dict[int, object] = {}  # per connection, per worker process: keeps upstream connections alive


def _gateway(connection: GatewayConnection):
    gateway = gateway_for(connection, session=_sessions.get(connection.pk))
    _sessions[connection.pk] = gateway.session
    return gateway


def claim(*, limit: int, now=None) -> list[dict]:
    """Move up to `limit` due queued messages to `sending` and return them. Rows another worker holds are skipped."""
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            Message.objects.filter(status=statuses.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        ids = list(due)
        if not ids:
            return []
        Message.objects.filter(pk__in=ids, status=statuses.QUEUED).update(
            status=statuses.SENDING, attempts=F("attempts") + 1, updated_at=now
        )
        return list(Message.objects.filter(pk__in=ids, status=statuses.SENDING).values(*_CLAIM_FIELDS))


def dispatch_batch(*, limit: int | None = None, now=None, sleep=time.sleep) -> dict:
    """One dispatch task's work. Returns counts by outcome."""
    now = now or timezone.now()
    rows = claim(limit=limit or settings.SMS_DISPATCH_BATCH, now=now)
    counts = defaultdict(int, claimed=len(rows))
    routers: dict[int, Router] = {}
    by_connection: dict[int, list[dict]] = defaultdict(list)
    connections: dict[int, GatewayConnection] = {}
    unroutable, waiting = [], []
    for row in rows:
        router = routers.get(row["account_id"]) or routers.setdefault(row["account_id"], Router(row["account_id"], now=now))
        chosen = router.route(row["country"])
        if chosen is not None:
            connections[chosen.pk] = chosen
            by_connection[chosen.pk].append(row)
        elif router.can_route(row["country"]):
            waiting.append((row, router.next_open_at(row["country"])))
        else:
            unroutable.append(row)
    if unroutable:
        counts["blocked"] += _block_unroutable(unroutable)
    if waiting:
        _wait_for_route(waiting)
        counts["waiting"] += len(waiting)
    for connection_id, batch in by_connection.items():
        for outcome, n in _send_through(connections[connection_id], batch, sleep=sleep).items():
            counts[outcome] += n
    return dict(counts)


def _send_through(connection: GatewayConnection, rows: list[dict], *, sleep) -> dict:
    gateway = _gateway(connection)
    Message.objects.filter(pk__in=[r["id"] for r in rows]).update(gateway=connection)
    counts = defaultdict(int)
    size = throttle.chunk_size(connection.cap_segments_per_second, gateway.max_batch)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        outbound = [
            OutboundSms(message_id=r["id"], idempotency_key=r["idempotency_key"], to=r["to"], sender=r["sender"],
                        body=r["body"], segments=r["segments"], attempt=r["attempts"])
            for r in chunk
        ]
        throttle.wait_for(connection.pk, sum(r["segments"] for r in chunk), connection.cap_segments_per_second,
                          sleep=sleep)
        chunk = _still_ours(chunk)
        if not chunk:
            continue
        outbound = [sms for sms in outbound if sms.message_id in {r["id"] for r in chunk}]
        results = gateway.send_batch(outbound)
        record_results(connection=connection, rows=chunk, results=results,
                       reports=gateway.reports_after_submit(outbound, results))
        for result in results:
            counts[result.outcome] += 1
    return counts


def _still_ours(rows: list[dict]) -> list[dict]:
    """Renew the claim on rows about to be submitted; drop any a recovery sweep took back meanwhile (a stall
    past the lease), so it cannot go out from here and from its new claimer too."""
    now = timezone.now()
    by_attempt = defaultdict(list)
    for row in rows:
        by_attempt[row["attempts"]].append(row["id"])
    for attempts, ids in by_attempt.items():
        Message.objects.filter(pk__in=ids, status=statuses.SENDING, attempts=attempts).update(updated_at=now)
    ours = set(Message.objects.filter(pk__in=[r["id"] for r in rows], status=statuses.SENDING, updated_at=now)
               .values_list("id", flat=True))
    return [r for r in rows if r["id"] in ours]


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
            events.append(MessageEvent(message_id=row["id"], status=statuses.SENT, via=statuses.DISPATCH,
                                       detail=f"Accepted by {connection.name} as {result.gateway_message_id}.",
                                       raw=result.raw, at=now))
            credit.append((row["reservation_id"], row["price"], True))
        elif result.outcome == TEMPORARY and row["attempts"] < settings.SMS_MAX_ATTEMPTS:
            delay = _backoff(row["attempts"], result.retry_after)
            retry.append((row["id"], now + timedelta(seconds=delay), code, result.error_text))
            events.append(MessageEvent(
                message_id=row["id"], status=statuses.QUEUED, via=statuses.DISPATCH, code=code, raw=result.raw, at=now,
                detail=(f"Attempt {row['attempts']} of {settings.SMS_MAX_ATTEMPTS} via {connection.name}: "
                        f"{(result.error_text or code).rstrip('.')}. Next attempt in {delay:.1f} s.")[:500],
            ))
        else:
            why = "retries exhausted: " if result.outcome == TEMPORARY else ""
            failed.append((row["id"], code, f"{why}{result.error_text}"[:500]))
            events.append(MessageEvent(message_id=row["id"], status=statuses.FAILED, via=statuses.DISPATCH, code=code,
                                       detail=f"{why}{result.error_text or code}"[:500], raw=result.raw, at=now))
            credit.append((row["reservation_id"], row["price"], False))
    with transaction.atomic():
        _set_sent(accepted, connection.pk, now)
        for message_id, next_at, code, text in retry:
            Message.objects.filter(pk=message_id, status=statuses.SENDING).update(
                status=statuses.QUEUED, next_attempt_at=next_at, error_code=code, error_text=text[:500], updated_at=now
            )
        for message_id, code, text in failed:
            Message.objects.filter(pk=message_id, status=statuses.SENDING).update(
                status=statuses.FAILED, error_code=code, error_text=text, final_at=now, updated_at=now,
                next_attempt_at=None,
            )
        MessageEvent.objects.bulk_create(events, batch_size=1000)
        release_credit(credit)
        if reports:
            DeliveryReport.objects.bulk_create([
                DeliveryReport(gateway_id=connection.pk, gateway_message_id=r.gateway_message_id, status=r.status,
                               code=r.code, text=r.text, raw=r.raw, received_at=now,
                               available_at=now + timedelta(seconds=delay))
                for r, delay in reports
            ], batch_size=1000)
    record_health(
        connection.pk,
        accepted=len(accepted),
        temporary=sum(1 for r in results if r.outcome == TEMPORARY),
    )
    if reports:
        from .tasks import reports_kick

        reports_kick(delay=min(d for _, d in reports))


def _set_sent(pairs: list[tuple[int, str]], connection_id: int, now) -> None:
    """sending → sent with each message's gateway id: one statement on PostgreSQL, a prepared loop elsewhere."""
    if not pairs:
        return
    table = Message._meta.db_table
    if db.vendor == "postgresql":
        values = ", ".join(["(%s::bigint, %s)"] * len(pairs))
        params = [v for pair in pairs for v in pair]
        with db.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS m SET status = %s, gateway_message_id = v.ref, gateway_id = %s, submitted_at = %s,"
                f" updated_at = %s, error_code = '', error_text = '', next_attempt_at = NULL"
                f" FROM (VALUES {values}) AS v(id, ref) WHERE m.id = v.id AND m.status = %s",
                [statuses.SENT, connection_id, now, now, *params, statuses.SENDING],
            )
        return
    with db.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET status = %s, gateway_message_id = %s, gateway_id = %s, submitted_at = %s,"
            f" updated_at = %s, error_code = '', error_text = '', next_attempt_at = NULL WHERE id = %s AND status = %s",
            [(statuses.SENT, ref, connection_id, now, now, message_id, statuses.SENDING) for message_id, ref in pairs],
        )


def _block_unroutable(rows: list[dict]) -> int:
    now = timezone.now()
    ids = [r["id"] for r in rows]
    with transaction.atomic():
        # A claimed message is never blocked directly: the claim is given back first (no attempt was made).
        Message.objects.filter(pk__in=ids, status=statuses.SENDING).update(
            status=statuses.QUEUED, attempts=F("attempts") - 1
        )
        moved = Message.objects.filter(pk__in=ids, status__in=statuses.sources(statuses.BLOCKED, statuses.DISPATCH)).update(
            status=statuses.BLOCKED, blocked_reason="no_route", error_text=_NO_ROUTE,
            final_at=now, updated_at=now, next_attempt_at=None,
        )
        MessageEvent.objects.bulk_create([
            MessageEvent(message_id=i, status=statuses.BLOCKED, via=statuses.DISPATCH, code="NO_ROUTE",
                         detail=_NO_ROUTE, at=now) for i in ids
        ])
        release_credit((r["reservation_id"], r["price"], False) for r in rows)
    return moved


def _wait_for_route(waiting) -> None:
    """Every connection for these countries is being skipped: back to the queue until one reopens (no attempt used)."""
    now = timezone.now()
    for row, reopen_at in waiting:
        Message.objects.filter(pk=row["id"], status=statuses.SENDING).update(
            status=statuses.QUEUED, attempts=F("attempts") - 1, next_attempt_at=reopen_at or now + timedelta(seconds=5),
            updated_at=now,
        )


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
        MessageEvent.objects.bulk_create([
            MessageEvent(message_id=i, status=statuses.QUEUED, via=statuses.DISPATCH, detail="Scheduled time reached.", at=now)
            for i in ids
        ])
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
        # No gateway yet: the worker died before routing, so nothing of it went out.
        safe_gateways.add(None)
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
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=i, status=statuses.QUEUED, via=statuses.DISPATCH, code="interrupted", at=now,
                          detail="Interrupted mid-submission; resubmitting with the same idempotency key.") for i in safe]
            + [MessageEvent(message_id=r["id"], status=statuses.FAILED, via=statuses.DISPATCH, code="interrupted",
                            at=now, detail=_NOT_RETRIED) for r in unsafe]
        )
    return counts


_NO_ROUTE = "No enabled gateway connection serves this country."
_NOT_RETRIED = "Interrupted mid-submission; not retried so the recipient cannot get it twice."
