"""/v3 contacts endpoints: ClickSend's lists and list contacts (ListsApi, ContactsApi), then smsportal's
segments, custom fields and import jobs. Views validate, call one service or selector, and serialize."""

from .imports import ImportJobViewSet, ListImportView
from .lists import ContactListViewSet, ContactsListsSearchView, ListContactViewSet
from .segments import CustomFieldViewSet, SegmentViewSet

__all__ = [
    "ContactListViewSet", "ContactsListsSearchView", "CustomFieldViewSet", "ImportJobViewSet", "ListContactViewSet",
    "ListImportView", "SegmentViewSet",
]
