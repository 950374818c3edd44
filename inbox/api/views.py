"""The inbox over /v3: ClickSend's inbound SMS (list, by the message answered, mark read, test webhook) and SMS
templates, then smsportal's conversations (list by tab, thread, reply, assign, close, reopen, read, unread, notes).
Views validate, call inbox.services and inbox.selectors (the same the UI calls), and serialize.

Capabilities, as in the UI: reading (inbound messages, conversations, threads, notes, templates) needs
`inbox.view`, and so does marking messages read (opening a thread in the UI reads it); replying, assigning,
closing, reopening, marking unread, notes and changing templates need `inbox.reply`. The test inbound webhook
makes smsportal POST to a URL of the caller's choosing, so it needs `account.manage`, as /v3/automations' changes
and test ping do. Another workspace's ids answer 404 and change nothing.
"""

import time
import uuid
from datetime import datetime
from datetime import timezone as dt_timezone

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from smsportal.api.envelope import respond
from smsportal.api.pagination import ClickSendPagination
from smsportal.errors import DomainError, NotFound, one_or_not_found
from smsportal.messaging import outbound
from smsportal.messaging import selectors as messaging_selectors
from smsportal.messaging import services_webhooks
from smsportal.messaging.api.serializers import CountSerializer, SendResultSerializer

from .. import selectors, services
from ..models import Conversation, InboundMessage
from .serializers import (
    AssignInSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    InboundReadInSerializer,
    InboundSmsSerializer,
    InboundTestSerializer,
    NoteInSerializer,
    NoteSerializer,
    ReplyInSerializer,
    TemplateInSerializer,
    TemplateSerializer,
    TestInboundInSerializer,
)

VIEW, REPLY, MANAGE = "inbox.view", "inbox.reply", "account.manage"
TEMPLATE_Q_FIELDS = {"template_id": "pk", "template_name": "name__icontains", "body": "body__icontains"}
TEMPLATE_ORDERINGS = {"template_id": "id", "template_name": "name", "body": "body"}
# The sample POSTed by the test inbound webhook: ClickSend's sample numbers, and ids that name no message.
SAMPLE_FROM, SAMPLE_TO = "+61411111111", "+61422222222"
SAMPLE_BODY = "This is a test inbound SMS from smsportal."
SAMPLE_ORIGINAL = "This is the message it answers (a sample)."
TEST_DELIVERY_ID = 0  # X-Smsportal-Delivery of a test: real deliveries count from 1


def _flag(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise serializers.ValidationError({name: [f"{name} is true or false, got {raw!r}."]})


def _whole(value: str) -> int | None:
    """A path's or query's id as a number, if it is one (ASCII digits only: int() takes other scripts' too)."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _unix_to_datetime(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=dt_timezone.utc) if value is not None else None


# --- ClickSend's inbound SMS -----------------------------------------------------------------------------------


def inbound_data(request, messages: list[InboundMessage], *, many: bool = True):
    """Inbound messages as ClickSend's InboundSms, with the body and custom string of the messages they answer
    (one query for the lot)."""
    ids = {m.reply_to_message_id for m in messages if m.reply_to_message_id}
    originals = {}
    if ids:
        originals = {row["id"]: row for row in messaging_selectors.message_queryset(access=request.auth)
                     .filter(pk__in=ids).values("id", "body", "custom_string")}
    context = {"originals": originals}
    return InboundSmsSerializer(messages if many else messages[0], many=many, context=context).data


def sample_inbound(account) -> dict:
    """What the test inbound webhook POSTs: an inbound webhook's payload, with sample values."""
    return outbound.inbound_payload(
        account_id=account.pk, message_id=str(uuid.uuid4()).upper(), sender=SAMPLE_FROM, to=SAMPLE_TO,
        body=SAMPLE_BODY, at=datetime.fromtimestamp(int(time.time()), tz=dt_timezone.utc),
        original_body=SAMPLE_ORIGINAL, original_message_id=str(uuid.uuid4()).upper(),
    )


class SmsInboundView(APIView):
    """GET /v3/sms/inbound: the workspace's inbound messages, newest first (`unread=true`: only those not marked
    read, ClickSend's polling view). POST: ClickSend's "create test inbound SMS"."""

    capabilities = {"GET": VIEW, "POST": MANAGE}

    @extend_schema(
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL,
                                     description="true: only messages not yet marked read (PUT /v3/sms/inbound-read)")],
        responses=InboundSmsSerializer(many=True), summary="View inbound SMS (SmsApi.view_inbound_sms)",
    )
    def get(self, request):
        messages = selectors.inbound_queryset(access=request.auth)
        if _flag(request, "unread"):
            messages = messages.filter(read_at__isnull=True)
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response(inbound_data(request, page))

    @extend_schema(
        request=TestInboundInSerializer, responses=InboundTestSerializer,
        summary="Create a test inbound SMS (SmsApi.create_test_inbound_sms): a sample inbound webhook, signed like "
                "every webhook, is POSTed to `url` now; an answer other than 2xx, or none, is a 400 naming url",
    )
    def post(self, request):
        incoming = TestInboundInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        url = incoming.validated_data["url"].strip()
        account = request.auth.account
        payload = sample_inbound(account)
        secret = services_webhooks.webhook_secret_get(account=account).secret
        outcome = outbound.post(delivery_id=TEST_DELIVERY_ID, event=outbound.INBOUND, url=url, payload=payload,
                                secret=secret)
        if not outcome.ok:
            reason = outcome.error if outcome.refused else f"The test inbound SMS was not delivered: {outcome.error}"
            raise DomainError(reason, field="url")
        data = InboundTestSerializer({**payload, "url": url, "webhook_status_code": outcome.status_code}).data
        return respond(data, "A test inbound SMS has been sent to your URL.")


