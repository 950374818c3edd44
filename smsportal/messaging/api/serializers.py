"""Shapes of the SMS API: ClickSend's request and response models with their exact JSON types (the published SDK's
pydantic models are strict: `date` is an int in a sent message and a string in a priced one, `message_id` is always a
string). The shapes of /v3/gateways and /v3/sandbox/inbound live with their views in gateways.py.

`message_id` everywhere is smsportal's message id, as a string; the same value goes in /v3/sms/receipts/{message_id}
and /v3/sms/{message_id}/cancel, and it is the CSV export's `message_id` column.
"""

from datetime import datetime

import phonenumbers
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from smsportal.accounts.api import CURRENCIES
from smsportal.api.fields import MAX_UNIX, KnownFieldsSerializer, StrictCharField, StrictIntegerField

from .. import statuses

MAX_MESSAGES = 1000  # per /v3/sms/send or /v3/sms/price call, after lists are expanded

# ClickSend's gateway status codes for a message's outcome (REFERENCE.md), and their texts.
STATUS_CODES = {
    statuses.SENT: (200, "Success: Message sent to the network."),
    statuses.DELIVERED: (201, "Success: Message received on handset."),
    statuses.FAILED: (300, "Failed: The message was not accepted for delivery."),
    statuses.UNDELIVERED: (301, "Failed: The message could not be delivered to the handset."),
}


def unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def money(value) -> str:
    return f"{value:.4f}"


def currency_block(account) -> dict:
    """ClickSend's `_currency` object, for the account's currency."""
    prefix_d, prefix_c, long_name = CURRENCIES.get(account.currency, ("", "", account.currency))
    return {
        "currency_name_short": account.currency,
        "currency_prefix_d": prefix_d,
        "currency_prefix_c": prefix_c,
        "currency_name_long": long_name,
    }


def user_ids(account) -> dict:
    """ClickSend's `user_id` (the main account) and `subaccount_id` (the workspace itself)."""
    return {"user_id": account.parent_id or account.pk, "subaccount_id": account.pk}


def _optional_str(value) -> str | None:
    return str(value) if value is not None else None


# --- Input ------------------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "example": "42", "description": "A list id (a string, as ClickSend's SDK "
                                                                          "sends it; a JSON number is accepted too)"})
class ListIdField(serializers.Field):
    default_error_messages = {"invalid": "Must be a list id: a whole number, or a string of digits."}

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool) and data > 0:
            return data
        if isinstance(data, str) and data.strip().isdigit() and int(data) > 0:
            return int(data)
        self.fail("invalid")

    def to_representation(self, value):
        return str(value)


def region(value: str) -> str:
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise serializers.ValidationError(f"{value!r} is not a two-letter country code like AU or US.")
    return code


class SmsMessageInSerializer(KnownFieldsSerializer):
    """One message of ClickSend's SendSmsRequest: `to` or `list_id`, and `body`. A body that is empty, a number that is
    not valid or a sender that is not allowed are answered per message (EMPTY_MESSAGE, INVALID_RECIPIENT,
    INVALID_SENDER_ID), as ClickSend does; wrong JSON types are a 400 naming the field."""

    ignored_fields = frozenset({"contact_id", "from_email", "exclude_no_sender_id_recipients", "show_summary"})
    body = StrictCharField(allow_blank=True, trim_whitespace=False)
    to = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    locals()["from"] = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64,
                                       help_text="A number or an alphanumeric sender id (default: the gateway's)")
    schedule = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_UNIX,
                                  help_text="Unix seconds; in the past or 0 sends now")
    custom_string = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    country = StrictCharField(required=False, allow_blank=True, allow_null=True,
                              help_text="ISO region national numbers in `to` are read in (default: the account's)")
    source = StrictCharField(required=False, allow_blank=True, allow_null=True,
                             help_text="Your application's name; accepted and not stored")
    list_id = ListIdField(required=False, allow_null=True, help_text="Send to every contact of this list")

    def validate_country(self, value):
        return region(value) if value else ""

    def validate(self, attrs):
        has_to, has_list = attrs.get("to") is not None, attrs.get("list_id") is not None
        if has_to == has_list:
            raise serializers.ValidationError({"to": ["Give `to` or `list_id` (one of them)."]})
        return attrs


class SmsSendInSerializer(KnownFieldsSerializer):
    """ClickSend's SendSmsRequest (and CalculateSmsPriceRequest): up to 1000 messages."""

    ignored_fields = frozenset({"senders", "shorten_urls"})
    messages = serializers.ListField(child=SmsMessageInSerializer(), allow_empty=False, max_length=MAX_MESSAGES)


class ReceiptsReadInSerializer(KnownFieldsSerializer):
    date_before = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_UNIX,
                                     help_text="Unix seconds: mark receipts up to this time (default: all)")


