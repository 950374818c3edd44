from django.shortcuts import render

from smsportal.accounts.decorators import require_capability


@require_capability("inbox.view")
def index(request):
    return render(request, "inbox/index.html")
