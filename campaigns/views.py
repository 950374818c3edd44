"""Browser UI for campaigns: the list, the composer with its live preview, the launch, the campaign's report
with pause/resume/cancel, test sends and the CSV of recipients. Adapters over services.py and selectors.py."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from contacts import selectors as contact_selectors
from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError, InsufficientCredit
from smsportal.messaging import statuses
from smsportal.messaging.exporting import export_response
from smsportal.messaging.selectors import MessageFilter
from smsportal.messaging.views import body_preview

from . import selectors, services
from .audience import BLOCK_REASONS
from .engine import CONTACT_FIELDS, LABELS, VariantSpec
from .forms import ComposerForm, TestSendForm
from .models import Campaign

VIEW, EDIT = "campaigns.view", "campaigns.edit"
PAGE_SIZE = 25
REPORTS_WATCH = datetime.timedelta(minutes=10)  # how long a finished campaign's page waits for delivery reports
STATUS_TABS = [("", "All"), ("draft", "Drafts"), ("scheduled", "Scheduled"), ("sending", "Sending"),
               ("paused", "Paused"), ("completed", "Completed"), ("cancelled", "Cancelled")]


def _htmx_response(request, template: str, context: dict, **kwargs):
    response = render(request, template, context, **kwargs)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- The list -------------------------------------------------------------------------------------------------


@require_capability(VIEW)
def index(request):
    status = request.GET.get("status", "")
    campaigns = selectors.campaign_queryset(access=request.access)
    if status in Campaign.Status.values:
        campaigns = campaigns.filter(status=status)
    page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page"))
    lines = selectors.campaigns_lines(campaigns=page.object_list)
    rows = []
    for campaign in page.object_list:
        line = lines.get(campaign.pk) or selectors.Line(campaign.name)
        waiting = sum(line.counts[s] for s in selectors.WAITING)
        done = round(100 * (line.messages - waiting) / line.messages) if line.messages else 0
        rows.append({"campaign": campaign, "line": line, "waiting": waiting, "done": done})
    return render(request, "campaigns/index.html", {
        "page": page, "rows": rows, "status": status, "tabs": STATUS_TABS, "can_edit": request.access.can(EDIT),
    })


# --- The composer ---------------------------------------------------------------------------------------------


def _composer_form(request, data=None, campaign=None):
    return ComposerForm(data, initial=ComposerForm.initial_for(campaign), account=request.access.account,
                        lists=contact_selectors.list_queryset(access=request.access).order_by("name"),
                        segments=contact_selectors.segment_queryset(access=request.access).order_by("name"))


def _merge_fields(request) -> list[str]:
    custom = contact_selectors.custom_field_queryset(access=request.access).values_list("key", flat=True)
    return [*CONTACT_FIELDS, *custom]


def _variants_for(form: ComposerForm, campaign: Campaign | None) -> list[dict]:
    if form.is_bound:
        variants = form.variants()
    elif campaign is not None:
        variants = [{"body": v.body, "split": v.split} for v in campaign.variants.all()]
    else:
        variants = [{"body": "", "split": 100}]
    return [{**v, "label": LABELS[i], "meter": body_preview(v["body"])} for i, v in enumerate(variants or [{"body": "", "split": 100}])]


def _composer_page(request, form: ComposerForm, campaign: Campaign | None, *, status=200, preview=None):
    variants = _variants_for(form, campaign)
    context = {
        "form": form, "campaign": campaign, "variants": variants, "labels": LABELS,
        "merge_fields": _merge_fields(request), "test_form": TestSendForm(),
        "preview": preview if preview is not None else _preview_for(request, form, campaign),
        "reasons": BLOCK_REASONS,
        "contacts_for_preview": [
            (pk, f"{' '.join(n for n in (first, last) if n) or phone} ({phone})" if (first or last) else phone)
            for pk, first, last, phone in contact_selectors.contact_queryset(access=request.access).order_by("-pk")
            .values_list("pk", "first_name", "last_name", "phone_number")[:50]
        ],
    }
    return render(request, "campaigns/composer.html", context, status=status)


def _transient(request, form: ComposerForm, campaign: Campaign | None) -> Campaign:
    """The campaign as the page shows it (unsaved): its preview must use its own choices, so a new campaign
    carries the key it will be saved with (posted back by the page)."""
    key = campaign.assign_key if campaign else _posted_key(request)
    return Campaign(account=request.access.account, assign_key=key, pk=campaign.pk if campaign else None)


def _posted_key(request) -> int:
    try:
        key = int(request.POST.get("assign_key") or request.GET.get("assign_key") or 0)
    except ValueError:
        key = 0
    return key if 0 < key < 2**31 else Campaign._meta.get_field("assign_key").default()


def _preview_for(request, form: ComposerForm, campaign: Campaign | None):
    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
        audience = {k: data.get(k) or [] for k in ("lists", "segments", "exclude_lists", "exclude_segments")}
        specs = [VariantSpec(LABELS[i], v["body"], int(v["split"] or 0)) for i, v in enumerate(form.variants())]
        chosen = data.get("chosen_contact")
    elif campaign is not None:
        audience, specs, chosen = campaign.audience, None, None
    else:
        return None
    try:
        return services.campaign_preview(campaign=_transient(request, form, campaign), specs=specs,
                                         audience=audience, chosen_contact_id=chosen)
    except DomainError as exc:
        return {"error": exc.message}


@require_capability(EDIT)
def new(request):
    if request.method != "POST":
        form = _composer_form(request)
        form.initial["assign_key"] = _posted_key(request)
        return _composer_page(request, form, None)
    return _save(request, None)


@require_capability(EDIT)
def edit(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    if not campaign.is_draft:
        messages.info(request, "This campaign was launched; it can no longer be changed. Duplicate it to send it again.")
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    if request.method != "POST":
        return _composer_page(request, _composer_form(request, campaign=campaign), campaign)
    return _save(request, campaign)


def _save(request, campaign: Campaign | None):
    form = _composer_form(request, request.POST, campaign)
    if not form.is_valid():
        return _composer_page(request, form, campaign, status=400)
    data = form.as_data()
    launching = request.POST.get("action") == "launch"
    try:
        if campaign is None:
            campaign = services.campaign_save(account=request.access.account, by=request.user,
                                              data={**data, "assign_key": _posted_key(request)})
        else:
            campaign = services.campaign_save(account=request.access.account, data=data, campaign=campaign)
        if launching:
            return _launch(request, campaign)
    except DomainError as exc:
        form.add_error(None, _field_message(exc))
        return _composer_page(request, form, campaign, status=400)
    messages.success(request, f"Draft “{campaign.name}” saved.")
    return redirect("campaigns:edit", campaign_id=campaign.pk)


def _field_message(exc: DomainError) -> str:
    where = {"variants": "Message", "audience": "Audience", "from": "Sender", "schedule": "When",
             "local_send_at": "When", "balance": "Credit", "status": "Status"}.get((exc.field or "").split(".")[0], "")
    if exc.field and exc.field.startswith("variants.") and exc.field.count(".") == 2:
        where = f"Variant {LABELS[int(exc.field.split('.')[1])]}"
    return f"{where}: {exc.message}" if where else exc.message


def _launch(request, campaign: Campaign):
    try:
        campaign = services.campaign_launch(campaign=campaign, by=request.user)
    except InsufficientCredit as exc:
        messages.error(request, f"{exc.message} Nothing was sent.")
        return redirect("campaigns:edit", campaign_id=campaign.pk)
    except DomainError as exc:
        messages.error(request, _field_message(exc))
        return redirect("campaigns:edit", campaign_id=campaign.pk)
    verb = "scheduled" if campaign.status == Campaign.Status.SCHEDULED else "launched"
    messages.success(request, f"“{campaign.name}” {verb}: {campaign.recipients:,} recipients, "
                              f"{campaign.account.currency} {campaign.reserved:,.4f} reserved.")
    return redirect("campaigns:detail", campaign_id=campaign.pk)


@require_capability(EDIT)
@require_POST
def preview(request):
    """The preview panel for htmx, as the composer changes (debounced)."""
    campaign = None
    if request.POST.get("campaign_id"):
        campaign = selectors.campaign_get(access=request.access, campaign_id=request.POST["campaign_id"])
        if not campaign.is_draft:
            campaign = None
    form = _composer_form(request, request.POST, campaign)
    context = {"preview": _preview_for(request, form, campaign), "variants": _variants_for(form, campaign),
               "reasons": BLOCK_REASONS, "oob": True}
    return _htmx_response(request, "campaigns/_preview.html", context)


@require_capability(EDIT)
@require_POST
def launch(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    return _launch(request, campaign)


@require_capability(EDIT)
@require_POST
def test_send(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    form = TestSendForm(request.POST)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):  # no open redirect
        target = reverse("campaigns:edit" if campaign.is_draft else "campaigns:detail",
                         kwargs={"campaign_id": campaign.pk})
    if not form.is_valid():
        messages.error(request, "Enter a phone number to send the test to.")
        return redirect(target)
    try:
        result = services.campaign_test_send(campaign=campaign, to=form.cleaned_data["to"],
                                             contact_id=form.cleaned_data.get("contact"))
    except DomainError as exc:
        messages.error(request, _field_message(exc))
        return redirect(target)
    outcome = result.outcomes[0]
    if outcome.code == "SUCCESS":
        messages.success(request, f"Test sent to {outcome.to}: {outcome.segments} segment(s), "
                                  f"{result.currency} {outcome.price:,.4f}.")
    else:
        messages.error(request, f"The test to {outcome.to} was not sent: {outcome.detail or outcome.code}.")
    return redirect(target)


# --- One campaign ---------------------------------------------------------------------------------------------


def _time_labels(moments: list) -> list[str]:
    """The chart's times, labelled here in the workspace's zone like the rest of the page (not the browser's): with
    the day when they span days, with seconds when minutes would repeat (a short campaign's last point)."""
    local = [timezone.localtime(at) for at in moments]
    days = len({at.date() for at in local}) > 1
    clock = "%H:%M" if len({at.replace(second=0, microsecond=0) for at in local}) == len(local) else "%H:%M:%S"
    return [(f"{at.day} {at:%b} " if days else "") + at.strftime(clock) for at in local]


def _report_context(request, campaign: Campaign) -> dict:
    report = selectors.campaign_report(campaign=campaign)
    chart_lines = [*report.variants]
    for lines in report.choices.values():
        chart_lines.extend(lines)
    chart = {
        "labels": [line.label for line in chart_lines],
        "delivery": [round(100 * line.delivery_rate, 1) if line.delivery_rate is not None else None for line in chart_lines],
        "reply": [round(100 * line.reply_rate, 1) if line.reply_rate is not None else None for line in chart_lines],
        "opt_out": [round(100 * line.opt_out_rate, 1) if line.opt_out_rate is not None else None for line in chart_lines],
    }
    series_statuses = [statuses.DELIVERED, statuses.SENT, statuses.UNDELIVERED, statuses.FAILED, statuses.QUEUED,
                       statuses.SCHEDULED, statuses.BLOCKED, statuses.CANCELLED]
    # Samples are a minute apart; the chart ends where the figures above it stand now, not at the last sample.
    samples = report.samples
    current = {s: n for s, n in report.total.counts.items() if n}
    if samples and {s: n for s, n in samples[-1][1].items() if n} != current:
        samples = [*samples, (timezone.now(), current)]
    over_time = {
        "labels": _time_labels([at for at, _ in samples]),
        "series": {s: [counts.get(s, 0) for _, counts in samples] for s in series_statuses
                   if any(counts.get(s) for _, counts in samples)},
    }
    active = campaign.is_live or campaign.is_preparing
    # Delivery reports keep landing after the last message is sent: a finished campaign's page keeps refreshing,
    # less often, while some of its messages await theirs.
    awaiting_reports = (campaign.status == Campaign.Status.COMPLETED and report.total.counts.get(statuses.SENT)
                        and campaign.finished_at and timezone.now() - campaign.finished_at < REPORTS_WATCH)
    return {"campaign": campaign, "report": report, "chart": chart, "over_time": over_time,
            "statuses": series_statuses, "samples": samples,
            "can_edit": request.access.can(EDIT), "test_form": TestSendForm(),
            "poll": "2s" if active else "5s" if awaiting_reports else ""}


@require_capability(VIEW)
def detail(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    if campaign.is_draft:
        return redirect("campaigns:edit", campaign_id=campaign.pk)
    context = _report_context(request, campaign)
    fragment = request.htmx and not request.htmx.history_restore_request
    return _htmx_response(request, "campaigns/_report.html" if fragment else "campaigns/detail.html", context)


def _act(request, campaign_id, action, done: str):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    try:
        campaign = action(campaign=campaign)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(name=campaign.name))
    return redirect("campaigns:detail", campaign_id=campaign.pk)


@require_capability(EDIT)
@require_POST
def pause(request, campaign_id):
    return _act(request, campaign_id, services.campaign_pause,
                "“{name}” paused: nothing more goes out until you resume it.")


@require_capability(EDIT)
@require_POST
def resume(request, campaign_id):
    return _act(request, campaign_id, services.campaign_resume, "“{name}” resumed.")


@require_capability(EDIT)
@require_POST
def cancel(request, campaign_id):
    return _act(request, campaign_id, services.campaign_cancel,
                "“{name}” cancelled: what had not gone out was cancelled and refunded.")


@require_capability(EDIT)
@require_POST
def duplicate(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    copy = services.campaign_duplicate(campaign=campaign, by=request.user)
    messages.success(request, f"“{copy.name}” is a new draft with the same message and audience.")
    return redirect("campaigns:edit", campaign_id=copy.pk)


@require_capability(EDIT)
@require_POST
def delete(request, campaign_id):
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    try:
        services.campaign_delete(campaign=campaign)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:detail", campaign_id=campaign.pk)
    messages.success(request, f"“{campaign.name}” deleted. Its messages stay in the message log.")
    return redirect("campaigns:index")


@require_capability(VIEW)
def export(request, campaign_id):
    """Every recipient's message (rendered body, variant, status, price) as CSV — the message log's export."""
    campaign = selectors.campaign_get(access=request.access, campaign_id=campaign_id)
    return export_response(access=request.access, flt=MessageFilter(campaign_id=campaign.pk),
                           name=f"campaign-{campaign.pk}")