class CancelAllInSerializer(KnownFieldsSerializer):
    custom_string = StrictCharField(required=False, allow_blank=False, max_length=100,
                                    help_text="Cancel only the messages sent with this custom_string")


# --- Output: sending ------------------------------------------------------------------------------------------


class CurrencySerializer(serializers.Serializer):
    currency_name_short = serializers.CharField()
    currency_prefix_d = serializers.CharField()
    currency_prefix_c = serializers.CharField()
    currency_name_long = serializers.CharField()


class SentSmsSerializer(serializers.Serializer):
    """One message of a /v3/sms/send answer: ClickSend's SmsSendSms, from a services.SmsOutcome. `status` is the
    message's own code (SUCCESS, INVALID_RECIPIENT, OPTED_OUT, …). context: account, date (Unix seconds)."""

    direction = serializers.SerializerMethodField()
    date = serializers.SerializerMethodField()
    to = serializers.CharField()
    body = serializers.CharField()
    locals()["from"] = serializers.CharField(source="request.sender")
    schedule = serializers.SerializerMethodField()
    message_id = serializers.SerializerMethodField()
    message_parts = serializers.IntegerField(source="segments")
    message_price = serializers.SerializerMethodField()
    from_email = serializers.SerializerMethodField()
    list_id = serializers.SerializerMethodField()
    custom_string = serializers.CharField(source="request.custom_string")
    contact_id = serializers.SerializerMethodField()
    user_id = serializers.SerializerMethodField()
    subaccount_id = serializers.SerializerMethodField()
    is_shared_system_number = serializers.SerializerMethodField()
    country = serializers.CharField()
    carrier = serializers.SerializerMethodField()
    status = serializers.CharField(source="code")
    # smsportal's own, after ClickSend's.
    encoding = serializers.CharField()
    status_reason = serializers.CharField(source="reason", help_text="Why it was blocked (opted_out, no_route, …)")
    status_text = serializers.CharField(source="detail")

    def get_direction(self, obj) -> str:
        return "out"

    def get_date(self, obj) -> int:
        return self.context["date"]

    def get_schedule(self, obj) -> int | None:
        return unix(obj.request.schedule)

    def get_message_id(self, obj) -> str | None:
        return _optional_str(obj.message_id)

    def get_message_price(self, obj) -> str:
        return money(obj.price)

    def get_from_email(self, obj) -> str | None:
        return None

    def get_list_id(self, obj) -> str | None:
        return _optional_str(getattr(obj.request, "list_id", None))

    def get_contact_id(self, obj) -> str | None:
        return _optional_str(obj.request.contact_id)

    def get_user_id(self, obj) -> int:
        return user_ids(self.context["account"])["user_id"]

    def get_subaccount_id(self, obj) -> int:
        return self.context["account"].pk

    def get_is_shared_system_number(self, obj) -> bool:
        return False

    def get_carrier(self, obj) -> str | None:
        return None  # smsportal does not look carriers up


class PricedSmsSerializer(SentSmsSerializer):
    """One message of a /v3/sms/price answer: ClickSend's `Sms` model, whose `date` and `schedule` are strings.
    `message_id` is null: nothing was stored."""

    date = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()

    def get_date(self, obj) -> str:
        return str(self.context["date"])

    def get_schedule(self, obj) -> str | None:
        return _optional_str(unix(obj.request.schedule))


class SendResultSerializer(serializers.Serializer):
    """ClickSend's SendSmsData, from a services.SendResult. context: account, date."""

    total_price = serializers.SerializerMethodField()
    total_count = serializers.SerializerMethodField()
    queued_count = serializers.IntegerField()
    blocked_count = serializers.IntegerField()
    messages = SentSmsSerializer(many=True, source="outcomes")
    _currency = serializers.SerializerMethodField()

    def get_total_price(self, obj) -> float:
        return float(obj.total_price)

    def get_total_count(self, obj) -> int:
        return len(obj.outcomes)

    def get__currency(self, obj) -> CurrencySerializer:
        return currency_block(self.context["account"])


class PriceResultSerializer(SendResultSerializer):
    """ClickSend's CalculateSmsPriceData: the same figures as a send would give, nothing stored or charged."""

    messages = PricedSmsSerializer(many=True, source="outcomes")


# --- Output: history and receipts -------------------------------------------------------------------------


def failure(message) -> tuple[str, str]:
    """(code, text) of why a message failed: the gateway's delivery report when one said so (prefetched as
    `report_events` by the view), else what the dispatcher or acceptance recorded. Empty for a delivered one."""
    if message.status == statuses.DELIVERED:
        return "", ""
    events = getattr(message, "report_events", None) or []
    report = events[-1] if events else None
    return (report.code if report and report.code else message.error_code), (
        report.detail if report and report.detail else message.error_text
    )


