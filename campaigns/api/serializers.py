"""Shapes of /v3/sms-campaigns: ClickSend's `SmsCampaign`, `SendSmsCampaignRequest` and `CalculateSmsCampaignPrice`
with the JSON types its SDK's strict models expect (`schedule` and `date_added` are ints, `list_id` an int in the
campaign and a string or an int in requests, `total_price` a string), then smsportal's own fields after them:
variants, audience, scheduling, quiet hours, the send rate and progress; the preview and the report.

Serializers shape and validate types only; every rule about campaigns (names, senders, splits, audiences, times)
is campaigns.services', whose errors name their field.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from smsportal.api.fields import KnownFieldsSerializer, StrictCharField, StrictIntegerField
from smsportal.messaging.api.serializers import CurrencySerializer, currency_block, money, unix, user_ids
from smsportal.messaging.api.serializers import ListIdField as SmsListIdField

from ..audience import KEYS as AUDIENCE_KEYS
from ..models import Campaign

MAX_UNIX = 253_402_300_799  # 9999-12-31T23:59:59Z
# ClickSend's words for a campaign's status; `completed` is its "Sent".
STATUS_WORDS = {
    Campaign.Status.DRAFT: "Draft",
    Campaign.Status.SCHEDULED: "Scheduled",
    Campaign.Status.SENDING: "Sending",
    Campaign.Status.PAUSED: "Paused",
    Campaign.Status.COMPLETED: "Sent",
    Campaign.Status.CANCELLED: "Cancelled",
}


def schedule_of(campaign: Campaign) -> int:
    """ClickSend's `schedule`: when it starts (or is set to), in Unix seconds; 0 for "now" or not yet known."""
    return unix(campaign.starts_at or campaign.schedule_at) or 0


def _clock(value) -> str:
    return value.strftime("%H:%M")


# --- Input ------------------------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}], "example": 42,
                      "description": "A list id: a JSON number, or a string of digits (as the SDK's price and update "
                                     "requests send it)"})
class ListIdField(SmsListIdField):
    """/v3/sms's list id, answered as a JSON number: ClickSend's campaign models have it as an int."""

    def to_representation(self, value):
        return value


class VariantInSerializer(KnownFieldsSerializer):
    ignored_fields = frozenset({"label"})  # what GET answers may be sent back as it is: labels follow the order
    body = StrictCharField(allow_blank=True, trim_whitespace=False)
    split = StrictIntegerField(required=False, help_text="Percent of the audience; the splits add up to 100 "
                                                         "(default 100 for a single variant)")


def _ids(**kwargs):
    return serializers.ListField(child=StrictIntegerField(min_value=1), required=False, **kwargs)


class AudienceSerializer(KnownFieldsSerializer):
    lists = _ids(help_text="Contact lists to send to")
    segments = _ids(help_text="Segments to send to")
    exclude_lists = _ids(help_text="Nobody in these lists gets it")
    exclude_segments = _ids(help_text="Nobody in these segments gets it")


class CampaignInSerializer(KnownFieldsSerializer):
    """A campaign's content and settings: ClickSend's fields, then smsportal's. Only the fields given are set (a
    new campaign starts from the defaults)."""

    ignored_fields = frozenset({"senders", "url_to_shorten"})
    list_id = ListIdField(required=False, allow_null=True, help_text="Send to this list (or give `audience`)")
    name = StrictCharField(required=False, allow_blank=True)
    locals()["from"] = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64,
                                       help_text="A number or an alphanumeric sender id (default: the gateway's)")
    body = StrictCharField(required=False, allow_blank=True, trim_whitespace=False,
                           help_text="The message, with spintax and {{merge}} fields (or give `variants`)")
    schedule = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_UNIX,
                                  help_text="Unix seconds; in the future schedules the campaign (schedule_mode at), "
                                            "0 or in the past sends at launch")
    source = StrictCharField(required=False, allow_blank=True, allow_null=True)
    custom_string = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    # smsportal's own.
    variants = VariantInSerializer(many=True, required=False, allow_empty=False,
                                   help_text="A/B variants (labelled A, B, … in this order) instead of `body`")
    audience = AudienceSerializer(required=False, help_text="Lists and segments instead of `list_id`")
    schedule_mode = serializers.ChoiceField(choices=Campaign.ScheduleMode.values, required=False,
                                            help_text="now, at (`schedule`), or local (`local_send_at` in each "
                                                      "recipient's time zone)")
    local_send_at = StrictCharField(required=False, allow_blank=True, allow_null=True,
                                    help_text="A wall-clock time like 2026-12-24T09:00, for schedule_mode local")
    quiet_hours = serializers.BooleanField(required=False, help_text="Hold messages during the recipient's quiet "
                                                                     "hours (default true)")
    quiet_start = StrictCharField(required=False, allow_blank=True, help_text="Like 21:00 (the default)")
    quiet_end = StrictCharField(required=False, allow_blank=True, help_text="Like 08:00 (the default)")
    rate_per_minute = StrictIntegerField(required=False, allow_null=True, min_value=0,
                                         help_text="Messages per minute at most; null or 0: as fast as possible")

    def validate(self, attrs):
        if "body" in attrs and "variants" in attrs:
            raise serializers.ValidationError({"variants": ["Give `body` or `variants`, not both."]})
        if attrs.get("list_id") is not None and "audience" in attrs:
            raise serializers.ValidationError({"audience": ["Give `list_id` or `audience`, not both."]})
        return attrs


