"""Gateways' webhooks: verify, store the raw reports, answer at once. The applying happens in a worker."""

import re
import time

from django.conf import settings
from django.db import connection as db
from django.http import HttpResponse, HttpResponseNotAllowed
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from .gateways.base import Gateway, WebhookRejected, WebhookRequest
from .models import GatewayConnection
from .reports import reports_store
from .routing import gateway_for

_CONNECTION_TTL = 10.0  # seconds a web process trusts its cached copy of a connection's settings
_connections: dict[int, tuple[float, GatewayConnection | None, Gateway | None]] = {}


def _connection(connection_id: int) -> tuple[GatewayConnection | None, Gateway | None]:
    """The connection and its gateway, built once per TTL rather than per request (a webhook is a hot path)."""
    cached = _connections.get(connection_id)
    if cached and cached[0] > time.monotonic():
        return cached[1], cached[2]
    connection = GatewayConnection.objects.filter(pk=connection_id).first()
    gateway = gateway_for(connection) if connection else None
    _connections[connection_id] = (time.monotonic() + _CONNECTION_TTL, connection, gateway)
    return connection, gateway


def webhook_request(request) -> WebhookRequest:
    is_form = request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    return WebhookRequest(
        url=f"{settings.PUBLIC_BASE_URL}{request.get_full_path()}",
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.body,
        form={k: request.POST.get(k) for k in request.POST} if is_form else {},
        query={k: request.GET.get(k) for k in request.GET},
    )


@csrf_exempt
def gateway_webhook(request, connection_id: int, kind: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if kind not in ("status", "inbound"):
        return HttpResponse("Unknown webhook.", status=404, content_type="text/plain")
    # Refused before the body is read or the proof checked: anyone can post here, and a gateway's report is small.
    limit, length = settings.WEBHOOK_MAX_BODY, _content_length(request)
    if length is None:  # Django would fail reading such a body (a 500); gunicorn refuses it before us
        return HttpResponse("Content-Length is not a number.", status=400, content_type="text/plain")
    if length > limit:
        return HttpResponse(f"A webhook's body is at most {limit:,} bytes.", status=413, content_type="text/plain")
    # No per-request "SELECT 1" health check here: a webhook is one INSERT, and if the connection died that
    # INSERT fails, Django drops the connection at the request's end and the upstream retries the webhook.
    db.health_check_done = True
    connection, gateway = _connection(connection_id)
    if connection is None:
        return HttpResponse("No such gateway connection.", status=404, content_type="text/plain")
    incoming = webhook_request(request)
    try:
        gateway.verify(incoming)
        if kind == "status":
            reports_store(connection=connection, reports=gateway.parse_status(incoming))
        else:
            inbound_deliver(connection=connection, messages=gateway.parse_inbound(incoming))
    except WebhookRejected as exc:
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    body, content_type = gateway.webhook_ack()
    return HttpResponse(body, content_type=content_type)


def _content_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def inbound_deliver(*, connection, messages) -> int:
    """Hand parsed inbound SMS to the inbox (SMS_INBOUND_HANDLER); the sandbox's injector calls this too."""
    handler_path = getattr(settings, "SMS_INBOUND_HANDLER", "")
    if handler_path and messages:
        import_string(handler_path)(connection=connection, messages=messages)
    return len(messages)


_HOOK_PATH = re.compile(r"/hooks/gateways/(\d+)/(\w+)")


class GatewayWebhookMiddleware:
    """First in the stack: gateways' webhooks skip the rest of it (sessions, users, CSRF, messages, htmx, URL
    resolving). They carry their own proof — a secret or a signature the gateway verifies — and they are the
    busiest requests the app serves (a DLR for every message sent)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        match = _HOOK_PATH.fullmatch(request.path_info)
        if match:
            response = gateway_webhook(request, int(match[1]), match[2])
            response.headers["Content-Length"] = str(len(response.content))  # as CommonMiddleware would
            return response
        return self.get_response(request)
