"""Strict JSON fields: ClickSend's SDK sends exact types, so a wrong type is an error, not a coercion."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 1, "description": "1 for yes, 0 for no"})
class FlagField(serializers.Field):
    """ClickSend's 0/1 flags (booleans accepted too); out as int."""

    default_error_messages = {"invalid": "Must be 0 or 1."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or data in (0, 1):
            return bool(data)
        if isinstance(data, str) and data in ("0", "1"):  # form posts
            return data == "1"
        self.fail("invalid")

    def to_representation(self, value):
        return int(bool(value))


MAX_UNIX = 253_402_300_799  # 9999-12-31T23:59:59Z: a later Unix time has no datetime (and was a 500)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class KnownFieldsSerializer(serializers.Serializer):
    """Rejects fields it does not know, except ClickSend fields listed in `ignored_fields` that smsportal
    accepts for compatibility but has no use for."""

    ignored_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields) - self.ignored_fields)
        errors = {name: ["Unknown field."] for name in unknown}
        value = None
        try:
            value = super().to_internal_value({k: v for k, v in data.items() if k not in unknown})
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
        if errors:
            raise serializers.ValidationError(errors)
        return value
