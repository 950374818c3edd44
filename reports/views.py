"""Browser UI of reports: thin adapters over reports.selectors."""

from django.shortcuts import render

from smsportal.accounts.decorators import require_capability


@require_capability("reports.view")
def reports(request):
    return render(request, "reports/index.html")
