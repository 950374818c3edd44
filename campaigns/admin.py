from django.contrib import admin

from .models import Campaign, CampaignRecipient, CampaignResponse, CampaignSample, CampaignVariant


class VariantInline(admin.TabularInline):
    model = CampaignVariant
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "account", "status", "recipients", "prepared", "reserved", "created_at"]
    list_filter = ["status", "schedule_mode"]
    search_fields = ["name"]
    raw_id_fields = ["account", "created_by"]
    inlines = [VariantInline]
    # Launch state is the services' to keep: changing it here would desynchronise the reservation.
    readonly_fields = ["assign_key", "launched_at", "starts_at", "paused_at", "finished_at", "reservation_id",
                       "recipients", "prepared", "reserved", "rates"]


class ReadOnly(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnly):
    list_display = ["campaign_id", "seq", "phone", "country", "reason"]


@admin.register(CampaignResponse)
class CampaignResponseAdmin(ReadOnly):
    list_display = ["campaign", "kind", "variant_key", "message_id", "at"]
    list_filter = ["kind"]
    raw_id_fields = ["campaign"]


@admin.register(CampaignSample)
class CampaignSampleAdmin(ReadOnly):
    list_display = ["campaign", "at"]
    raw_id_fields = ["campaign"]


@admin.register(CampaignVariant)
class CampaignVariantAdmin(ReadOnly):
    list_display = ["campaign", "label", "split"]
    raw_id_fields = ["campaign"]
