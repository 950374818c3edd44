"""Forms for the contacts UI. They check shape only; the services own the rules and raise DomainError."""

import phonenumbers
from django import forms

from smsportal.errors import DomainError

from .models import CustomField, LineType
from .services import TEXT_FIELDS

CUSTOM_PREFIX = "cf_"
BULK_ACTIONS = {
    "add_to_list": "Add to list",
    "remove_from_list": "Remove from list",
    "opt_out": "Opt out",
    "opt_in": "Opt in",
    "delete": "Delete",
}
STANDARD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "fax_number": "Fax number",
    "organization_name": "Organisation",
    "address_line_1": "Address line 1",
    "address_line_2": "Address line 2",
    "address_city": "City",
    "address_state": "State / region",
    "address_postal_code": "Postal code",
    "address_country": "Address country",
    "custom_1": "Custom 1",
    "custom_2": "Custom 2",
    "custom_3": "Custom 3",
    "custom_4": "Custom 4",
}


def region_choices() -> list[tuple[str, str]]:
    """Every region `phonenumbers` knows, as "GB (+44)": the default country for numbers typed without one."""
    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the field it names ("fields.<key>" is a custom field), else above the form."""
    field = error.field or ""
    message = error.message
    if field and message.startswith(field + " "):
        message = message[len(field) + 1:]  # "phone_number '0412': too short…" reads as "'0412': too short…" on its field
    if field.startswith("fields."):
        field = CUSTOM_PREFIX + field.removeprefix("fields.")
    if field == "list_name":
        field = "name"
    if field not in form.fields:
        field, message = None, error.message
    form.add_error(field, message)


def _custom_form_field(custom: CustomField) -> forms.Field:
    # Values go to the service as text: it parses numbers and dates and names the field when one is wrong.
    if custom.type == CustomField.Type.NUMBER:
        widget = forms.TextInput(attrs={"inputmode": "decimal"})
        help_text = "A number"
    elif custom.type == CustomField.Type.DATE:
        widget = forms.DateInput(attrs={"type": "date"})
        help_text = "A date"
    else:
        widget = forms.TextInput()
        help_text = ""
    return forms.CharField(label=custom.label, required=False, max_length=500, widget=widget, help_text=help_text)


class ContactForm(forms.Form):
    phone_number = forms.CharField(
        label="Phone number", max_length=40, help_text="International (+44 7400 123456) or national in the default country."
    )
    country = forms.ChoiceField(label="Default country", help_text="Used only when the number has no +country code.")

    def __init__(self, *args, custom_fields=(), default_region: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = region_choices()
        self.fields["country"].initial = default_region
        for name in TEXT_FIELDS:
            max_length = 2 if name == "address_country" else 500
            self.fields[name] = forms.CharField(label=STANDARD_LABELS[name], required=False, max_length=max_length)
        self.fields["email"].widget = forms.EmailInput()
        self.custom_fields = list(custom_fields)
        for custom in self.custom_fields:
            self.fields[CUSTOM_PREFIX + custom.key] = _custom_form_field(custom)

    @classmethod
    def initial_for(cls, contact) -> dict:
        initial = {name: getattr(contact, name) for name in TEXT_FIELDS}
        initial.update(phone_number=contact.phone_number, country=contact.country)
        initial.update({CUSTOM_PREFIX + key: value for key, value in (contact.fields or {}).items()})
        return initial

    def groups(self):
        """The fields in the sections the page shows them in."""
        names = {
            "Number": ["phone_number", "country"],
            "Person": ["first_name", "last_name", "email", "organization_name", "fax_number"],
            "Address": ["address_line_1", "address_line_2", "address_city", "address_state",
                        "address_postal_code", "address_country"],
            "Custom": ["custom_1", "custom_2", "custom_3", "custom_4",
                       *(CUSTOM_PREFIX + c.key for c in self.custom_fields)],
        }
        return [(title, [self[name] for name in fields]) for title, fields in names.items()]

    def service_data(self) -> dict:
        data = self.cleaned_data
        values = {name: data[name] for name in TEXT_FIELDS}
        values["fields"] = {c.key: data[CUSTOM_PREFIX + c.key] for c in self.custom_fields}
        return values


class ListForm(forms.Form):
    name = forms.CharField(label="List name", max_length=100)


class CustomFieldForm(forms.Form):
    label = forms.CharField(label="Label", max_length=100)
    type = forms.ChoiceField(label="Type", choices=CustomField.Type.choices, initial=CustomField.Type.TEXT)
    key = forms.CharField(
        label="Key", max_length=50, required=False,
        help_text="Used in {{merge}} fields and CSV headers; made from the label if left empty.",
    )


class BulkForm(forms.Form):
    """A bulk action on the ticked rows, or (scope=all) on everything the submitted query matches."""

    action = forms.ChoiceField(choices=list(BULK_ACTIONS.items()))
    scope = forms.ChoiceField(choices=[("selected", "selected"), ("all", "all")], required=False)
    ids = forms.TypedMultipleChoiceField(coerce=int, required=False)  # choices checked below, not listed
    contact_list = forms.IntegerField(required=False)
    query = forms.CharField(required=False, max_length=2000)
    next = forms.CharField(required=False, max_length=2000)

    MAX_IDS = 500

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        data = super().clean()
        if data.get("scope") != "all" and not data.get("ids"):
            raise forms.ValidationError("Tick at least one contact, or choose all matching contacts.")
        if len(data.get("ids") or ()) > self.MAX_IDS:
            raise forms.ValidationError(f"At most {self.MAX_IDS} ticked contacts; use “all matching” for more.")
        if data.get("action") in ("add_to_list", "remove_from_list") and not data.get("contact_list"):
            self.add_error("contact_list", "Choose a list.")
        return data


LINE_TYPE_CHOICES = [("", "Any line type"), *LineType.choices]
