"""Browser UI of the inbox: the conversation list and a thread side by side, refreshed every couple of seconds
without a reload (htmx), the reply box with templates, merge fields and the live counter, and the agents' actions.
Adapters over services.py and selectors.py; inbound text is untrusted and only ever rendered escaped."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from contacts.models import Contact
from contacts.selectors import merge_values
from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError
from smsportal.messaging import encoding, merge
from smsportal.messaging.selectors import pricing_card_for
from smsportal.messaging.views import body_preview

from . import selectors, services
from .models import Conversation

VIEW, REPLY = "inbox.view", "inbox.reply"
MANAGE_KEYWORDS = "account.manage"  # what a STOP or HELP answers is the workspace's compliance, not an agent's call
TAB_LABELS = {"unassigned": "Unassigned", "mine": "Mine", "all": "All", "closed": "Closed"}


def _tab(request) -> str:
    tab = request.GET.get("tab") or request.POST.get("tab") or "all"
    return tab if tab in selectors.TABS else "all"


def _list_context(request, current: Conversation | None) -> dict:
    tab, query = _tab(request), (request.GET.get("q") or "").strip()[:100]
    page = list(selectors.conversations(access=request.access, tab=tab, query=query, user=request.user)
                [:selectors.PAGE])
    counts = selectors.tab_counts(access=request.access, user=request.user)
    return {
        "tab": tab, "query": query, "tabs": TAB_LABELS,
        "rows": selectors.rows_for(access=request.access, conversations=page),
        "counts": counts, "inbox_unread": counts["all"],  # the navigation's badge too, without counting again
        "current": current,
    }


def _thread_context(request, conversation: Conversation) -> dict:
    contact = Contact.objects.filter(account=request.access.account, pk=conversation.contact_id).first()
    return {
        "conversation": conversation, "contact": contact,
        "items": selectors.thread(conversation=conversation),
        "opted_out": selectors.opted_out(conversation=conversation),
        "members": selectors.members(access=request.access),
        "templates": selectors.template_queryset(access=request.access),
        "merge_fields": ["first_name", "last_name", "phone_number", "organization_name"],
        "can_reply": request.access.can(REPLY),
    }


def _page(request, conversation: Conversation | None, *, status=200):
    context = {**_list_context(request, conversation)}
    if conversation is not None:
        context.update(_thread_context(request, conversation))
        context["reply_meter"] = _meter(request, conversation, "")
    return render(request, "inbox/index.html", context, status=status)


@require_capability(VIEW)
def index(request):
    return _page(request, None)


@require_capability(VIEW)
def conversation(request, conversation_id):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    if current.has_unread and request.access.can(REPLY) and not request.htmx:
        services.conversation_mark_read(conversation=current)  # opening a thread reads it
    return _page(request, current)


@require_capability(VIEW)
def conversation_list(request):
    """The list alone, for htmx's polling: new conversations and unread badges appear without a reload."""
    current = None
    if request.GET.get("c"):
        current = selectors.conversation_queryset(access=request.access).filter(pk=request.GET["c"]).first() \
            if request.GET["c"].isdigit() else None
    response = render(request, "inbox/_list.html", {**_list_context(request, current), "fragment": True})
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_capability(VIEW)
def thread_fragment(request, conversation_id):
    """One thread's messages, for htmx's polling while it is open."""
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    if current.has_unread and request.access.can(REPLY):
        services.conversation_mark_read(conversation=current)
    response = render(request, "inbox/_thread_items.html", {**_thread_context(request, current), "fragment": True})
    patch_vary_headers(response, ("HX-Request",))
    return response


def _meter(request, conversation: Conversation, body: str) -> dict:
    """The reply's counter: characters, encoding, segments and what it costs to this number, merge fields filled
    from the contact as the send will fill them."""
    contact = Contact.objects.filter(account=request.access.account, pk=conversation.contact_id).first()
    text = merge.render(body, merge_values(contact=contact) if contact else {}).text if "{{" in body else body
    cost = None
    if contact is not None and text:
        cost = pricing_card_for(account=request.access.account).cost(country=contact.country,
                                                                     segments=encoding.segment_count(text))
    return {**body_preview(text), "cost": cost, "currency": request.access.account.currency, "merged": text != body}


@require_capability(REPLY)
@require_POST
def reply_preview(request, conversation_id):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    response = render(request, "inbox/_reply_meter.html", {"reply_meter": _meter(request, current, request.POST.get("body", ""))})
    patch_vary_headers(response, ("HX-Request",))
    return response


def _back(conversation: Conversation, request) -> str:
    url = reverse("inbox:conversation", kwargs={"conversation_id": conversation.pk})
    tab = _tab(request)
    return f"{url}?tab={tab}" if tab != "all" else url


@require_capability(REPLY)
@require_POST
def reply(request, conversation_id):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    try:
        result = services.conversation_reply(conversation=current, body=request.POST.get("body", ""), by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_back(current, request))
    outcome = result.outcomes[0]
    messages.success(request, f"Reply sent to {outcome.to} ({outcome.segments} segment{'s' if outcome.segments != 1 else ''}).")
    return redirect(_back(current, request))


def _act(request, conversation_id, action, **kwargs):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    try:
        action(conversation=current, **kwargs)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_back(current, request))


@require_capability(REPLY)
@require_POST
def assign(request, conversation_id):
    raw = request.POST.get("user_id") or ""
    return _act(request, conversation_id, services.conversation_assign, user_id=int(raw) if raw.isdigit() else None)


@require_capability(REPLY)
@require_POST
def close(request, conversation_id):
    return _act(request, conversation_id, services.conversation_close)


@require_capability(REPLY)
@require_POST
def reopen(request, conversation_id):
    return _act(request, conversation_id, services.conversation_reopen)


@require_capability(REPLY)
@require_POST
def unread(request, conversation_id):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    services.conversation_mark_read(conversation=current, read=False)
    return redirect(reverse("inbox:index") + (f"?tab={_tab(request)}" if _tab(request) != "all" else ""))


@require_capability(REPLY)
@require_POST
def note(request, conversation_id):
    current = selectors.conversation_get(access=request.access, conversation_id=conversation_id)
    try:
        services.note_add(conversation=current, body=request.POST.get("body", ""), by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_back(current, request))


# --- Templates ----------------------------------------------------------------------------------------------


@require_capability(VIEW)
def templates(request):
    return render(request, "inbox/templates.html", {
        "templates": selectors.template_queryset(access=request.access), "can_edit": request.access.can(REPLY),
        "keywords": selectors.inbox_settings(access=request.access),
        "can_edit_keywords": request.access.can(MANAGE_KEYWORDS),
    })


@require_capability(MANAGE_KEYWORDS)
@require_POST
def keyword_settings(request):
    data = {name: request.POST.get(name, "") for name in ("help_reply", "opt_out_reply", "opt_in_reply")}
    data["create_contacts"] = request.POST.get("create_contacts") == "on"
    try:
        services.inbox_settings_save(account=request.access.account, data=data)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Keyword replies saved.")
    return redirect("inbox:templates")


@require_capability(REPLY)
@require_POST
def template_save(request, template_id=None):
    template = selectors.template_get(access=request.access, template_id=template_id) if template_id else None
    try:
        services.template_save(account=request.access.account, name=request.POST.get("template_name", ""),
                               body=request.POST.get("body", ""), template=template)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Template saved.")
    return redirect("inbox:templates")


@require_capability(REPLY)
@require_POST
def template_delete(request, template_id):
    services.template_delete(template=selectors.template_get(access=request.access, template_id=template_id))
    messages.success(request, "Template deleted.")
    return redirect("inbox:templates")
