"""The /v3 router: every app's API endpoints under one prefix."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from campaigns.api import SmsCampaignViewSet
from contacts.api import (
    ContactListViewSet,
    ContactsListsSearchView,
    CustomFieldViewSet,
    ImportJobViewSet,
    ListContactViewSet,
    ListImportView,
    SegmentViewSet,
)
from inbox.api import (
    ConversationViewSet,
    SmsInboundOneView,
    SmsInboundReadOneView,
    SmsInboundReadView,
    SmsInboundView,
    SmsTemplateViewSet,
)
from reports.api import ReportView, SmsStatisticsView
from smsportal.accounts.api import AccountView, SubaccountViewSet, rate_card_urlpatterns
from smsportal.messaging.api import (
    DeliveryLogView,
    GatewayViewSet,
    InboundRuleViewSet,
    PingView,
    ReceiptRuleViewSet,
    SandboxInboundView,
    SecretView,
    SmsCancelAllView,
    SmsCancelView,
    SmsHistoryDownloadView,
    SmsHistoryExportView,
    SmsHistoryView,
    SmsPriceView,
    SmsReceiptsReadView,
    SmsReceiptsView,
    SmsReceiptView,
    SmsSendView,
)

from .permissions import Public


class Router(SimpleRouter):
    """ClickSend's paths have no trailing slash; accept both."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
router.register("subaccounts", SubaccountViewSet, basename="subaccount")
router.register("lists", ContactListViewSet, basename="list")
router.register(r"lists/(?P<list_id>[0-9]+)/contacts", ListContactViewSet, basename="list-contact")
router.register("contacts/import-jobs", ImportJobViewSet, basename="import-job")
router.register("segments", SegmentViewSet, basename="segment")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("gateways", GatewayViewSet, basename="gateway")
router.register("sms-campaigns", SmsCampaignViewSet, basename="sms-campaign")
router.register("sms/templates", SmsTemplateViewSet, basename="sms-template")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("automations/sms/receipts", ReceiptRuleViewSet, basename="automation-receipt")
router.register("automations/sms/inbound", InboundRuleViewSet, basename="automation-inbound")

public = {"permission_classes": [Public], "authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    re_path(r"^account/?$", AccountView.as_view(), name="account"),
    re_path(r"^lists/(?P<list_id>[0-9]+)/import/?$", ListImportView.as_view(), name="list-import"),
    re_path(r"^search/contacts-lists/?$", ContactsListsSearchView.as_view(), name="search-contacts-lists"),
    re_path(r"^sms/send/?$", SmsSendView.as_view(), name="sms-send"),
    re_path(r"^sms/price/?$", SmsPriceView.as_view(), name="sms-price"),
    re_path(r"^sms/history/?$", SmsHistoryView.as_view(), name="sms-history"),
    re_path(r"^sms/history/export/?$", SmsHistoryExportView.as_view(), name="sms-history-export"),
    re_path(r"^sms/history/export/download/?$", SmsHistoryDownloadView.as_view(), name="sms-history-download"),
    re_path(r"^sms/receipts/?$", SmsReceiptsView.as_view(), name="sms-receipts"),
    re_path(r"^sms/receipts/(?P<message_id>[^/]+)/?$", SmsReceiptView.as_view(), name="sms-receipt"),
    re_path(r"^sms/receipts-read/?$", SmsReceiptsReadView.as_view(), name="sms-receipts-read"),
    re_path(r"^sms/cancel-all/?$", SmsCancelAllView.as_view(), name="sms-cancel-all"),
    re_path(r"^sms/(?P<message_id>[^/]+)/cancel/?$", SmsCancelView.as_view(), name="sms-cancel"),
    re_path(r"^sms/inbound/?$", SmsInboundView.as_view(), name="sms-inbound"),
    re_path(r"^sms/inbound/(?P<original_message_id>[^/]+)/?$", SmsInboundOneView.as_view(), name="sms-inbound-one"),
    re_path(r"^sms/inbound-read/?$", SmsInboundReadView.as_view(), name="sms-inbound-read"),
    re_path(r"^sms/inbound-read/(?P<message_id>[^/]+)/?$", SmsInboundReadOneView.as_view(),
            name="sms-inbound-read-one"),
    re_path(r"^statistics/sms/?$", SmsStatisticsView.as_view(), name="statistics-sms"),
    re_path(r"^reports/(?P<name>[a-z_]+)/?$", ReportView.as_view(), name="report"),
    re_path(r"^sandbox/inbound/?$", SandboxInboundView.as_view(), name="sandbox-inbound"),
    re_path(r"^automations/deliveries/?$", DeliveryLogView.as_view(), name="automation-deliveries"),
    re_path(r"^automations/secret/?$", SecretView.as_view(), name="automation-secret"),
    re_path(r"^automations/ping/?$", PingView.as_view(), name="automation-ping"),
    path("schema/", SpectacularAPIView.as_view(**public), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **public), name="docs"),
    path("", include(rate_card_urlpatterns)),
    path("", include(router.urls)),
]
