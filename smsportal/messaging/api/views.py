"""ClickSend's /v3/sms endpoints (SmsApi): send, price, history and its export, receipts, cancel. Views validate,
call one service or selector, and serialize.

Capabilities: everything that sends or changes messages needs `sms.send`; reading the message log (history, its
export, receipts, and marking receipts read) needs `reports.view`.
"""

import re
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Prefetch, prefetch_related_objects
from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts import selectors as contact_selectors
from smsportal.accounts.models import Account
from smsportal.accounts.permissions import Access
from smsportal.accounts.selectors import access_is_suspended
from smsportal.api.envelope import respond
from smsportal.api.pagination import ClickSendPagination
from smsportal.api.permissions import Public
from smsportal.errors import DomainError, Forbidden, NotFound

from .. import selectors, services, statuses
from ..exporting import export_response
from ..models import Message, MessageEvent
from ..selectors import MessageFilter
from .serializers import (
    MAX_MESSAGES,
    CancelAllInSerializer,
    CountSerializer,
    ExportLinkSerializer,
    HistorySmsSerializer,
    PriceResultSerializer,
    ReceiptSerializer,
    ReceiptsReadInSerializer,
    SendResultSerializer,
    SmsSendInSerializer,
)

SEND, REPORTS = "sms.send", "reports.view"
EXPORT_SALT = "smsportal.messaging.history-export"
EXPORT_LINK_TTL = 3600  # seconds a download link from /v3/sms/history/export works
# ClickSend's order_by fields (`field:asc|desc`) and our columns; without order_by the log is newest first.
ORDERINGS = {"date": "id", "username": "id", "to": "to", "from": "sender", "status": "status", "body": "body"}
FILTER_PARAMS = ("status", "date_from", "date_to", "q", "number", "campaign_id")
_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ApiSmsRequest(services.SmsRequest):
    """An SmsRequest that remembers the list it was expanded from, for the answer's `list_id`."""

    list_id: int | None = None


def _unix_to_datetime(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=dt_timezone.utc) if value else None


# --- Sending ----------------------------------------------------------------------------------------------


def sms_requests(access: Access, data) -> list[ApiSmsRequest]:
    """The request's messages as the engine takes them, each `list_id` expanded to the list's contacts; at most
    MAX_MESSAGES after expansion. A list of another workspace is a 400 naming it, like any bad value in a batch."""
    incoming = SmsSendInSerializer(data=data)
    incoming.is_valid(raise_exception=True)
    requests: list[ApiSmsRequest] = []
    wanted = 0
    for index, item in enumerate(incoming.validated_data["messages"]):
        common = {
            "body": item["body"], "sender": item.get("from") or "", "schedule": _unix_to_datetime(item.get("schedule")),
            "custom_string": item.get("custom_string") or "", "country": item.get("country") or "",
        }
        if item.get("list_id") is None:
            wanted += 1
            requests.append(ApiSmsRequest(to=item["to"], **common))
        else:
            try:
                contact_list = contact_selectors.list_get(access=access, list_id=item["list_id"])
            except NotFound as exc:
                raise serializers.ValidationError({"messages": {index: {"list_id": [exc.message]}}}) from None
            wanted += contact_list.contact_count
            room = MAX_MESSAGES - len(requests)
            members = contact_selectors.list_contacts(contact_list=contact_list).order_by("id")
            requests.extend(
                ApiSmsRequest(to=phone, contact_id=pk, list_id=contact_list.pk, **common)
                for pk, phone in members.values_list("pk", "phone_number")[: room + 1]
            )
        if len(requests) > MAX_MESSAGES or wanted > MAX_MESSAGES:
            raise serializers.ValidationError({"messages": [
                f"At most {MAX_MESSAGES} messages per call, counting each contact of a list; this one makes "
                f"{max(wanted, len(requests))} or more."
            ]})
    return requests


class SmsSendView(APIView):
    """POST /v3/sms/send: up to 1000 messages, each answered with its own status; blocked ones (opted out, invalid
    number, no route, no credit) are stored with their reason and never charged."""

    capabilities = {"POST": SEND}

    @extend_schema(request=SmsSendInSerializer, responses=SendResultSerializer, summary="Send SMS (SmsApi.send_sms)")
    def post(self, request):
        requests = sms_requests(request.auth, request.data)
        date = int(time.time())
        account = request.auth.account
        result = services.messages_send(account=account, requests=requests, source=Message.Source.API)
        data = SendResultSerializer(result, context={"account": account, "date": date}).data
        if result.queued_count:
            return respond(data, "Messages queued for delivery.")
        return respond(data, "No message was queued: see each message's status.")


class SmsPriceView(APIView):
    """POST /v3/sms/price: the same request as /v3/sms/send, as a dry run with the same figures."""

    capabilities = {"POST": SEND}

    @extend_schema(request=SmsSendInSerializer, responses=PriceResultSerializer,
                   summary="Calculate the price of SMS (SmsApi.calculate_sms_price)")
    def post(self, request):
        requests = sms_requests(request.auth, request.data)
        date = int(time.time())
        account = request.auth.account
        result = services.messages_price(account=account, requests=requests)
        return respond(PriceResultSerializer(result, context={"account": account, "date": date}).data,
                        "Here are your data.")


