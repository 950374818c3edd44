"""/v3/automations: ClickSend's SMS automation rules with the action URL (SmsApi's *_sms_delivery_receipt_rule* and
*_sms_inbound_automation* calls, in their SDK models' exact JSON types), and smsportal's own delivery log, signing
secret and test ping. Reading needs account.view; every change account.manage (Settings → Webhooks's
capabilities). Another workspace's ids answer 404."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from smsportal.api.envelope import respond
from smsportal.api.fields import FlagField, KnownFieldsSerializer, StrictCharField, StrictIntegerField
from smsportal.api.pagination import ClickSendPagination
from smsportal.errors import DomainError

from .. import selectors_webhooks as selectors
from .. import services_webhooks as services
from ..models import WebhookRule
from .serializers import unix

VIEW, MANAGE = "account.view", "account.manage"
# The rule's own field names, as ClickSend's requests and answers name them.
API_NAMES = {"name": "rule_name", "url": "action_address"}


def _renamed(exc: DomainError) -> DomainError:
    if exc.field in API_NAMES:
        return type(exc)(exc.message, field=API_NAMES[exc.field])
    return exc


# --- Shapes ---------------------------------------------------------------------------------------------------


class ActionField(StrictCharField):
    """ClickSend's `action`: smsportal's rules POST to a URL, so URL is the one action there is."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip().upper()
        if value != "URL":
            raise serializers.ValidationError("smsportal's automations POST to a URL: action must be URL.")
        return value


class RuleInSerializer(KnownFieldsSerializer):
    rule_name = StrictCharField(required=False, max_length=100)
    action = ActionField(required=False)
    action_address = StrictCharField(required=False, max_length=2000, help_text="The URL events are POSTed to")
    enabled = FlagField(required=False)

    def validate(self, attrs):
        if not self.context.get("rule") and not attrs.get("action_address"):
            raise serializers.ValidationError({"action_address": ["This field is required: the URL to POST to."]})
        return attrs

    def service_data(self) -> dict:
        data = dict(self.validated_data)
        data.pop("action", None)
        for ours, theirs in API_NAMES.items():
            if theirs in data:
                data[ours] = data.pop(theirs)
        return data


class ReceiptRuleInSerializer(RuleInSerializer):
    """ClickSend's CreateSmsDeliveryReceiptRuleRequest (for create and update alike)."""

    match_type = StrictIntegerField(required=False, help_text="0: every delivery report (the one type there is)")


class InboundRuleInSerializer(RuleInSerializer):
    """ClickSend's CreateSmsInboundAutomationRequest / UpdateSmsInboundAutomationRequest."""

    dedicated_number = StrictCharField(required=False, allow_blank=True, max_length=32,
                                       help_text="The number written to, or * for any")
    message_search_type = StrictIntegerField(
        required=False, help_text="0 any message, 1 starts with, 2 contains, 3 does not contain, 4 is exactly "
                                  "(smsportal's own); trimmed, any case")
    message_search_term = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    body = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=1600)
    webhook_type = StrictCharField(required=False, allow_null=True, help_text="json (smsportal POSTs JSON)")

    def validate_webhook_type(self, value):
        if value is not None and value.strip().lower() != "json":
            raise serializers.ValidationError("smsportal POSTs JSON: webhook_type must be json.")
        return value

    def service_data(self) -> dict:
        data = super().service_data()
        data.pop("webhook_type", None)
        return data


class ReceiptRuleSerializer(serializers.Serializer):
    """ClickSend's SmsDeliveryReceiptRule."""

    receipt_rule_id = serializers.IntegerField(source="pk")
    rule_name = serializers.CharField(source="name")
    match_type = serializers.IntegerField()
    action = serializers.SerializerMethodField()
    action_address = serializers.CharField(source="url")
    enabled = FlagField()

    def get_action(self, obj) -> str:
        return "URL"


class InboundRuleSerializer(serializers.Serializer):
    """ClickSend's SmsInboundRule."""

    inbound_rule_id = serializers.IntegerField(source="pk")
    dedicated_number = serializers.CharField()
    rule_name = serializers.CharField(source="name")
    message_search_type = serializers.IntegerField()
    message_search_term = serializers.CharField()
    action = serializers.SerializerMethodField()
    action_address = serializers.CharField(source="url")
    body = serializers.CharField()
    enabled = FlagField()
    webhook_type = serializers.SerializerMethodField()

    def get_action(self, obj) -> str:
        return "URL"

    def get_webhook_type(self, obj) -> str:
        return "json"


