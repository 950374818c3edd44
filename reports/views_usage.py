"""Usage page and its CSV: thin adapters over reports.usage."""

import csv

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from smsportal.accounts.decorators import require_capability

from . import usage

NOT_MAIN = ("Usage covers a main account and its subaccounts, so only the main account's admins see it. "
            "If you administer the main account, switch to it first.")


class _Echo:
    """csv.writer wants a file; this one hands each written line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _refused(request):
    return render(request, "403.html", {"reason": "main_only", "exception": NOT_MAIN}, status=403)


# subaccounts.manage is the admins' own (the Subaccounts settings pages use it); a subaccount's people are refused
# below even when they hold it there.
@require_capability("subaccounts.manage")
def usage_page(request):
    if not request.access.account.is_main:
        return _refused(request)
    flt = usage.usage_filter(request.GET)
    table = usage.usage_table(access=request.access, flt=flt)
    return render(request, "reports/usage.html", {"table": table, "month_choices": usage.MONTH_CHOICES})


@require_capability("subaccounts.manage")
def usage_csv(request):
    if not request.access.account.is_main:
        return _refused(request)
    flt = usage.usage_filter(request.GET)
    table = usage.usage_table(access=request.access, flt=flt)
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in usage.usage_csv_rows(table)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="usage-{timezone.localdate().isoformat()}.csv"'
    return response