class HistorySmsSerializer(serializers.Serializer):
    """One row of /v3/sms/history: ClickSend's history item (schedule, status_code and error_code are strings
    there). `status` is smsportal's (scheduled, queued, sending, sent, delivered, undelivered, failed, cancelled,
    blocked); `status_code` is ClickSend's gateway code (201 delivered, 200 sent, 300 failed, 301 undelivered).
    context: account."""

    direction = serializers.SerializerMethodField()
    date = serializers.SerializerMethodField()
    to = serializers.CharField()
    body = serializers.CharField()
    status = serializers.CharField()
    locals()["from"] = serializers.CharField(source="sender")
    schedule = serializers.SerializerMethodField()
    status_code = serializers.SerializerMethodField()
    status_text = serializers.SerializerMethodField()
    error_code = serializers.SerializerMethodField()
    error_text = serializers.SerializerMethodField()
    message_id = serializers.SerializerMethodField()
    message_parts = serializers.IntegerField(source="segments")
    message_price = serializers.SerializerMethodField()
    from_email = serializers.SerializerMethodField()
    list_id = serializers.SerializerMethodField()
    custom_string = serializers.CharField()
    contact_id = serializers.SerializerMethodField()
    user_id = serializers.SerializerMethodField()
    subaccount_id = serializers.SerializerMethodField()
    country = serializers.CharField()
    carrier = serializers.SerializerMethodField()
    _api_username = serializers.SerializerMethodField()
    # smsportal's own, after ClickSend's.
    encoding = serializers.CharField()
    status_reason = serializers.CharField(source="blocked_reason")
    campaign_id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()

    def get_direction(self, obj) -> str:
        return "out"

    def get_date(self, obj) -> int:
        return unix(obj.created_at)

    def get_schedule(self, obj) -> str | None:
        return _optional_str(unix(obj.schedule_at))

    def get_status_code(self, obj) -> str | None:
        code = STATUS_CODES.get(obj.status)
        return str(code[0]) if code else None

    def get_status_text(self, obj) -> str:
        code = STATUS_CODES.get(obj.status)
        return code[1] if code else obj.status.capitalize()

    def get_error_code(self, obj) -> str | None:
        return failure(obj)[0] or None

    def get_error_text(self, obj) -> str | None:
        return failure(obj)[1] or None

    def get_message_id(self, obj) -> str:
        return str(obj.pk)

    def get_message_price(self, obj) -> str:
        return money(obj.price)

    def get_from_email(self, obj) -> str | None:
        return None

    def get_list_id(self, obj) -> str | None:
        return None  # a message remembers its contact, not the list it was reached through

    def get_contact_id(self, obj) -> str | None:
        return _optional_str(obj.contact_id)

    def get_user_id(self, obj) -> int:
        return user_ids(self.context["account"])["user_id"]

    def get_subaccount_id(self, obj) -> int:
        return obj.account_id

    def get_carrier(self, obj) -> str | None:
        return None

    def get__api_username(self, obj) -> str:
        return self.context["account"].api_username


class ReceiptSerializer(serializers.Serializer):
    """ClickSend's SmsReceipt (status_code and error_code are ints there), then smsportal's `to` and `status`."""

    timestamp_send = serializers.SerializerMethodField()
    timestamp = serializers.SerializerMethodField()
    message_id = serializers.SerializerMethodField()
    status_code = serializers.SerializerMethodField()
    status_text = serializers.SerializerMethodField()
    error_code = serializers.SerializerMethodField()
    error_text = serializers.SerializerMethodField()
    custom_string = serializers.CharField()
    subaccount_id = serializers.IntegerField(source="account_id")
    message_type = serializers.SerializerMethodField()
    # smsportal's own.
    to = serializers.CharField()
    status = serializers.CharField()
    gateway_error_code = serializers.SerializerMethodField(help_text="The gateway's code as it sent it")

    def get_timestamp_send(self, obj) -> int:
        return unix(obj.submitted_at or obj.created_at)

    def get_timestamp(self, obj) -> int:
        return unix(obj.final_at or obj.updated_at)

    def get_message_id(self, obj) -> str:
        return str(obj.pk)

    def get_status_code(self, obj) -> int | None:
        code = STATUS_CODES.get(obj.status)
        return code[0] if code else None

    def get_status_text(self, obj) -> str:
        code = STATUS_CODES.get(obj.status)
        return code[1] if code else obj.status.capitalize()

    def get_gateway_error_code(self, obj) -> str:
        return failure(obj)[0]

    def get_error_code(self, obj) -> int | None:
        code = failure(obj)[0]
        return int(code) if code.isdigit() else None

    def get_error_text(self, obj) -> str | None:
        return failure(obj)[1] or None

    def get_message_type(self, obj) -> str:
        return "sms"


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class ExportLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Download link to the CSV; it needs no credentials and expires")