class DeliverySerializer(serializers.Serializer):
    """One delivery of the log: an event for one rule, with its attempts so far."""

    delivery_id = serializers.IntegerField(source="pk")
    rule_id = serializers.IntegerField()
    rule_name = serializers.CharField(source="rule.name")
    rule_kind = serializers.CharField(source="rule.kind")
    event = serializers.CharField(help_text="receipt, inbound or ping (a test)")
    url = serializers.CharField(help_text="Where the last attempt went")
    status = serializers.CharField(help_text="pending, delivered or failed")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField()
    last_status_code = serializers.IntegerField(allow_null=True, help_text="HTTP status of the last answer")
    last_error = serializers.CharField()
    last_response = serializers.CharField(help_text="The start of the last answer's body")
    created_at = serializers.SerializerMethodField()
    delivered_at = serializers.SerializerMethodField()
    payload = serializers.JSONField(help_text="The JSON body POSTed")

    def get_next_attempt_at(self, obj) -> int | None:
        return unix(obj.next_attempt_at) if obj.status == "pending" else None

    def get_created_at(self, obj) -> int:
        return unix(obj.created_at)

    def get_delivered_at(self, obj) -> int | None:
        return unix(obj.delivered_at)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The HMAC-SHA256 key (masked unless you may change settings)")
    header = serializers.CharField()
    algorithm = serializers.CharField()
    created_at = serializers.IntegerField()
    rotated_at = serializers.IntegerField(allow_null=True)


class PingInSerializer(KnownFieldsSerializer):
    rule_id = StrictIntegerField(help_text="The rule (receipt or inbound) to send a test event to")


# --- Views ----------------------------------------------------------------------------------------------------


class _RuleViewSet(viewsets.ViewSet):
    kind: str
    in_serializer: type[RuleInSerializer]
    out_serializer: type[serializers.Serializer]
    noun: str
    lookup_value_regex = "[0-9]+"
    capabilities = {
        "list": VIEW, "retrieve": VIEW, "create": MANAGE, "update": MANAGE, "partial_update": MANAGE,
        "destroy": MANAGE,
    }

    def _get(self, request, rule_id) -> WebhookRule:
        return selectors.rule_get(access=request.auth, rule_id=rule_id, kind=self.kind, field=self.lookup_field)

    def _save(self, request, rule=None) -> WebhookRule:
        incoming = self.in_serializer(data=request.data, context={"rule": rule})
        incoming.is_valid(raise_exception=True)
        try:
            return services.webhook_rule_save(account=request.auth.account, kind=self.kind, rule=rule,
                                              data=incoming.service_data())
        except DomainError as exc:
            raise _renamed(exc) from None

    def list(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.rule_queryset(access=request.auth, kind=self.kind), request,
                                           view=self)
        return paginator.get_paginated_response(self.out_serializer(page, many=True).data)

    def create(self, request):
        rule = self._save(request)
        return respond(self.out_serializer(rule).data, f"Your new {self.noun} has been added.")

    def retrieve(self, request, **kwargs):
        return Response(self.out_serializer(self._get(request, kwargs[self.lookup_field])).data)

    def update(self, request, **kwargs):
        rule = self._save(request, self._get(request, kwargs[self.lookup_field]))
        return respond(self.out_serializer(rule).data, f"Your {self.noun} has been updated.")

    def partial_update(self, request, **kwargs):
        return self.update(request, **kwargs)

    def destroy(self, request, **kwargs):
        rule = self._get(request, kwargs[self.lookup_field])
        services.webhook_rule_delete(rule=rule)
        return respond([], f"Your {self.noun} has been deleted.")


