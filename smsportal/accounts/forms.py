"""Forms for the accounts UI. They check shape only; the services own the rules and raise DomainError."""

import zoneinfo
from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from smsportal.errors import DomainError

from .models import Role
from .services import ACCESS_FLAGS

FLAG_LABELS = {
    "access_sms": "SMS and campaigns",
    "access_contacts": "Contacts",
    "access_reporting": "Reports",
    "access_billing": "Billing",
    "access_users": "Users and subaccounts",
    "access_settings": "Settings and API keys",
}

# Services name some fields after the API's vocabulary; map them onto the form's own fields.
_FIELD_ALIASES = {"account_name": "name", "country": "default_region"}


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the field it names, or above the form if the form has no such field."""
    field = error.field if error.field in form.fields else _FIELD_ALIASES.get(error.field, error.field)
    form.add_error(field if field in form.fields else None, error.message)


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class AccountProfileForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=120)
    email = forms.EmailField(label="Billing email", required=False)
    phone_number = forms.CharField(label="Phone number", max_length=32, required=False)
    default_region = forms.CharField(
        label="Default country",
        max_length=2,
        help_text="Two-letter ISO code used for national numbers, e.g. US, GB, AU.",
    )
    timezone = forms.ChoiceField(label="Time zone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class AccessFlagsMixin(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for flag in ACCESS_FLAGS:
            self.fields[flag] = forms.BooleanField(label=FLAG_LABELS[flag], required=False, initial=True)

    def flag_fields(self):
        return [self[flag] for flag in ACCESS_FLAGS]

    def plain_fields(self):
        return [field for field in self if field.name not in ACCESS_FLAGS]

    def flags(self) -> dict[str, bool]:
        return {flag: self.cleaned_data[flag] for flag in ACCESS_FLAGS}


class SubaccountCreateForm(AccessFlagsMixin):
    api_username = forms.CharField(
        label="API username", max_length=64, help_text="3–64 letters, digits and . _ @ + -; used for HTTP Basic auth."
    )
    name = forms.CharField(label="Display name", max_length=120, required=False)
    email = forms.EmailField(label="Email", required=False)
    password = forms.CharField(
        label="Password for a login",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Creates a login for the email above as this subaccount's admin.",
    )

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "api_username": data["api_username"],
            "name": data["name"],
            "email": data["email"],
            "password": data["password"] or None,
            "flags": self.flags(),
        }


class SubaccountEditForm(AccessFlagsMixin):
    name = forms.CharField(label="Display name", max_length=120)
    email = forms.EmailField(label="Email", required=False)
    phone_number = forms.CharField(label="Phone number", max_length=32, required=False)
    api_rate_limit = forms.IntegerField(label="API rate limit (requests per second)", min_value=1, max_value=1000)
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.VIEWER)
    password = forms.CharField(
        label="Password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Only for an email that has no login yet: creates one.",
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class CreditTransferForm(forms.Form):
    TO_SUBACCOUNT = "to_subaccount"
    TO_PARENT = "to_parent"

    direction = forms.ChoiceField(
        label="Direction",
        choices=[(TO_SUBACCOUNT, "Main account → subaccount"), (TO_PARENT, "Subaccount → main account")],
        initial=TO_SUBACCOUNT,
    )
    # The service re-checks the amount; the form only insists it is a positive number.
    amount = forms.DecimalField(label="Amount", max_digits=14, decimal_places=4, min_value=Decimal("0.0001"))
    memo = forms.CharField(label="Memo", max_length=200, required=False)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(label="Amount", max_digits=14, decimal_places=4, min_value=Decimal("0.0001"))
    memo = forms.CharField(label="Memo", max_length=200, required=False)


class RateForm(forms.Form):
    """Add or change one country's per-segment rate on a main account's rate card."""

    country = forms.CharField(
        label="Country", max_length=2, min_length=2, help_text="Two-letter ISO code, e.g. US, GB, AU."
    )
    per_segment = forms.DecimalField(
        label="Rate per segment", max_digits=10, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("1000")
    )


class FallbackRateForm(forms.Form):
    fallback_rate = forms.DecimalField(
        label="Fallback rate per segment",
        required=False,
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0"),
        max_value=Decimal("1000"),
        help_text="For countries without their own rate. Leave blank to block them as unroutable.",
    )


class MarkupForm(forms.Form):
    markup_percent = forms.DecimalField(
        label="Markup (%)", max_digits=6, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("1000")
    )
