from django.contrib import admin

from .models import Conversation, ConversationNote, InboundMessage, InboundRaw, InboxSettings, Template


class ReadOnly(admin.ModelAdmin):
    """What customers sent and what the pipeline made of it: evidence, not something to edit."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(InboundRaw)
class InboundRawAdmin(ReadOnly):
    list_display = ["id", "account_id", "gateway_id", "gateway_message_id", "sender", "to", "received_at",
                    "processed_at"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly):
    list_display = ["id", "account", "sender", "to", "keyword", "campaign_id", "received_at", "read_at"]
    list_filter = ["keyword"]
    raw_id_fields = ["account", "conversation"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "contact_number", "our_number", "status", "unread", "last_message_at"]
    list_filter = ["status"]
    search_fields = ["contact_number"]
    raw_id_fields = ["account", "assigned_to"]
    show_full_result_count = False
    # The counters follow the messages; the services keep them.
    readonly_fields = ["unread", "has_unread", "last_message_at", "last_inbound_at", "last_text", "last_direction"]


@admin.register(ConversationNote)
class ConversationNoteAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "author", "created_at"]
    raw_id_fields = ["conversation", "author"]


@admin.register(InboxSettings)
class InboxSettingsAdmin(admin.ModelAdmin):
    list_display = ["account", "create_contacts"]
    raw_id_fields = ["account"]


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "name", "updated_at"]
    search_fields = ["name"]
    raw_id_fields = ["account"]
