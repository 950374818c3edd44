"""/v3/account and /v3/subaccounts, shaped like ClickSend's `Account` and `Subaccount` models."""

import phonenumbers
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from smsportal.api.pagination import ClickSendPagination
from smsportal.api.fields import FlagField, KnownFieldsSerializer, StrictCharField, StrictIntegerField
from smsportal.errors import DomainError, Forbidden, NotFound
from smsportal.messaging.selectors import pricing_card_for

from . import selectors, services
from .models import Account

CURRENCIES = {
    "USD": ("$", "¢", "US Dollars"),
    "AUD": ("$", "¢", "Australian Dollars"),
    "EUR": ("€", "c", "Euros"),
    "GBP": ("£", "p", "British Pounds"),
    "NZD": ("$", "¢", "New Zealand Dollars"),
    "CAD": ("$", "¢", "Canadian Dollars"),
}


def money(value) -> str:
    return f"{value:.4f}"


class SubaccountSerializer(serializers.Serializer):
    subaccount_id = serializers.IntegerField(source="pk")
    api_username = serializers.CharField()
    email = serializers.CharField()
    phone_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    access_users = FlagField()
    access_billing = FlagField()
    access_reporting = FlagField()
    access_contacts = FlagField()
    access_settings = FlagField()
    access_sms = FlagField()
    notes = serializers.CharField()
    is_main = serializers.SerializerMethodField()
    # smsportal's own fields, after ClickSend's.
    name = serializers.CharField()
    status = serializers.CharField()
    balance = serializers.SerializerMethodField()
    api_rate_limit = serializers.IntegerField()
    date_created = serializers.SerializerMethodField()
    markup_percent = serializers.SerializerMethodField()

    def get_is_main(self, obj) -> int:
        return int(obj.parent_id is None)

    def get_balance(self, obj) -> str:
        return money(obj.balance)

    def get_date_created(self, obj) -> int:
        return int(obj.created_at.timestamp())

    def get_markup_percent(self, obj) -> str:
        return f"{obj.markup_percent:.2f}"


class SubaccountWithKeySerializer(SubaccountSerializer):
    api_key = serializers.CharField(help_text="Shown once, when the subaccount is created.")


class AccountSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="api_username")
    user_email = serializers.CharField(source="email")
    active = serializers.SerializerMethodField()
    banned = serializers.SerializerMethodField()
    date_sign_up = serializers.SerializerMethodField()
    balance = serializers.SerializerMethodField()
    user_phone = serializers.CharField(source="phone_number")
    user_first_name = serializers.CharField(source="first_name")
    user_last_name = serializers.CharField(source="last_name")
    account = serializers.SerializerMethodField()
    account_name = serializers.CharField(source="name")
    account_billing_email = serializers.CharField(source="email")
    account_billing_mobile = serializers.CharField(source="phone_number")
    country = serializers.CharField(source="default_region")
    default_country_sms = serializers.CharField(source="default_region")
    timezone = serializers.CharField()
    _currency = serializers.SerializerMethodField()
    _subaccount = serializers.SerializerMethodField()
    status = serializers.CharField()
    api_rate_limit = serializers.IntegerField()
    parent_id = serializers.IntegerField(allow_null=True)

    def get_active(self, obj) -> int:
        return int(obj.is_active)

    def get_banned(self, obj) -> int:
        return int(obj.status == Account.Status.SUSPENDED)

    def get_date_sign_up(self, obj) -> int:
        return int(obj.created_at.timestamp())

    def get_balance(self, obj) -> str:
        return money(obj.balance)

    def get_account(self, obj) -> int:
        return obj.parent_id or obj.pk

    def get__currency(self, obj) -> dict:
        prefix_d, prefix_c, long_name = CURRENCIES.get(obj.currency, ("", "", obj.currency))
        return {
            "currency_name_short": obj.currency,
            "currency_prefix_d": prefix_d,
            "currency_prefix_c": prefix_c,
            "currency_name_long": long_name,
        }

    def get__subaccount(self, obj) -> dict:
        return SubaccountSerializer(obj).data


class AccountUpdateSerializer(KnownFieldsSerializer):
    """PUT /v3/account: ClickSend's names for the account's own profile."""

    FIELD_MAP = {
        "account_name": "name",
        "user_email": "email",
        "user_phone": "phone_number",
        "user_first_name": "first_name",
        "user_last_name": "last_name",
        "country": "default_region",
        "timezone": "timezone",
        "api_rate_limit": "api_rate_limit",
    }
    ignored_fields = frozenset({"reply_to", "setting_unicode_sms", "setting_fix_sender_id", "default_country_sms"})
    account_name = StrictCharField(required=False, max_length=120)
    user_email = StrictCharField(required=False, allow_blank=True, max_length=254)
    user_phone = StrictCharField(required=False, allow_blank=True, max_length=32)
    user_first_name = StrictCharField(required=False, allow_blank=True, max_length=60)
    user_last_name = StrictCharField(required=False, allow_blank=True, max_length=60)
    country = StrictCharField(required=False, max_length=2)
    timezone = StrictCharField(required=False, max_length=64)
    api_rate_limit = StrictIntegerField(required=False)

    def to_service_data(self) -> dict:
        return {self.FIELD_MAP[name]: value for name, value in self.validated_data.items()}


