"""Shapes of the inbox's API: ClickSend's inbound SMS and SMS templates with the JSON types its SDK's strict models
expect (`message_id` and `original_message_id` are strings, `timestamp` Unix seconds, `template_id` an int), then
smsportal's own conversations, their threads and notes.

Serializers shape and validate types only; every rule (empty bodies, lengths, opted-out numbers, who may be
assigned) is inbox.services', whose errors name their field.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from smsportal.api.fields import MAX_UNIX, KnownFieldsSerializer, StrictCharField, StrictIntegerField
from smsportal.errors import MAX_ID
from smsportal.messaging.api.serializers import unix

from ..models import KEYWORD_WIRE

# `_keyword`: the keyword smsportal applied to the message (PRODUCT.md §3), one word for each family, or "".
KEYWORD_HELP = ("The keyword smsportal applied: stop (an opt-out word), start (an opt-in word), help (HELP or INFO), "
                "or an empty string")


# --- Input ------------------------------------------------------------------------------------------------


class InboundReadInSerializer(KnownFieldsSerializer):
    """ClickSend's MarkSmsReceiptAsReadRequest, as SmsApi.mark_inbound_sms_as_read sends it."""

    date_before = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_UNIX,
                                     help_text="Unix seconds: mark messages received up to this time (default: all)")


class TestInboundInSerializer(KnownFieldsSerializer):
    """ClickSend's CreateTestInboundSmsRequest."""

    url = StrictCharField(max_length=2000, help_text="Your webhook URL: a sample inbound SMS is POSTed to it")
    webhook_type = StrictCharField(required=False, allow_null=True,
                                   help_text="json (smsportal's webhooks POST JSON; ClickSend's post and get forms "
                                             "are not sent)")

    def validate_webhook_type(self, value):
        if value is not None and value.strip().lower() != "json":
            raise serializers.ValidationError("smsportal POSTs JSON: webhook_type must be json.")
        return value


class TemplateInSerializer(KnownFieldsSerializer):
    """ClickSend's CreateSmsTemplateRequest, for create and update alike (an update keeps what it leaves out)."""

    template_name = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    body = StrictCharField(required=False, allow_blank=True, trim_whitespace=False,
                           help_text="The text; {{merge}} fields are filled from the contact when it is used")


class ReplyInSerializer(KnownFieldsSerializer):
    body = StrictCharField(allow_blank=True, trim_whitespace=False,
                           help_text="The reply; {{merge}} fields are filled from the conversation's contact")


class AssignInSerializer(KnownFieldsSerializer):
    user_id = StrictIntegerField(allow_null=True, max_value=MAX_ID,
                                 help_text="A member of the workspace, or null to unassign")


class NoteInSerializer(KnownFieldsSerializer):
    body = StrictCharField(allow_blank=True, trim_whitespace=False)


# --- Output: ClickSend's ----------------------------------------------------------------------------------


class InboundSmsSerializer(serializers.Serializer):
    """ClickSend's InboundSms (the same fields, types and values as the inbound webhook's payload), then smsportal's
    own. `original_message_id`, `original_body` and `custom_string` are those of our message it answers (the last
    one we sent that number before it wrote), or "" when there is none. context: `originals` ({message id: {"body",
    "custom_string"}}), read by the view in one query for the page."""

    timestamp = serializers.SerializerMethodField()
    locals()["from"] = serializers.CharField(source="sender")
    body = serializers.CharField()
    original_body = serializers.SerializerMethodField()
    original_message_id = serializers.SerializerMethodField()
    to = serializers.CharField()
    custom_string = serializers.SerializerMethodField()
    message_id = serializers.SerializerMethodField()
    _keyword = serializers.SerializerMethodField(help_text=KEYWORD_HELP)
    subaccount_id = serializers.IntegerField(source="account_id")
    # smsportal's own, after ClickSend's.
    conversation_id = serializers.IntegerField()
    contact_id = serializers.IntegerField(allow_null=True)
    read_at = serializers.SerializerMethodField(help_text="Unix seconds; null while unread")

    def _original(self, obj) -> dict:
        return self.context["originals"].get(obj.reply_to_message_id) or {}

    def get_timestamp(self, obj) -> int:
        return unix(obj.received_at)

    def get_original_body(self, obj) -> str:
        return self._original(obj).get("body", "")

    def get_original_message_id(self, obj) -> str:
        return "" if obj.reply_to_message_id is None else str(obj.reply_to_message_id)

    def get_custom_string(self, obj) -> str:
        return self._original(obj).get("custom_string", "")

    def get_message_id(self, obj) -> str:
        return str(obj.pk)

    def get__keyword(self, obj) -> str:
        return KEYWORD_WIRE.get(obj.keyword, "")

    def get_read_at(self, obj) -> int | None:
        return unix(obj.read_at)


