"""Delivery reports: stored by the webhook as they come (fast, nothing else in the request), applied here in
batches. Moves are monotonic (statuses.report_target), so duplicates and late or out-of-order reports change
nothing they should not. A report for a message not yet matched (its send not recorded yet) waits and is
tried again; after `REPORT_MATCH_WINDOW` it is given up as unmatched."""

from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import statuses
from .bulk import GroupWriter, insert_rows
from .gateways.base import StatusReport
from .models import DeliveryReport, GatewayConnection, Message, MessageEvent
from .services import release_credit

REPORT_MATCH_WINDOW = timedelta(hours=24)
APPLIED, IGNORED, UNMATCHED = "applied", "ignored", "unmatched"


_STORE_COLUMNS = ("gateway_id", "gateway_message_id", "status", "code", "text", "reported_at", "raw", "received_at",
                  "available_at", "tries", "outcome")
_STORE_CASTS = ("bigint", "text", "text", "text", "text", "timestamptz", "jsonb", "timestamptz", "timestamptz",
                "smallint", "text")
_store = GroupWriter(lambda rows: insert_rows(DeliveryReport, _STORE_COLUMNS, _STORE_CASTS, rows))


def reports_store(*, connection: GatewayConnection, reports: list[StatusReport]) -> int:
    """Keep a webhook's reports as they came (the webhook's whole work); concurrent webhooks share one INSERT."""
    now = timezone.now()
    rows = [
        (connection.pk, r.gateway_message_id[:100], r.status, (r.code or "")[:64], (r.text or "")[:500], r.at, r.raw,
         now, now, 0, "")
        for r in reports if r.gateway_message_id and r.status in statuses.ALL
    ]
    _store.submit(rows)
    return len(rows)


def reports_apply(*, limit: int = 2000, now=None) -> dict:
    """Apply up to `limit` pending reports in one transaction. Returns counts by outcome."""
    now = now or timezone.now()
    counts = defaultdict(int)
    with transaction.atomic():
        pending = list(
            DeliveryReport.objects.filter(applied_at__isnull=True, available_at__lte=now)
            .order_by("available_at", "id").select_for_update(skip_locked=True)[:limit]
        )
        if not pending:
            return {}
        refs = defaultdict(set)
        for report in pending:
            refs[report.gateway_id].add(report.gateway_message_id)
        match = Q(pk__in=[])
        for gateway_id, gateway_refs in refs.items():
            match |= Q(gateway_id=gateway_id, gateway_message_id__in=gateway_refs)
        messages = {
            (m["gateway_id"], m["gateway_message_id"]): m
            for m in Message.objects.filter(match).order_by("id").select_for_update()
            .values("id", "status", "gateway_id", "gateway_message_id", "reservation_id", "price")
        }
        original = {m["id"]: m["status"] for m in messages.values()}
        events, outcomes, retry_later = [], defaultdict(list), []
        for report in sorted(pending, key=lambda r: (r.reported_at or r.received_at, r.id)):
            message = messages.get((report.gateway_id, report.gateway_message_id))
            if message is None:
                if now - report.received_at > REPORT_MATCH_WINDOW:
                    outcomes[UNMATCHED].append(report.pk)
                else:
                    retry_later.append(report.pk)
                continue
            target = statuses.report_target(message["status"], report.status)
            report.message_id = message["id"]
            if target is None:
                outcomes[IGNORED].append(report.pk)
                continue
            message["status"] = target
            outcomes[APPLIED].append(report.pk)
            events.append(MessageEvent(
                message_id=message["id"], status=target, via=statuses.REPORT, code=report.code, detail=report.text,
                raw=report.raw, at=report.reported_at or report.received_at,
            ))
        _move_messages(messages.values(), original, now)
        MessageEvent.objects.bulk_create(events, batch_size=1000)
        for outcome, ids in outcomes.items():
            DeliveryReport.objects.filter(pk__in=ids).update(applied_at=now, outcome=outcome)
            counts[outcome] += len(ids)
        matched = [r for r in pending if r.message_id]
        DeliveryReport.objects.bulk_update(matched, ["message_id"], batch_size=1000)
        if retry_later:
            # Not matched yet: look again a little later, without holding up the reports behind it.
            DeliveryReport.objects.filter(pk__in=retry_later).update(available_at=now + timedelta(seconds=5))
            counts["waiting"] = len(retry_later)
    return dict(counts)


def _move_messages(messages, original: dict[int, str], now) -> None:
    """One guarded UPDATE per (from, to) pair; credit for messages a report took past or short of the carrier."""
    groups = defaultdict(list)
    credit = []
    for message in messages:
        before, after = original[message["id"]], message["status"]
        if before == after:
            continue
        groups[(before, after)].append(message["id"])
        if before not in statuses.REACHED_CARRIER:  # the report came before our own record of the submission
            credit.append((message["reservation_id"], message["price"], after in statuses.REACHED_CARRIER))
    for (before, after), ids in groups.items():
        final = {"final_at": now} if after in statuses.FINAL or after == statuses.DELIVERED else {}
        Message.objects.filter(pk__in=ids, status=before).update(status=after, updated_at=now, **final)
    release_credit(credit)
