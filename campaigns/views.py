from django.shortcuts import render

from smsportal.accounts.decorators import require_capability


@require_capability("campaigns.view")
def index(request):
    return render(request, "campaigns/index.html")


@require_capability("reports.view")
def reports(request):
    return render(request, "reports/index.html")
