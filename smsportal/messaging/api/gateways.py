"""smsportal's own /v3 endpoints in ClickSend's style, with their shapes: /v3/gateways (a workspace's gateway
connections) and /v3/sandbox/inbound (an inbound SMS injected through the sandbox, down the same path a gateway's
webhook takes)."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.phones import InvalidNumber, normalize_number
from smsportal.accounts.permissions import Access
from smsportal.api.envelope import respond
from smsportal.api.fields import FlagField, KnownFieldsSerializer, StrictCharField, StrictIntegerField
from smsportal.api.pagination import ClickSendPagination

from .. import selectors, services
from ..models import GatewayConnection
from .serializers import unix

VIEW, MANAGE = "account.view", "account.manage"
HIDDEN_SECRET = "••••"


# --- Shapes ---------------------------------------------------------------------------------------------------


class SandboxInboundInSerializer(KnownFieldsSerializer):
    """`from` must be a phone number, read in context["region"] when national; `to` may also be a short code."""

    locals()["from"] = StrictCharField(max_length=64, help_text="The phone that writes in")
    to = StrictCharField(max_length=32, help_text="The number it writes to (one of yours)")
    body = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=1600)

    def validate(self, attrs):
        try:
            sender = normalize_number(attrs["from"], self.context["region"]).e164
        except InvalidNumber as exc:
            raise serializers.ValidationError({"from": [f"Not a phone number: {exc}"]}) from None
        try:
            to = normalize_number(attrs["to"], self.context["region"]).e164
        except InvalidNumber:
            to = attrs["to"].strip()  # a short code or a sender name: as given
        return {**attrs, "sender": sender, "to_number": to}


@extend_schema_field({"type": "array", "items": {"type": "string"}, "example": ["AU", "NZ"]})
class CountriesField(serializers.Field):
    """ISO codes as a JSON array, or one comma-separated string; checked by the service."""

    default_error_messages = {"invalid": "Must be a list of two-letter country codes."}

    def to_internal_value(self, data):
        if isinstance(data, str) or (isinstance(data, list) and all(isinstance(c, str) for c in data)):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return list(value)


class GatewayWriteSerializer(KnownFieldsSerializer):
    """POST (with `type`) or PUT/PATCH a gateway connection. A credential sent blank, or back masked as shown,
    keeps its stored value. Ranges and the gateway's own required settings are checked by the service."""

    ignored_fields = frozenset({
        "gateway_id", "failure_streak", "skipped_until", "status_webhook_url", "inbound_webhook_url",
    })
    type = serializers.ChoiceField(choices=GatewayConnection.Kind.choices, required=False)
    name = StrictCharField(required=False, max_length=100)
    config = serializers.DictField(required=False)
    credentials = serializers.DictField(required=False)
    countries = CountriesField(required=False)
    priority = StrictIntegerField(required=False)
    throughput_cap = StrictIntegerField(required=False, allow_null=True,
                                        help_text="Segments per second across all workers; null for no cap")
    enabled = FlagField(required=False)

    def validate(self, attrs):
        connection = self.context.get("connection")
        if connection is None and "type" not in attrs:
            raise serializers.ValidationError({"type": ["This field is required."]})
        if connection is not None and attrs.get("type", connection.kind) != connection.kind:
            raise serializers.ValidationError({"type": ["A connection's type cannot change; create a new one."]})
        return attrs


class GatewaySerializer(serializers.Serializer):
    """A gateway connection (selectors.connection_public): credentials masked; the webhook URLs to give the
    upstream carry the connection's secret, shown to those who may manage gateways only."""

    gateway_id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    config = serializers.DictField()
    credentials = serializers.DictField(child=serializers.CharField())
    countries = serializers.ListField(child=serializers.CharField())
    priority = serializers.IntegerField()
    throughput_cap = serializers.IntegerField(allow_null=True)
    enabled = serializers.BooleanField()
    failure_streak = serializers.IntegerField()
    skipped_until = serializers.IntegerField(allow_null=True)
    status_webhook_url = serializers.CharField()
    inbound_webhook_url = serializers.CharField()


