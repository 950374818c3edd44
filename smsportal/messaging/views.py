"""Browser UI for sending: the Send SMS page with its live counter and cost, and the sandbox's phones.

Views are adapters: check the form, call the engine's services and selectors scoped to `request.access`,
render. The counter uses `encoding.analyze` and the cost `messages_price` or the rate card: the very functions the
send charges with. The message log and the gateway settings live in views_log.py and views_gateways.py.
"""

import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from contacts import selectors as contact_selectors
from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError, NotFound

from . import encoding, selectors_ui, services, statuses
from .forms import MAX_LIST_SEND, MAX_TYPED_NUMBERS, SendForm, TypedNumbers, normalize_body
from .models import Message
from .routing import Router
from .selectors import pricing_card_for
from .services import SUCCESS, SmsRequest, messages_price, messages_send

SEND_CHUNK = 1000  # messages per messages_send call when sending to a list
SEND_TOKEN_TTL = 24 * 3600
REASON_LABELS = {
    "opted_out": "opted out",
    "no_route": "no route",
    "no_credit": "no credit",
    "invalid_number": "invalid number",
    "invalid_sender": "invalid sender",
    "empty_body": "empty body",
}


# --- What the body looks like over the air ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    text: str
    forced: bool = False
    title: str = ""


def _char_name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def _visible(char: str) -> str:
    """A forcing character as it can be seen: invisible and space-like ones as their code."""
    if char.isspace() or unicodedata.category(char) in ("Cf", "Cc", "Zs", "Zl", "Zp", "Mn"):
        return f"U+{ord(char):04X}"
    return char


def _runs(body: str, forcing: frozenset[str]) -> list[Run]:
    """The body cut into plain stretches and the characters that force UCS-2 (rendered escaped by the template)."""
    runs, plain = [], []
    for char in body:
        if char in forcing:
            if plain:
                runs.append(Run("".join(plain)))
                plain = []
            runs.append(Run(_visible(char), True, _char_name(char)))
        else:
            plain.append(char)
    if plain:
        runs.append(Run("".join(plain)))
    return runs


def body_preview(body: str) -> dict:
    """The counter: the same `analyze` the price, the charge and the send use; plus a smart-encoding offer when it
    would make the body GSM-7 or shorter."""
    info = encoding.analyze(body)
    used = info.per_segment - info.remaining
    context = {"info": info, "chars": len(body), "smart": None, "runs": (), "forcing": (),
               "fill": round(100 * used / info.per_segment) if body else 0}
    if info.is_unicode:
        forcing = frozenset(info.unicode_chars)
        context["runs"] = _runs(body, forcing)
        context["forcing"] = [{"shown": _visible(c), "name": _char_name(c)} for c in info.unicode_chars]
        smart_body, replaced = encoding.smart_encode(body)
        after = encoding.analyze(smart_body)
        if smart_body != body and (not after.is_unicode or after.segments < info.segments):
            context["smart"] = {
                "body": smart_body,
                "info": after,
                "replaced": [{"from": _visible(a), "to": b or "nothing", "name": _char_name(a)} for a, b in replaced],
            }
    return context


# --- What a send would do and cost ------------------------------------------------------------------------------


@dataclass
class Summary:
    mode: str
    recipients: int = 0  # messages the send would record
    sendable: int = 0  # would be queued (or scheduled)
    blocked: dict = field(default_factory=dict)  # reason label -> count
    invalid: list = field(default_factory=list)  # (line, text, reason) of typed numbers that are not numbers
    duplicates: int = 0
    segments: int = 0  # per message
    total: Decimal = Decimal("0")
    currency: str = ""
    balance: Decimal = Decimal("0")
    error: str = ""  # the recipients cannot be sent to as given
    error_field: str = ""
    countries: list = field(default_factory=list)  # (country, messages) for a list
    list_name: str = ""

    @property
    def short_of_credit(self) -> bool:
        return self.total > self.balance

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())


def _typed_summary(account, summary: Summary, typed: TypedNumbers, body: str) -> None:
    summary.invalid, summary.duplicates = typed.invalid, typed.duplicates
    summary.recipients = len(typed.valid) + len(typed.invalid)
    if typed.invalid:
        summary.blocked[REASON_LABELS["invalid_number"]] = len(typed.invalid)
    if not typed.valid:
        summary.balance = account.balance
        return
    requests = [SmsRequest(to=to, body=body, country=country) for to, country in typed.valid]
    result = messages_price(account=account, requests=requests)
    summary.balance = account.balance  # messages_price has just read it again
    card = None
    for outcome in result.outcomes:
        if outcome.code == SUCCESS:
            summary.sendable += 1
            summary.total += outcome.price
        elif outcome.reason == "no_credit":
            # Priced, but more than the balance: count it at its cost so the page can say how much is missing.
            card = card or pricing_card_for(account=account)
            summary.sendable += 1
            summary.total += card.cost(country=outcome.country, segments=outcome.segments) or 0
        else:
            label = REASON_LABELS.get(outcome.reason, outcome.reason)
            summary.blocked[label] = summary.blocked.get(label, 0) + 1


