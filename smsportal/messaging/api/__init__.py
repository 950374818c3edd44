"""/v3 SMS endpoints: ClickSend's SmsApi (send, price, history and its export, receipts, cancel, SMS automations),
then smsportal's gateway connections, sandbox injector and webhooks' log. Views validate, call one service or
selector, and serialize."""

from .automations import DeliveryLogView, InboundRuleViewSet, PingView, ReceiptRuleViewSet, SecretView
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
    "DeliveryLogView", "InboundRuleViewSet", "PingView", "ReceiptRuleViewSet", "SecretView",
    "GatewayViewSet", "SandboxInboundView", "SmsCancelAllView", "SmsCancelView", "SmsHistoryDownloadView",
    "SmsHistoryExportView", "SmsHistoryView", "SmsPriceView", "SmsReceiptView", "SmsReceiptsReadView",
    "SmsReceiptsView", "SmsSendView",
]