# --- History and its export --------------------------------------------------------------------------------


def history_params(query_params) -> dict[str, list[str]]:
    """The log's filters from ClickSend's query: `q` is `status:x` (smsportal's statuses), `to:+614…` or body text;
    also status, date_from, date_to (Unix seconds or YYYY-MM-DD), number, campaign_id."""
    params = {name: query_params.getlist(name) for name in FILTER_PARAMS if name in query_params}
    text = []
    for part in (query_params.get("q") or "").split():
        field, sep, value = part.partition(":")
        if sep and field.lower() == "to":
            params["number"] = [value]
        else:
            text.append(part)
    if "q" in params:
        params["q"] = [" ".join(text)]
    return params


def history_filter(params: dict[str, list[str]], account: Account) -> MessageFilter:
    query = QueryDict(mutable=True)
    for name, values in params.items():
        query.setlist(name, values)
    return MessageFilter.from_params(query, tz=account.zone)


def ordered(messages, order_by: str | None):
    if not order_by:
        return messages
    field, _, direction = order_by.partition(":")
    column, direction = ORDERINGS.get(field.strip().lower()), (direction.strip() or "asc").lower()
    if column is None or direction not in ("asc", "desc"):
        raise serializers.ValidationError({"order_by": [
            f"Use field:asc or field:desc with a field of {', '.join(ORDERINGS)}."
        ]})
    sign = "-" if direction == "desc" else ""
    return messages.order_by(f"{sign}{column}", f"{sign}id")


def with_report_events(messages: list[Message]) -> list[Message]:
    """Attach `report_events` (the gateway's delivery reports, oldest first) to the page's failed messages, in one
    query, for their error code and text."""
    failed = [m for m in messages if m.status in (statuses.UNDELIVERED, statuses.FAILED)]
    events = MessageEvent.objects.filter(via=statuses.REPORT).order_by("id")
    prefetch_related_objects(failed, Prefetch("events", queryset=events, to_attr="report_events"))
    return messages


HISTORY_PARAMETERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="status:delivered, to:+61411111111, or text in the body"),
    OpenApiParameter("date_from", OpenApiTypes.INT, description="Unix seconds (or YYYY-MM-DD)"),
    OpenApiParameter("date_to", OpenApiTypes.INT, description="Unix seconds (or YYYY-MM-DD, the whole day)"),
    OpenApiParameter("order_by", OpenApiTypes.STR, description="date:desc (the default), date:asc, to:asc, …"),
]


class SmsHistoryView(APIView):
    """GET /v3/sms/history: the workspace's outbound messages, newest first unless `order_by` says otherwise."""

    capabilities = {"GET": REPORTS}

    @extend_schema(parameters=HISTORY_PARAMETERS, responses=HistorySmsSerializer(many=True),
                   summary="View SMS history (SmsApi.view_sms_history)")
    def get(self, request):
        account = request.auth.account
        flt = history_filter(history_params(request.query_params), account)
        messages = selectors.messages_filtered(access=request.auth, flt=flt)
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(ordered(messages, request.query_params.get("order_by")), request, view=self)
        data = HistorySmsSerializer(with_report_events(page), many=True, context={"account": account}).data
        return paginator.get_paginated_response(data)


def _filename(raw: str | None) -> str | None:
    name = _FILENAME.sub("-", (raw or "").strip()).strip(".-")[:100]
    if not name:
        return None
    return name if name.lower().endswith(".csv") else f"{name}.csv"


class SmsHistoryExportView(APIView):
    """GET /v3/sms/history/export: like ClickSend, answers {"url": …}; the URL streams the CSV of the messages the
    same filters select (all of them, not one page), for an hour, without credentials."""

    capabilities = {"GET": REPORTS}

    @extend_schema(
        parameters=[*HISTORY_PARAMETERS, OpenApiParameter("filename", OpenApiTypes.STR, description="e.g. export.csv")],
        responses=ExportLinkSerializer, summary="Export SMS history (SmsApi.export_sms_history)",
    )
    def get(self, request):
        access = request.auth
        params = history_params(request.query_params)
        history_filter(params, access.account)  # a bad filter is a 400 now, not a broken link later
        claim = {"a": access.account.pk, "r": access.role, "v": access.via, "p": params,
                 "f": _filename(request.query_params.get("filename"))}
        token = signing.dumps(claim, salt=EXPORT_SALT, compress=True)
        url = request.build_absolute_uri(reverse("api:sms-history-download")) + "?" + urlencode({"token": token})
        return respond({"url": url}, "Your export is ready: download it from the url within the hour.")


