"""Shapes of /v3/statistics/sms: ClickSend's `ViewSmsStatisticsData`, whose SDK models want `count` an int, `price`
and `date` JSON numbers, and `_currency` with recharge limits as strings."""

from rest_framework import serializers

from smsportal.accounts.services import MAX_MONEY, MONEY_PLACES
from smsportal.messaging.api.serializers import CurrencySerializer, currency_block, money, unix


class StatisticsCurrencySerializer(CurrencySerializer):
    min_recharge_amount = serializers.CharField()
    max_recharge_amount = serializers.CharField()


def statistics_currency(account) -> dict:
    # smsportal has no card recharge: the limits are those of a credit top-up (smsportal.accounts.services).
    return {**currency_block(account), "min_recharge_amount": money(MONEY_PLACES),
            "max_recharge_amount": money(MAX_MONEY)}


class TallySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    price = serializers.FloatField()  # a JSON number, as ClickSend's model insists; exact to the cent anyway


class SmsTotalSerializer(serializers.Serializer):
    outbound = TallySerializer()
    inbound = TallySerializer()
    bounced = TallySerializer()


class SmsDaySerializer(serializers.Serializer):
    date = serializers.SerializerMethodField(help_text="Unix seconds of the day's midnight in the account's time zone")
    outbound = TallySerializer()
    inbound = TallySerializer()
    bounced = TallySerializer()

    def get_date(self, obj) -> int:
        return unix(obj.start)


class SmsStatisticsSerializer(serializers.Serializer):
    """From a selectors_statistics.SmsStatistics. context: account."""

    total = SmsTotalSerializer()
    stats = SmsDaySerializer(many=True, source="days")
    _currency = serializers.SerializerMethodField()

    def get__currency(self, obj) -> StatisticsCurrencySerializer:
        return statistics_currency(self.context["account"])