def _rule_schema(name: str, in_serializer, out_serializer):
    """The OpenAPI operations of a rule viewset (extend_schema_view copies the inherited methods it annotates)."""
    return extend_schema_view(
        list=extend_schema(responses=out_serializer(many=True), summary=f"List {name} rules"),
        create=extend_schema(request=in_serializer, responses=out_serializer, summary=f"Create an {name} rule"),
        retrieve=extend_schema(responses=out_serializer, summary=f"View an {name} rule"),
        update=extend_schema(request=in_serializer, responses=out_serializer,
                             summary=f"Update an {name} rule (fields left out keep their values)"),
        partial_update=extend_schema(request=in_serializer, responses=out_serializer,
                                     summary=f"Update an {name} rule"),
        destroy=extend_schema(responses={200: {"type": "array", "items": {"type": "string"}}},
                              summary=f"Delete an {name} rule; its delivery log goes with it"),
    )


@_rule_schema("SMS delivery receipt", ReceiptRuleInSerializer, ReceiptRuleSerializer)
class ReceiptRuleViewSet(_RuleViewSet):
    """/v3/automations/sms/receipts: delivery receipts POSTed to your URL (ClickSend's delivery receipt rules)."""

    kind = WebhookRule.Kind.RECEIPT
    in_serializer = ReceiptRuleInSerializer
    out_serializer = ReceiptRuleSerializer
    noun = "SMS receipt rule"
    lookup_field = "receipt_rule_id"


@_rule_schema("inbound SMS", InboundRuleInSerializer, InboundRuleSerializer)
class InboundRuleViewSet(_RuleViewSet):
    """/v3/automations/sms/inbound: inbound messages POSTed to your URL (ClickSend's inbound SMS automations)."""

    kind = WebhookRule.Kind.INBOUND
    in_serializer = InboundRuleInSerializer
    out_serializer = InboundRuleSerializer
    noun = "inbound rule"
    lookup_field = "inbound_rule_id"


class DeliveryLogView(APIView):
    """GET /v3/automations/deliveries: every event POSTed (or waiting to be) to the workspace's URLs, newest first,
    with attempts, the last HTTP status and error; `rule_id` and `status` (pending, delivered, failed) filter."""

    capabilities = {"GET": VIEW}

    @extend_schema(
        parameters=[OpenApiParameter("rule_id", OpenApiTypes.INT),
                    OpenApiParameter("status", OpenApiTypes.STR, enum=["pending", "delivered", "failed"])],
        responses=DeliverySerializer(many=True), summary="The outbound webhooks' delivery log",
    )
    def get(self, request):
        deliveries = selectors.delivery_queryset(access=request.auth, rule_id=request.query_params.get("rule_id"),
                                                 status=request.query_params.get("status"))
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


def secret_data(secret, *, reveal: bool) -> dict:
    return {
        "secret": secret.secret if reveal else selectors.mask(secret.secret),
        "header": "X-Smsportal-Signature",
        "algorithm": "HMAC-SHA256 of '<t>.<raw body>'",
        "created_at": unix(secret.created_at),
        "rotated_at": unix(secret.rotated_at),
    }


class SecretView(APIView):
    """GET /v3/automations/secret: the key outbound webhooks are signed with (made on first use; shown whole to
    those who may change settings, masked to others). PUT rotates it: the old key stops at once."""

    capabilities = {"GET": VIEW, "PUT": MANAGE}

    @extend_schema(responses=SecretSerializer, summary="The webhooks' signing secret")
    def get(self, request):
        secret = services.webhook_secret_get(account=request.auth.account)
        return Response(secret_data(secret, reveal=request.auth.can(MANAGE)))

    @extend_schema(request=None, responses=SecretSerializer, summary="Rotate the webhooks' signing secret")
    def put(self, request):
        secret = services.webhook_secret_rotate(account=request.auth.account)
        return respond(secret_data(secret, reveal=True),
                        "A new signing secret is in use from the next delivery on; the old one has stopped.")


class PingView(APIView):
    """POST /v3/automations/ping {"rule_id": N}: a signed test event for that rule, delivered like any event (its
    outcome shows in the delivery log)."""

    capabilities = {"POST": MANAGE}

    @extend_schema(request=PingInSerializer,
                   responses={200: DeliverySerializer, 404: OpenApiResponse(description="No such rule_id.")},
                   summary="Send a test event to a rule")
    def post(self, request):
        incoming = PingInSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        rule = selectors.rule_get(access=request.auth, rule_id=incoming.validated_data["rule_id"])
        delivery = services.webhook_ping(rule=rule)
        return respond(DeliverySerializer(delivery).data, "A test event is on its way.")
