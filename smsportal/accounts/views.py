"""Browser UI for accounts: login, workspace switching and the settings pages (the dashboard is the reports app's).

Views are adapters: check the form, call one service or selector scoped to `request.access`, render.
"""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from smsportal.errors import DomainError
from smsportal.messaging.pricing import marked_up
from smsportal.messaging.selectors import pricing_card_for

from . import selectors, services
from .decorators import forbidden, require_capability
from .forms import (
    AccountProfileForm,
    CreditTransferForm,
    EmailLoginForm,
    FallbackRateForm,
    MarkupForm,
    MemberAddForm,
    MemberRoleForm,
    RateForm,
    SubaccountCreateForm,
    SubaccountEditForm,
    TopUpForm,
    add_domain_error,
)
from .workspace import switch_workspace

LEDGER_PAGE_SIZE = 50
SUBACCOUNT_PAGE_SIZE = 50


class LoginView(auth_views.LoginView):
    form_class = EmailLoginForm
    redirect_authenticated_user = True


def _shown_once(response):
    """A page carrying a freshly issued API key must not be kept by the browser or any proxy."""
    add_never_cache_headers(response)
    return response


# --- Dashboard and workspace -----------------------------------------------------------------------


@login_required
@require_POST
def workspace_switch(request):
    access = switch_workspace(request, request.POST.get("account_id"))
    if access is None:
        raise Http404("You have no workspace with that id.")
    messages.success(request, f"You are now working in {access.account.name}.")
    return redirect("dashboard")


# --- Settings: profile and API credentials -------------------------------------------------------------


@require_capability("account.view")
def settings_profile(request):
    account = request.access.account
    can_edit = request.access.can("account.manage")
    if request.method == "POST":
        if not can_edit:
            return forbidden(request, reason="capability", capability="account.manage")
        form = AccountProfileForm(request.POST)
        if form.is_valid():
            try:
                services.account_update(account=account, data=form.cleaned_data)
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, "Account details saved.")
                return redirect("settings-profile")
    else:
        fields = ("name", "email", "phone_number", "default_region", "timezone")
        form = AccountProfileForm(initial={field: getattr(account, field) for field in fields})
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(request, "settings/profile.html", {"form": form, "can_edit": can_edit})


def _api_page(request, *, new_key: str | None = None):
    account = request.access.account
    context = {"api_key": selectors.api_key_active(account=account), "new_key": new_key}
    return _shown_once(render(request, "settings/api.html", context))


@require_capability("account.view")
def settings_api(request):
    return _api_page(request)


@require_capability("api_keys.manage")
@require_POST
def settings_api_rotate(request):
    # Rendered straight into the POST response: the key exists nowhere else once this page is gone.
    new_key = services.api_key_rotate(account=request.access.account)
    return _api_page(request, new_key=new_key)


# --- Settings: subaccounts --------------------------------------------------------------------------


def _subaccounts_unavailable(request):
    return render(request, "settings/subaccounts_unavailable.html")


@require_capability("subaccounts.manage")
def subaccounts(request):
    if not request.access.account.is_main:
        return _subaccounts_unavailable(request)
    rows = selectors.subaccount_overview(access=request.access)
    page = Paginator(rows, SUBACCOUNT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "settings/subaccounts.html", {"page": page})


@require_capability("subaccounts.manage")
def subaccount_new(request):
    if not request.access.account.is_main:
        return _subaccounts_unavailable(request)
    form = SubaccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subaccount, new_key = services.subaccount_create(parent=request.access.account, **form.service_kwargs())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            context = {"subaccount": subaccount, "new_key": new_key}
            return _shown_once(render(request, "settings/subaccount_created.html", context))
    return render(request, "settings/subaccount_new.html", {"form": form})


def _member_rows(account, *, url_prefix: str, url_args: tuple, failed: tuple | None = None) -> list[dict]:
    """Each member with its own role form; `failed` is (member_id, bound form) to show an error on that row."""
    rows = []
    for member in selectors.member_list(account=account):
        form = None
        if failed and failed[0] == member.pk:
            form = failed[1]
        if form is None:
            form = MemberRoleForm(initial={"role": member.role}, auto_id=f"id_member{member.pk}_%s")
        args = (*url_args, member.pk)
        rows.append(
            {
                "member": member,
                "form": form,
                "role_url": reverse(f"{url_prefix}-role", args=args),
                "remove_url": reverse(f"{url_prefix}-remove", args=args),
            }
        )
    return rows


