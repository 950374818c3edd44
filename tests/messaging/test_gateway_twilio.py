import base64
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from smsportal.messaging import statuses
from smsportal.messaging.gateways.base import (
    ACCEPTED,
    PERMANENT,
    TEMPORARY,
    OutboundSms,
    WebhookRejected,
    WebhookRequest,
)
from smsportal.messaging.gateways.twilio import TwilioGateway

from .fakes import Canned, FakeUpstream, closed_port_url

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token"
STATUS_URL = "https://portal.example/hooks/twilio/status/7"


@pytest.fixture
def fake():
    with FakeUpstream("twilio") as upstream:
        yield upstream


def gateway(base_url, credentials=None, **config):
    return TwilioGateway(
        config={"base_url": base_url, "default_sender": "+15550000001", **config},
        credentials=credentials or {"account_sid": SID, "auth_token": TOKEN},
        status_webhook_url=STATUS_URL,
    )


def sms(n=1, sender="", **kwargs):
    body = kwargs.pop("body", f'Hi {n} & "friends" – café=ok')
    return OutboundSms(
        message_id=n, idempotency_key=f"key-{n}", to=f"+1555123{n:04d}", sender=sender, body=body, **kwargs
    )


def webhook(url, form, signature=None, headers=None):
    all_headers = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    return WebhookRequest(url=url, method="POST", headers=all_headers, body=urlencode(form).encode(), form=dict(form))


# Submitting


def test_accepted_sends_the_exact_wire_request(fake):
    [result] = gateway(fake.url).send_batch([sms(1)])

    assert result.outcome == ACCEPTED
    assert result.gateway_message_id.startswith("SM") and len(result.gateway_message_id) == 34
    assert result.raw["sid"] == result.gateway_message_id
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["i-twilio-idempotency-token"] == "key-1"
    assert request.form() == {
        "To": "+15551230001",
        "From": "+15550000001",
        "Body": 'Hi 1 & "friends" – café=ok',
        "StatusCallback": STATUS_URL,
    }


def test_message_sender_wins_over_default_and_service(fake):
    gw = gateway(fake.url, messaging_service_sid="MG123")
    gw.send_batch([sms(1, sender="+15559999999"), sms(2)])
    by_to = {r.form()["To"]: r.form() for r in fake.requests}
    assert by_to["+15551230001"]["From"] == "+15559999999"
    assert "MessagingServiceSid" not in by_to["+15551230001"]
    assert by_to["+15551230002"]["MessagingServiceSid"] == "MG123"
    assert "From" not in by_to["+15551230002"]


def test_no_status_callback_without_webhook_url(fake):
    gw = TwilioGateway(config={"base_url": fake.url}, credentials={"account_sid": SID, "auth_token": TOKEN})
    gw.send_batch([sms(1, sender="+15550000009")])
    assert "StatusCallback" not in fake.requests[0].form()


def test_no_sender_anywhere_is_permanent_without_a_request(fake):
    gw = TwilioGateway(config={"base_url": fake.url}, credentials={"account_sid": SID, "auth_token": TOKEN})
    [result] = gw.send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "no_sender")
    assert fake.requests == []


