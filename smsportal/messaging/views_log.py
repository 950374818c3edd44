"""Browser UI for the message log: the filtered table, its CSV export, one message with its timeline, and
cancelling a message that has not gone out yet."""

import json

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from contacts import selectors as contact_selectors
from contacts.filters import count_capped
from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError

from . import selectors, selectors_ui, statuses
from .exporting import export_response
from .services import messages_cancel
from .views import REASON_LABELS

PAGE_SIZE = 50
FILTER_PARAMS = ("status", "date_from", "date_to", "number", "campaign_id")
CANCELLABLE = frozenset(statuses.sources(statuses.CANCELLED, statuses.USER))
SOURCE_LABELS = {"api": "the API", "ui": "the web app", "campaign": "a campaign", "inbox": "the inbox"}
VIA_LABELS = {statuses.USER: "the portal", statuses.DISPATCH: "the dispatcher", statuses.REPORT: "a delivery report"}


def _query(params: QueryDict, keep=FILTER_PARAMS) -> str:
    """The filters of `params` without empty values or paging, for links and the export."""
    kept = QueryDict(mutable=True)
    for name in keep:
        values = [value for value in params.getlist(name) if value.strip()]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()


def _cursor(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _filters(request):
    """(filter, {field: error}): a bad value names its field and shows nothing rather than everything."""
    try:
        return selectors.MessageFilter.from_params(request.GET, tz=request.access.account.zone), {}
    except DomainError as exc:
        field, message = exc.field or "status", exc.message
        if message.startswith(field + " "):  # "date_from must be …" reads as "Must be …" under its own label
            message = message[len(field) + 1:]
            message = message[:1].upper() + message[1:]
        return None, {field: message}


@require_capability("reports.view")
def log(request):
    access = request.access
    flt, errors = _filters(request)
    page, count, exact = None, 0, True
    if flt is not None:
        qs = selectors.messages_filtered(access=access, flt=flt)
        page = selectors_ui.message_log_page(
            qs, after=_cursor(request.GET.get("after")), before=_cursor(request.GET.get("before")), size=PAGE_SIZE
        )
        count, exact = count_capped(qs)
        for message in page.rows:
            message.reason_label = REASON_LABELS.get(message.blocked_reason, message.blocked_reason)
    filter_query = _query(request.GET)
    context = {
        "page": page,
        "count": count,
        "count_display": f"{count:,}" if exact else f"{count:,}+",
        "count_exact": exact,
        "errors": errors,
        "params": {name: request.GET.get(name, "") for name in FILTER_PARAMS},
        "statuses": statuses.ALL,
        "filtered": bool(filter_query) or bool(errors),
        "filter_query": filter_query,
        "base_url": reverse("messaging:log"),
        "export_url": reverse("messaging:export") + (f"?{filter_query}" if filter_query else ""),
        "can_send": access.can("sms.send"),
        "zone": access.account.zone.key,
    }
    if request.htmx and not request.htmx.history_restore_request:
        context["oob"] = True  # the export link follows the filters
        response = render(request, "messaging/_log_table.html", context)
        response["HX-Push-Url"] = context["base_url"] + (f"?{filter_query}" if filter_query else "")
    else:
        response = render(request, "messaging/log.html", context, status=400 if errors else 200)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_capability("reports.view")
def export(request):
    flt, errors = _filters(request)
    if flt is None:
        messages.error(request, next(iter(errors.values())))
        return redirect(reverse("messaging:log") + "?" + _query(request.GET))
    return export_response(access=request.access, flt=flt)


def _raw(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@require_capability("reports.view")
def detail(request, message_id):
    access = request.access
    message = selectors.message_get(access=access, message_id=message_id)
    events = [{"event": event, "raw": _raw(event.raw), "via": VIA_LABELS.get(event.via, event.via)}
              for event in selectors.message_events(message=message)]
    contact = None
    if message.contact_id:
        contact = contact_selectors.contact_queryset(access=access).filter(pk=message.contact_id).only(
            "id", "first_name", "last_name", "phone_number").first()
    context = {
        "message": message,
        "events": events,
        "contact": contact,
        "reason_label": REASON_LABELS.get(message.blocked_reason, message.blocked_reason),
        "source_label": SOURCE_LABELS.get(message.source, message.source),
        "can_cancel": message.status in CANCELLABLE and access.can("sms.send"),
        "zone": access.account.zone.key,
    }
    return render(request, "messaging/detail.html", context)


@require_capability("sms.send")
@require_POST
def cancel(request, message_id):
    access = request.access
    message = selectors.message_get(access=access, message_id=message_id)
    if messages_cancel(account=access.account, message_ids=[message.pk]):
        messages.success(request, f"Message to {message.to} cancelled; its credit is back on the balance.")
    else:
        messages.error(request, "Too late to cancel: the message is already on its way.")
    return redirect("messaging:detail", message.pk)
