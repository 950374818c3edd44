"""Forms for the CSV import pages, and the field and country choices they share with the segment builder."""

import functools

import phonenumbers
from django import forms

from . import selectors
from .services import TEXT_FIELDS

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_UPLOAD_LABEL = "200 MB"

STANDARD_FIELD_LABELS = {
    "phone_number": "Phone number", "first_name": "First name", "last_name": "Last name", "email": "Email",
    "fax_number": "Fax number", "organization_name": "Organisation", "address_line_1": "Address line 1",
    "address_line_2": "Address line 2", "address_city": "City", "address_state": "State",
    "address_postal_code": "Postcode", "address_country": "Address country", "custom_1": "Custom 1",
    "custom_2": "Custom 2", "custom_3": "Custom 3", "custom_4": "Custom 4",
}
_UNNAMED_REGIONS = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}
SKIP = ""
NEW_LIST = "new"


def field_choices(access, *, with_phone: bool = False) -> list[tuple[str, str]]:
    """Contact text fields and the workspace's custom fields ("fields.<key>"), as (value, label)."""
    names = (("phone_number",) if with_phone else ()) + TEXT_FIELDS
    choices = [(name, STANDARD_FIELD_LABELS.get(name, name)) for name in names]
    choices += [(f"fields.{f.key}", f"{f.label} (custom)") for f in selectors.custom_field_queryset(access=access)]
    return choices


@functools.cache
def region_choices() -> tuple[tuple[str, str], ...]:
    """Every region `phonenumbers` can parse for, as (ISO code, "Name (CODE)"), sorted by name."""
    # Imported here: the geocoder loads ~100 MiB of place names, which workers that never draw this picker skip.
    from phonenumbers.geocoder import _region_display_name

    regions = []
    for code in phonenumbers.SUPPORTED_REGIONS:
        name = _region_display_name(code, "en") or _UNNAMED_REGIONS.get(code, code)
        regions.append((code, f"{name} ({code})"))
    return tuple(sorted(regions, key=lambda item: item[1]))


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"A .csv or .txt file up to {MAX_UPLOAD_LABEL}: comma, semicolon or tab separated, UTF-8 or Latin-1.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_LABEL}; split it into smaller files.")
        return upload


class MappingForm(forms.Form):
    """One target-field select per column of the file, plus the country, target list and header switch."""

    default_country = forms.ChoiceField(
        label="Default country", help_text="Used for numbers written without a country code, like 0412 345 678."
    )
    contact_list = forms.ChoiceField(label="Add to list", required=False)
    new_list_name = forms.CharField(label="New list name", required=False, max_length=100)
    has_header = forms.BooleanField(label="The first row is a header", required=False)

    def __init__(self, *args, access, columns: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.fields["default_country"].choices = region_choices()
        lists = [(str(pk), name) for pk, name in selectors.list_queryset(access=access).values_list("pk", "name")]
        self.fields["contact_list"].choices = [("", "— none —"), *lists, (NEW_LIST, "A new list named…")]
        targets = [(SKIP, "— skip —"), *field_choices(access, with_phone=True)]
        for index in range(columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=f"Column {index + 1}", choices=targets, required=False
            )

    def column_fields(self):
        return [self[f"col_{index}"] for index in range(self.columns)]

    def clean(self):
        data = super().clean()
        seen = {}
        for index in range(self.columns):
            target = data.get(f"col_{index}")
            if not target:
                continue
            if target in seen:
                self.add_error(f"col_{index}", f"Column {seen[target] + 1} is already mapped to this field.")
            else:
                seen[target] = index
        if "phone_number" not in seen and not any(f"col_{i}" in self.errors for i in range(self.columns)):
            raise forms.ValidationError("Choose the column that holds the phone numbers.")
        if data.get("contact_list") == NEW_LIST and not (data.get("new_list_name") or "").strip():
            self.add_error("new_list_name", "Name the new list, or choose an existing one.")
        self.mapping = seen
        return data
