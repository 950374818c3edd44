"""CSV export of contacts: all of them, a list, a segment or the table's filtered view — streamed, never loaded.

The rows come from `contacts_filtered`, so an export holds exactly what the table showed for the same query.
"""

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from smsportal.accounts.permissions import Access

from .filters import ContactFilter, contacts_filtered
from .models import Contact, CustomField
from .selectors import custom_field_queryset, list_queryset, segment_queryset

CHUNK_SIZE = 2000
BOM = "\ufeff"  # lets Excel read the file as UTF-8, so accented names survive a double-click
COLUMNS = (
    "phone_number", "country", "first_name", "last_name", "email", "fax_number", "organization_name",
    "address_line_1", "address_line_2", "address_city", "address_state", "address_postal_code", "address_country",
    "custom_1", "custom_2", "custom_3", "custom_4",
)
# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"); tab and CR too,
# because some spreadsheets strip them and then see the character behind.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Echo:
    """csv.writer wants a file; this one hands each written line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def export_rows(contacts: Iterable[Contact], custom_fields: list[CustomField]) -> Iterator[list[str]]:
    keys = [field.key for field in custom_fields]
    yield [*COLUMNS, *keys, "opted_out", "opted_out_at", "created_at"]
    for contact in contacts:
        # phone_number is left as is: the services only ever store a validated E.164 string ("+" then digits),
        # which cannot carry a formula; a quote in front would break the number for re-import and dialling.
        row = [contact.phone_number]
        row += [escape_cell(getattr(contact, column) or "") for column in COLUMNS[1:]]
        row += [escape_cell(str((contact.fields or {}).get(key, ""))) for key in keys]
        row += [
            "yes" if contact.opted_out_at else "no",
            contact.opted_out_at.isoformat() if contact.opted_out_at else "",
            contact.created_at.isoformat(),
        ]
        yield row


def export_stream(contacts, custom_fields: list[CustomField]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield BOM
    for row in export_rows(contacts, custom_fields):
        yield writer.writerow(row)


def export_filename(access: Access, flt: ContactFilter) -> str:
    parts = ["contacts", slugify(access.account.name) or f"workspace-{access.account.pk}"]
    if flt.list_id:
        name = list_queryset(access=access).filter(pk=flt.list_id).values_list("name", flat=True).first()
        parts.append(slugify(name or "") or f"list-{flt.list_id}")
    if flt.segment_id:
        name = segment_queryset(access=access).filter(pk=flt.segment_id).values_list("name", flat=True).first()
        parts.append(slugify(name or "") or f"segment-{flt.segment_id}")
    parts.append(timezone.localdate().isoformat())
    return "-".join(parts) + ".csv"


def export_response(*, access: Access, flt: ContactFilter) -> StreamingHttpResponse:
    """The CSV of the contacts `flt` selects in the caller's workspace, in id order."""
    contacts = (
        contacts_filtered(access=access, flt=flt, ordered=False)
        .order_by("id")
        .defer("line_type", "updated_at", "opt_out_source")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    custom_fields = list(custom_field_queryset(access=access).order_by("key"))
    response = StreamingHttpResponse(export_stream(contacts, custom_fields), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(access, flt)}"'
    response["Cache-Control"] = "no-store"
    return response
