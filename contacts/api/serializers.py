"""Shapes of the contacts API: ClickSend's `ContactList` and `Contact` (exact JSON types), then smsportal's own."""

import json

import phonenumbers
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from smsportal.api.fields import FlagField, KnownFieldsSerializer, StrictCharField

from .. import forms_import
from ..models import CustomField


def unix(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


# --- Output ---------------------------------------------------------------------------------------------


class ContactListSerializer(serializers.Serializer):
    """ClickSend's ContactList. `import_in_progress` is annotated by the view (see lists.with_import_flag)."""

    list_id = serializers.IntegerField(source="pk")
    list_name = serializers.CharField(source="name")
    list_email_id = serializers.SerializerMethodField(help_text="ClickSend's email-to-list address; smsportal has none")
    _contacts_count = serializers.IntegerField(source="contact_count")
    _import_in_progress = serializers.SerializerMethodField()
    _optout_in_progress = serializers.SerializerMethodField()

    def get_list_email_id(self, obj) -> str | None:
        return None

    def get__import_in_progress(self, obj) -> int:
        return int(bool(getattr(obj, "import_in_progress", False)))

    def get__optout_in_progress(self, obj) -> int:
        return 0  # opt-out removal runs in the request, never in the background


class ContactSerializer(serializers.Serializer):
    """ClickSend's Contact, then smsportal's fields. `list_id`/`_list_name` are the list in the request's path
    (context["contact_list"]); null where no list is in play (search)."""

    contact_id = serializers.IntegerField(source="pk")
    list_id = serializers.SerializerMethodField()
    phone_number = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    custom_1 = serializers.CharField()
    custom_2 = serializers.CharField()
    custom_3 = serializers.CharField()
    custom_4 = serializers.CharField()
    date_added = serializers.SerializerMethodField()
    date_updated = serializers.SerializerMethodField()
    fax_number = serializers.CharField()
    organization_name = serializers.CharField()
    email = serializers.CharField()
    address_line_1 = serializers.CharField()
    address_line_2 = serializers.CharField()
    address_city = serializers.CharField()
    address_state = serializers.CharField()
    address_postal_code = serializers.CharField()
    address_country = serializers.CharField()
    _list_name = serializers.SerializerMethodField()
    # smsportal's own, after ClickSend's.
    country = serializers.CharField()
    line_type = serializers.CharField()
    opted_out = serializers.SerializerMethodField()
    opted_out_at = serializers.SerializerMethodField()
    fields = serializers.JSONField()

    def _list(self):
        return self.context.get("contact_list")

    def get_list_id(self, obj) -> int | None:
        contact_list = self._list()
        return contact_list.pk if contact_list is not None else None

    def get__list_name(self, obj) -> str | None:
        contact_list = self._list()
        return contact_list.name if contact_list is not None else None

    def get_date_added(self, obj) -> int:
        return unix(obj.created_at)

    def get_date_updated(self, obj) -> int:
        return unix(obj.updated_at)

    def get_opted_out(self, obj) -> int:
        return int(obj.opted_out_at is not None)

    def get_opted_out_at(self, obj) -> int | None:
        return unix(obj.opted_out_at)


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    rules = serializers.JSONField()
    created_at = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    def get_created_at(self, obj) -> int:
        return unix(obj.created_at)

    def get_updated_at(self, obj) -> int:
        return unix(obj.updated_at)


class SegmentCountSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sendable = serializers.IntegerField(help_text="Matching contacts that are not opted out")


class CustomFieldSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    key = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    created_at = serializers.SerializerMethodField()

    def get_created_at(self, obj) -> int:
        return unix(obj.created_at)


class ImportJobSerializer(serializers.Serializer):
    """Progress of an import: poll it while `status` is pending, queued or running."""

    id = serializers.IntegerField(source="pk")
    list_id = serializers.IntegerField(source="contact_list_id", allow_null=True)
    status = serializers.CharField()
    file_name = serializers.CharField()
    total_rows = serializers.IntegerField(allow_null=True, help_text="An estimate until the run ends")
    processed_rows = serializers.IntegerField()
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    duplicates = serializers.IntegerField(source="duplicate_count")
    invalid = serializers.IntegerField(source="invalid_count")
    error = serializers.CharField()
    percent = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    started_at = serializers.SerializerMethodField()
    finished_at = serializers.SerializerMethodField()

    def get_percent(self, obj) -> int:
        if obj.status == "done":
            return 100
        if not obj.total_rows:
            return 0
        return min(99, obj.processed_rows * 100 // obj.total_rows)

    def get_created_at(self, obj) -> int:
        return unix(obj.created_at)

    def get_started_at(self, obj) -> int | None:
        return unix(obj.started_at)

    def get_finished_at(self, obj) -> int | None:
        return unix(obj.finished_at)


class ImportStartedSerializer(serializers.Serializer):
    """ClickSend's ImportContactsData (ids as strings), with smsportal's job progress beside it."""

    msg = serializers.CharField()
    id = serializers.CharField(help_text="The import job's id, as a string (ClickSend's type)")
    ids = serializers.ListField(child=serializers.CharField())
    import_job = ImportJobSerializer()


class ImportRowErrorSerializer(serializers.Serializer):
    row_number = serializers.IntegerField()
    raw_value = serializers.CharField()
    reason = serializers.CharField()


class DeletedCountSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


# --- Input ----------------------------------------------------------------------------------------------


def _region(value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise serializers.ValidationError(f"{value!r} is not a country code like AU or GB.")
    return region


class ListWriteSerializer(KnownFieldsSerializer):
    list_name = StrictCharField(allow_blank=True, trim_whitespace=False)


def _text(**kwargs):
    return StrictCharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False, **kwargs)


class ContactWriteSerializer(KnownFieldsSerializer):
    """PUT a contact: any of ClickSend's fields; `country` reads a national phone_number; `fields` sets named
    custom fields. Lengths and custom field types are checked by the service, which names the field."""

    ignored_fields = frozenset({"date_added"})
    phone_number = StrictCharField(required=False)
    first_name = _text()
    last_name = _text()
    custom_1 = _text()
    custom_2 = _text()
    custom_3 = _text()
    custom_4 = _text()
    fax_number = _text()
    organization_name = _text()
    email = _text()
    address_line_1 = _text()
    address_line_2 = _text()
    address_city = _text()
    address_state = _text()
    address_postal_code = _text()
    address_country = _text()
    country = StrictCharField(required=False, help_text="ISO region of a national phone_number (default: workspace's)")
    fields = serializers.DictField(required=False, help_text="Named custom fields by key")

    def validate_country(self, value):
        return _region(value)

    def service_args(self) -> tuple[str | None, dict, str | None]:
        """(phone_number, the other fields, country) as the services take them."""
        data = dict(self.validated_data)
        return data.pop("phone_number", None), data, data.pop("country", None)


class ContactCreateSerializer(ContactWriteSerializer):
    phone_number = StrictCharField()


class SegmentWriteSerializer(KnownFieldsSerializer):
    name = StrictCharField(allow_blank=True)
    rules = serializers.JSONField(help_text="{match: all|any, conditions: [...]}; see contacts.segments")


class SegmentUpdateSerializer(SegmentWriteSerializer):
    name = StrictCharField(required=False, allow_blank=True)
    rules = serializers.JSONField(required=False)


class SegmentRulesSerializer(KnownFieldsSerializer):
    rules = serializers.JSONField()


class CustomFieldWriteSerializer(KnownFieldsSerializer):
    label = StrictCharField(allow_blank=True)
    type = serializers.ChoiceField(choices=CustomField.Type.choices, required=False, default=CustomField.Type.TEXT)
    key = StrictCharField(required=False, allow_blank=True, help_text="Default: made from the label")


@extend_schema_field({"type": "array", "items": {"type": "string"}, "example": ["phone_number", "first_name"]})
class FieldOrderField(serializers.Field):
    """ClickSend's field_order: field names in column order, as a JSON array, a JSON-array string, a
    comma-separated string, or a repeated form field."""

    default_error_messages = {"invalid": "Must be a list of field names in column order."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("["):
                try:
                    data = json.loads(text)
                except ValueError:
                    self.fail("invalid")
            else:
                data = [name.strip() for name in text.split(",")]
        if not isinstance(data, list) or not data or not all(isinstance(name, str) for name in data):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class ImportRequestSerializer(KnownFieldsSerializer):
    """POST /v3/lists/{list_id}/import: a multipart `file` or a `file_url` from an allowed host."""

    file = serializers.FileField(required=False, allow_empty_file=True)
    file_url = StrictCharField(required=False)
    field_order = FieldOrderField(required=False, help_text="Without it, columns are guessed from the header")
    country = StrictCharField(required=False, help_text="ISO region for national numbers (default: workspace's)")
    has_header = FlagField(required=False, help_text="Default: detected from the first rows")

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):  # a form post: keep a repeated field_order whole
            data = {
                key: data.getlist(key) if key == "field_order" and len(data.getlist(key)) > 1 else data[key]
                for key in data
            }
        return super().to_internal_value(data)

    def validate_file(self, value):
        # The upload form's limit, read when checking (not bound at import), so both ways in share one figure.
        if value.size > forms_import.MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(
                f"The file is larger than {forms_import.MAX_UPLOAD_LABEL}; split it into smaller files.")
        return value

    def validate_country(self, value):
        return _region(value)

    def validate(self, attrs):
        if ("file" in attrs) == ("file_url" in attrs):
            raise serializers.ValidationError({"file": ["Send the CSV as `file` (multipart) or give a `file_url`."]})
        return attrs
