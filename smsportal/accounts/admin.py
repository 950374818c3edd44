from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Account, ApiKey, LedgerEntry, Member, Rate, RateCard, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "api_username", "parent", "status", "balance", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "api_username", "email"]
    raw_id_fields = ["parent"]
    # Balance moves only through the ledger services.
    readonly_fields = ["balance", "created_at", "updated_at"]
    inlines = [MemberInline]


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    raw_id_fields = ["user", "account"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "account", "created_at", "revoked_at"]
    readonly_fields = ["account", "key_hash", "prefix", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # keys are issued by rotation, which shows the key once


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["id", "account", "kind", "amount", "balance_after", "reference", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["account", "counterparty", "reservation", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RateInline(admin.TabularInline):
    model = Rate
    extra = 0


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    list_display = ["account", "fallback_rate", "updated_at"]
    raw_id_fields = ["account"]
    inlines = [RateInline]


@admin.register(Rate)
class RateAdmin(admin.ModelAdmin):
    list_display = ["card", "country", "per_segment"]
    list_filter = ["country"]
    raw_id_fields = ["card"]
