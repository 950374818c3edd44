"""Reports over /v3: ClickSend's SMS statistics (StatisticsApi.view_sms_statistics)."""

from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors_statistics as selectors
from .serializers import SmsStatisticsSerializer

REPORTS = "reports.view"
# Days whose midnights convert to UTC and back without overflow, in any zone.
EARLIEST, LATEST = date(1969, 12, 31), date(9998, 12, 31)


def _local_day(raw: str | None, *, field: str, tz) -> date | None:
    """A query value as a local day: Unix seconds (the day of that moment in `tz`) or YYYY-MM-DD."""
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    try:
        if value.isascii() and value.isdigit():
            day = datetime.fromtimestamp(int(value), tz=dt_timezone.utc).astimezone(tz).date()
        else:
            day = date.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise serializers.ValidationError(
            {field: [f"{field} must be Unix seconds or a date like 2026-11-23, got {raw!r}."]}) from None
    if not EARLIEST <= day <= LATEST:
        raise serializers.ValidationError({field: [f"{field} is out of range."]})
    return day


def statistics_window(params, tz) -> tuple[date, date]:
    """The local days asked for: by default the last 30, today included; `date_to` alone ends the 30 days there,
    `date_from` alone runs to today. At most MAX_DAYS."""
    first = _local_day(params.get("date_from"), field="date_from", tz=tz)
    last = _local_day(params.get("date_to"), field="date_to", tz=tz)
    given_to = last is not None
    if last is None:
        last = datetime.now(tz).date()
    if first is None:
        first = last - timedelta(days=selectors.DEFAULT_DAYS - 1)
    if first > last:
        raise serializers.ValidationError(
            {"date_from": [f"date_from must not be after {'date_to' if given_to else 'today'}."]})
    if (last - first).days + 1 > selectors.MAX_DAYS:
        raise serializers.ValidationError(
            {"date_from": [f"The window is at most {selectors.MAX_DAYS} days; "
                           f"{first.isoformat()} to {last.isoformat()} is {(last - first).days + 1}."]})
    return first, last


class SmsStatisticsView(APIView):
    """GET /v3/statistics/sms: the workspace's SMS per day of its time zone (Account.timezone), oldest first, one
    entry per day (empty days included), and the totals over them, in ClickSend's shape.

    - `outbound`: messages created that day in any status but cancelled and blocked (those never left us), and the
      sum of their prices;
    - `bounced`: those of them whose status is now undelivered or failed, counted on the day they were created;
    - `inbound`: messages received that day, price 0.
    `date` is the Unix time of the day's local midnight. Beyond ClickSend, `date_from` and `date_to` (Unix seconds,
    or YYYY-MM-DD) pick other days, both included, at most 366; a bad value is a 400 naming its field.

    Figures come from the messaging stats rollup (hour buckets in UTC, each counted for the local day it starts in:
    in zones off the whole hour, such as India's or Adelaide's, outbound messages of the minutes after local midnight
    up to the next UTC hour count for the day before) and one grouped count of inbound messages: the messages table
    is never counted. Needs `reports.view`."""

    capabilities = {"GET": REPORTS}

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.INT,
                             description="smsportal's own: the first day (Unix seconds or YYYY-MM-DD, in the account's "
                                         "time zone); default 29 days before date_to"),
            OpenApiParameter("date_to", OpenApiTypes.INT,
                             description="smsportal's own: the last day, included; default today; at most 366 days"),
        ],
        responses=SmsStatisticsSerializer, summary="View SMS statistics (StatisticsApi.view_sms_statistics)",
    )
    def get(self, request):
        account = request.auth.account
        first, last = statistics_window(request.query_params, account.zone)
        stats = selectors.sms_statistics(account=account, first=first, last=last)
        return Response(SmsStatisticsSerializer(stats, context={"account": account}).data)
