"""Writes for contacts, lists, custom fields and opt-outs. Bulk operations are one SQL statement per step.

Single and bulk share a path: opting out one contact is `contacts_opt_out(contacts=<one>)`.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from smsportal.accounts.models import Account
from smsportal.errors import DomainError

from .models import Contact, ContactList, CustomField, ListMembership, OptOut, OptOutSource
from .phones import InvalidNumber, normalize_number

TEXT_FIELDS = (
    "first_name", "last_name", "email", "fax_number", "organization_name", "address_line_1", "address_line_2",
    "address_city", "address_state", "address_postal_code", "address_country",
    "custom_1", "custom_2", "custom_3", "custom_4",
)
_MAX_LENGTHS = {f: Contact._meta.get_field(f).max_length for f in TEXT_FIELDS}


# --- Values -----------------------------------------------------------------------------------------


def clean_text_fields(data: dict) -> dict:
    """Trimmed text for the standard fields present in `data`; too long is an error naming the field."""
    cleaned = {}
    for field in TEXT_FIELDS:
        if field not in data:
            continue
        value = data[field]
        value = "" if value is None else str(value).strip()
        if len(value) > _MAX_LENGTHS[field]:
            raise DomainError(f"{field} is longer than {_MAX_LENGTHS[field]} characters.", field=field)
        if field == "address_country":
            value = value.upper()
        cleaned[field] = value
    return cleaned


def clean_custom_value(field: CustomField, value) -> str:
    """A named custom field's value as stored: text as is, numbers as a plain decimal, dates as ISO."""
    if value is None or str(value).strip() == "":
        return ""
    text = str(value).strip()
    if field.type == CustomField.Type.NUMBER:
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise DomainError(f"{field.key} must be a number.", field=f"fields.{field.key}") from None
        if not number.is_finite():
            raise DomainError(f"{field.key} must be a number.", field=f"fields.{field.key}")
        return format(number.normalize(), "f")
    if field.type == CustomField.Type.DATE:
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"):
            try:
                return datetime.datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        raise DomainError(f"{field.key} must be a date like 2026-12-31.", field=f"fields.{field.key}")
    return text[:500]


def clean_custom_fields(account: Account, values: dict) -> dict:
    if not values:
        return {}
    if not isinstance(values, dict):
        raise DomainError("fields must be an object of custom field keys to values.", field="fields")
    defined = {f.key: f for f in CustomField.objects.filter(account=account, key__in=list(values))}
    unknown = sorted(set(values) - set(defined))
    if unknown:
        raise DomainError(f"No custom field named {', '.join(unknown)}.", field=f"fields.{unknown[0]}")
    return {key: clean_custom_value(defined[key], value) for key, value in values.items()}


def _opt_out_of(account: Account, e164: str):
    return OptOut.objects.filter(account=account, phone_number=e164).values_list("created_at", "source").first()


# --- Contacts -------------------------------------------------------------------------------------


def contact_create(
    *, account: Account, phone_number: str, data: dict | None = None, country: str | None = None,
    contact_list: ContactList | None = None,
) -> Contact:
    """A new contact (optionally into a list). A number already in the workspace is an error naming it."""
    data = data or {}
    try:
        number = normalize_number(phone_number, country or account.default_region)
    except InvalidNumber as exc:
        raise DomainError(f"phone_number {phone_number!r}: {exc}.", field="phone_number") from None
    values = clean_text_fields(data)
    fields = clean_custom_fields(account, data.get("fields") or {})
    opted_out = _opt_out_of(account, number.e164)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                account=account, phone_number=number.e164, country=number.country, line_type=number.line_type,
                fields=fields, opted_out_at=opted_out[0] if opted_out else None,
                opt_out_source=opted_out[1] if opted_out else "", **values,
            )
            if contact_list is not None:
                _add_memberships(contact_list, [contact.pk])
    except IntegrityError:
        raise DomainError(f"{number.e164} is already a contact in this workspace.", field="phone_number") from None
    return contact


