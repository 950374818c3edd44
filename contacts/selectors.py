"""Reads for contacts. Every queryset is scoped to the caller's workspace; others' ids are simply not found."""

from django.db.models import QuerySet

from smsportal.accounts.permissions import Access
from smsportal.errors import NotFound

from .models import Contact, ContactList, CustomField, ImportJob, Segment


def _pk(value, what: str, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(f"No {what} with id {value}.", field=field) from None


def contact_queryset(*, access: Access) -> QuerySet[Contact]:
    return Contact.objects.filter(account=access.account)


def contact_get(*, access: Access, contact_id) -> Contact:
    contact = contact_queryset(access=access).filter(pk=_pk(contact_id, "contact", "contact_id")).first()
    if contact is None:
        raise NotFound(f"No contact with id {contact_id}.", field="contact_id")
    return contact


def list_queryset(*, access: Access) -> QuerySet[ContactList]:
    return ContactList.objects.filter(account=access.account)


def list_get(*, access: Access, list_id) -> ContactList:
    contact_list = list_queryset(access=access).filter(pk=_pk(list_id, "list", "list_id")).first()
    if contact_list is None:
        raise NotFound(f"No list with id {list_id}.", field="list_id")
    return contact_list


def list_contacts(*, contact_list: ContactList) -> QuerySet[Contact]:
    return Contact.objects.filter(account_id=contact_list.account_id, memberships__contact_list=contact_list)


def list_contact_get(*, contact_list: ContactList, contact_id) -> Contact:
    contact = list_contacts(contact_list=contact_list).filter(pk=_pk(contact_id, "contact", "contact_id")).first()
    if contact is None:
        raise NotFound(f"No contact {contact_id} in list {contact_list.pk}.", field="contact_id")
    return contact


def custom_field_queryset(*, access: Access) -> QuerySet[CustomField]:
    return CustomField.objects.filter(account=access.account)


def segment_queryset(*, access: Access) -> QuerySet[Segment]:
    return Segment.objects.filter(account=access.account)


def segment_get(*, access: Access, segment_id) -> Segment:
    segment = segment_queryset(access=access).filter(pk=_pk(segment_id, "segment", "segment_id")).first()
    if segment is None:
        raise NotFound(f"No segment with id {segment_id}.", field="segment_id")
    return segment


def import_job_get(*, access: Access, job_id) -> ImportJob:
    job = ImportJob.objects.filter(account=access.account, pk=_pk(job_id, "import job", "id")).first()
    if job is None:
        raise NotFound(f"No import job with id {job_id}.", field="id")
    return job
