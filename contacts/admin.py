from django.contrib import admin

from .models import Contact, ContactList, CustomField, ImportJob, ImportRowError, ListMembership, OptOut, Segment


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "country", "line_type", "account", "opted_out_at"]
    list_filter = ["line_type", "country"]
    search_fields = ["phone_number", "first_name", "last_name", "email"]
    raw_id_fields = ["account"]
    show_full_result_count = False  # a million contacts: no COUNT(*) per admin page


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "contact_count", "updated_at"]
    search_fields = ["name"]
    raw_id_fields = ["account"]
    readonly_fields = ["contact_count"]  # kept by the services


@admin.register(ListMembership)
class ListMembershipAdmin(admin.ModelAdmin):
    list_display = ["contact_list", "contact", "created_at"]
    raw_id_fields = ["contact_list", "contact"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # memberships change through the services, which keep list counts


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "type", "account"]
    raw_id_fields = ["account"]


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "source", "account", "created_at"]
    list_filter = ["source"]
    search_fields = ["phone_number"]
    raw_id_fields = ["account"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "updated_at"]
    raw_id_fields = ["account"]


class ImportRowErrorInline(admin.TabularInline):
    model = ImportRowError
    extra = 0
    max_num = 0
    readonly_fields = ["row_number", "raw_value", "reason"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "file_name", "account", "status", "processed_rows", "created_count", "invalid_count",
                    "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["account", "contact_list", "created_by"]


@admin.register(ImportRowError)
class ImportRowErrorAdmin(admin.ModelAdmin):
    list_display = ["job", "row_number", "raw_value", "reason"]
    raw_id_fields = ["job"]
    show_full_result_count = False