def contacts_for_numbers(*, account: Account, numbers, create: bool) -> dict[str, int]:
    """{E.164: contact id} for those of `numbers` that are contacts; with `create`, the phone numbers among the rest
    become contacts first (in one INSERT, carrying the opt-out registry's state). Not phone numbers are skipped."""
    numbers = set(numbers)
    known = dict(Contact.objects.filter(account=account, phone_number__in=numbers).values_list("phone_number", "id"))
    missing = numbers - set(known)
    if not (create and missing):
        return known
    fresh = []
    for raw in sorted(missing):
        try:
            fresh.append(normalize_number(raw, account.default_region))
        except InvalidNumber:
            continue
    fresh = [n for n in fresh if n.e164 in missing]
    if not fresh:
        return known
    opted_out = {n: (at, source) for n, at, source in OptOut.objects.filter(
        account=account, phone_number__in=[n.e164 for n in fresh]).values_list("phone_number", "created_at", "source")}
    Contact.objects.bulk_create(
        [Contact(account=account, phone_number=n.e164, country=n.country, line_type=n.line_type,
                 opted_out_at=opted_out.get(n.e164, (None, ""))[0], opt_out_source=opted_out.get(n.e164, (None, ""))[1])
         for n in fresh],
        ignore_conflicts=True,  # another worker made the same contact meanwhile: both then read it below
    )
    known.update(Contact.objects.filter(account=account, phone_number__in=[n.e164 for n in fresh])
                 .values_list("phone_number", "id"))
    return known


def contact_update(*, contact: Contact, data: dict, country: str | None = None) -> Contact:
    changes = clean_text_fields(data)
    if "phone_number" in data:
        try:
            number = normalize_number(data["phone_number"], country or contact.account.default_region)
        except InvalidNumber as exc:
            raise DomainError(f"phone_number {data['phone_number']!r}: {exc}.", field="phone_number") from None
        if number.e164 != contact.phone_number:
            changes.update(phone_number=number.e164, country=number.country, line_type=number.line_type)
            opted_out = _opt_out_of(contact.account, number.e164)
            changes.update(
                opted_out_at=opted_out[0] if opted_out else None, opt_out_source=opted_out[1] if opted_out else ""
            )
    if "fields" in data:
        changes["fields"] = {**contact.fields, **clean_custom_fields(contact.account, data["fields"])}
    for field, value in changes.items():
        setattr(contact, field, value)
    if changes:
        try:
            with transaction.atomic():
                contact.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise DomainError(
                f"{changes['phone_number']} is already another contact in this workspace.", field="phone_number"
            ) from None
    return contact


def contacts_delete(*, contacts: QuerySet) -> int:
    """Delete the contacts (a selection or a whole filtered set); lists lose exactly the members that went."""
    picked = Contact.objects.filter(pk__in=contacts.values("pk"))
    with transaction.atomic():
        _count_down(ListMembership.objects.filter(contact__in=picked.values("pk")))
        _, per_model = picked.delete()
    return per_model.get(Contact._meta.label, 0)


def contact_put_in_list(
    *, account: Account, contact_list: ContactList, phone_number: str, data: dict, country: str | None = None
) -> tuple[Contact, bool]:
    """ClickSend's "add contact to list": a number new to the workspace becomes a contact in the list; a known
    number's contact gets the given fields and joins the list. Returns (contact, created)."""
    try:
        e164 = normalize_number(phone_number, country or account.default_region).e164
    except InvalidNumber as exc:
        raise DomainError(f"phone_number {phone_number!r}: {exc}.", field="phone_number") from None
    with transaction.atomic():
        existing = Contact.objects.filter(account=account, phone_number=e164).first()
        if existing is None:
            return contact_create(account=account, phone_number=e164, data=data, contact_list=contact_list), True
        contact = contact_update(contact=existing, data=data)
        list_add_contacts(contact_list=contact_list, contacts=Contact.objects.filter(pk=contact.pk))
    return contact, False


def contact_transfer(*, contact: Contact, from_list: ContactList, to_list: ContactList) -> None:
    """Move a contact from one of its workspace's lists to another."""
    one = Contact.objects.filter(pk=contact.pk)
    with transaction.atomic():
        list_add_contacts(contact_list=to_list, contacts=one)
        if from_list.pk != to_list.pk:
            list_remove_contacts(contact_list=from_list, contacts=one)


# --- Lists ----------------------------------------------------------------------------------------


def _clean_list_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise DomainError("list_name is required.", field="list_name")
    if len(name) > 100:
        raise DomainError("list_name is longer than 100 characters.", field="list_name")
    return name


def list_create(*, account: Account, name: str) -> ContactList:
    return ContactList.objects.create(account=account, name=_clean_list_name(name))


def list_rename(*, contact_list: ContactList, name: str) -> ContactList:
    contact_list.name = _clean_list_name(name)
    contact_list.save(update_fields=["name", "updated_at"])
    return contact_list


def list_delete(*, contact_list: ContactList) -> None:
    """The list and its memberships go; the contacts stay in the workspace."""
    contact_list.delete()