class SmsInboundOneView(APIView):
    capabilities = {"GET": VIEW}

    @extend_schema(responses=InboundSmsSerializer,
                   summary="View the first reply to one of your messages (SmsApi.view_a_specific_inbound_sms_message)")
    def get(self, request, original_message_id):
        answer, answered = None, _whole(original_message_id)
        if answered is not None:
            answer = (selectors.inbound_queryset(access=request.auth)
                      .filter(reply_to_message_id=answered).order_by("id").first())
        if answer is None:
            raise NotFound(f"No inbound SMS answers message {original_message_id}.", field="original_message_id")
        return respond(inbound_data(request, [answer], many=False), "Here is your inbound SMS.")


class SmsInboundReadView(APIView):
    capabilities = {"PUT": VIEW}

    @extend_schema(request=InboundReadInSerializer, responses=CountSerializer,
                   summary="Mark inbound SMS read (SmsApi.mark_inbound_sms_as_read): all of them, or those received "
                           "up to date_before; their conversations' unread counts follow")
    def put(self, request):
        incoming = InboundReadInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        before = _unix_to_datetime(incoming.validated_data.get("date_before"))
        count = services.inbound_mark_read(account=request.auth.account, before=before)
        return respond({"count": count}, "Inbound messages have been marked as read.")


class SmsInboundReadOneView(APIView):
    capabilities = {"PUT": VIEW}

    @extend_schema(request=None, responses=OpenApiTypes.INT, operation_id="sms_inbound_read_message_update",
                   summary="Mark one inbound SMS read (SmsApi.mark_specific_inbound_sms_message_as_read); data is "
                           "the number marked: 1, or 0 if it was read already")
    def put(self, request, message_id):
        message = one_or_not_found(selectors.inbound_queryset(access=request.auth), message_id, field="message_id",
                                   message=f"No inbound SMS with id {message_id}.")
        count = services.inbound_mark_read(account=request.auth.account, message_id=message.pk)
        return respond(count, "The inbound SMS has been marked as read.")


# --- ClickSend's SMS templates ---------------------------------------------------------------------------------


def templates_filtered(templates, request):
    """ClickSend's `q=field:value` (template_id, template_name, body; text without a field searches the name) and
    `order_by=field:asc|desc`; by template_id ascending without it, as ClickSend."""
    query = (request.query_params.get("q") or "").strip()
    if query:
        name, sep, value = query.partition(":")
        name, value = (name.strip().lower(), value.strip()) if sep else ("template_name", query)
        if name not in TEMPLATE_Q_FIELDS:
            raise serializers.ValidationError({"q": [f"q filters by {', '.join(TEMPLATE_Q_FIELDS)} (as field:value)."]})
        if name == "template_id":
            template_id = _whole(value)
            templates = templates.filter(pk=template_id) if template_id is not None else templates.none()
        elif value:
            templates = templates.filter(**{TEMPLATE_Q_FIELDS[name]: value})
    order_by = request.query_params.get("order_by") or "template_id:asc"
    field, _, direction = order_by.partition(":")
    column, direction = TEMPLATE_ORDERINGS.get(field.strip().lower()), (direction.strip() or "asc").lower()
    if column is None or direction not in ("asc", "desc"):
        raise serializers.ValidationError({"order_by": [
            f"Use field:asc or field:desc with a field of {', '.join(TEMPLATE_ORDERINGS)}."
        ]})
    sign = "-" if direction == "desc" else ""
    return templates.order_by(f"{sign}{column}", f"{sign}id")


