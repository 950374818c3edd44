"""Browser UI for contacts: the table, a contact's pages, bulk actions, lists, custom fields and export.

Views are adapters: check the form, call one service or selector scoped to `request.access`, render.
Reading needs contacts.view; every change needs contacts.edit.
"""

import base64
import json
from dataclasses import dataclass, replace

from django.contrib import messages
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from smsportal.accounts.decorators import require_capability
from smsportal.errors import DomainError

from . import selectors, services
from .exporting import export_response
from .filters import ContactFilter, contacts_filtered, count_capped
from .forms import (
    BULK_ACTIONS,
    LINE_TYPE_CHOICES,
    STANDARD_LABELS,
    BulkForm,
    ContactForm,
    CustomFieldForm,
    ListForm,
    add_domain_error,
)
from .models import ListMembership, OptOutSource

PAGE_SIZE = 50
SORT_LABELS = {"newest": "Newest first", "oldest": "Oldest first", "name": "Name A–Z", "-name": "Name Z–A",
               "number": "Number"}
OPT_OUT_SOURCES = {
    OptOutSource.UI: "the web app",
    OptOutSource.API: "the API",
    OptOutSource.KEYWORD: "a STOP reply",
    OptOutSource.IMPORT: "a CSV import",
}


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


# --- Keyset pages ---------------------------------------------------------------------------------------------
#
# Every sort ends in a unique key, so "the rows after this one" is a WHERE on the sort keys that an index serves:
# no OFFSET, and page 2,000 costs what page 1 costs. A cursor is the last (or first) row's key values.


@dataclass(frozen=True)
class SortKey:
    alias: str
    expression: object  # what the alias stands for (a field name or an expression)
    descending: bool


SORT_KEYS = {
    "newest": (SortKey("pk", "pk", True),),
    "oldest": (SortKey("pk", "pk", False),),
    "name": (SortKey("_sk_last", Lower("last_name"), False), SortKey("_sk_first", Lower("first_name"), False),
             SortKey("pk", "pk", False)),
    "-name": (SortKey("_sk_last", Lower("last_name"), True), SortKey("_sk_first", Lower("first_name"), True),
              SortKey("pk", "pk", True)),
    # One contact per number in a workspace, so the number alone is a unique key.
    "number": (SortKey("phone_number", "phone_number", False),),
}


def _encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(raw: str, keys) -> list | None:
    try:
        values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(keys):
        return None
    for key, value in zip(keys, values):
        if not isinstance(value, int if key.alias == "pk" else str) or isinstance(value, bool):
            return None
    return values


def _beyond(keys, values, *, forward: bool) -> Q:
    """Rows strictly after `values` in the sort (before them when not `forward`): (a > x) or (a = x and b > y) …"""
    query = Q(pk__in=[])
    equal = Q()
    for key, value in zip(keys, values):
        below = key.descending == forward  # forward on an ascending key looks above; backward or descending, below
        query |= equal & Q(**{f"{key.alias}__{'lt' if below else 'gt'}": value})
        equal &= Q(**{key.alias: value})
    first = keys[0]
    # The leading key's range on its own as well: the same rows, but a condition an index range scan can start at.
    bound = Q(**{f"{first.alias}__{'lte' if first.descending == forward else 'gte'}": values[0]})
    return bound & query


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    prev_cursor: str | None