def _list_summary(account, summary: Summary, contact_list, body: str) -> None:
    """Price a list by its countries (one grouped query), never row by row: segments once × each country's count."""
    audience = selectors_ui.list_audience(contact_list=contact_list)
    summary.list_name = contact_list.name
    summary.recipients = audience.total
    summary.balance = account.balance
    if audience.total > MAX_LIST_SEND:
        summary.error = (f"{contact_list.name} has {audience.total:,} contacts; a send from this page takes at most "
                         f"{MAX_LIST_SEND:,}. Use a campaign for larger lists.")
        summary.error_field = "contact_list"
        return
    if audience.opted_out:
        summary.blocked[REASON_LABELS["opted_out"]] = audience.opted_out
    card = pricing_card_for(account=account)
    router = Router(account.pk)
    for country, count in sorted(audience.by_country.items(), key=lambda item: -item[1]):
        cost = card.cost(country=country, segments=summary.segments * count)
        if cost is None or not router.can_route(country):
            summary.blocked[REASON_LABELS["no_route"]] = summary.blocked.get(REASON_LABELS["no_route"], 0) + count
            continue
        summary.sendable += count
        summary.total += cost
        summary.countries.append((country, count))


def send_summary(access, *, mode: str, numbers: str = "", contact_list=None, body: str = "",
                 typed: TypedNumbers | None = None) -> Summary:
    account = access.account
    summary = Summary(mode=mode, currency=account.currency, segments=encoding.segment_count(body),
                      balance=account.balance)
    if mode == SendForm.LIST:
        if contact_list is not None:
            _list_summary(account, summary, contact_list, body)
        return summary
    typed = typed or TypedNumbers.parse(numbers, region=account.default_region)
    if typed.entries > MAX_TYPED_NUMBERS:
        summary.error = f"At most {MAX_TYPED_NUMBERS:,} numbers at a time here; use a contact list for more."
        summary.error_field = "numbers"
        return summary
    if body:
        _typed_summary(account, summary, typed, body)
    else:
        summary.recipients = len(typed.valid) + len(typed.invalid)
        summary.invalid, summary.duplicates, summary.balance = typed.invalid, typed.duplicates, account.balance
    return summary


# --- The Send SMS page -------------------------------------------------------------------------------------------


def _send_form(request, data=None, initial=None) -> SendForm:
    lists = contact_selectors.list_queryset(access=request.access)
    return SendForm(data, initial=initial, account=request.access.account, lists=lists)


def _preview_context(request, *, mode, numbers, contact_list, body) -> dict:
    body = normalize_body(body)
    summary = send_summary(request.access, mode=mode, numbers=numbers, contact_list=contact_list, body=body)
    return {**body_preview(body), "body": body, "summary": summary}


def _posted_list(request, raw):
    if not raw:
        return None
    try:
        return contact_selectors.list_get(access=request.access, list_id=raw)
    except NotFound:
        return None


def _send_page(request, form: SendForm, *, status=200):
    data = form.data if form.is_bound else {}
    mode = data.get("mode") or form.initial.get("mode") or SendForm.NUMBERS
    contact_list = _posted_list(request, data.get("contact_list") or form.initial.get("contact_list"))
    context = {
        "form": form,
        "mode": mode,
        **_preview_context(request, mode=mode, numbers=data.get("numbers") or form.initial.get("numbers", ""),
                           contact_list=contact_list, body=data.get("body", "")),
        "can_view_log": request.access.can("reports.view"),
        "max_typed": MAX_TYPED_NUMBERS,
    }
    return render(request, "messaging/send.html", context, status=status)


def _flash_result(request, *, queued: int, scheduled: int, blocked: Counter, duplicates: int, when) -> None:
    parts = []
    if scheduled:
        moment = formats.date_format(timezone.localtime(when), "j M Y, H:i")
        parts.append(f"{scheduled:,} scheduled for {moment}")
    if queued or not scheduled:
        parts.append(f"{queued:,} queued")
    text = ", ".join(parts)
    if blocked:
        reasons = ", ".join(f"{count:,} {REASON_LABELS.get(reason, reason)}" for reason, count in blocked.most_common())
        text += f", {sum(blocked.values()):,} blocked ({reasons})"
    text += "."
    if duplicates:
        text += f" {duplicates:,} repeated number{'s' if duplicates != 1 else ''} sent once."
    level = messages.SUCCESS if not blocked else messages.WARNING if queued or scheduled else messages.ERROR
    messages.add_message(request, level, text)