class SmsTemplateViewSet(viewsets.ViewSet):
    """/v3/sms/templates: the workspace's canned replies (the inbox's templates)."""

    capabilities = {"list": VIEW, "retrieve": VIEW, "create": REPLY, "update": REPLY, "destroy": REPLY}
    lookup_field = "template_id"
    lookup_value_regex = "[^/]+"

    def _get(self, request, template_id):
        return selectors.template_get(access=request.auth, template_id=template_id)

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="template_id:7, template_name:welcome or body:text; "
                                                                "text without a field searches the name"),
            OpenApiParameter("order_by", OpenApiTypes.STR, description="template_id, template_name or body, with :asc "
                                                                       "or :desc; template_id:asc without it"),
        ],
        responses=TemplateSerializer(many=True), summary="View SMS templates (SmsApi.view_sms_templates)",
    )
    def list(self, request):
        paginator = ClickSendPagination()
        templates = templates_filtered(selectors.template_queryset(access=request.auth), request)
        page = paginator.paginate_queryset(templates, request, view=self)
        return paginator.get_paginated_response(TemplateSerializer(page, many=True).data)

    @extend_schema(responses=TemplateSerializer, summary="View an SMS template (SmsApi.view_a_specific_sms_template)")
    def retrieve(self, request, template_id=None):
        return respond(TemplateSerializer(self._get(request, template_id)).data, "Here is your template.")

    @extend_schema(request=TemplateInSerializer, responses=TemplateSerializer,
                   summary="Create an SMS template (SmsApi.create_sms_template)")
    def create(self, request):
        incoming = TemplateInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        template = services.template_save(account=request.auth.account, name=data.get("template_name", ""),
                                          body=data.get("body", ""))
        return respond(TemplateSerializer(template).data, "New template has been saved.")

    @extend_schema(request=TemplateInSerializer, responses=TemplateSerializer,
                   summary="Update an SMS template (SmsApi.update_sms_template); fields left out keep their values")
    def update(self, request, template_id=None):
        template = self._get(request, template_id)
        incoming = TemplateInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        template = services.template_save(account=request.auth.account, template=template,
                                          name=data.get("template_name", template.name),
                                          body=data.get("body", template.body))
        return respond(TemplateSerializer(template).data, "Your template has been updated.")

    @extend_schema(responses={200: {"type": "array", "items": {"type": "string"}, "nullable": True}},
                   summary="Delete an SMS template (SmsApi.delete_sms_template); data is null, as at ClickSend")
    def destroy(self, request, template_id=None):
        template = self._get(request, template_id)
        services.template_delete(template=template)
        return respond(None, "Your template has been deleted.")


# --- smsportal's conversations ---------------------------------------------------------------------------------


def conversation_data(request, conversation: Conversation, *, thread=None):
    row = selectors.rows_for(access=request.auth, conversations=[conversation])[0]
    if thread is None:
        return ConversationSerializer(row).data
    return ConversationDetailSerializer(row, context={"thread": thread}).data


LIST_PARAMETERS = [
    OpenApiParameter("tab", OpenApiTypes.STR, enum=list(selectors.TABS),
                     description="all (the default: every open conversation), unassigned, mine (assigned to you; "
                                 "not for an API key, which is nobody) or closed"),
    OpenApiParameter("q", OpenApiTypes.STR, description="A name, part of a number or text they sent"),
    OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only conversations with unread messages"),
]