class InboundTestSerializer(serializers.Serializer):
    """ClickSend's InboundSmsTest: the sample that was POSTed (`timestamp_send` is its `timestamp`), then
    smsportal's `url` and `webhook_status_code` (what your URL answered)."""

    timestamp_send = serializers.IntegerField(source="timestamp")
    locals()["from"] = serializers.CharField()
    body = serializers.CharField()
    original_body = serializers.CharField()
    original_message_id = serializers.CharField()
    to = serializers.CharField()
    custom_string = serializers.CharField()
    message_id = serializers.CharField()
    _keyword = serializers.SerializerMethodField(help_text="null, as at ClickSend")
    # smsportal's own.
    url = serializers.CharField()
    webhook_status_code = serializers.IntegerField()

    def get__keyword(self, obj) -> str | None:
        return None


class TemplateSerializer(serializers.Serializer):
    """ClickSend's SmsTemplate."""

    template_id = serializers.IntegerField(source="pk")
    template_name = serializers.CharField(source="name")
    body = serializers.CharField()


# --- Output: smsportal's conversations ------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(source="pk")
    email = serializers.CharField()


class ConversationSerializer(serializers.Serializer):
    """One conversation, from a selectors.Row (the conversation with its contact's name and opt-out state)."""

    conversation_id = serializers.IntegerField(source="conversation.pk")
    contact_number = serializers.CharField(source="conversation.contact_number")
    our_number = serializers.CharField(source="conversation.our_number", help_text="The number they wrote to; "
                                                                                  "replies go from it")
    contact_id = serializers.IntegerField(source="conversation.contact_id", allow_null=True)
    contact_name = serializers.CharField(source="name", help_text="First and last name; empty when unknown")
    status = serializers.CharField(source="conversation.status", help_text="open or closed")
    assigned_to = PersonSerializer(source="conversation.assigned_to", allow_null=True)
    unread = serializers.IntegerField(source="conversation.unread", help_text="Unread inbound messages")
    last_message_at = serializers.SerializerMethodField(help_text="Unix seconds")
    last_text = serializers.CharField(source="conversation.last_text", help_text="The first 200 characters")
    last_direction = serializers.CharField(source="conversation.last_direction", help_text="in or out")
    opted_out = serializers.BooleanField(help_text="The number opted out: a reply would be refused")

    def get_last_message_at(self, obj) -> int:
        return unix(obj.conversation.last_message_at)


class ThreadItemSerializer(serializers.Serializer):
    """One line of a thread, from a selectors.Item: a message they sent (in), one we sent (out: campaigns, replies
    and keyword replies alike) or an agents' note (note)."""

    direction = serializers.CharField(source="kind", help_text="in, out or note")
    message_id = serializers.SerializerMethodField(help_text="The message's id (in: /v3/sms/inbound's, out: "
                                                             "/v3/sms/history's); null for a note")
    note_id = serializers.SerializerMethodField()
    text = serializers.CharField(source="body")
    timestamp = serializers.SerializerMethodField(help_text="Unix seconds")
    status = serializers.SerializerMethodField(help_text="out: the message's status (queued, sent, delivered, …)")
    keyword = serializers.SerializerMethodField(help_text="in: " + KEYWORD_HELP)
    campaign_id = serializers.SerializerMethodField(help_text="out: the campaign that sent it, if one did")
    author = serializers.SerializerMethodField(help_text="note: who wrote it")

    def get_message_id(self, obj) -> str | None:
        return None if obj.kind == "note" else str(obj.obj.pk)

    def get_note_id(self, obj) -> int | None:
        return obj.obj.pk if obj.kind == "note" else None

    def get_timestamp(self, obj) -> int:
        return unix(obj.at)

    def get_status(self, obj) -> str | None:
        return obj.status if obj.kind == "out" else None

    def get_keyword(self, obj) -> str | None:
        return KEYWORD_WIRE.get(obj.obj.keyword, "") if obj.kind == "in" else None

    def get_campaign_id(self, obj) -> int | None:
        return obj.obj.campaign_id if obj.kind == "out" else None

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_author(self, obj):
        author = obj.obj.author if obj.kind == "note" else None
        return PersonSerializer(author).data if author is not None else None


class ConversationDetailSerializer(ConversationSerializer):
    """A conversation with its thread. context: `thread` (selectors.thread's items)."""

    thread = serializers.SerializerMethodField(help_text="The newest 200 lines, oldest first")

    @extend_schema_field(ThreadItemSerializer(many=True))
    def get_thread(self, obj):
        return ThreadItemSerializer(self.context["thread"], many=True).data


class NoteSerializer(serializers.Serializer):
    note_id = serializers.IntegerField(source="pk")
    conversation_id = serializers.IntegerField()
    body = serializers.CharField()
    author = PersonSerializer(allow_null=True)
    created_at = serializers.SerializerMethodField(help_text="Unix seconds")

    def get_created_at(self, obj) -> int:
        return unix(obj.created_at)
