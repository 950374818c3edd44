"""ClickSend's /v3/lists, /v3/lists/{list_id}/contacts and /v3/search/contacts-lists (ListsApi, ContactsApi)."""

import math

from django.db.models import Exists, OuterRef, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from smsportal.accounts.permissions import Access
from smsportal.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, ClickSendPagination, _positive_int
from smsportal.errors import NotFound

from .. import selectors, services
from ..filters import ContactFilter, contacts_filtered
from ..models import Contact, ContactList, ImportJob, ListMembership
from .serializers import (
    ContactCreateSerializer,
    ContactListSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    DeletedCountSerializer,
    ListWriteSerializer,
)

SEARCH_LIMIT = 25
IMPORT_ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
READ, WRITE = "contacts.view", "contacts.edit"
EMPTY_LIST = {200: {"type": "array", "items": {"type": "string"}, "maxItems": 0}}  # ClickSend's delete answers


class KnownTotalPagination(ClickSendPagination):
    """ClickSend's pagination over a total we already keep (ContactList.contact_count): never COUNTs the rows."""

    def __init__(self, *, total: int):
        self.known_total = total

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = _positive_int(request, "page", 1)
        self.limit = min(_positive_int(request, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        self.total = self.known_total
        self.last_page = max(1, math.ceil(self.total / self.limit))
        offset = (self.page - 1) * self.limit
        self.items = list(queryset[offset : offset + self.limit]) if offset < self.total else []
        return self.items


def with_import_flag(lists):
    """Lists with `import_in_progress` (a queued or running import targets them) in the same query."""
    return lists.annotate(
        import_in_progress=Exists(ImportJob.objects.filter(contact_list=OuterRef("pk"), status__in=IMPORT_ACTIVE))
    )


def _list_with_flag(access: Access, list_id) -> ContactList:
    contact_list = with_import_flag(selectors.list_queryset(access=access)).filter(pk=int(list_id)).first()
    if contact_list is None:
        raise NotFound(f"No list with id {list_id}.", field="list_id")
    return contact_list


def _one(access: Access, contact: Contact):
    return selectors.contact_queryset(access=access).filter(pk=contact.pk)


def _respond(data, message: str) -> Response:
    response = Response(data)
    response.response_msg = message
    return response


# --- Writes that span two services, each in one transaction (candidates for contacts/services.py) -----------


# --- Lists --------------------------------------------------------------------------------------------------


class ContactListViewSet(viewsets.ViewSet):
    """The workspace's contact lists. Another workspace's list ids answer 404."""

    capabilities = {
        "list": READ, "retrieve": READ,
        "create": WRITE, "update": WRITE, "destroy": WRITE,
        "remove_duplicates": WRITE, "remove_opted_out_contacts": WRITE,
    }
    lookup_field = "list_id"
    lookup_value_regex = "[0-9]+"

    @extend_schema(responses=ContactListSerializer(many=True), summary="View lists (ListsApi.view_lists)")
    def list(self, request):
        paginator = ClickSendPagination()
        lists = with_import_flag(selectors.list_queryset(access=request.auth))
        page = paginator.paginate_queryset(lists, request, view=self)
        return paginator.get_paginated_response(ContactListSerializer(page, many=True).data)

    @extend_schema(request=ListWriteSerializer, responses=ContactListSerializer,
                   summary="Create a list (ListsApi.create_list)")
    def create(self, request):
        incoming = ListWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        contact_list = services.list_create(account=request.auth.account, name=incoming.validated_data["list_name"])
        return _respond(ContactListSerializer(contact_list).data, "New list has been created.")

    @extend_schema(responses=ContactListSerializer, summary="View a list (ListsApi.view_specific_list)")
    def retrieve(self, request, list_id=None):
        return Response(ContactListSerializer(_list_with_flag(request.auth, list_id)).data)

    @extend_schema(request=ListWriteSerializer, responses=ContactListSerializer,
                   summary="Rename a list (ListsApi.update_list)")
    def update(self, request, list_id=None):
        contact_list = _list_with_flag(request.auth, list_id)
        incoming = ListWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        contact_list = services.list_rename(contact_list=contact_list, name=incoming.validated_data["list_name"])
        return _respond(ContactListSerializer(contact_list).data, f"List #{contact_list.pk} has been updated.")

    @extend_schema(responses=EMPTY_LIST,
                   summary="Delete a list; its contacts stay in the workspace (ListsApi.delete_list)")
    def destroy(self, request, list_id=None):
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        services.list_delete(contact_list=contact_list)
        return _respond([], f"List #{list_id} has been deleted.")  # ClickSend's DeleteList: data is []

    @extend_schema(request=None, responses=DeletedCountSerializer,
                   summary="Remove duplicate contacts (ListsApi.remove_duplicate_contacts): always 0 in smsportal, "
                           "where a workspace has one contact per number, so a list cannot hold a number twice")
    @action(detail=True, methods=["put"], url_path="remove-duplicates")
    def remove_duplicates(self, request, list_id=None):
        selectors.list_get(access=request.auth, list_id=list_id)
        return _respond({"deleted": 0}, "A list holds each number once: no duplicates to remove.")

    @extend_schema(request=None, responses=DeletedCountSerializer,
                   summary="Remove opted-out contacts from a list (ListsApi.remove_opted_out_contacts): those opted "
                           "out in the workspace, and members of the optional opt-out list")
    @action(detail=True, methods=["put"], url_path=r"remove-opted-out-contacts(?:/(?P<opt_out_list_id>[0-9]+))?")
    def remove_opted_out_contacts(self, request, list_id=None, opt_out_list_id=None):
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        gone = Q(opted_out_at__isnull=False)
        if opt_out_list_id is not None and int(opt_out_list_id) != contact_list.pk:
            opt_out_list = selectors.list_get(access=request.auth, list_id=opt_out_list_id)
            gone |= Q(Exists(ListMembership.objects.filter(contact_id=OuterRef("pk"), contact_list=opt_out_list)))
        contacts = selectors.list_contacts(contact_list=contact_list).filter(gone)
        removed = services.list_remove_contacts(contact_list=contact_list, contacts=contacts)
        return _respond({"deleted": removed}, "Opted-out contacts have been removed from the list.")


# --- Contacts in a list -------------------------------------------------------------------------------------


class ListContactViewSet(viewsets.ViewSet):
    """Contacts through a list: ClickSend's ContactsApi. Contacts live in the workspace; lists are memberships."""

    capabilities = {
        "list": READ, "retrieve": READ,
        "create": WRITE, "update": WRITE, "destroy": WRITE, "copy": WRITE, "transfer": WRITE,
    }
    lookup_field = "contact_id"
    lookup_value_regex = "[0-9]+"

    def _get(self, request, list_id, contact_id) -> tuple[ContactList, Contact]:
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        return contact_list, selectors.list_contact_get(contact_list=contact_list, contact_id=contact_id)

    @staticmethod
    def _data(contact, contact_list):
        return ContactSerializer(contact, context={"contact_list": contact_list}).data

    @extend_schema(responses=ContactSerializer(many=True), summary="View a list's contacts, newest first "
                   "(ListsApi.view_list_contacts); `total` is the list's kept count")
    def list(self, request, list_id=None):
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        paginator = KnownTotalPagination(total=contact_list.contact_count)
        page = paginator.paginate_queryset(selectors.list_contacts(contact_list=contact_list).order_by("-id"), request)
        data = ContactSerializer(page, many=True, context={"contact_list": contact_list}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=ContactCreateSerializer, responses=ContactSerializer,
                   summary="Add a contact to a list (ListsApi.create_new_contact); a number already in the "
                           "workspace updates that contact and adds it to the list")
    def create(self, request, list_id=None):
        contact_list = selectors.list_get(access=request.auth, list_id=list_id)
        incoming = ContactCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        phone_number, data, country = incoming.service_args()
        contact, created = services.contact_put_in_list(
            account=request.auth.account, contact_list=contact_list, phone_number=phone_number, data=data,
            country=country,
        )
        message = "New contact has been created." if created else (
            f"Contact #{contact.pk} already had this number: it has been updated and is in list #{contact_list.pk}."
        )
        return _respond(self._data(contact, contact_list), message)

    @extend_schema(responses=ContactSerializer, summary="View a contact (ContactsApi.get_specific_contact)")
    def retrieve(self, request, list_id=None, contact_id=None):
        contact_list, contact = self._get(request, list_id, contact_id)
        return Response(self._data(contact, contact_list))

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer,
                   summary="Update a contact (ContactsApi.update_contact)")
    def update(self, request, list_id=None, contact_id=None):
        contact_list, contact = self._get(request, list_id, contact_id)
        incoming = ContactWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        phone_number, data, country = incoming.service_args()
        if phone_number is not None:
            data["phone_number"] = phone_number
        contact = services.contact_update(contact=contact, data=data, country=country)
        return _respond(self._data(contact, contact_list), f"Contact #{contact.pk} has been updated successfully.")

    @extend_schema(responses=EMPTY_LIST,
                   summary="Delete a contact from the workspace (ContactsApi.delete_contact)")
    def destroy(self, request, list_id=None, contact_id=None):
        _, contact = self._get(request, list_id, contact_id)
        services.contacts_delete(contacts=_one(request.auth, contact))
        return _respond([], f"Contact #{contact_id} has been deleted.")  # ClickSend's DeleteContact: data is []

    @extend_schema(request=None, responses=ContactSerializer,
                   summary="Copy a contact to another list (ListsApi.copy_contact_to_list)")
    @action(detail=True, methods=["put"], url_path=r"copy/(?P<to_list_id>[0-9]+)")
    def copy(self, request, list_id=None, contact_id=None, to_list_id=None):
        _, contact = self._get(request, list_id, contact_id)
        to_list = selectors.list_get(access=request.auth, list_id=to_list_id)
        services.list_add_contacts(contact_list=to_list, contacts=_one(request.auth, contact))
        return _respond(self._data(contact, to_list), f"Contact #{contact.pk} has been copied to List #{to_list.pk}")

    @extend_schema(request=None, responses=ContactSerializer,
                   summary="Move a contact to another list (ListsApi.transfer_contact_to_list)")
    @action(detail=True, methods=["put"], url_path=r"transfer/(?P<to_list_id>[0-9]+)")
    def transfer(self, request, list_id=None, contact_id=None, to_list_id=None):
        from_list, contact = self._get(request, list_id, contact_id)
        to_list = selectors.list_get(access=request.auth, list_id=to_list_id)
        services.contact_transfer(contact=contact, from_list=from_list, to_list=to_list)
        return _respond(
            self._data(contact, to_list), f"Contact #{contact.pk} has been transferred to List #{to_list.pk}"
        )


# --- Search ---------------------------------------------------------------------------------------------------


class ContactsListsSearchView(APIView):
    """GET /v3/search/contacts-lists?q=: up to 25 contacts (name or number prefix) and 25 lists (name contains)."""

    capabilities = {"GET": READ}

    @extend_schema(
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True, description="Name or number")],
        responses=inline_serializer("ContactsListsSearch", {
            "contacts": ContactSerializer(many=True), "lists": ContactListSerializer(many=True),
        }),
        summary="Search contacts and lists (ListsApi.view_contact_lists)",
    )
    def get(self, request):
        q = (request.query_params.get("q") or "").strip()[:100]
        if not q:
            raise serializers.ValidationError({"q": ["Give a name or a number to search for."]})
        contacts = contacts_filtered(access=request.auth, flt=ContactFilter(search=q))[:SEARCH_LIMIT]
        lists = with_import_flag(selectors.list_queryset(access=request.auth).filter(name__icontains=q))
        return Response({
            "contacts": ContactSerializer(contacts, many=True).data,
            "lists": ContactListSerializer(lists[:SEARCH_LIMIT], many=True).data,
        })
