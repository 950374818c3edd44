from django.shortcuts import render

from smsportal.accounts.decorators import require_capability


@require_capability("contacts.view")
def index(request):
    return render(request, "contacts/index.html")
