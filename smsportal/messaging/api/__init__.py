"""/v3 SMS endpoints: ClickSend's SmsApi (send, price, history and its export, receipts, cancel), then smsportal's
gateway connections and sandbox injector. Views validate, call one service or selector, and serialize."""

from .gateways import GatewayViewSet, SandboxInboundView
from .views import (
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

__all__ = [
    "GatewayViewSet", "SandboxInboundView", "SmsCancelAllView", "SmsCancelView", "SmsHistoryDownloadView",
    "SmsHistoryExportView", "SmsHistoryView", "SmsPriceView", "SmsReceiptView", "SmsReceiptsReadView",
    "SmsReceiptsView", "SmsSendView",
]
