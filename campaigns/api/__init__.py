"""/v3/sms-campaigns: ClickSend's SmsCampaignsApi and smsportal's own campaign endpoints on the same objects."""

from .views import SmsCampaignViewSet

__all__ = ["SmsCampaignViewSet"]
