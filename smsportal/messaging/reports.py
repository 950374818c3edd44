"""Delivery reports: stored by the webhook as they come (fast, nothing else in the request), applied here in
batches. Moves are monotonic (statuses.report_target), so duplicates and late or out-of-order reports change
nothing they should not. A report for a message not yet matched (its send not recorded yet) waits and is
tried again; after `REPORT_MATCH_WINDOW` it is given up as unmatched."""

from collections import Counter, defaultdict
from datetime import timedelta

from django.db import connection as db
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Coalesce, Extract
from django.utils import timezone

from . import statuses
from .bulk import Event, GroupWriter, execute, insert_events, insert_rows, json_rows, unpacked, update_rows
from .gateways.base import StatusReport
from .models import DeliveryReport, GatewayConnection, Message, MessageEvent
from .outbound import receipts_emit
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
    """Apply up to `limit` pending reports in one transaction. Returns counts by outcome.

    Reports are folded in Python over plain tuples (a message may get several in one batch: sent, then
    delivered); everything else is a handful of set-based statements whatever the batch size."""
    now = now or timezone.now()
    with transaction.atomic():
        # When each report says it happened (epoch seconds: cheaper to read than timestamps), and whether it has
        # waited for its message longer than the match window.
        pending = list(
            DeliveryReport.objects.filter(applied_at__isnull=True, available_at__lte=now)
            .order_by("available_at", "id").select_for_update(skip_locked=True)
            .annotate(happened=_happened(),
                      expired=ExpressionWrapper(Q(received_at__lt=now - REPORT_MATCH_WINDOW),
                                                output_field=BooleanField()))
            .values_list("id", "gateway_id", "gateway_message_id", "status", "happened", "expired")[:limit]
        )
        if not pending:
            return {}
        messages = _matched_messages({(r[1], r[2]) for r in pending})
        original = {m[0]: m[1] for m in messages.values()}
        account_of = {m[0]: m[4] for m in messages.values()}
        settled, applied, retry_later = [], [], []  # (report, outcome, message); (report, message, status); report
        for report_id, gateway_id, ref, reported, _at, expired in sorted(pending, key=lambda r: (r[4], r[0])):
            message = messages.get((gateway_id, ref))
            if message is None:
                if expired:
                    settled.append((report_id, UNMATCHED, None))
                else:
                    retry_later.append(report_id)
                continue
            target = statuses.report_target(message[1], reported)
            if target is None:
                settled.append((report_id, IGNORED, message[0]))
                continue
            message[1] = target
            settled.append((report_id, APPLIED, message[0]))
            applied.append((report_id, message[0], target))
        _move_messages(messages.values(), original, now)
        _report_events(applied)
        # Outbound webhooks: receipts for the workspaces that asked (one query when none did).
        receipts_emit(applied=[(r, m, account_of[m], target) for r, m, target in applied], now=now)
        update_rows(DeliveryReport, ids_values=settled, columns=("outcome", "message_id"), casts=("text", "bigint"),
                    set_sql="applied_at = %s", set_params=[now])
        if retry_later:
            # Not matched yet: look again a little later, without holding up the reports behind it.
            DeliveryReport.objects.filter(pk__in=retry_later).update(available_at=now + timedelta(seconds=5))
    counts = Counter(outcome for _, outcome, _ in settled)
    if retry_later:
        counts["waiting"] = len(retry_later)
    return dict(counts)


def _happened():
    happened = Coalesce("reported_at", "received_at")
    return Extract(happened, "epoch") if db.vendor == "postgresql" else happened


def _matched_messages(refs: set[tuple[int, str]]) -> dict[tuple[int, str], list]:
    """{(gateway, its message id): [id, status, reservation_id, price, account_id]} for the messages the reports
    name, locked in id order (two appliers never wait on each other in a cycle)."""
    columns = ("id", "status", "gateway_id", "gateway_message_id", "reservation_id", "price", "account_id")
    if db.vendor == "postgresql":
        rows = execute(
            f"SELECT {', '.join('m.' + c for c in columns)} FROM {Message._meta.db_table} AS m"
            f" JOIN {unpacked(('bigint', 'text'), ('gw', 'ref'))} ON m.gateway_id = v.gw AND m.gateway_message_id = v.ref"
            f" WHERE m.gateway_message_id <> '' ORDER BY m.id FOR UPDATE OF m",
            [json_rows(sorted(refs))],
        ).fetchall()
    else:
        by_gateway = defaultdict(set)
        for gateway_id, ref in refs:
            by_gateway[gateway_id].add(ref)
        match = Q(pk__in=[])
        for gateway_id, gateway_refs in by_gateway.items():
            match |= Q(gateway_id=gateway_id, gateway_message_id__in=gateway_refs)
        rows = Message.objects.filter(match).order_by("id").select_for_update().values_list(*columns)
    return {(gateway_id, ref): [message_id, status, reservation_id, price, account_id]
            for message_id, status, gateway_id, ref, reservation_id, price, account_id in rows}


def _report_events(applied: list[tuple[int, int, str]]) -> None:
    """A timeline event per applied report, with the report's code, text and raw payload (copied in SQL)."""
    if not applied:
        return
    if db.vendor == "postgresql":
        execute(
            f"INSERT INTO {MessageEvent._meta.db_table} (message_id, status, via, code, detail, raw, at)"
            f" SELECT v.mid, v.target, %s, r.code, r.text, r.raw, COALESCE(r.reported_at, r.received_at)"
            f" FROM {DeliveryReport._meta.db_table} AS r"
            f" JOIN {unpacked(('bigint', 'bigint', 'text'), ('rid', 'mid', 'target'))} ON r.id = v.rid",
            [statuses.REPORT, json_rows(applied)],
        )
        return
    reports = {r[0]: r for r in DeliveryReport.objects.filter(pk__in=[a[0] for a in applied])
               .values_list("id", "code", "text", "raw", "reported_at", "received_at")}
    insert_events(
        Event(message_id, target, statuses.REPORT, reports[report_id][4] or reports[report_id][5],
              code=reports[report_id][1], detail=reports[report_id][2], raw=reports[report_id][3])
        for report_id, message_id, target in applied
    )


def _move_messages(messages, original: dict[int, str], now) -> None:
    """One guarded UPDATE per (from, to) pair; credit for messages a report took past or short of the carrier."""
    groups = defaultdict(list)
    credit = []
    for message_id, after, reservation_id, price, _account_id in messages:
        before = original[message_id]
        if before == after:
            continue
        groups[(before, after)].append(message_id)
        if before not in statuses.REACHED_CARRIER:  # the report came before our own record of the submission
            credit.append((reservation_id, price, after in statuses.REACHED_CARRIER))
    if db.vendor == "postgresql" and groups:
        moves = [(i, before, after, after in statuses.FINAL or after == statuses.DELIVERED)
                 for (before, after), ids in groups.items() for i in ids]
        execute(
            f"UPDATE {Message._meta.db_table} AS m SET status = v.after, updated_at = %s,"
            f" final_at = CASE WHEN v.final THEN %s ELSE m.final_at END"
            f" FROM {unpacked(('bigint', 'text', 'text', 'boolean'), ('id', 'before', 'after', 'final'))}"
            f" WHERE m.id = v.id AND m.status = v.before",
            [now, now, json_rows(moves)],
        )
    else:
        for (before, after), ids in groups.items():
            final = {"final_at": now} if after in statuses.FINAL or after == statuses.DELIVERED else {}
            Message.objects.filter(pk__in=ids, status=before).update(status=after, updated_at=now, **final)
    release_credit(credit)