def keyset_page(qs: QuerySet, *, sort: str, after: str = "", before: str = "", size: int = PAGE_SIZE) -> Page:
    keys = SORT_KEYS[sort]
    aliases = {key.alias: key.expression for key in keys if key.alias not in ("pk", key.expression)}
    qs = qs.annotate(**aliases) if aliases else qs
    cursor = _decode_cursor(before, keys) if before else _decode_cursor(after, keys) if after else None
    forward = not (before and cursor)
    ordering = [(f"-{k.alias}" if k.descending == forward else k.alias) for k in keys]
    if cursor:
        qs = qs.filter(_beyond(keys, cursor, forward=forward))
    rows = list(qs.order_by(*ordering)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        rows.reverse()

    def cursor_of(contact):
        return _encode_cursor([getattr(contact, key.alias) for key in keys])

    if not rows:
        return Page(rows, None, None)
    if forward:
        return Page(rows, cursor_of(rows[-1]) if more else None, cursor_of(rows[0]) if cursor else None)
    return Page(rows, cursor_of(rows[-1]), cursor_of(rows[0]) if more else None)


# --- The contacts table -------------------------------------------------------------------------------------------


def _query_without(params: QueryDict, *drop: str) -> str:
    """The query string minus `drop` and the empty values a submitted filter form carries."""
    kept = QueryDict(mutable=True)
    for name, values in params.lists():
        values = [value for value in values if value]
        if name not in drop and values:
            kept.setlist(name, values)
    return kept.urlencode()


def _filter_choices(access) -> dict:
    fields = [(name, label) for name, label in STANDARD_LABELS.items()]
    customs = list(selectors.custom_field_queryset(access=access).only("key", "label"))
    fields += [(f"fields.{c.key}", c.label) for c in customs]
    return {
        "lists": list(selectors.list_queryset(access=access).only("id", "name")),
        "segments": list(selectors.segment_queryset(access=access).only("id", "name")),
        "line_types": LINE_TYPE_CHOICES,
        "field_choices": fields,
        "sorts": SORT_LABELS,
    }


def _table_context(request, *, flt: ContactFilter, base_url: str, fixed_list=None) -> dict:
    access = request.access
    qs = contacts_filtered(access=access, flt=flt, ordered=False).prefetch_related(
        Prefetch(
            "memberships",
            queryset=ListMembership.objects.select_related("contact_list").only(
                "contact_id", "contact_list__id", "contact_list__name"
            ).order_by("contact_list__name"),
        )
    )
    page = keyset_page(
        qs, sort=flt.sort, after=request.GET.get("after", ""), before=request.GET.get("before", ""), size=PAGE_SIZE
    )
    for contact in page.rows:
        contact.list_names = [m.contact_list.name for m in contact.memberships.all()]
    count, exact = count_capped(contacts_filtered(access=access, flt=flt, ordered=False))
    params = request.GET.copy()
    if fixed_list is not None:
        params["list"] = str(fixed_list.pk)
    filter_query = _query_without(params, "after", "before")
    return {
        "page": page,
        "count": count,
        "count_exact": exact,
        "count_display": f"{count:,}" if exact else f"{count:,}+",
        "flt": flt,
        "base_url": base_url,
        "filter_query": filter_query,
        "page_query": _query_without(request.GET, "after", "before"),
        "export_query": _query_without(params, "after", "before", "sort"),
        "can_edit": access.can("contacts.edit"),
        "fixed_list": fixed_list,
        # Narrowed beyond the list whose page this is: an empty result means "no match", not "empty list".
        "narrowed": replace(flt, list_id=None).is_filtered if fixed_list else flt.is_filtered,
    }


def _table_response(request, context: dict, template: str):
    # htmx asks for the table alone (search as you type, sorting, paging); history restores need the page.
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "contacts/_table.html", context)
        # The address bar shows the tidy query (no empty filters), so it can be bookmarked and shared.
        query = _query_without(request.GET)
        response["HX-Push-Url"] = context["base_url"] + (f"?{query}" if query else "")
    else:
        context.update(_filter_choices(request.access))
        context.update(bulk_actions=BULK_ACTIONS)
        context["has_contacts"] = (
            context["count"] > 0 or selectors.contact_queryset(access=request.access).exists()
        )
        response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_capability("contacts.view")
def index(request):
    flt = ContactFilter.from_params(request.GET)
    context = _table_context(request, flt=flt, base_url=reverse("contacts:index"))
    return _table_response(request, context, "contacts/index.html")


@require_capability("contacts.view")
def export(request):
    return export_response(access=request.access, flt=ContactFilter.from_params(request.GET))


# --- Bulk actions ---------------------------------------------------------------------------------------------


