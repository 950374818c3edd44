"""Webhook rejection matrix: every gateway kind × every hook kind × every way of getting the proof wrong.

What each gateway verifies (smsportal/messaging/gateways): Twilio signs with X-Twilio-Signature (HMAC-SHA1 of the
public URL plus the sorted form fields, keyed by the connection's auth token; the URL's secret proves nothing for
it); ClickSend, the HTTP gateway and the sandbox carry the connection's own secret in the URL (`?secret=`). A
rejected webhook answers 403 and writes nothing: no delivery report, no inbound row, no status change, no message.
A correct one is accepted (the sandbox's is then refused with 400: it has no upstream to send reports), so each
rejection below is the proof's doing. Signatures come from the `twilio` package's own validator, not ours.
"""

from urllib.parse import urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from inbox import services as inbox
from inbox.models import InboundRaw
from smsportal.messaging import reports, webhooks
from smsportal.messaging.models import DeliveryReport, GatewayConnection
from smsportal.messaging.selectors import webhook_urls

from .conftest import snapshot

PUBLIC = "https://portal.example"
TOKEN = "twilio-auth-token-b"
SID = "AC" + "0123456789abcdef" * 2
GATEWAYS = {
    "twilio": {"credentials": {"account_sid": SID, "auth_token": TOKEN}, "config": {"default_sender": "+61400000555"}},
    "clicksend": {"credentials": {"username": "b", "api_key": "k"}, "config": {}},
    "http": {"credentials": {}, "config": {"url": "http://127.0.0.1:9/send"}},
    "sandbox": {"credentials": {}, "config": {}},
}
# What each upstream sends: a delivery report for message GW-1, or a reply from a customer.
PAYLOADS = {
    ("twilio", "status"): {"MessageSid": "GW-1", "AccountSid": SID, "MessageStatus": "delivered",
                           "To": "+61412345678", "From": "+61400000555"},
    ("twilio", "inbound"): {"MessageSid": "IN-1", "AccountSid": SID, "From": "+61412345678", "To": "+61400000555",
                            "Body": "Hello"},
    ("clicksend", "status"): {"message_id": "GW-1", "status_code": "201", "status_text": "Delivered"},
    ("clicksend", "inbound"): {"message_id": "IN-1", "from": "+61412345678", "to": "+61400000555", "body": "Hello"},
    ("http", "status"): {"id": "GW-1", "status": "delivered"},
    ("http", "inbound"): {"id": "IN-1", "from": "+61412345678", "to": "+61400000555", "body": "Hello"},
    ("sandbox", "status"): {"id": "GW-1", "status": "delivered"},
    ("sandbox", "inbound"): {"from": "+61412345678", "to": "+61400000555", "body": "Hello"},
}
SECRET_CASES = ("no secret", "wrong secret", "secret cut short", "another connection's secret", "secret in a header")
TWILIO_CASES = ("no signature", "wrong token", "another connection's URL", "tampered field", "added field",
                "unsupported algorithm", "right secret, no signature")