class ConversationViewSet(viewsets.ViewSet):
    """/v3/conversations: the inbox's conversations, unread first then most recent."""

    capabilities = {
        "list": VIEW, "retrieve": VIEW, "read": VIEW,
        "notes": VIEW, "reply": REPLY, "assign": REPLY, "close": REPLY, "reopen": REPLY, "unread": REPLY,
        "add_note": REPLY,
    }
    lookup_field = "conversation_id"
    lookup_value_regex = "[^/]+"

    def _get(self, request, conversation_id) -> Conversation:
        return selectors.conversation_get(access=request.auth, conversation_id=conversation_id)

    @extend_schema(parameters=LIST_PARAMETERS, responses=ConversationSerializer(many=True),
                   summary="List conversations, unread first then most recent")
    def list(self, request):
        access = request.auth
        tab = request.query_params.get("tab") or "all"
        if tab not in selectors.TABS:
            raise serializers.ValidationError({"tab": [f"tab is one of {', '.join(selectors.TABS)}."]})
        if tab == "mine" and access.user is None:
            raise serializers.ValidationError({"tab": [
                "An API key is not a member of the workspace, so nothing is assigned to it: use all or unassigned."
            ]})
        rows = selectors.conversations(access=access, tab=tab, query=request.query_params.get("q", ""),
                                       user=access.user)
        if _flag(request, "unread"):
            rows = rows.filter(has_unread=True)
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        items = selectors.rows_for(access=access, conversations=page)
        return paginator.get_paginated_response(ConversationSerializer(items, many=True).data)

    @extend_schema(responses=ConversationDetailSerializer,
                   summary="A conversation with its thread: inbound, outbound and notes interleaved, oldest first")
    def retrieve(self, request, conversation_id=None):
        conversation = self._get(request, conversation_id)
        thread = selectors.thread(conversation=conversation)
        return respond(conversation_data(request, conversation, thread=thread), "Here is your conversation.")

    @extend_schema(request=ReplyInSerializer, responses=SendResultSerializer,
                   summary="Reply from the number they wrote to; answers as /v3/sms/send. An opted-out number is "
                           "refused (400 naming body)")
    @action(detail=True, methods=["post"])
    def reply(self, request, conversation_id=None):
        conversation = self._get(request, conversation_id)
        incoming = ReplyInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        date = int(time.time())
        result = services.conversation_reply(conversation=conversation, body=incoming.validated_data["body"],
                                             by=request.auth.user)
        data = SendResultSerializer(result, context={"account": request.auth.account, "date": date}).data
        return respond(data, "Your reply is on its way.")

    @extend_schema(request=AssignInSerializer, responses=ConversationSerializer,
                   summary="Assign to a member of the workspace (user_id), or unassign (null)")
    @action(detail=True, methods=["put"])
    def assign(self, request, conversation_id=None):
        conversation = self._get(request, conversation_id)
        incoming = AssignInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            services.conversation_assign(conversation=conversation, user_id=incoming.validated_data["user_id"])
        except DomainError as exc:
            exc.field = "user_id" if exc.field == "assigned_to" else exc.field
            raise
        return self._answer(request, conversation_id, "The conversation has been assigned.")

    @extend_schema(request=None, responses=ConversationSerializer, summary="Close a conversation")
    @action(detail=True, methods=["put"])
    def close(self, request, conversation_id=None):
        services.conversation_close(conversation=self._get(request, conversation_id))
        return self._answer(request, conversation_id, "The conversation has been closed.")

    @extend_schema(request=None, responses=ConversationSerializer, summary="Reopen a closed conversation")
    @action(detail=True, methods=["put"])
    def reopen(self, request, conversation_id=None):
        services.conversation_reopen(conversation=self._get(request, conversation_id))
        return self._answer(request, conversation_id, "The conversation has been reopened.")

    @extend_schema(request=None, responses=ConversationSerializer,
                   summary="Mark a conversation read (its inbound messages too)")
    @action(detail=True, methods=["put"])
    def read(self, request, conversation_id=None):
        services.conversation_mark_read(conversation=self._get(request, conversation_id))
        return self._answer(request, conversation_id, "The conversation has been marked as read.")

    @extend_schema(request=None, responses=ConversationSerializer,
                   summary="Mark a conversation unread (its latest inbound message too)")
    @action(detail=True, methods=["put"])
    def unread(self, request, conversation_id=None):
        services.conversation_mark_read(conversation=self._get(request, conversation_id), read=False)
        return self._answer(request, conversation_id, "The conversation has been marked as unread.")

    @extend_schema(request=None, responses=NoteSerializer(many=True),
                   summary="A conversation's internal notes, oldest first")
    @action(detail=True, methods=["get"])
    def notes(self, request, conversation_id=None):
        conversation = self._get(request, conversation_id)
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(conversation.notes.select_related("author").order_by("id"), request,
                                           view=self)
        return paginator.get_paginated_response(NoteSerializer(page, many=True).data)

    @extend_schema(request=NoteInSerializer, responses=NoteSerializer,
                   summary="Add an internal note (agents see it; the customer never does)")
    @notes.mapping.post
    def add_note(self, request, conversation_id=None):
        conversation = self._get(request, conversation_id)
        incoming = NoteInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        note = services.note_add(conversation=conversation, body=incoming.validated_data["body"], by=request.auth.user)
        return respond(NoteSerializer(note).data, "Your note has been added.")

    def _answer(self, request, conversation_id, message: str) -> Response:
        """The conversation as it is now (services write some of it with UPDATE statements)."""
        return respond(conversation_data(request, self._get(request, conversation_id)), message)
