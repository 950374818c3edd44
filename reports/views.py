"""Browser UI of the dashboard and the delivery reports: thin adapters over reports.selectors. Filters live in
the URL (period, dates, account), so a report can be bookmarked and shared."""

import csv

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from contacts.exporting import escape_cell
from smsportal.accounts import selectors as account_selectors
from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError
from smsportal.messaging import statuses

from . import selectors

CHART_STATUSES = (statuses.DELIVERED, statuses.SENT, statuses.UNDELIVERED, statuses.FAILED, statuses.BLOCKED)
TABLES = {  # name: (title, selector)
    "daily": ("Delivery by day", selectors.daily),
    "countries": ("By country", selectors.by_country),
    "gateways": ("By gateway connection", selectors.by_gateway),
    "campaigns": ("By campaign and variant", selectors.by_campaign),
    "errors": ("Error codes", selectors.errors),
}
STATUS_COLUMNS = ("messages", "sent", "delivered", "undelivered", "failed", "blocked", "delivery_rate",
                  "segments", "cost")


def _filters(request):
    """The period and the accounts a page covers; a bad period is said and replaced by the default."""
    access = request.access
    scope = selectors.scope_for(access=access, value=request.GET.get("account"))
    try:
        period = selectors.period_from(request.GET, account=access.account)
    except DomainError as exc:
        messages.error(request, f"{exc.message} Showing the last 7 days instead.")
        period = selectors.period_from({}, account=access.account)
    query = {**period.query(), **({"account": scope.value} if scope.value and scope.value != "all" else {})}
    return scope, period, query


def _chart(days: list[dict]) -> dict:
    return {
        "labels": [row["day"].isoformat() for row in days],
        "series": {status: [row[status] for row in days] for status in CHART_STATUSES},
        "rate": [row["delivery_rate"] for row in days],
    }


def _common(scope, period, query) -> dict:
    return {
        "scope": scope, "period": period, "query": query, "query_string": urlencode(query),
        "periods": selectors.PERIODS, "chart_statuses": CHART_STATUSES,
    }


@require_capability("dashboard.view")
def dashboard(request):
    access = request.access
    context = {
        "subaccount_count": account_selectors.subaccount_list(access=access).count() if access.account.is_main
        else None,
        "can_report": access.can("reports.view"),
    }
    if context["can_report"]:
        scope, period, query = _filters(request)
        days = selectors.daily(scope=scope, period=period)
        context |= _common(scope, period, query) | {
            "summary": selectors.summary(scope=scope, period=period),
            "chart": _chart(days), "days": days,
            "top_campaigns": selectors.top_campaigns(scope=scope, period=period),
        }
        if access.can("inbox.view"):
            context["recent_inbound"] = selectors.recent_inbound(scope=scope)
    return render(request, "dashboard.html", context)


@require_capability("reports.view")
def reports(request):
    scope, period, query = _filters(request)
    tables = {name: selector(scope=scope, period=period) for name, (title, selector) in TABLES.items()}
    context = _common(scope, period, query) | {
        "tables": tables, "titles": {name: title for name, (title, _) in TABLES.items()},
        "table_heads": {"countries": ["Country"], "gateways": ["Gateway connection"],
                        "campaigns": ["Campaign", "Variant"]},
        "chart": _chart(tables["daily"]),
        "csv": {name: f"{reverse('reports:csv', args=[name])}?{urlencode(query)}" for name in TABLES},
    }
    return render(request, "reports/index.html", context)


def _csv_rows(name: str, rows: list[dict]):
    if name == "errors":
        header = ["code", "text", "messages", *selectors.OUTCOMES]
        return header, ([row[c] for c in header] for row in rows)
    first = {"daily": ["day"], "countries": ["country"], "gateways": ["gateway"],
             "campaigns": ["campaign_id", "campaign", "variant"]}[name]
    keys = {"day": "day", "country": "key", "gateway": "name", "campaign_id": "campaign_id", "campaign": "name",
            "variant": "variant"}
    header = [*first, *STATUS_COLUMNS]
    return header, ([*(row[keys[c]] for c in first), *(row[c] for c in STATUS_COLUMNS)] for row in rows)


@require_capability("reports.view")
def table_csv(request, name: str):
    if name not in TABLES:
        return HttpResponse("No such report table.", status=404, content_type="text/plain")
    scope, period, _ = _filters(request)
    header, rows = _csv_rows(name, TABLES[name][1](scope=scope, period=period))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{period.start}-{period.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([escape_cell(v) if isinstance(v, str) else v for v in row])  # names come from users
    return response
