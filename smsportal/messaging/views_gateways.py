"""Settings → Gateways: the workspace's gateway connections in routing order, and their create/edit/delete pages.

Reading needs account.view; every change needs account.manage. Credentials are never shown back: the form shows
them masked, and a credential left empty keeps the stored one (gateway_connection_save does that). The webhook
URLs carry each connection's secret, so only people who may change the connection see them.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from smsportal.accounts.decorators import forbidden, require_capability
from smsportal.accounts.models import Account
from smsportal.errors import DomainError

from . import selectors, services
from .forms import GatewayConnectionForm
from .gateways import gateway_class, registry

GATEWAY_BLURBS = {
    "sandbox": "No network: outcomes follow the number's last four digits. For trying things out.",
    "twilio": "Twilio's Programmable Messaging, with signed delivery reports.",
    "clicksend": "ClickSend's REST API v3.",
    "http": "Any HTTP JSON API: you describe the request and where the answer's id is.",
}


def _types() -> list[dict]:
    return [{"kind": kind, "label": cls.label, "blurb": GATEWAY_BLURBS.get(kind, "")}
            for kind, cls in registry().items()]


def _row(connection, now) -> dict:
    return {
        "connection": connection,
        "label": connection.get_kind_display(),
        "skipping": connection.skipped_until is not None and connection.skipped_until > now,
    }


@require_capability("account.view")
def gateways(request):
    access = request.access
    now = timezone.now()
    rows = [_row(c, now) for c in selectors.connection_queryset(access=access)]
    inherited_from = None
    if not rows and access.account.parent_id:
        # A subaccount without connections of its own sends through its main account's.
        inherited_from = Account.objects.filter(pk=access.account.parent_id).only("name").first()
    context = {
        "rows": rows,
        "inherited_from": inherited_from,
        "can_edit": access.can("account.manage"),
        "types": _types(),
    }
    return render(request, "messaging/gateways/index.html", context)


def _form_page(request, form, *, connection=None, status=200):
    public = selectors.connection_public(connection) if connection else None
    context = {
        "form": form,
        "connection": connection,
        "public": public,
        "type_label": form.gateway_cls.label,
        "kind": form.gateway_cls.kind,
        "types": _types(),
        "can_edit": request.access.can("account.manage"),
        "skipping": bool(connection and connection.skipped_until and connection.skipped_until > timezone.now()),
    }
    return render(request, "messaging/gateways/form.html", context, status=status)


@require_capability("account.manage")
def gateway_new(request):
    kind = request.POST.get("type") or request.GET.get("type") or ""
    try:
        cls = gateway_class(kind)
    except LookupError:
        if kind:
            messages.error(request, f"There is no gateway type “{kind}”.")
        return render(request, "messaging/gateways/choose.html", {"types": _types()})
    if request.method != "POST":
        form = GatewayConnectionForm(gateway_cls=cls, initial={"name": cls.label, "priority": 100, "enabled": True})
        return _form_page(request, form)
    form = GatewayConnectionForm(request.POST, gateway_cls=cls)
    if form.is_valid():
        try:
            connection = services.gateway_connection_save(account=request.access.account, data=form.service_data())
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, f"{connection.name} added. Point its webhooks at the URLs below.")
            return redirect("messaging:settings-gateway", connection.pk)
    return _form_page(request, form, status=400)


@require_capability("account.view")
def gateway_detail(request, connection_id):
    access = request.access
    connection = selectors.connection_get(access=access, connection_id=connection_id)
    try:
        cls = gateway_class(connection.kind)
    except LookupError:
        raise Http404("This connection's gateway type is not installed.") from None
    if request.method != "POST":
        form = GatewayConnectionForm(gateway_cls=cls, connection=connection,
                                     initial=GatewayConnectionForm.initial_for(connection))
        if not access.can("account.manage"):
            for field in form.fields.values():
                field.disabled = True
        return _form_page(request, form, connection=connection)
    if not access.can("account.manage"):
        return forbidden(request, reason="capability", capability="account.manage")
    form = GatewayConnectionForm(request.POST, gateway_cls=cls, connection=connection)
    if form.is_valid():
        try:
            services.gateway_connection_save(account=access.account, connection=connection, data=form.service_data())
        except DomainError as exc:
            form.add_domain_error(exc)
            connection.refresh_from_db()  # a refused save may have set attributes on the instance
        else:
            messages.success(request, f"{connection.name} saved.")
            return redirect("messaging:settings-gateway", connection.pk)
    return _form_page(request, form, connection=connection, status=400)


@require_capability("account.manage")
@require_POST
def gateway_delete(request, connection_id):
    connection = selectors.connection_get(access=request.access, connection_id=connection_id)
    name = connection.name
    services.gateway_connection_delete(connection=connection)
    messages.success(request, f"{name} deleted. Messages it carried keep their history.")
    return redirect("messaging:settings-gateways")
