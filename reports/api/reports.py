"""/v3/reports/<table>: what each chart and table of the dashboard and the reports shows, as JSON, with the same
filters (`period` = today | 7d | 30d | custom with `start` and `end`; `account` = all | own | a subaccount's id for a
parent's admins and API key). Money is a decimal string, exact to the ledger's 4 places."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from smsportal.api.envelope import respond
from smsportal.errors import NotFound

from .. import selectors

TABLES = {
    "summary": None,  # the key figures
    "daily": selectors.daily,
    "countries": selectors.by_country,
    "gateways": selectors.by_gateway,
    "campaigns": selectors.by_campaign,
    "errors": selectors.errors,
}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.4f}"
    return value


def _summary(scope, period) -> dict:
    summary = selectors.summary(scope=scope, period=period)
    return {
        "figures": [{"key": f.key, "label": f.label, "value": f.value, "previous": f.previous, "kind": f.kind,
                     "change": f.change} for f in summary["figures"]],
        "by_status": dict(summary["counts"].by_status),
        "balance": summary["balance"],
    }


class ReportView(APIView):
    capabilities = {"GET": "reports.view"}

    @extend_schema(
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(TABLES)),
            OpenApiParameter("period", OpenApiTypes.STR, enum=list(selectors.PERIODS),
                             description="default 7d; days in the account's time zone"),
            OpenApiParameter("start", OpenApiTypes.DATE, description="first day of a custom period"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="last day of a custom period (included)"),
            OpenApiParameter("account", OpenApiTypes.STR,
                             description="a parent's: all (default), own, or a subaccount's id"),
        ],
        responses=OpenApiTypes.OBJECT, summary="A report's table or the dashboard's key figures",
    )
    def get(self, request, name: str):
        if name not in TABLES:
            raise NotFound(f"No report {name!r}; one of {', '.join(TABLES)}.", field="name")
        access = request.auth
        scope = selectors.scope_for(access=access, value=request.query_params.get("account"))
        period = selectors.period_from(request.query_params, account=access.account)
        data = {"period": {"key": period.key, "start": period.start, "end": period.end, "time_zone": period.tz.key},
                "accounts": scope.account_ids}
        if name == "summary":
            data |= _summary(scope, period)
        else:
            data["rows"] = TABLES[name](scope=scope, period=period)
        return respond(_plain(data), "Here is your report.")
