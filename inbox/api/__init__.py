"""/v3 endpoints of the inbox: ClickSend's inbound SMS and SMS templates (SmsApi), then smsportal's conversations."""

from .views import (
    ConversationViewSet,
    SmsInboundOneView,
    SmsInboundReadOneView,
    SmsInboundReadView,
    SmsInboundView,
    SmsTemplateViewSet,
)

__all__ = [
    "ConversationViewSet", "SmsInboundOneView", "SmsInboundReadOneView", "SmsInboundReadView", "SmsInboundView",
    "SmsTemplateViewSet",
]
