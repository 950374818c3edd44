"""/v3 endpoints of reports: ClickSend's statistics, and each chart's and table's data."""

from .reports import ReportView
from .views import SmsStatisticsView

__all__ = ["ReportView", "SmsStatisticsView"]