def _requests_for(form: SendForm) -> list[SmsRequest]:
    data = form.cleaned_data
    common = {"body": data["body"], "sender": data["sender"], "schedule": data["schedule"]}
    if data["mode"] == SendForm.LIST:
        recipients = selectors_ui.list_recipients(contact_list=data["contact_list"])
        return [SmsRequest(to=phone, country=country, contact_id=contact_id, **common)
                for contact_id, phone, country in recipients]
    return [SmsRequest(to=to, country=country, **common) for to, country in form.typed.valid]


@require_capability("sms.send")
def send(request):
    access = request.access
    if request.method != "POST":
        initial = {"send_token": uuid.uuid4().hex, "mode": SendForm.NUMBERS}
        if request.GET.get("to"):
            initial["numbers"] = request.GET["to"]
        if request.GET.get("list"):
            initial.update(mode=SendForm.LIST, contact_list=request.GET["list"])
        return _send_page(request, _send_form(request, initial=initial))

    form = _send_form(request, request.POST)
    if not form.is_valid():
        return _send_page(request, form, status=400)
    data = form.cleaned_data
    summary = send_summary(access, mode=data["mode"], contact_list=data.get("contact_list"), body=data["body"],
                           typed=form.typed)
    if summary.error:
        form.add_error(summary.error_field or None, summary.error)
        return _send_page(request, form, status=400)
    if summary.short_of_credit:
        form.add_error(None, f"Not enough credit: this send costs {summary.currency} {summary.total:,.4f} and the "
                             f"balance is {summary.currency} {summary.balance:,.4f}. Nothing was sent.")
        return _send_page(request, form, status=400)
    if summary.recipients == 0:
        form.add_error("contact_list", "This list has no contacts to send to.")
        return _send_page(request, form, status=400)

    # One send per form: a double click or a resubmitted POST must not text anyone twice.
    token = data.get("send_token") or ""
    if token and not cache.add(f"messaging:ui-send:{access.account.pk}:{token}", 1, SEND_TOKEN_TTL):
        messages.warning(request, "This form was already sent; nothing was sent again.")
        return redirect("messaging:log" if access.can("reports.view") else "messaging:send")

    requests = _requests_for(form)
    queued = scheduled = 0
    blocked: Counter = Counter()
    for start in range(0, len(requests), SEND_CHUNK):
        result = messages_send(account=access.account, requests=requests[start:start + SEND_CHUNK],
                               source=Message.Source.UI)
        for outcome in result.outcomes:
            if outcome.code != SUCCESS:
                blocked[outcome.reason] += 1
            elif outcome.status == statuses.SCHEDULED:
                scheduled += 1
            else:
                queued += 1
    _flash_result(request, queued=queued, scheduled=scheduled, blocked=blocked,
                  duplicates=form.typed.duplicates if form.typed else 0, when=data["schedule"])
    return redirect("messaging:log" if access.can("reports.view") else "messaging:send")


@require_capability("sms.send")
@require_POST
def send_preview(request):
    """The counter and the cost, for htmx as you type: the fragment under the body plus the summary card (oob)."""
    data = request.POST
    mode = data.get("mode") or SendForm.NUMBERS
    contact_list = _posted_list(request, data.get("contact_list")) if mode == SendForm.LIST else None
    context = _preview_context(request, mode=mode, numbers=data.get("numbers", ""), contact_list=contact_list,
                               body=data.get("body", ""))
    context["oob"] = True
    response = render(request, "messaging/_preview.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- The sandbox's phones ---------------------------------------------------------------------------------------

MAX_SANDBOX_REPLY = 1600  # as /v3/sandbox/inbound


@require_capability("sms.send")
def sandbox(request):
    phones = selectors_ui.sandbox_phones(access=request.access)
    context = {"phones": phones, "per_number": selectors_ui.SANDBOX_THREAD}
    fragment = request.htmx and not request.htmx.history_restore_request
    response = render(request, "messaging/_phones.html" if fragment else "messaging/sandbox.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_capability("sms.send")
@require_POST
def sandbox_reply(request):
    """A sandbox phone writes back: the text reaches the inbox down the same path as a real gateway's inbound."""
    phone = selectors_ui.sandbox_phone(access=request.access, number=request.POST.get("phone", ""))
    if phone is None:
        raise Http404("This workspace never texted that number through the sandbox.")
    body = request.POST.get("body", "")
    if not body.strip():
        messages.error(request, f"Type the reply {phone.number} sends.")
    elif len(body) > MAX_SANDBOX_REPLY:
        messages.error(request, f"A reply is at most {MAX_SANDBOX_REPLY:,} characters.")
    else:
        try:
            services.sandbox_inbound(account=request.access.account, sender=phone.number, to=phone.replies_to,
                                     body=body, source="sandbox phone")
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{phone.number} replied; it is in the inbox.")
    return redirect("messaging:sandbox")