def list_recount(*, list_ids) -> None:
    """Reset lists' kept counts from their memberships (repair, and after an import)."""
    for list_id in set(list_ids):
        ContactList.objects.filter(pk=list_id).update(
            contact_count=ListMembership.objects.filter(contact_list_id=list_id).count(), updated_at=timezone.now()
        )


def _count_down(memberships: QuerySet) -> None:
    """Take the memberships about to be deleted off their lists' counts, one UPDATE per list touched."""
    for row in memberships.order_by().values("contact_list_id").annotate(gone=Count("pk")):
        ContactList.objects.filter(pk=row["contact_list_id"]).update(
            contact_count=F("contact_count") - row["gone"], updated_at=timezone.now()
        )


def _add_memberships(contact_list: ContactList, contact_ids) -> None:
    list_add_contacts(contact_list=contact_list, contacts=Contact.objects.filter(pk__in=list(contact_ids)))


def list_add_contacts(*, contact_list: ContactList, contacts: QuerySet) -> int:
    """Add a selection or a whole filtered set to a list in one INSERT … SELECT; returns how many were new."""
    ids = contacts.filter(account_id=contact_list.account_id).order_by().values(picked_id=F("pk"))
    sql, params = ids.query.sql_with_params()
    table = ListMembership._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (contact_list_id, contact_id, created_at) "
                f"SELECT %s, picked.picked_id, %s FROM ({sql}) AS picked WHERE true "
                "ON CONFLICT (contact_list_id, contact_id) DO NOTHING",
                [contact_list.pk, timezone.now(), *params],
            )
            added = max(cursor.rowcount, 0)
        ContactList.objects.filter(pk=contact_list.pk).update(
            contact_count=F("contact_count") + added, updated_at=timezone.now()
        )
    contact_list.refresh_from_db(fields=["contact_count", "updated_at"])
    return added


def list_remove_contacts(*, contact_list: ContactList, contacts: QuerySet) -> int:
    memberships = ListMembership.objects.filter(contact_list=contact_list, contact__in=contacts.values("pk"))
    with transaction.atomic():
        _count_down(memberships)
        removed, _ = memberships.delete()
    contact_list.refresh_from_db(fields=["contact_count", "updated_at"])
    return removed


# --- Opt-outs ---------------------------------------------------------------------------------------


def contacts_opt_out(*, account: Account, contacts: QuerySet | None = None, phone_numbers=(), source: str) -> int:
    """Opt numbers out of the workspace: the registry row first (it outlives contacts), then the contacts' mirror."""
    if source not in OptOutSource.values:
        raise DomainError(f"source must be one of {', '.join(OptOutSource.values)}.", field="source")
    now = timezone.now()
    with transaction.atomic():
        numbers = set(phone_numbers)
        if contacts is not None:
            numbers |= set(contacts.filter(account=account).values_list("phone_number", flat=True))
        OptOut.objects.bulk_create(
            [OptOut(account=account, phone_number=n, source=source) for n in numbers], ignore_conflicts=True
        )
        return Contact.objects.filter(account=account, phone_number__in=numbers, opted_out_at=None).update(
            opted_out_at=now, opt_out_source=source, updated_at=now
        )


def contacts_opt_in(*, account: Account, contacts: QuerySet | None = None, phone_numbers=()) -> int:
    with transaction.atomic():
        numbers = set(phone_numbers)
        if contacts is not None:
            numbers |= set(contacts.filter(account=account).values_list("phone_number", flat=True))
        OptOut.objects.filter(account=account, phone_number__in=numbers).delete()
        return Contact.objects.filter(account=account, phone_number__in=numbers).exclude(opted_out_at=None).update(
            opted_out_at=None, opt_out_source="", updated_at=timezone.now()
        )


# --- Custom fields ----------------------------------------------------------------------------------


def custom_field_create(*, account: Account, label: str, type: str = CustomField.Type.TEXT, key: str = "") -> CustomField:
    label = (label or "").strip()
    if not label:
        raise DomainError("label is required.", field="label")
    if type not in CustomField.Type.values:
        raise DomainError(f"type must be one of {', '.join(CustomField.Type.values)}.", field="type")
    key = slugify(key or label).replace("-", "_")[:50]
    if not key or key in TEXT_FIELDS or key in ("phone_number", "country", "fields"):
        raise DomainError(f"{key!r} cannot be a custom field key.", field="key")
    try:
        with transaction.atomic():
            return CustomField.objects.create(account=account, key=key, label=label[:100], type=type)
    except IntegrityError:
        raise DomainError(f"A custom field with key {key!r} already exists.", field="key") from None


def custom_field_delete(*, field: CustomField) -> None:
    field.delete()