@pytest.fixture(autouse=True)
def _public_url_and_fresh_cache(settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    webhooks._connections.clear()  # the view caches connections by id for a few seconds
    yield
    webhooks._connections.clear()


def connect(account, kind: str) -> GatewayConnection:
    return GatewayConnection.objects.create(account=account, name=f"{kind} webhooks", kind=kind, priority=500,
                                            **GATEWAYS[kind])


def post_secret(client, connection, hook: str, payload: dict, *, query: str | None = None, **headers):
    path = f"/hooks/gateways/{connection.pk}/{hook}"
    query = f"secret={connection.webhook_secret}" if query is None else query
    return client.post(f"{path}?{query}" if query else path, payload, content_type="application/json", **headers)


def post_twilio(client, connection, hook: str, params: dict, *, signed_params=None, url=None, token=TOKEN,
                signature=None, **headers):
    public = webhook_urls(connection)[f"{hook}_webhook_url"]
    if signature is None:
        signature = RequestValidator(token).compute_signature(url or public, signed_params or params)
    if signature:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    parts = urlsplit(public)
    return client.post(f"{parts.path}?{parts.query}", data=urlencode(params),
                       content_type="application/x-www-form-urlencoded", **headers)


def written() -> tuple[int, int]:
    return DeliveryReport.objects.count(), InboundRaw.objects.count()


def assert_nothing_written(account, before_rows, before_snapshot):
    assert written() == before_rows
    # What a worker would make of it: nothing to apply either.
    reports.reports_apply()
    inbox.inbound_apply()
    assert snapshot(account) == before_snapshot


def send_wrong(client, kind, hook, case, connection, other):
    payload = PAYLOADS[(kind, hook)]
    if kind != "twilio":
        query = {
            "no secret": "",
            "wrong secret": "secret=" + "x" * len(connection.webhook_secret),
            "secret cut short": "secret=" + connection.webhook_secret[:-1],
            "another connection's secret": f"secret={other.webhook_secret}",
            "secret in a header": "",
        }[case]
        headers = {"HTTP_X_WEBHOOK_SECRET": connection.webhook_secret} if case == "secret in a header" else {}
        return post_secret(client, connection, hook, payload, query=query, **headers)
    if case == "no signature":
        return post_twilio(client, connection, hook, payload, signature="")
    if case == "wrong token":
        return post_twilio(client, connection, hook, payload, token="another-token")
    if case == "another connection's URL":  # a real signature, made for the same token but a different webhook
        return post_twilio(client, connection, hook, payload, url=webhook_urls(other)[f"{hook}_webhook_url"])
    if case == "tampered field":
        changed = {**payload, "MessageStatus": "undelivered", "Body": "Send money"}
        return post_twilio(client, connection, hook, changed, signed_params=payload)
    if case == "added field":
        return post_twilio(client, connection, hook, {**payload, "ErrorCode": "30003"}, signed_params=payload)
    if case == "unsupported algorithm":
        return post_twilio(client, connection, hook, payload,
                           HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS="algorithm=HMAC_MD5")
    if case == "right secret, no signature":  # the URL's secret is no proof for Twilio
        return post_secret(client, connection, hook, payload)
    raise AssertionError(case)


MATRIX = [
    (kind, hook, case)
    for kind in GATEWAYS
    for hook in ("status", "inbound")
    for case in (TWILIO_CASES if kind == "twilio" else SECRET_CASES)
]


@pytest.mark.parametrize("kind, hook, case", MATRIX)
def test_a_webhook_without_its_proof_is_refused_and_writes_nothing(client, family, kind, hook, case):
    b = family["b"]
    connection = connect(b.account, kind)
    # The other connection is the sibling's, of the same kind and (for Twilio) with the same auth token: its
    # secret or its URL's signature must not open B's connection.
    other = connect(family["a"].account, kind)
    before_rows, before = written(), snapshot(b.account)
    r = send_wrong(client, kind, hook, case, connection, other)
    assert r.status_code == 403, (r.status_code, r.content)
    assert_nothing_written(b.account, before_rows, before)


@pytest.mark.parametrize("kind, hook", [(k, h) for k in GATEWAYS for h in ("status", "inbound")])
def test_the_same_webhook_with_its_proof_is_accepted(client, family, kind, hook):
    """The control: with the right secret or signature the same request gets through verification."""
    b = family["b"]
    connection = connect(b.account, kind)
    before = written()
    payload = PAYLOADS[(kind, hook)]
    if kind == "twilio":
        r = post_twilio(client, connection, hook, payload)
    else:
        r = post_secret(client, connection, hook, payload)
    if kind == "sandbox":  # verified, then refused: the sandbox has no upstream that could send these
        assert r.status_code == 400 and b"sandbox sends no" in r.content
        assert written() == before
        return
    assert r.status_code == 200, r.content
    reports_after, inbound_after = written()
    if hook == "status":
        assert (reports_after, inbound_after) == (before[0] + 1, before[1])
        assert DeliveryReport.objects.order_by("-pk").values_list("gateway_id", "gateway_message_id")[0] == (
            connection.pk, "GW-1")
    else:
        assert (reports_after, inbound_after) == (before[0], before[1] + 1)
        raw = InboundRaw.objects.order_by("-pk").first()
        assert (raw.gateway_id, raw.account_id, raw.body) == (connection.pk, b.account.pk, "Hello")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_only_post_is_taken(client, family, method):
    connection = connect(family["b"].account, "http")
    before = written()
    r = getattr(client, method.lower())(f"/hooks/gateways/{connection.pk}/status?secret={connection.webhook_secret}")
    assert r.status_code == 405 and written() == before


def test_an_unknown_connection_or_hook_is_404(client, family):
    connection = connect(family["b"].account, "http")
    before = written()
    assert post_secret(client, connection, "statuses", PAYLOADS[("http", "status")]).status_code == 404
    missing = GatewayConnection(pk=connection.pk + 10_000, webhook_secret=connection.webhook_secret)
    assert post_secret(client, missing, "status", PAYLOADS[("http", "status")]).status_code == 404
    assert written() == before


def test_a_deleted_connections_secret_stops_working(client, family):
    """A connection removed in the UI takes its webhook with it (after the view's short cache)."""
    connection = connect(family["b"].account, "http")
    assert post_secret(client, connection, "status", PAYLOADS[("http", "status")]).status_code == 200
    connection_id, secret = connection.pk, connection.webhook_secret
    connection.delete()
    webhooks._connections.clear()
    before = written()
    gone = GatewayConnection(pk=connection_id, webhook_secret=secret)
    assert post_secret(client, gone, "status", PAYLOADS[("http", "status")]).status_code == 404
    assert written() == before