class SandboxInboundSerializer(serializers.Serializer):
    """The injected message, as the inbox receives it (cf. ClickSend's inbound fields)."""

    timestamp = serializers.SerializerMethodField()
    locals()["from"] = serializers.CharField(source="sender")
    to = serializers.CharField()
    body = serializers.CharField()
    message_id = serializers.CharField(source="gateway_message_id")
    gateway_id = serializers.SerializerMethodField()

    def get_timestamp(self, obj) -> int:
        return unix(obj.at or timezone.now())

    def get_gateway_id(self, obj) -> int:
        return self.context["connection"].pk


# --- Views ----------------------------------------------------------------------------------------------------


def gateway_data(connection: GatewayConnection, access: Access) -> dict:
    """connection_public, with the webhook secret in its URLs hidden from those who may not manage gateways
    (it is what lets a caller post delivery reports and inbound messages as the upstream)."""
    data = selectors.connection_public(connection)
    if not access.can(MANAGE):
        for name in ("status_webhook_url", "inbound_webhook_url"):
            data[name] = data[name].replace(connection.webhook_secret, HIDDEN_SECRET)
    return data


class GatewayViewSet(viewsets.ViewSet):
    """The workspace's gateway connections, by priority. Credentials are shown masked; send one back blank or as
    shown to keep it. Another workspace's ids answer 404."""

    capabilities = {
        "list": VIEW, "retrieve": VIEW,
        "create": MANAGE, "update": MANAGE, "partial_update": MANAGE, "destroy": MANAGE,
    }
    lookup_field = "gateway_id"
    lookup_value_regex = "[0-9]+"

    def _get(self, request, gateway_id) -> GatewayConnection:
        return selectors.connection_get(access=request.auth, connection_id=gateway_id)

    @extend_schema(responses=GatewaySerializer(many=True), summary="List gateway connections")
    def list(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.connection_queryset(access=request.auth), request, view=self)
        return paginator.get_paginated_response([gateway_data(c, request.auth) for c in page])

    @extend_schema(request=GatewayWriteSerializer, responses=GatewaySerializer, summary="Add a gateway connection")
    def create(self, request):
        incoming = GatewayWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        connection = services.gateway_connection_save(account=request.auth.account, data=incoming.validated_data)
        return respond(gateway_data(connection, request.auth), "New gateway connection has been created.")

    @extend_schema(responses=GatewaySerializer, summary="View a gateway connection")
    def retrieve(self, request, gateway_id=None):
        return Response(gateway_data(self._get(request, gateway_id), request.auth))

    @extend_schema(request=GatewayWriteSerializer, responses=GatewaySerializer,
                   summary="Change a gateway connection (fields left out keep their values)")
    def update(self, request, gateway_id=None):
        connection = self._get(request, gateway_id)
        incoming = GatewayWriteSerializer(data=request.data, context={"connection": connection})
        incoming.is_valid(raise_exception=True)
        connection = services.gateway_connection_save(
            account=request.auth.account, data=incoming.validated_data, connection=connection
        )
        message = f"Gateway connection #{connection.pk} has been updated."
        return respond(gateway_data(connection, request.auth), message)

    @extend_schema(request=GatewayWriteSerializer, responses=GatewaySerializer, summary="Change a gateway connection")
    def partial_update(self, request, gateway_id=None):
        return self.update(request, gateway_id=gateway_id)

    @extend_schema(responses=OpenApiTypes.BOOL, summary="Delete a gateway connection; its messages keep their history")
    def destroy(self, request, gateway_id=None):
        services.gateway_connection_delete(connection=self._get(request, gateway_id))
        return respond(True, f"Gateway connection #{gateway_id} has been deleted.")


class SandboxInboundView(APIView):
    """POST /v3/sandbox/inbound: a message from a phone to one of your numbers, arriving through the workspace's
    own sandbox connection exactly as a real gateway's inbound webhook delivers one."""

    capabilities = {"POST": "sms.send"}

    @extend_schema(request=SandboxInboundInSerializer, responses=SandboxInboundSerializer,
                   summary="Inject an inbound SMS through the sandbox")
    def post(self, request):
        account = request.auth.account
        incoming = SandboxInboundInSerializer(data=request.data, context={"region": account.default_region})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        sms, connection = services.sandbox_inbound(account=account, sender=data["sender"], to=data["to_number"],
                                                   body=data["body"], source="api")
        return respond(SandboxInboundSerializer(sms, context={"connection": connection}).data,
                        "The inbound message has been delivered.")
