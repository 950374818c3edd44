"""Reads for contacts. Every queryset is scoped to the caller's workspace; others' ids are simply not found."""

from django.db.models import QuerySet

from smsportal.accounts.permissions import Access
from smsportal.errors import one_or_not_found

from .models import Contact, ContactList, CustomField, ImportJob, Segment


def contact_queryset(*, access: Access) -> QuerySet[Contact]:
    return Contact.objects.filter(account=access.account)


def contact_get(*, access: Access, contact_id) -> Contact:
    return one_or_not_found(contact_queryset(access=access), contact_id, field="contact_id",
                message=f"No contact with id {contact_id}.")


def list_queryset(*, access: Access) -> QuerySet[ContactList]:
    return ContactList.objects.filter(account=access.account)


def list_get(*, access: Access, list_id) -> ContactList:
    return one_or_not_found(list_queryset(access=access), list_id, field="list_id",
                            message=f"No list with id {list_id}.")


def list_contacts(*, contact_list: ContactList) -> QuerySet[Contact]:
    return Contact.objects.filter(account_id=contact_list.account_id, memberships__contact_list=contact_list)


def list_contact_get(*, contact_list: ContactList, contact_id) -> Contact:
    return one_or_not_found(list_contacts(contact_list=contact_list), contact_id, field="contact_id",
                message=f"No contact {contact_id} in list {contact_list.pk}.")


def custom_field_queryset(*, access: Access) -> QuerySet[CustomField]:
    return CustomField.objects.filter(account=access.account)


def segment_queryset(*, access: Access) -> QuerySet[Segment]:
    return Segment.objects.filter(account=access.account)


def segment_get(*, access: Access, segment_id) -> Segment:
    return one_or_not_found(segment_queryset(access=access), segment_id, field="segment_id",
                message=f"No segment with id {segment_id}.")


def import_job_queryset(*, access: Access) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(account=access.account).select_related("contact_list", "created_by")


def import_job_get(*, access: Access, job_id) -> ImportJob:
    return one_or_not_found(import_job_queryset(access=access), job_id, field="id",
                            message=f"No import job with id {job_id}.")


def merge_values(*, contact: Contact) -> dict:
    """A contact's values by merge-field name: phone_number, country and the text fields, and each custom
    field as both {{key}} and {{fields.key}} (a standard field wins a clash of names)."""
    from .services import TEXT_FIELDS

    values = {}
    for key, value in (contact.fields or {}).items():
        values[key] = values[f"fields.{key}"] = value
    values.update({name: getattr(contact, name) for name in ("phone_number", "country", *TEXT_FIELDS)})
    return values
