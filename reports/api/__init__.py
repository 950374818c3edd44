"""/v3 endpoints of reports: ClickSend's statistics."""

from .views import SmsStatisticsView

__all__ = ["SmsStatisticsView"]