def test_429_is_temporary_with_retry_after(fake):
    fake.enqueue(Canned(429, {"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "7"}))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert result.outcome == TEMPORARY
    assert (result.error_code, result.error_text, result.retry_after) == ("20429", "Too Many Requests", 7.0)


def test_500_is_temporary(fake):
    fake.enqueue(Canned(500, "upstream exploded"))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code, result.retry_after) == (TEMPORARY, "500", None)


def test_timeout_is_temporary(fake):
    fake.enqueue(Canned(201, {"sid": "SMlate"}, delay=1.0))
    started = time.monotonic()
    [result] = gateway(fake.url, read_timeout=0.2).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (TEMPORARY, "timeout")
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_temporary():
    [result] = gateway(closed_port_url()).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (TEMPORARY, "connection_error")


def test_dropped_connection_is_temporary(fake):
    fake.enqueue(Canned(drop=True))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (TEMPORARY, "connection_error")


@pytest.mark.parametrize("body", ["not json", {"status": "queued"}, {"sid": ""}, ["SM1"]])
def test_unreadable_success_is_permanent_never_retried(fake, body):
    fake.enqueue(Canned(201, body))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "bad_response")


def test_4xx_is_permanent_with_twilio_code_and_message(fake):
    error = {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "status": 400}
    fake.enqueue(Canned(400, error))
    [result] = gateway(fake.url).send_batch([sms(1)])
    assert (result.outcome, result.error_code) == (PERMANENT, "21211")
    assert result.error_text == error["message"]
    assert result.raw == error


def test_batch_is_concurrent_and_keeps_input_order(fake):
    active, peak, lock = [0], [0], threading.Lock()

    def handler(request):
        to = request.form()["To"]
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02 * (10 - int(to[-2:])))  # later messages answer first
        with lock:
            active[0] -= 1
        if to.endswith("05"):
            return Canned(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
        return Canned(201, {"sid": "SM-" + to})

    fake.handler = handler
    messages = [sms(n) for n in range(1, 10)]
    results = gateway(fake.url, concurrency=4).send_batch(messages)

    assert [r.message_id for r in results] == list(range(1, 10))
    assert results[4].outcome == PERMANENT and results[4].error_code == "21610"
    assert [r.gateway_message_id for r in results if r.outcome == ACCEPTED] == [
        f"SM-{m.to}" for m in messages if not m.to.endswith("05")
    ]
    assert 1 < peak[0] <= 4


def test_validate():
    assert TwilioGateway.validate(config={}, credentials={"account_sid": SID, "auth_token": TOKEN}) == {}
    problems = TwilioGateway.validate(config={"base_url": "ftp://x", "concurrency": "0"}, credentials={})
    assert set(problems) == {"account_sid", "auth_token", "base_url", "concurrency"}


# Webhooks

CALLBACK = {
    "MessageSid": "SM0123",
    "SmsSid": "SM0123",
    "AccountSid": SID,
    "From": "+15550000001",
    "To": "+15551230001",
    "ApiVersion": "2010-04-01",
    "MessageStatus": "delivered",
    "RawDlrDoneDate": "2501021530",
}
HOOK_URL = "https://portal.example/hooks/twilio/status/7?tenant=a%20b"


def signed(url=HOOK_URL, form=CALLBACK, token=TOKEN):
    return RequestValidator(token).compute_signature(url, form)


def test_verify_accepts_the_twilio_library_signature():
    gw = gateway("http://unused")
    gw.verify(webhook(HOOK_URL, CALLBACK, signed()))
    # Twilio may sign with the default port spelled out; either form is accepted.
    with_port = HOOK_URL.replace("portal.example", "portal.example:443")
    gw.verify(webhook(HOOK_URL, CALLBACK, signed(url=with_port)))
    gw.verify(webhook(with_port, CALLBACK, signed()))


@pytest.mark.parametrize(
    "request_",
    [
        webhook(HOOK_URL, {**CALLBACK, "MessageStatus": "failed"}, signed()),  # tampered field
        webhook(HOOK_URL, {**CALLBACK, "Extra": "x"}, signed()),  # added field
        webhook(HOOK_URL.replace("/7", "/8"), CALLBACK, signed()),  # another URL
        webhook(HOOK_URL, CALLBACK, signed(token="someone-elses-token")),
        webhook(HOOK_URL, CALLBACK, None),  # no header
        webhook(HOOK_URL, CALLBACK, ""),
    ],
)
def test_verify_rejects(request_):
    with pytest.raises(WebhookRejected) as caught:
        gateway("http://unused").verify(request_)
    assert caught.value.status == 403


def test_verify_shared_key_sha256():
    key = "shared-key-secret"
    settings = {"x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    signature = RequestValidator(key).compute_signature(HOOK_URL, CALLBACK, algorithm="HMAC_SHA256")
    gw = gateway("http://unused", credentials={"account_sid": SID, "auth_token": TOKEN, "signing_key": key})
    gw.verify(webhook(HOOK_URL, CALLBACK, signature, headers=settings))
    with pytest.raises(WebhookRejected):
        gw.verify(webhook(HOOK_URL, CALLBACK, signed(), headers=settings))  # the SHA-1 token signature is not it


def test_parse_status_delivered_with_done_date():
    [report] = gateway("http://unused").parse_status(webhook(HOOK_URL, CALLBACK))
    assert report.gateway_message_id == "SM0123"
    assert report.status == statuses.DELIVERED
    assert report.at == datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
    assert report.raw == CALLBACK


@pytest.mark.parametrize(
    "status,expected", [("sent", statuses.SENT), ("undelivered", statuses.UNDELIVERED), ("failed", statuses.FAILED)]
)
def test_parse_status_mapping_and_error_code(status, expected):
    form = {"SmsSid": "SM9", "MessageStatus": status, "ErrorCode": "30003"}
    [report] = gateway("http://unused").parse_status(webhook(HOOK_URL, form))
    assert (report.gateway_message_id, report.status, report.code, report.at) == ("SM9", expected, "30003", None)


@pytest.mark.parametrize("status", ["queued", "accepted", "scheduled", "sending", "read", "receiving"])
def test_parse_status_ignores_intermediate(status):
    assert (
        gateway("http://unused").parse_status(webhook(HOOK_URL, {"MessageSid": "SM1", "MessageStatus": status})) == []
    )


def test_parse_status_bad_date_and_missing_sid():
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "RawDlrDoneDate": "garbage"}
    assert gateway("http://unused").parse_status(webhook(HOOK_URL, form))[0].at is None
    with pytest.raises(WebhookRejected) as caught:
        gateway("http://unused").parse_status(webhook(HOOK_URL, {"MessageStatus": "delivered"}))
    assert caught.value.status == 400


def test_parse_status_reads_the_raw_body_when_no_form_given():
    request = WebhookRequest(url=HOOK_URL, method="POST", headers={}, body=urlencode(CALLBACK).encode())
    assert gateway("http://unused").parse_status(request)[0].status == statuses.DELIVERED


def test_parse_inbound_and_ack():
    form = {"MessageSid": "SMin", "AccountSid": SID, "From": "+15557654321", "To": "+15550000001", "Body": "STOP"}
    [inbound] = gateway("http://unused").parse_inbound(webhook(HOOK_URL, form))
    assert (inbound.sender, inbound.to, inbound.body, inbound.gateway_message_id) == (
        "+15557654321",
        "+15550000001",
        "STOP",
        "SMin",
    )
    assert inbound.raw == form
    assert gateway("http://unused").webhook_ack() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
        "text/xml",
    )
