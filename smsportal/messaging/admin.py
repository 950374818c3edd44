from django.contrib import admin

from .models import (
    DeliveryReport,
    GatewayConnection,
    Message,
    MessageEvent,
    MessageStat,
    MessageStatusStat,
    WebhookDelivery,
    WebhookRule,
    WebhookSecret,
)
from .selectors import mask_secret


@admin.register(GatewayConnection)
class GatewayConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "account", "priority", "enabled", "cap_segments_per_second", "failure_streak",
                    "skipped_until"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["account"]
    # Credentials change through Settings → Gateways, which masks them; the admin shows them masked only.
    exclude = ["credentials", "webhook_secret", "throttle_tat"]
    readonly_fields = ["masked_credentials"]

    @admin.display(description="credentials")
    def masked_credentials(self, obj):
        return ", ".join(f"{k}: {mask_secret(v)}" for k, v in (obj.credentials or {}).items()) or "—"


class ReadOnly(admin.ModelAdmin):
    """Messages and their history change only through the engine's guarded moves."""

    show_full_result_count = False  # millions of rows: no COUNT(*) per admin page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(ReadOnly):
    list_display = ["id", "to", "status", "segments", "price", "account", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["=to", "=gateway_message_id", "=idempotency_key"]
    raw_id_fields = ["account", "gateway", "reservation"]


@admin.register(MessageEvent)
class MessageEventAdmin(ReadOnly):
    list_display = ["message_id", "status", "via", "code", "at"]
    raw_id_fields = ["message"]


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnly):
    list_display = ["id", "gateway", "gateway_message_id", "status", "outcome", "received_at", "applied_at"]
    list_filter = ["outcome", "status"]
    search_fields = ["=gateway_message_id"]
    raw_id_fields = ["gateway"]


@admin.register(MessageStat)
class MessageStatAdmin(ReadOnly):
    list_display = ["account_id", "bucket", "campaign_id", "country", "gateway_id", "status", "error_code",
                    "messages", "segments", "cost", "squashed"]
    list_filter = ["squashed", "status"]

    def has_delete_permission(self, request, obj=None):
        return False  # the triggers keep them; stats_rebuild repairs them


@admin.register(MessageStatusStat)
class MessageStatusStatAdmin(ReadOnly):
    list_display = ["account_id", "bucket", "status", "messages", "segments", "cost"]
    list_filter = ["status"]

    def has_delete_permission(self, request, obj=None):
        return False  # the squasher keeps them; stats_rebuild repairs them


@admin.register(WebhookRule)
class WebhookRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "account", "url", "enabled"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["account"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly):
    list_display = ["id", "event", "account", "rule", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event"]
    raw_id_fields = ["account", "rule"]


@admin.register(WebhookSecret)
class WebhookSecretAdmin(ReadOnly):
    """Which workspaces have a signing secret, and when it last changed; the secret itself stays in Settings."""

    list_display = ["account", "created_at", "rotated_at"]
    exclude = ["secret"]
    raw_id_fields = ["account"]
