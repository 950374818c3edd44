from django.urls import path

from . import webhooks

app_name = "messaging"
urlpatterns = [
    path("hooks/gateways/<int:connection_id>/<str:kind>", webhooks.gateway_webhook, name="gateway-webhook"),
]
