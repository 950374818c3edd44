from django.urls import path

from . import views, views_gateways, views_log, views_webhooks, webhooks

app_name = "messaging"
urlpatterns = [
    path("hooks/gateways/<int:connection_id>/<str:kind>", webhooks.gateway_webhook, name="gateway-webhook"),
    # The browser UI (mounted at the site root).
    path("messages/", views_log.log, name="log"),
    path("messages/export.csv", views_log.export, name="export"),
    path("messages/send/", views.send, name="send"),
    path("messages/send/preview", views.send_preview, name="send-preview"),
    path("messages/<int:message_id>/", views_log.detail, name="detail"),
    path("messages/<int:message_id>/cancel/", views_log.cancel, name="cancel"),
    path("sandbox/", views.sandbox, name="sandbox"),
    path("sandbox/reply/", views.sandbox_reply, name="sandbox-reply"),
    path("settings/gateways/", views_gateways.gateways, name="settings-gateways"),
    path("settings/gateways/new/", views_gateways.gateway_new, name="settings-gateway-new"),
    path("settings/gateways/<int:connection_id>/", views_gateways.gateway_detail, name="settings-gateway"),
    path("settings/gateways/<int:connection_id>/delete/", views_gateways.gateway_delete,
         name="settings-gateway-delete"),
    path("settings/webhooks/", views_webhooks.webhooks, name="settings-webhooks"),
    path("settings/webhooks/new/", views_webhooks.webhook_new, name="settings-webhook-new"),
    path("settings/webhooks/secret/rotate/", views_webhooks.webhook_secret_rotate, name="settings-webhook-rotate"),
    path("settings/webhooks/<int:rule_id>/", views_webhooks.webhook_detail, name="settings-webhook"),
    path("settings/webhooks/<int:rule_id>/toggle/", views_webhooks.webhook_toggle, name="settings-webhook-toggle"),
    path("settings/webhooks/<int:rule_id>/ping/", views_webhooks.webhook_ping, name="settings-webhook-ping"),
    path("settings/webhooks/<int:rule_id>/delete/", views_webhooks.webhook_delete, name="settings-webhook-delete"),
]