def _link_access(claim: dict) -> Access:
    """The access a download link was handed out with, checked again now: the account may have been suspended or
    closed, or a subaccount's reporting access switched off, since."""
    account = Account.objects.select_related("parent").exclude(status=Account.Status.CLOSED).filter(pk=claim["a"])
    account = account.first()
    access = Access(account=account, role=claim["r"], via=claim["v"]) if account is not None else None
    if access is None or access_is_suspended(access) or not access.can(REPORTS):
        raise Forbidden("This download link no longer works for this account.")
    return access


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    """The download answers CSV whatever the client accepts (its errors still come as the JSON envelope)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SmsHistoryDownloadView(APIView):
    """The link /v3/sms/history/export hands out: signed, expiring, checked again against the account."""

    authentication_classes = []
    permission_classes = [Public]
    throttle_classes = []
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True)],
                   responses={(200, "text/csv"): OpenApiTypes.STR}, summary="Download an SMS history export (CSV)")
    def get(self, request):
        try:
            claim = signing.loads(request.query_params.get("token", ""), salt=EXPORT_SALT, max_age=EXPORT_LINK_TTL)
        except signing.BadSignature:
            raise Forbidden("This link is not valid or has expired: ask /v3/sms/history/export again.") from None
        access = _link_access(claim)
        account = access.account
        response = export_response(access=access, flt=history_filter(claim["p"], account))
        if claim.get("f"):
            response["Content-Disposition"] = f'attachment; filename="{claim["f"]}"'
        return response


# --- Receipts -------------------------------------------------------------------------------------------------


class SmsReceiptsView(APIView):
    """GET /v3/sms/receipts: delivery receipts (delivered, undelivered, failed messages), newest first."""

    capabilities = {"GET": REPORTS}

    @extend_schema(responses=ReceiptSerializer(many=True), summary="View delivery receipts (SmsApi.view_sms_receipts)")
    def get(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.receipts_queryset(access=request.auth), request, view=self)
        return paginator.get_paginated_response(ReceiptSerializer(with_report_events(page), many=True).data)


class SmsReceiptView(APIView):
    capabilities = {"GET": REPORTS}

    @extend_schema(responses=ReceiptSerializer,
                   summary="View one message's delivery receipt (SmsApi.view_specific_sms_receipt)")
    def get(self, request, message_id):
        message = selectors.message_get(access=request.auth, message_id=message_id)
        if message.status not in statuses.RECEIPT:
            raise NotFound(f"Message {message_id} has no delivery receipt yet: it is {message.status}.",
                           field="message_id")
        return Response(ReceiptSerializer(with_report_events([message])[0]).data)


class SmsReceiptsReadView(APIView):
    capabilities = {"PUT": REPORTS}

    @extend_schema(request=ReceiptsReadInSerializer, responses=CountSerializer,
                   summary="Mark delivery receipts read (SmsApi.mark_sms_receipt_as_read)")
    def put(self, request):
        incoming = ReceiptsReadInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        before = incoming.validated_data.get("date_before")
        count = services.receipts_mark_read(
            account=request.auth.account, before=_unix_to_datetime(before) if before is not None else None
        )
        return respond({"count": count}, "Receipts have been marked as read.")


# --- Cancelling -----------------------------------------------------------------------------------------------


class SmsCancelView(APIView):
    """PUT /v3/sms/{message_id}/cancel: a scheduled or queued message not yet handed to a gateway; its credit is
    refunded. `data` is null, as at ClickSend."""

    capabilities = {"PUT": SEND}

    @extend_schema(request=None, responses={200: {"type": "object", "nullable": True}},
                   summary="Cancel a scheduled or queued SMS (SmsApi.cancel_sms)")
    def put(self, request, message_id):
        message = selectors.message_get(access=request.auth, message_id=message_id)
        if not services.messages_cancel(account=request.auth.account, message_ids=[message.pk]):
            message.refresh_from_db(fields=["status"])
            raise DomainError(
                f"Message {message.pk} cannot be cancelled: it is {message.status}. Only scheduled or queued "
                "messages not yet handed to a gateway can be.",
                field="message_id",
            )
        return respond(None, f"Message {message.pk} has been cancelled.")


class SmsCancelAllView(APIView):
    """PUT /v3/sms/cancel-all: every scheduled or queued message not yet handed to a gateway (or only those with a
    `custom_string`)."""

    capabilities = {"PUT": SEND}

    @extend_schema(request=CancelAllInSerializer, responses=CountSerializer,
                   summary="Cancel all scheduled or queued SMS (SmsApi.cancel_all_sms)")
    def put(self, request):
        incoming = CancelAllInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        message_ids = None
        if "custom_string" in incoming.validated_data:
            message_ids = selectors.message_queryset(access=request.auth).filter(
                custom_string=incoming.validated_data["custom_string"],
                status__in=statuses.sources(statuses.CANCELLED, statuses.USER),
            ).values_list("pk", flat=True)
        count = services.messages_cancel(account=request.auth.account, message_ids=message_ids)
        return respond({"count": count}, f"{count} sms messages have been cancelled.")