def _subaccount_page(request, subaccount, *, new_key=None, edit_form=None, member_add_form=None,
                     transfer_form=None, failed_member=None):
    if edit_form is None:
        fields = ("name", "email", "phone_number", "api_rate_limit", "notes", *services.ACCESS_FLAGS)
        edit_form = SubaccountEditForm(initial={field: getattr(subaccount, field) for field in fields})
    context = {
        "subaccount": subaccount,
        "api_key": selectors.api_key_active(account=subaccount),
        "new_key": new_key,
        "edit_form": edit_form,
        "member_add_form": member_add_form or MemberAddForm(),
        "member_add_url": reverse("settings-subaccount-member-add", args=[subaccount.pk]),
        "member_rows": _member_rows(
            subaccount, url_prefix="settings-subaccount-member", url_args=(subaccount.pk,), failed=failed_member
        ),
        "transfer_form": transfer_form or CreditTransferForm(),
    }
    return _shown_once(render(request, "settings/subaccount_detail.html", context))


@require_capability("subaccounts.manage")
def subaccount_detail(request, subaccount_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    if request.method != "POST":
        return _subaccount_page(request, subaccount)
    form = SubaccountEditForm(request.POST)
    if form.is_valid():
        try:
            services.subaccount_update(subaccount=subaccount, data=form.service_data())
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{subaccount.name} saved.")
            return redirect("settings-subaccount", subaccount.pk)
    # The failed update may have set attributes on the instance; show the stored values alongside the form.
    subaccount.refresh_from_db()
    return _subaccount_page(request, subaccount, edit_form=form)


@require_capability("subaccounts.manage")
@require_POST
def subaccount_rotate_key(request, subaccount_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    new_key = services.api_key_rotate(account=subaccount)
    return _subaccount_page(request, subaccount, new_key=new_key)


@require_capability("subaccounts.manage")
@require_POST
def subaccount_transfer(request, subaccount_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    main = request.access.account
    form = CreditTransferForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        to_subaccount = data["direction"] == CreditTransferForm.TO_SUBACCOUNT
        source, destination = (main, subaccount) if to_subaccount else (subaccount, main)
        try:
            services.credit_transfer(
                source=source, destination=destination, amount=data["amount"], memo=data["memo"], by=request.user
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Moved {data['amount']:,.2f} {main.currency} from {source} to {destination}.")
            return redirect("settings-subaccount", subaccount.pk)
    return _subaccount_page(request, subaccount, transfer_form=form)


@require_capability("subaccounts.manage")
@require_POST
def subaccount_status(request, subaccount_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    try:
        services.account_set_status(account=subaccount, status=request.POST.get("status", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        verb = "reactivated" if subaccount.is_active else "suspended"
        messages.success(request, f"{subaccount.name} {verb}.")
    return redirect("settings-subaccount", subaccount.pk)


# --- Members (shared by the account's own team and a subaccount's team) -------------------------------


def _member_add(request, account, *, rerender, done_url):
    form = MemberAddForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            member = services.member_add(
                account=account, email=data["email"], role=data["role"], password=data["password"] or None
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{member.user.email} added as {member.role}.")
            return redirect(done_url)
    return rerender(member_add_form=form)


def _member_set_role(request, account, member_id, *, rerender, done_url):
    member = selectors.member_get(account=account, member_id=member_id)
    form = MemberRoleForm(request.POST, auto_id=f"id_member{member.pk}_%s")
    if form.is_valid():
        try:
            services.member_set_role(member=member, role=form.cleaned_data["role"])
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{member.user.email} is now {member.role}.")
            return redirect(done_url)
    return rerender(failed_member=(member.pk, form))


def _member_remove(request, account, member_id, *, rerender, done_url):
    member = selectors.member_get(account=account, member_id=member_id)
    try:
        services.member_remove(member=member)
    except DomainError as exc:
        form = MemberRoleForm({"role": member.role}, auto_id=f"id_member{member.pk}_%s")
        form.is_valid()
        form.add_error(None, exc.message)
        return rerender(failed_member=(member.pk, form))
    messages.success(request, f"{member.user.email} removed.")
    return redirect(done_url)


def _members_page(request, *, member_add_form=None, failed_member=None):
    account = request.access.account
    context = {
        "member_add_form": member_add_form or MemberAddForm(),
        "member_add_url": reverse("settings-member-add"),
        "member_rows": _member_rows(account, url_prefix="settings-member", url_args=(), failed=failed_member),
    }
    return render(request, "settings/members.html", context)


@require_capability("members.manage")
def members(request):
    return _members_page(request)


def _own_members(request):
    return {"rerender": lambda **kw: _members_page(request, **kw), "done_url": reverse("settings-members")}


@require_capability("members.manage")
@require_POST
def member_add(request):
    return _member_add(request, request.access.account, **_own_members(request))


@require_capability("members.manage")
@require_POST
def member_role(request, member_id):
    return _member_set_role(request, request.access.account, member_id, **_own_members(request))


@require_capability("members.manage")
@require_POST
def member_remove(request, member_id):
    return _member_remove(request, request.access.account, member_id, **_own_members(request))


def _subaccount_members(request, subaccount):
    return {
        "rerender": lambda **kw: _subaccount_page(request, subaccount, **kw),
        "done_url": reverse("settings-subaccount", args=[subaccount.pk]) + "#members",
    }


@require_capability("subaccounts.manage")
@require_POST
def subaccount_member_add(request, subaccount_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    return _member_add(request, subaccount, **_subaccount_members(request, subaccount))


@require_capability("subaccounts.manage")
@require_POST
def subaccount_member_role(request, subaccount_id, member_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    return _member_set_role(request, subaccount, member_id, **_subaccount_members(request, subaccount))


@require_capability("subaccounts.manage")
@require_POST
def subaccount_member_remove(request, subaccount_id, member_id):
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    return _member_remove(request, subaccount, member_id, **_subaccount_members(request, subaccount))


# --- Billing ---------------------------------------------------------------------------------------


def _ledger_page(account, page_param):
    """One page of the ledger, newest first. Fetches one extra row instead of counting a growing table."""
    try:
        number = max(int(page_param or 1), 1)
    except ValueError:
        number = 1
    offset = (number - 1) * LEDGER_PAGE_SIZE
    rows = list(selectors.ledger_list(account=account)[offset : offset + LEDGER_PAGE_SIZE + 1])
    return {
        "entries": rows[:LEDGER_PAGE_SIZE],
        "number": number,
        "previous_number": number - 1 if number > 1 else None,
        "next_number": number + 1 if len(rows) > LEDGER_PAGE_SIZE else None,
    }


def _billing_page(request, *, top_up_form=None):
    account = request.access.account
    context = {
        "ledger": _ledger_page(account, request.GET.get("page")),
        "can_top_up": account.is_main and request.access.can("billing.manage"),
        "top_up_form": top_up_form or TopUpForm(),
    }
    # A history restore needs the whole page back, not the fragment.
    fragment = request.htmx and not request.htmx.history_restore_request
    response = render(request, "settings/_ledger.html" if fragment else "settings/billing.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_capability("billing.view")
def billing(request):
    return _billing_page(request)


@require_capability("billing.manage")
@require_POST
def billing_top_up(request):
    form = TopUpForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.credit_top_up(account=request.access.account, amount=data["amount"], memo=data["memo"],
                                   by=request.user)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Added {data['amount']:,.2f} {request.access.account.currency} of credit.")
            return redirect("settings-billing")
    return _billing_page(request, top_up_form=form)


# --- Rates ------------------------------------------------------------------------------------------

# Names for the countries of the default card; any other country shows its ISO code alone.
COUNTRY_NAMES = {
    "AU": "Australia",
    "CA": "Canada",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "IN": "India",
    "IT": "Italy",
    "NL": "Netherlands",
    "NZ": "New Zealand",
    "SG": "Singapore",
    "US": "United States",
    "ZA": "South Africa",
}


def _markup_rows(request, *, failed: tuple | None = None) -> list[dict]:
    """Each subaccount with its own markup form; `failed` is (subaccount_id, bound form) to show its error."""
    rows = []
    for sub in selectors.subaccount_list(access=request.access):
        form = failed[1] if failed and failed[0] == sub.pk else None
        if form is None:
            form = MarkupForm(initial={"markup_percent": sub.markup_percent}, auto_id=f"id_sub{sub.pk}_%s")
        rows.append({"subaccount": sub, "form": form, "url": reverse("settings-rates-markup", args=[sub.pk])})
    return rows


def _rates_page(request, *, rate_form=None, fallback_form=None, failed_markup=None, status=200):
    account = request.access.account
    card = pricing_card_for(account=account)
    rows = [
        {
            "country": country,
            "name": COUNTRY_NAMES.get(country, ""),
            "per_segment": card.rates[country],
            "effective": card.rate_for(country),
        }
        for country in sorted(card.rates)
    ]
    context = {
        "is_main": account.is_main,
        "is_default": not selectors.rate_card_edited(account=request.access.account),
        "rows": rows,
        "fallback_rate": card.fallback,
        "effective_fallback": None if card.fallback is None else marked_up(card.fallback, card.markup_percent),
        "markup_percent": account.markup_percent,
        "can_edit": account.is_main and request.access.can("billing.manage"),
    }
    if account.is_main:
        context.update(
            rate_form=rate_form or RateForm(),
            fallback_form=fallback_form or FallbackRateForm(initial={"fallback_rate": card.fallback}),
            markup_rows=_markup_rows(request, failed=failed_markup),
        )
    return render(request, "settings/rates.html", context, status=status)


def _rates_edit_refused(request):
    """Rates belong to the main account: a subaccount's workspace only reads them."""
    if request.access.account.is_main:
        return None
    return forbidden(request, reason="subaccount_rates")


@require_capability("billing.view")
def rates(request):
    return _rates_page(request)


@require_capability("billing.manage")
@require_POST
def rates_set(request):
    if (refused := _rates_edit_refused(request)) is not None:
        return refused
    form = RateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rate = services.rate_set(account=request.access.account, country=data["country"],
                                     per_segment=data["per_segment"])
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{rate.country} now costs {rate.per_segment} {request.access.account.currency} "
                                      "per segment.")
            return redirect("settings-rates")
    return _rates_page(request, rate_form=form)


@require_capability("billing.manage")
@require_POST
def rates_remove(request, country):
    if (refused := _rates_edit_refused(request)) is not None:
        return refused
    country = country.upper()
    if country not in pricing_card_for(account=request.access.account).rates:
        raise Http404(f"The rate card has no rate for {country}.")
    services.rate_remove(account=request.access.account, country=country)
    messages.success(request, f"Removed the rate for {country}.")
    return redirect("settings-rates")


@require_capability("billing.manage")
@require_POST
def rates_fallback(request):
    if (refused := _rates_edit_refused(request)) is not None:
        return refused
    form = FallbackRateForm(request.POST)
    if form.is_valid():
        fallback = form.cleaned_data["fallback_rate"]
        try:
            services.rate_card_set_fallback(account=request.access.account, fallback_rate=fallback)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            if fallback is None:
                messages.success(request, "Countries without a rate are now blocked as unroutable.")
            else:
                messages.success(request, f"Countries without a rate now cost {fallback} per segment.")
            return redirect("settings-rates")
    return _rates_page(request, fallback_form=form)


@require_capability("billing.manage")
@require_POST
def rates_markup(request, subaccount_id):
    if (refused := _rates_edit_refused(request)) is not None:
        return refused
    subaccount = selectors.subaccount_get(access=request.access, subaccount_id=subaccount_id)
    form = MarkupForm(request.POST, auto_id=f"id_sub{subaccount.pk}_%s")
    if form.is_valid():
        try:
            services.subaccount_set_markup(subaccount=subaccount, markup_percent=form.cleaned_data["markup_percent"])
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"{subaccount.name} now pays {subaccount.markup_percent}% over your rates.")
            return redirect(reverse("settings-rates") + "#markups")
    return _rates_page(request, failed_markup=(subaccount.pk, form))
