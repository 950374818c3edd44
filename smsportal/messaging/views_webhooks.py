"""Settings → Webhooks: the workspace's signing secret, its rules (URLs that delivery receipts and inbound messages are
POSTed to) and the delivery log, plus a test event per rule.

Reading needs account.view; every change, and seeing the secret whole, account.manage. URLs, payloads and
receivers' answers are the workspace's or a stranger's text: the templates escape them like any other value.
"""

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from smsportal.accounts.decorators import forbidden, require_capability
from smsportal.errors import DomainError

from . import selectors_webhooks as selectors
from . import services_webhooks as services
from .forms_webhooks import WebhookRuleForm
from .models import WebhookDelivery, WebhookRule

VIEW, MANAGE = "account.view", "account.manage"
LOG_PAGE = 25
KIND_BLURBS = {
    WebhookRule.Kind.RECEIPT: "Each delivery receipt (delivered, undelivered, failed) in ClickSend's receipt shape.",
    WebhookRule.Kind.INBOUND: "Each inbound SMS in ClickSend's inbound shape, optionally only some of them.",
}


def _log(access, params) -> dict:
    """A page of the delivery log, newest first, by keyset (`before` an id), filtered by status and rule."""
    status = params.get("status") or ""
    rule = params.get("rule") or ""
    error = ""
    try:
        deliveries = selectors.delivery_queryset(access=access, rule_id=rule, status=status)
    except DomainError as exc:
        error, status, rule = exc.message, "", ""
        deliveries = selectors.delivery_queryset(access=access)
    before = params.get("before") or ""
    if before.isdigit():
        deliveries = deliveries.filter(pk__lt=int(before))
    rows = list(deliveries[:LOG_PAGE + 1])
    older = rows[LOG_PAGE - 1].pk if len(rows) > LOG_PAGE else None
    rows = rows[:LOG_PAGE]
    for row in rows:
        row.payload_text = json.dumps(row.payload, indent=2, ensure_ascii=False)
        # "HTTP 500 Internal Server Error" says no more than the status shown next to it.
        row.error_shown = "" if row.last_error.startswith(f"HTTP {row.last_status_code} ") else row.last_error
    query = {k: v for k, v in (("status", status), ("rule", rule)) if v}
    return {"rows": rows, "status": status, "rule_filter": rule, "filter_error": error, "before": before,
            "older_url": f"?{urlencode({**query, 'before': older})}#log" if older else "",
            "statuses": WebhookDelivery.Status.choices}


@require_capability(VIEW)
def webhooks(request):
    access = request.access
    can_edit = access.can(MANAGE)
    secret = services.webhook_secret_get(account=access.account) if can_edit else selectors.secret_for(access=access)
    context = {
        "rules": list(selectors.rule_queryset(access=access)),
        "secret": secret,
        "masked_secret": selectors.mask(secret.secret) if secret else "",
        "can_edit": can_edit,
        "kinds": [{"kind": k, "label": label, "blurb": KIND_BLURBS[k]} for k, label in WebhookRule.Kind.choices],
        **_log(access, request.GET),
    }
    return render(request, "messaging/webhooks/index.html", context)


def _form_page(request, form, *, rule=None, status=200):
    context = {
        "form": form,
        "rule": rule,
        "kind": form.kind,
        "kind_label": WebhookRule.Kind(form.kind).label,
        "blurb": KIND_BLURBS[form.kind],
        "can_edit": request.access.can(MANAGE),
    }
    return render(request, "messaging/webhooks/form.html", context, status=status)


@require_capability(MANAGE)
def webhook_new(request):
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    if kind not in WebhookRule.Kind.values:
        messages.error(request, "Choose what the webhook is for: delivery receipts or inbound messages.")
        return redirect("messaging:settings-webhooks")
    if request.method != "POST":
        name = "Delivery receipts" if kind == WebhookRule.Kind.RECEIPT else "Inbound messages"
        return _form_page(request, WebhookRuleForm(kind=kind, initial={"name": name, "enabled": True,
                                                                         "dedicated_number": "*"}))
    form = WebhookRuleForm(request.POST, kind=kind)
    if form.is_valid():
        try:
            rule = services.webhook_rule_save(account=request.access.account, kind=kind, data=form.service_data())
        except DomainError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, f"{rule.name} added. Send it a test event to check your receiver.")
            return redirect("messaging:settings-webhooks")
    return _form_page(request, form, status=400)


@require_capability(VIEW)
def webhook_detail(request, rule_id):
    access = request.access
    rule = selectors.rule_get(access=access, rule_id=rule_id)
    if request.method != "POST":
        form = WebhookRuleForm(kind=rule.kind, initial=WebhookRuleForm.initial_for(rule))
        if not access.can(MANAGE):
            for field in form.fields.values():
                field.disabled = True
        return _form_page(request, form, rule=rule)
    if not access.can(MANAGE):
        return forbidden(request, reason="capability", capability=MANAGE)
    form = WebhookRuleForm(request.POST, kind=rule.kind)
    if form.is_valid():
        try:
            services.webhook_rule_save(account=access.account, rule=rule, data=form.service_data())
        except DomainError as exc:
            form.add_domain_error(exc)
            rule.refresh_from_db()
        else:
            messages.success(request, f"{rule.name} saved.")
            return redirect("messaging:settings-webhooks")
    return _form_page(request, form, rule=rule, status=400)


@require_capability(MANAGE)
@require_POST
def webhook_toggle(request, rule_id):
    rule = selectors.rule_get(access=request.access, rule_id=rule_id)
    services.webhook_rule_save(account=request.access.account, rule=rule, data={"enabled": not rule.enabled})
    messages.success(request, f"{rule.name} {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("messaging:settings-webhooks")


@require_capability(MANAGE)
@require_POST
def webhook_delete(request, rule_id):
    rule = selectors.rule_get(access=request.access, rule_id=rule_id)
    name = rule.name
    services.webhook_rule_delete(rule=rule)
    messages.success(request, f"{name} deleted, with its deliveries.")
    return redirect("messaging:settings-webhooks")


@require_capability(MANAGE)
@require_POST
def webhook_ping(request, rule_id):
    rule = selectors.rule_get(access=request.access, rule_id=rule_id)
    delivery = services.webhook_ping(rule=rule)
    messages.success(request, f"Test event #{delivery.pk} queued for {rule.name}: its outcome shows in the log below.")
    return redirect(reverse("messaging:settings-webhooks") + "#log")


@require_capability(MANAGE)
@require_POST
def webhook_secret_rotate(request):
    services.webhook_secret_rotate(account=request.access.account)
    messages.success(request, "New signing secret in use from the next delivery on. Update your receivers.")
    return redirect("messaging:settings-webhooks")