@require_capability("contacts.edit")
@require_POST
def bulk(request):
    access = request.access
    form = BulkForm(request.POST)
    back = _safe_next(request, reverse("contacts:index"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    if data["scope"] == "all":
        # The whole filtered set, re-evaluated here from the submitted query: never a list of a million ids.
        flt = ContactFilter.from_params(QueryDict(data["query"]))
        contacts = contacts_filtered(access=access, flt=flt, ordered=False)
    else:
        contacts = selectors.contact_queryset(access=access).filter(pk__in=data["ids"])
    action = data["action"]
    if action in ("add_to_list", "remove_from_list"):
        # Outside the try below: another workspace's list is a 404, not a flash message.
        contact_list = selectors.list_get(access=access, list_id=data["contact_list"])
    try:
        if action in ("add_to_list", "remove_from_list"):
            if action == "add_to_list":
                done = services.list_add_contacts(contact_list=contact_list, contacts=contacts)
                text = f"Added {done:,} contact{'s' if done != 1 else ''} to {contact_list.name}."
            else:
                done = services.list_remove_contacts(contact_list=contact_list, contacts=contacts)
                text = f"Removed {done:,} contact{'s' if done != 1 else ''} from {contact_list.name}."
        elif action == "opt_out":
            done = services.contacts_opt_out(account=access.account, contacts=contacts, source=OptOutSource.UI)
            text = f"Opted out {done:,} contact{'s' if done != 1 else ''}."
        elif action == "opt_in":
            done = services.contacts_opt_in(account=access.account, contacts=contacts)
            text = f"Opted in {done:,} contact{'s' if done != 1 else ''}."
        else:
            done = services.contacts_delete(contacts=contacts)
            text = f"Deleted {done:,} contact{'s' if done != 1 else ''}."
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, text)
    return HttpResponseRedirect(back)


# --- One contact --------------------------------------------------------------------------------------------------


def _contact_form(access, *args, **kwargs) -> ContactForm:
    return ContactForm(
        *args,
        custom_fields=selectors.custom_field_queryset(access=access),
        default_region=access.account.default_region,
        **kwargs,
    )


@require_capability("contacts.edit")
def contact_new(request):
    access = request.access
    form = _contact_form(access, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(
                account=access.account,
                phone_number=form.cleaned_data["phone_number"],
                country=form.cleaned_data["country"],
                data=form.service_data(),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{contact} added.")
            return redirect("contacts:detail", contact.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": None})


@require_capability("contacts.edit")
def contact_edit(request, contact_id):
    access = request.access
    contact = selectors.contact_get(access=access, contact_id=contact_id)
    if request.method == "POST":
        form = _contact_form(access, request.POST)
        if form.is_valid():
            try:
                services.contact_update(
                    contact=contact,
                    data={"phone_number": form.cleaned_data["phone_number"], **form.service_data()},
                    country=form.cleaned_data["country"],
                )
            except DomainError as exc:
                add_domain_error(form, exc)
                contact.refresh_from_db()  # a refused update may have set attributes on the instance
            else:
                messages.success(request, f"{contact} saved.")
                return redirect("contacts:detail", contact.pk)
    else:
        form = _contact_form(access, initial=ContactForm.initial_for(contact))
    return render(request, "contacts/contact_form.html", {"form": form, "contact": contact})


@require_capability("contacts.view")
def contact_detail(request, contact_id):
    access = request.access
    contact = selectors.contact_get(access=access, contact_id=contact_id)
    member_of = list(
        selectors.list_queryset(access=access).filter(memberships__contact=contact).order_by("name", "id")
    )
    joined = {lst.pk for lst in member_of}
    customs = list(selectors.custom_field_queryset(access=access))
    context = {
        "contact": contact,
        "member_of": member_of,
        "other_lists": [lst for lst in selectors.list_queryset(access=access).only("id", "name") if lst.pk not in joined],
        "standard": [(label, getattr(contact, name)) for name, label in STANDARD_LABELS.items()],
        "custom": [(c.label, (contact.fields or {}).get(c.key, "")) for c in customs],
        "opt_out_source": OPT_OUT_SOURCES.get(contact.opt_out_source, "an unknown source"),
        "can_edit": access.can("contacts.edit"),
    }
    return render(request, "contacts/detail.html", context)


@require_capability("contacts.edit")
@require_POST
def contact_delete(request, contact_id):
    contact = selectors.contact_get(access=request.access, contact_id=contact_id)
    name = str(contact)
    services.contacts_delete(contacts=selectors.contact_queryset(access=request.access).filter(pk=contact.pk))
    messages.success(request, f"{name} deleted.")
    return redirect("contacts:index")


@require_capability("contacts.edit")
@require_POST
def contact_opt(request, contact_id, state):
    access = request.access
    contact = selectors.contact_get(access=access, contact_id=contact_id)
    one = selectors.contact_queryset(access=access).filter(pk=contact.pk)
    if state == "out":
        services.contacts_opt_out(account=access.account, contacts=one, source=OptOutSource.UI)
        messages.success(request, f"{contact.phone_number} is opted out: campaigns and replies will skip it.")
    else:
        services.contacts_opt_in(account=access.account, contacts=one)
        messages.success(request, f"{contact.phone_number} is opted back in.")
    return redirect("contacts:detail", contact.pk)


@require_capability("contacts.edit")
@require_POST
def contact_membership(request, contact_id, action):
    access = request.access
    contact = selectors.contact_get(access=access, contact_id=contact_id)
    contact_list = selectors.list_get(access=access, list_id=request.POST.get("contact_list"))
    one = selectors.contact_queryset(access=access).filter(pk=contact.pk)
    if action == "add":
        services.list_add_contacts(contact_list=contact_list, contacts=one)
        messages.success(request, f"Added to {contact_list.name}.")
    else:
        services.list_remove_contacts(contact_list=contact_list, contacts=one)
        messages.success(request, f"Removed from {contact_list.name}.")
    return redirect("contacts:detail", contact.pk)


# --- Lists ------------------------------------------------------------------------------------------------------


def _lists_page(request, form=None, status=200):
    lists = selectors.list_queryset(access=request.access).order_by("name", "id")
    context = {"lists": lists, "form": form or ListForm(), "can_edit": request.access.can("contacts.edit")}
    return render(request, "contacts/lists.html", context, status=status)


@require_capability("contacts.view")
def lists(request):
    return _lists_page(request)


@require_capability("contacts.edit")
@require_POST
def list_create(request):
    form = ListForm(request.POST)
    if form.is_valid():
        try:
            contact_list = services.list_create(account=request.access.account, name=form.cleaned_data["name"])
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"List {contact_list.name} created.")
            return redirect("contacts:list", contact_list.pk)
    return _lists_page(request, form=form, status=400)


@require_capability("contacts.view")
def list_detail(request, list_id):
    contact_list = selectors.list_get(access=request.access, list_id=list_id)
    params = request.GET.copy()
    params["list"] = str(contact_list.pk)
    flt = ContactFilter.from_params(params)
    context = _table_context(
        request, flt=flt, base_url=reverse("contacts:list", args=[contact_list.pk]), fixed_list=contact_list
    )
    context["rename_form"] = ListForm(initial={"name": contact_list.name})
    return _table_response(request, context, "contacts/list_detail.html")


@require_capability("contacts.edit")
@require_POST
def list_rename(request, list_id):
    contact_list = selectors.list_get(access=request.access, list_id=list_id)
    form = ListForm(request.POST)
    if form.is_valid():
        try:
            services.list_rename(contact_list=contact_list, name=form.cleaned_data["name"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"List renamed to {contact_list.name}.")
    else:
        messages.error(request, "A list needs a name of at most 100 characters.")
    return redirect("contacts:list", contact_list.pk)


@require_capability("contacts.edit")
@require_POST
def list_delete(request, list_id):
    contact_list = selectors.list_get(access=request.access, list_id=list_id)
    name = contact_list.name
    services.list_delete(contact_list=contact_list)
    messages.success(request, f"List {name} deleted; its contacts stay in the workspace.")
    return redirect("contacts:lists")


# --- Custom fields -----------------------------------------------------------------------------------------------


def _fields_page(request, form=None, status=200):
    context = {
        "custom_fields": selectors.custom_field_queryset(access=request.access).order_by("label", "id"),
        "form": form or CustomFieldForm(),
        "can_edit": request.access.can("contacts.edit"),
    }
    return render(request, "contacts/fields.html", context, status=status)


@require_capability("contacts.view")
def fields(request):
    return _fields_page(request)


@require_capability("contacts.edit")
@require_POST
def field_create(request):
    form = CustomFieldForm(request.POST)
    if form.is_valid():
        try:
            field = services.custom_field_create(account=request.access.account, **form.cleaned_data)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Custom field {field.label} added as {{{{{field.key}}}}}.")
            return redirect("contacts:fields")
    return _fields_page(request, form=form, status=400)


@require_capability("contacts.edit")
@require_POST
def field_delete(request, field_id):
    field = selectors.custom_field_queryset(access=request.access).filter(pk=field_id).first()
    if field is None:
        raise Http404("No such custom field.")
    services.custom_field_delete(field=field)
    messages.success(request, f"Custom field {field.label} deleted.")
    return redirect("contacts:fields")

