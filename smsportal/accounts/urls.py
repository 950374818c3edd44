from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

sub = "settings/subaccounts/<int:subaccount_id>/"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch/", views.workspace_switch, name="workspace-switch"),
    path("settings/", views.settings_profile, name="settings-profile"),
    path("settings/api/", views.settings_api, name="settings-api"),
    path("settings/api/rotate/", views.settings_api_rotate, name="settings-api-rotate"),
    path("settings/members/", views.members, name="settings-members"),
    path("settings/members/add/", views.member_add, name="settings-member-add"),
    path("settings/members/<int:member_id>/role/", views.member_role, name="settings-member-role"),
    path("settings/members/<int:member_id>/remove/", views.member_remove, name="settings-member-remove"),
    path("settings/billing/", views.billing, name="settings-billing"),
    path("settings/billing/top-up/", views.billing_top_up, name="settings-billing-top-up"),
    path("settings/subaccounts/", views.subaccounts, name="settings-subaccounts"),
    path("settings/subaccounts/new/", views.subaccount_new, name="settings-subaccount-new"),
    path(sub, views.subaccount_detail, name="settings-subaccount"),
    path(sub + "rotate-key/", views.subaccount_rotate_key, name="settings-subaccount-rotate"),
    path(sub + "transfer/", views.subaccount_transfer, name="settings-subaccount-transfer"),
    path(sub + "status/", views.subaccount_status, name="settings-subaccount-status"),
    path(sub + "members/add/", views.subaccount_member_add, name="settings-subaccount-member-add"),
    path(sub + "members/<int:member_id>/role/", views.subaccount_member_role, name="settings-subaccount-member-role"),
    path(
        sub + "members/<int:member_id>/remove/",
        views.subaccount_member_remove,
        name="settings-subaccount-member-remove",
    ),
    path("settings/rates/", views.rates, name="settings-rates"),
    path("settings/rates/set/", views.rates_set, name="settings-rates-set"),
    path("settings/rates/fallback/", views.rates_fallback, name="settings-rates-fallback"),
    path("settings/rates/<str:country>/remove/", views.rates_remove, name="settings-rates-remove"),
    path("settings/rates/subaccounts/<int:subaccount_id>/markup/", views.rates_markup, name="settings-rates-markup"),
]