class AccountView(APIView):
    capabilities = {"GET": "account.view", "PUT": "account.manage"}

    @extend_schema(responses=AccountSerializer, summary="View account details")
    def get(self, request):
        return Response(AccountSerializer(request.auth.account).data)

    @extend_schema(request=AccountUpdateSerializer, responses=AccountSerializer, summary="Update the account")
    def put(self, request):
        incoming = AccountUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.to_service_data()
        account = request.auth.account
        if "api_rate_limit" in data and account.parent_id is not None:
            raise serializers.ValidationError({"api_rate_limit": ["A subaccount's rate limit is set by its parent."]})
        account = services.account_update(account=account, data=data)
        return Response(AccountSerializer(account).data)


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.0550"})
class DecimalInputField(serializers.Field):
    """A number on the wire, as a decimal string ("0.0550") or a JSON number; the services check its range."""

    default_error_messages = {"invalid": "Must be a decimal string such as \"0.0550\" or a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        return str(data).strip()

    def to_representation(self, value):
        return str(value)


_CLICKSEND_ONLY = frozenset(
    {"user_id", "sms_deidentify_message", "access_smpp", "access_email", "access_voice", "access_fax",
     "access_post", "access_reseller", "access_global_sending", "access_mms", "hide_pricing", "share_campaigns"}
)


class SubaccountWriteSerializer(KnownFieldsSerializer):
    ignored_fields = _CLICKSEND_ONLY
    api_username = StrictCharField(max_length=64)
    password = StrictCharField(required=False, write_only=True, max_length=128)
    email = StrictCharField(required=False, allow_blank=True, max_length=254)
    phone_number = StrictCharField(required=False, allow_blank=True, max_length=32)
    first_name = StrictCharField(required=False, allow_blank=True, max_length=60)
    last_name = StrictCharField(required=False, allow_blank=True, max_length=60)
    notes = StrictCharField(required=False, allow_blank=True, max_length=2000)
    name = StrictCharField(required=False, allow_blank=True, max_length=120)
    access_users = FlagField(required=False)
    access_billing = FlagField(required=False)
    access_reporting = FlagField(required=False)
    access_contacts = FlagField(required=False)
    access_settings = FlagField(required=False)
    access_sms = FlagField(required=False)
    api_rate_limit = StrictIntegerField(required=False, min_value=1, max_value=1000)


class SubaccountUpdateSerializer(SubaccountWriteSerializer):
    api_username = StrictCharField(required=False, max_length=64)
    password = None
    # smsportal's own: what the subaccount pays over its main account's rates, in percent ("7.5" or 7.5).
    markup_percent = DecimalInputField(required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "password" in data:
            raise serializers.ValidationError({"password": ["A login's password is changed by its owner, not here."]})
        return super().to_internal_value(data)


class SubaccountViewSet(viewsets.ViewSet):
    """A main account's subaccounts. Another account's subaccount ids answer 404."""

    capabilities = {
        "list": "subaccounts.manage",
        "create": "subaccounts.manage",
        "retrieve": "subaccounts.manage",
        "update": "subaccounts.manage",
        "destroy": "subaccounts.manage",
        "regen_api_key": "subaccounts.manage",
    }
    lookup_field = "subaccount_id"
    lookup_value_regex = "[0-9]+"

    def _get(self, request, subaccount_id):
        return selectors.subaccount_get(access=request.auth, subaccount_id=subaccount_id)

    @extend_schema(responses=SubaccountSerializer(many=True), summary="View subaccounts")
    def list(self, request):
        paginator = ClickSendPagination()
        page = paginator.paginate_queryset(selectors.subaccount_list(access=request.auth), request, view=self)
        return paginator.get_paginated_response(SubaccountSerializer(page, many=True).data)

    @extend_schema(request=SubaccountWriteSerializer, responses=SubaccountWithKeySerializer, summary="Create subaccount")
    def create(self, request):
        incoming = SubaccountWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        flags = {name: data.pop(name) for name in services.ACCESS_FLAGS if name in data}
        account, raw_key = services.subaccount_create(parent=request.auth.account, flags=flags, **data)
        account.api_key = raw_key
        response = Response(SubaccountWithKeySerializer(account).data)
        response.response_msg = "Your new subaccount has been created. Its API key is shown only this once."
        return response

    @extend_schema(responses=SubaccountSerializer, summary="View a subaccount")
    def retrieve(self, request, subaccount_id=None):
        return Response(SubaccountSerializer(self._get(request, subaccount_id)).data)

    @extend_schema(request=SubaccountUpdateSerializer, responses=SubaccountSerializer, summary="Update a subaccount")
    def update(self, request, subaccount_id=None):
        subaccount = self._get(request, subaccount_id)
        incoming = SubaccountUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        if "markup_percent" in data and not request.auth.can("billing.manage"):
            raise Forbidden("Changing a subaccount's markup needs billing access.", field="markup_percent")
        subaccount = services.subaccount_update(subaccount=subaccount, data=data)
        return Response(SubaccountSerializer(subaccount).data)

    @extend_schema(responses=OpenApiTypes.BOOL, summary="Delete a subaccount")
    def destroy(self, request, subaccount_id=None):
        services.subaccount_close(subaccount=self._get(request, subaccount_id))
        response = Response(True)
        response.response_msg = "Subaccount deleted; its remaining credit went back to the main account."
        return response

    @extend_schema(
        request=None,
        responses=inline_serializer("NewApiKey", {"api_key": serializers.CharField()}),
        summary="Regenerate a subaccount's API key",
    )
    @action(detail=True, methods=["put"], url_path="regen-api-key")
    def regen_api_key(self, request, subaccount_id=None):
        raw_key = services.api_key_rotate(account=self._get(request, subaccount_id))
        response = Response({"api_key": raw_key})
        response.response_msg = "New API key generated; the old one no longer works. It is shown only this once."
        return response


# --- /v3/rate-cards: smsportal's own extension (ClickSend has no rate-card API) -------------------------


class RateSerializer(serializers.Serializer):
    country = serializers.CharField()
    per_segment = serializers.CharField(help_text="The main account's rate, 4 decimal places.")
    effective_rate = serializers.CharField(help_text="What this account pays: per_segment plus its markup.")


class RateCardSerializer(serializers.Serializer):
    currency = serializers.CharField()
    fallback_rate = serializers.CharField(allow_null=True, help_text="For countries without a rate; null blocks them.")
    markup_percent = serializers.CharField()
    rates = RateSerializer(many=True)


class RateWriteSerializer(KnownFieldsSerializer):
    per_segment = DecimalInputField()


class RateCardWriteSerializer(KnownFieldsSerializer):
    fallback_rate = DecimalInputField(allow_null=True)


def rate_card_data(account: Account) -> dict:
    card = pricing_card_for(account=account)
    return {
        "currency": account.currency,
        "fallback_rate": None if card.fallback is None else money(card.fallback),
        "markup_percent": f"{account.markup_percent:.2f}",
        "rates": [
            {"country": c, "per_segment": money(card.rates[c]), "effective_rate": money(card.rate_for(c))}
            for c in sorted(card.rates)
        ],
    }


def _main_account_only(account: Account) -> Account:
    if account.parent_id is not None:
        raise Forbidden("A subaccount pays its main account's rates plus its markup; only the main account edits them.")
    return account


class RateCardView(APIView):
    capabilities = {"GET": "billing.view", "PUT": "billing.manage"}

    @extend_schema(responses=RateCardSerializer, summary="View the rate card (smsportal extension)")
    def get(self, request):
        return Response(rate_card_data(request.auth.account))

    @extend_schema(request=RateCardWriteSerializer, responses=RateCardSerializer,
                   summary="Set the fallback rate (smsportal extension)")
    def put(self, request):
        account = _main_account_only(request.auth.account)
        incoming = RateCardWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.rate_card_set_fallback(account=account, fallback_rate=incoming.validated_data["fallback_rate"])
        return Response(rate_card_data(account))


class RateView(APIView):
    capabilities = {"PUT": "billing.manage", "DELETE": "billing.manage"}

    @staticmethod
    def _country(country: str) -> str:
        country = (country or "").strip().upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise DomainError(f"{country!r} is not an ISO country code with phone numbering.", field="country")
        return country

    @extend_schema(request=RateWriteSerializer, responses=RateCardSerializer,
                   summary="Add or change one country's rate (smsportal extension)")
    def put(self, request, country):
        account = _main_account_only(request.auth.account)
        country = self._country(country)
        incoming = RateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.rate_set(account=account, country=country, per_segment=incoming.validated_data["per_segment"])
        return Response(rate_card_data(account))

    @extend_schema(request=None, responses=RateCardSerializer,
                   summary="Remove one country's rate (smsportal extension)")
    def delete(self, request, country):
        account = _main_account_only(request.auth.account)
        country = self._country(country)
        if country not in pricing_card_for(account=account).rates:
            raise NotFound(f"The rate card has no rate for {country}.", field="country")
        services.rate_remove(account=account, country=country)
        response = Response(rate_card_data(account))
        response.response_msg = f"Removed the rate for {country}; it now uses the fallback rate, if any."
        return response


rate_card_urlpatterns = [
    re_path(r"^rate-cards/?$", RateCardView.as_view(), name="rate-card"),
    re_path(r"^rate-cards/rates/(?P<country>[^/]+)/?$", RateView.as_view(), name="rate-card-rate"),
]