class SendCampaignInSerializer(CampaignInSerializer):
    """ClickSend's SendSmsCampaignRequest (and CalculateSmsCampaignPriceRequest): who, what, and when."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("list_id") is None and not attrs.get("audience"):
            raise serializers.ValidationError({"list_id": ["Give the list to send to (or an `audience`)."]})
        if "body" not in attrs and "variants" not in attrs:
            raise serializers.ValidationError({"body": ["This field is required."]})
        return attrs


class PreviewInSerializer(CampaignInSerializer):
    sms_campaign_id = StrictIntegerField(required=False, help_text="Preview this saved campaign, with the other "
                                                                   "fields given as unsaved changes to it")
    contact_id = StrictIntegerField(required=False, allow_null=True,
                                    help_text="Render this contact's message first among the samples")


class TestSendInSerializer(KnownFieldsSerializer):
    to = StrictCharField(help_text="Your own phone number")
    contact_id = StrictIntegerField(required=False, allow_null=True,
                                    help_text="Send the message this contact would get (default: empty merge fields)")


# --- Output: the campaign -----------------------------------------------------------------------------------


class VariantOutSerializer(serializers.Serializer):
    label = serializers.CharField()
    body = serializers.CharField()
    split = serializers.IntegerField()


class AudienceOutSerializer(serializers.Serializer):
    lists = serializers.ListField(child=serializers.IntegerField())
    segments = serializers.ListField(child=serializers.IntegerField())
    exclude_lists = serializers.ListField(child=serializers.IntegerField())
    exclude_segments = serializers.ListField(child=serializers.IntegerField())


class ProgressSerializer(serializers.Serializer):
    recipients = serializers.IntegerField(help_text="Messages the launch writes, blocked ones included")
    prepared = serializers.IntegerField(help_text="Messages written so far by the fan-out")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Messages by status")


class SmsCampaignSerializer(serializers.Serializer):
    """ClickSend's SmsCampaign, then smsportal's fields. context: `account` (the workspace), `list_names`
    ({list id: name}) and `counts` ({campaign id: {status: messages}}), read by the view in one query each."""

    sms_campaign_id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    user_id = serializers.SerializerMethodField()
    subaccount_id = serializers.SerializerMethodField()
    list_id = serializers.SerializerMethodField()
    locals()["from"] = serializers.CharField(source="sender")
    body = serializers.SerializerMethodField()
    schedule = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    date_added = serializers.SerializerMethodField()
    custom_string = serializers.CharField()
    url_to_shorten = serializers.SerializerMethodField()
    unsubscribe_link = serializers.SerializerMethodField()
    source = serializers.CharField()
    senders = serializers.SerializerMethodField()
    _total_count = serializers.IntegerField(source="recipients", help_text="Messages written at launch")
    _list_name = serializers.SerializerMethodField()
    # smsportal's own, after ClickSend's.
    variants = VariantOutSerializer(many=True, source="variants.all")
    audience = serializers.SerializerMethodField()
    schedule_mode = serializers.CharField()
    local_send_at = serializers.SerializerMethodField()
    quiet_hours = serializers.BooleanField()
    quiet_start = serializers.SerializerMethodField()
    quiet_end = serializers.SerializerMethodField()
    rate_per_minute = serializers.IntegerField(allow_null=True)
    launched_at = serializers.SerializerMethodField()
    finished_at = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    def _first_list(self, obj) -> int | None:
        lists = (obj.audience or {}).get("lists") or []
        return lists[0] if lists else None

    def get_user_id(self, obj) -> int:
        return user_ids(self.context["account"])["user_id"]

    def get_subaccount_id(self, obj) -> int:
        return obj.account_id

    def get_list_id(self, obj) -> int | None:
        return self._first_list(obj)

    def get_body(self, obj) -> str:
        variants = list(obj.variants.all())
        return variants[0].body if variants else ""

    def get_schedule(self, obj) -> int:
        return schedule_of(obj)

    def get_status(self, obj) -> str:
        return STATUS_WORDS.get(obj.status, obj.status.capitalize())

    def get_date_added(self, obj) -> int:
        return unix(obj.created_at)

    def get_url_to_shorten(self, obj) -> str:
        return ""

    def get_unsubscribe_link(self, obj) -> int:
        return 0

    @extend_schema_field({"type": "array", "items": {"type": "object"}, "nullable": True})
    def get_senders(self, obj):
        return None  # one sender per campaign (`from`); no per-country senders

    def get__list_name(self, obj) -> str | None:
        return self.context.get("list_names", {}).get(self._first_list(obj))

    def get_audience(self, obj) -> AudienceOutSerializer:
        audience = obj.audience or {}
        return {key: list(audience.get(key) or []) for key in AUDIENCE_KEYS}

    def get_local_send_at(self, obj) -> str | None:
        return obj.local_send_at or None

    def get_quiet_start(self, obj) -> str:
        return _clock(obj.quiet_start)

    def get_quiet_end(self, obj) -> str:
        return _clock(obj.quiet_end)

    def get_launched_at(self, obj) -> int | None:
        return unix(obj.launched_at)

    def get_finished_at(self, obj) -> int | None:
        return unix(obj.finished_at)

    def get_progress(self, obj) -> ProgressSerializer:
        counts = self.context.get("counts", {}).get(obj.pk, {})
        return {"recipients": obj.recipients, "prepared": obj.prepared, "counts": dict(counts)}


# --- Output: price ----------------------------------------------------------------------------------------------


class PricedMessageSerializer(serializers.Serializer):
    locals()["from"] = serializers.CharField()
    body = serializers.CharField()
    schedule = serializers.IntegerField()


class CampaignPriceSerializer(serializers.Serializer):
    """ClickSend's CalculateSmsCampaignPriceData, from campaigns.services.Preview: `total_count` is the messages
    that will go out (blocked recipients are never charged). context: account, campaign."""

    total_count = serializers.SerializerMethodField()
    total_price = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()
    _currency = serializers.SerializerMethodField()

    def get_total_count(self, obj) -> int:
        return obj.tally.recipients

    def get_total_price(self, obj) -> str:
        return money(obj.tally.cost)

    def get_data(self, obj) -> PricedMessageSerializer:
        campaign = self.context["campaign"]
        return {"from": campaign.sender, "body": obj.plan.variants[0].body, "schedule": schedule_of(campaign)}

    def get__currency(self, obj) -> CurrencySerializer:
        return currency_block(self.context["account"])


# --- Output: preview ----------------------------------------------------------------------------------------------


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="e.g. variants.0.body")
    message = serializers.CharField()
    position = serializers.IntegerField(allow_null=True, help_text="Character offset in the body, when one applies")
    label = serializers.CharField(help_text="The variant it is in (A, B, …), or empty")


class CountryLineSerializer(serializers.Serializer):
    country = serializers.CharField()
    messages = serializers.IntegerField()
    segments = serializers.IntegerField()
    rate = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()

    def get_rate(self, obj) -> str | None:
        return money(obj.rate) if obj.rate is not None else None

    def get_cost(self, obj) -> str:
        return money(obj.cost)


class VariantLineSerializer(serializers.Serializer):
    label = serializers.CharField()
    split = serializers.IntegerField()
    bodies = serializers.IntegerField(help_text="Distinct bodies its spintax can make")
    recipients = serializers.IntegerField()
    segments = serializers.IntegerField()
    segments_min = serializers.IntegerField(allow_null=True)
    segments_max = serializers.IntegerField(allow_null=True)
    encodings = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    smart_cost = serializers.SerializerMethodField()
    smart_saves = serializers.SerializerMethodField()

    def get_encodings(self, obj) -> list[str]:
        return sorted(obj.encodings)

    def get_cost(self, obj) -> str:
        return money(obj.cost)

    def get_smart_cost(self, obj) -> str | None:
        return money(obj.smart_cost) if obj.smart_cost is not None else None

    def get_smart_saves(self, obj) -> str | None:
        return money(obj.smart_saves) if obj.smart_saves is not None else None


class SampleSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    phone = serializers.CharField()
    name = serializers.CharField()
    variant = serializers.CharField()
    body = serializers.CharField()
    encoding = serializers.CharField(source="info.encoding")
    segments = serializers.IntegerField(source="info.segments")
    chosen = serializers.BooleanField(help_text="The contact asked for with contact_id")


class PreviewSerializer(serializers.Serializer):
    """Everything the composer's preview panel shows, from campaigns.services.Preview. With `problems` the
    counts are null: nothing can be counted until the bodies compile."""

    problems = ProblemSerializer(many=True)
    recipients = serializers.IntegerField(source="tally.recipients", allow_null=True,
                                          help_text="Messages that will go out and be charged")
    messages = serializers.IntegerField(source="tally.messages", allow_null=True,
                                        help_text="Messages the launch writes: recipients plus the blocked")
    matched = serializers.IntegerField(source="tally.matched", allow_null=True)
    excluded = serializers.IntegerField(source="tally.excluded", allow_null=True)
    duplicates = serializers.IntegerField(source="tally.duplicates", allow_null=True)
    blocked = serializers.SerializerMethodField()
    segments = serializers.IntegerField(source="tally.segments", allow_null=True)
    cost = serializers.SerializerMethodField()
    currency = serializers.CharField()
    balance = serializers.SerializerMethodField()
    short_of_credit = serializers.BooleanField()
    countries = serializers.SerializerMethodField()
    variants = serializers.SerializerMethodField()
    missing = serializers.SerializerMethodField()
    unicode_chars = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                          help_text="Per variant label, the characters that force UCS-2")
    smart_bodies = serializers.DictField(child=serializers.CharField(),
                                         help_text="Per variant label, its body with smart encoding applied")
    samples = SampleSerializer(many=True)

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField(), help_text="Recipients by reason"))
    def get_blocked(self, obj):
        return dict(obj.tally.blocked) if obj.tally else {}

    def get_cost(self, obj) -> str | None:
        return money(obj.tally.cost) if obj.tally else None

    def get_balance(self, obj) -> str:
        return money(obj.balance)

    @extend_schema_field(CountryLineSerializer(many=True))
    def get_countries(self, obj):
        return CountryLineSerializer(obj.tally.countries.values(), many=True).data if obj.tally else []

    @extend_schema_field(VariantLineSerializer(many=True))
    def get_variants(self, obj):
        return VariantLineSerializer(obj.tally.variants, many=True).data if obj.tally else []

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField(),
                                               help_text="Recipients lacking a merge field, by field"))
    def get_missing(self, obj):
        return dict(obj.tally.missing) if obj.tally else {}


# --- Output: report -------------------------------------------------------------------------------------------


def _rate(value) -> float | None:
    return round(value, 4) if value is not None else None


class ReportLineSerializer(serializers.Serializer):
    """One line of a report: the whole campaign, a variant, or a spintax choice of a variant."""

    label = serializers.CharField()
    messages = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Messages by status")
    segments = serializers.IntegerField()
    spend = serializers.SerializerMethodField()
    replies = serializers.IntegerField()
    opt_outs = serializers.IntegerField()
    delivery_rate = serializers.SerializerMethodField()
    reply_rate = serializers.SerializerMethodField()
    opt_out_rate = serializers.SerializerMethodField()

    def get_spend(self, obj) -> str:
        return money(obj.spend)

    def get_delivery_rate(self, obj) -> float | None:
        return _rate(obj.delivery_rate)

    def get_reply_rate(self, obj) -> float | None:
        return _rate(obj.reply_rate)

    def get_opt_out_rate(self, obj) -> float | None:
        return _rate(obj.opt_out_rate)


class ReportSampleSerializer(serializers.Serializer):
    at = serializers.IntegerField(help_text="Unix seconds")
    counts = serializers.DictField(child=serializers.IntegerField())


class ReportSerializer(serializers.Serializer):
    """campaigns.selectors.Report. Rates are fractions (0.97), null until something can be counted; spend is what
    the sent messages cost. context: campaign, account."""

    sms_campaign_id = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    progress = serializers.IntegerField(help_text="Percent of the messages done with sending")
    waiting = serializers.IntegerField(help_text="Messages still scheduled, queued or sending")
    total = ReportLineSerializer()
    variants = ReportLineSerializer(many=True)
    choices = serializers.SerializerMethodField()
    samples = serializers.SerializerMethodField()

    def get_sms_campaign_id(self, obj) -> int:
        return self.context["campaign"].pk

    def get_status(self, obj) -> str:
        return STATUS_WORDS[self.context["campaign"].status]

    def get_currency(self, obj) -> str:
        return self.context["account"].currency

    @extend_schema_field(serializers.DictField(child=ReportLineSerializer(many=True),
                                               help_text="Per variant label, a line per top-level spintax choice"))
    def get_choices(self, obj):
        return {label: ReportLineSerializer(lines, many=True).data for label, lines in obj.choices.items()}

    @extend_schema_field(ReportSampleSerializer(many=True))
    def get_samples(self, obj):
        return [{"at": unix(at), "counts": counts} for at, counts in obj.samples]
